//! Side-by-side latency and throughput of graphite-web and Carbonado's web role on the same
//! whisper tree (driven by bench/render.sh): median/p95 per request kind, then requests/s with
//! 4 concurrent clients, and the ratios.
//!
//! Usage: bench_render <graphite-web base URL host:port> <carbonado host:port> [requests per kind]

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One request kind measured on both servers.
struct Kind {
    label: &'static str,
    path: String,
}

fn get(addr: &str, path: &str) -> Result<(u16, usize)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(900)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP header end")?;
    let status_line = std::str::from_utf8(&buf[..head_end])?
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("bad status line")?;
    Ok((status, buf.len() - head_end - 4))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Latencies (ms) of `n` sequential requests, after one warm-up request that must answer 200.
fn latencies(addr: &str, path: &str, n: usize) -> Result<Vec<f64>> {
    let (status, len) = get(addr, path)?;
    if status != 200 {
        bail!("{addr}{path} answered {status}");
    }
    if len < 3 {
        bail!("{addr}{path} answered an empty body");
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = get(addr, path)?;
        if status != 200 {
            bail!("{addr}{path} answered {status}");
        }
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.total_cmp(b));
    Ok(out)
}

/// Requests per second with `clients` threads cycling through `paths`, `per_client` requests each.
fn throughput(addr: &str, paths: &[String], clients: usize, per_client: usize) -> Result<f64> {
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.to_string();
            let paths = paths.to_vec();
            std::thread::spawn(move || -> Result<usize> {
                let mut ok = 0;
                for i in 0..per_client {
                    let p = &paths[(c + i) % paths.len()];
                    if get(&addr, p)?.0 == 200 {
                        ok += 1;
                    }
                }
                Ok(ok)
            })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        ok += h
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    Ok(ok as f64 / t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: bench_render <graphite-web host:port> <carbonado host:port> [requests per kind]");
    }
    let (gw, cb) = (&args[1], &args[2]);
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let kinds = [
        Kind { label: "find, one wildcard", path: "/metrics/find?query=bench.find.a042.*".into() },
        Kind { label: "find, two wildcards", path: "/metrics/find?query=bench.find.*.b00*".into() },
        Kind {
            label: "render sumSeries 1000x1d@10s",
            path: "/render?target=sumSeries(bench.render.*.cpu)&from=-1d&format=json".into(),
        },
        Kind {
            label: "render aliasByNode(movingAverage) 1000x1d@10s",
            path: "/render?target=aliasByNode(movingAverage(bench.render.*.cpu,10),2)&from=-1d&format=json".into(),
        },
    ];
    println!(
        "{:<48} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "request", "gw p50 ms", "gw p95 ms", "cb p50 ms", "cb p95 ms", "p50 ratio"
    );
    let mut worst_ratio = f64::INFINITY;
    for k in &kinds {
        let g = latencies(gw, &k.path, n)?;
        let c = latencies(cb, &k.path, n)?;
        let (g50, g95, c50, c95) = (
            percentile(&g, 0.5),
            percentile(&g, 0.95),
            percentile(&c, 0.5),
            percentile(&c, 0.95),
        );
        let ratio = g50 / c50;
        worst_ratio = worst_ratio.min(ratio);
        println!(
            "{:<48} {:>12.2} {:>12.2} {:>12.2} {:>12.2} {:>8.1}x",
            k.label, g50, g95, c50, c95, ratio
        );
    }
    let paths: Vec<String> = kinds.iter().map(|k| k.path.clone()).collect();
    let per_client = 8;
    let g_rps = throughput(gw, &paths, 4, per_client)?;
    let c_rps = throughput(cb, &paths, 4, per_client)?;
    println!(
        "{:<48} {:>12.1} {:>12} {:>12.1} {:>12} {:>8.1}x",
        "requests/s, 4 clients, mixed",
        g_rps,
        "",
        c_rps,
        "",
        c_rps / g_rps
    );
    println!("worst median-latency ratio: {worst_ratio:.1}x; throughput ratio: {:.1}x (target: 10x each)", c_rps / g_rps);
    Ok(())
}
