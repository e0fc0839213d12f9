//! Query latency of a three-node cluster (replication factor 2) healthy, with one node killed
//! and with one node hung, for Carbonado and for graphite-web side by side (driven by
//! bench/cluster.sh, which builds the nodes' whisper trees and configuration files).
//!
//! For each side and each failure kind it starts the three nodes, warms up, measures the
//! healthy render from node a, fails node c (SIGKILL, or SIGSTOP for "hung"), measures the
//! first 5 queries after the failure and then the steady state, and stops the nodes. Each answer
//! is checked for completeness (every series, every point of the healthy answer).
//!
//! Usage: bench_cluster <work dir> <queries> <metrics> <from> <until>
//!        <carbonado a> <b> <c> <graphite-web a> <b> <c>
//! Environment: CARBONADO_BIN (the release binary), SYS_PY (python with graphite-web).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many queries after the failure count as "first".
const FIRST: usize = 5;
/// Queries before measuring (peers' latency history, python's imports).
const WARMUP: usize = 10;

/// One HTTP GET; status and body.
fn get(addr: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP header end")?;
    let head = std::str::from_utf8(&buf[..head_end])?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("bad status line")?;
    let mut body = buf[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body).context("bad chunked body")?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..nl])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = b.get(nl + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Series count and non-null points of a json render.
fn shape(body: &[u8]) -> Option<(usize, usize)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = v.as_array()?;
    let points = list
        .iter()
        .map(|s| {
            s["datapoints"]
                .as_array()
                .map_or(0, |d| d.iter().filter(|p| !p[0].is_null()).count())
        })
        .sum();
    Some((list.len(), points))
}

/// One timed query: milliseconds, and whether the answer was complete (`want` series/points).
fn query(addr: &str, path: &str, want: (usize, usize)) -> (f64, Outcome) {
    let t = Instant::now();
    let r = get(addr, path);
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let outcome = match r {
        Ok((200, body)) if shape(&body) == Some(want) => Outcome::Complete,
        Ok((200, _)) => Outcome::Incomplete,
        _ => Outcome::Error,
    };
    (ms, outcome)
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Complete,
    Incomplete,
    Error,
}

/// Latencies and outcomes of a phase.
#[derive(Default)]
struct Phase {
    ms: Vec<f64>,
    incomplete: usize,
    errors: usize,
}

impl Phase {
    fn run(addr: &str, path: &str, want: (usize, usize), n: usize) -> Phase {
        let mut p = Phase::default();
        for _ in 0..n {
            let (ms, o) = query(addr, path, want);
            p.ms.push(ms);
            match o {
                Outcome::Complete => {}
                Outcome::Incomplete => p.incomplete += 1,
                Outcome::Error => p.errors += 1,
            }
        }
        p
    }

    fn percentile(&self, q: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return f64::NAN;
        }
        v[(((v.len() - 1) as f64) * q).round() as usize]
    }

    fn max(&self) -> f64 {
        self.ms.iter().copied().fold(f64::NAN, f64::max)
    }

    fn faults(&self, also: Option<&Phase>) -> String {
        let incomplete = self.incomplete + also.map_or(0, |p| p.incomplete);
        let errors = self.errors + also.map_or(0, |p| p.errors);
        if incomplete + errors == 0 {
            String::new()
        } else {
            format!(" ({incomplete} incomplete, {errors} errors)")
        }
    }
}

/// How a side's nodes are started.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Carbonado,
    GraphiteWeb,
}

struct Node {
    child: Child,
}

impl Node {
    fn start(kind: Kind, work: &Path, name: &str, addr: &str) -> Result<Node> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join("log").join(format!("{}-{name}.log", label(kind))))?;
        let mut cmd = match kind {
            Kind::Carbonado => {
                let bin = std::env::var_os("CARBONADO_BIN").context("CARBONADO_BIN")?;
                let mut c = Command::new(bin);
                c.arg("serve")
                    .arg("--config")
                    .arg(work.join(format!("cb-{name}.toml")));
                c
            }
            Kind::GraphiteWeb => {
                let py = std::env::var_os("SYS_PY").unwrap_or_else(|| "/usr/bin/python3".into());
                let mut c = Command::new(py);
                c.args(["-m", "django", "runserver", "--noreload", addr])
                    .env("GRAPHITE_SETTINGS_MODULE", format!("gw_{name}"))
                    .env("DJANGO_SETTINGS_MODULE", "graphite.settings")
                    .env("PYTHONPATH", work);
                c
            }
        };
        let child = cmd
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawn node")?;
        let node = Node { child };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if matches!(get(addr, "/version/"), Ok((200, _))) {
                return Ok(node);
            }
            if Instant::now() > deadline {
                bail!("{} node {name} on {addr} did not come up", label(kind));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()?;
        if !st.success() {
            bail!("kill -{sig} failed");
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn label(kind: Kind) -> &'static str {
    match kind {
        Kind::Carbonado => "carbonado",
        Kind::GraphiteWeb => "graphite-web",
    }
}

/// Figures of one side for one failure kind.
struct Run {
    healthy: Phase,
    first: Phase,
    after: Phase,
}

/// Starts the side's three nodes, measures healthy, fails node c with `sig`, measures again.
fn run(
    kind: Kind,
    work: &Path,
    addrs: &[String; 3],
    path: &str,
    n: usize,
    sig: &str,
) -> Result<(Run, (usize, usize))> {
    let names = ["a", "b", "c"];
    let mut nodes = Vec::new();
    for (name, addr) in names.iter().zip(addrs) {
        nodes.push(Node::start(kind, work, name, addr)?);
    }
    let a = &addrs[0];
    let (status, body) = get(a, path)?;
    if status != 200 {
        bail!("{} answered {status}", label(kind));
    }
    let want = shape(&body).context("render json")?;
    for _ in 0..WARMUP {
        query(a, path, want);
    }
    let healthy = Phase::run(a, path, want, n);
    nodes[2].signal(sig)?;
    let first = Phase::run(a, path, want, FIRST);
    let after = Phase::run(a, path, want, n);
    drop(nodes);
    Ok((
        Run {
            healthy,
            first,
            after,
        },
        want,
    ))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 12 {
        bail!("usage: bench_cluster <work> <queries> <metrics> <from> <until> <cb a> <cb b> <cb c> <gw a> <gw b> <gw c>");
    }
    let work = PathBuf::from(&args[1]);
    let n: usize = args[2].parse()?;
    let metrics: usize = args[3].parse()?;
    let path = format!(
        "/render?target=bench.cluster.*.cpu&from={}&until={}&format=json&noCache=1",
        args[4], args[5]
    );
    let cb = [args[6].clone(), args[7].clone(), args[8].clone()];
    let gw = [args[9].clone(), args[10].clone(), args[11].clone()];
    println!("render of {metrics} metrics from node a; node c fails; {n} queries per phase\n");
    let mut table = Vec::new();
    for (failure, sig) in [("killed", "KILL"), ("hung", "STOP")] {
        let mut sides = Vec::new();
        for (kind, addrs) in [(Kind::GraphiteWeb, &gw), (Kind::Carbonado, &cb)] {
            eprintln!("{} / node {failure}...", label(kind));
            let (r, want) = run(kind, &work, addrs, &path, n, sig)?;
            if want.0 != metrics {
                eprintln!(
                    "warning: {} healthy answer has {} series, expected {metrics}",
                    label(kind),
                    want.0
                );
            }
            sides.push(r);
        }
        table.push((failure, sides));
    }
    println!(
        "| scenario | graphite-web median / p95 / first-{FIRST} max ms | carbonado median / p95 / first-{FIRST} max ms | median ratio |"
    );
    println!("|---|---:|---:|---:|");
    let row =
        |name: String, g: &Phase, g_first: Option<&Phase>, c: &Phase, c_first: Option<&Phase>| {
            let first =
                |f: Option<&Phase>| f.map_or("-".to_string(), |f| format!("{:.0}", f.max()));
            println!(
                "| {name} | {:.0} / {:.0} / {}{} | {:.1} / {:.1} / {}{} | {:.1}x |",
                g.percentile(0.5),
                g.percentile(0.95),
                first(g_first),
                g.faults(g_first),
                c.percentile(0.5),
                c.percentile(0.95),
                first(c_first),
                c.faults(c_first),
                g.percentile(0.5) / c.percentile(0.5),
            );
        };
    let mut verdicts = Vec::new();
    for (failure, sides) in &table {
        let (g, c) = (&sides[0], &sides[1]);
        row(
            format!("healthy (before {failure})"),
            &g.healthy,
            None,
            &c.healthy,
            None,
        );
        row(
            format!("node {failure}"),
            &g.after,
            Some(&g.first),
            &c.after,
            Some(&c.first),
        );
        let h = c.healthy.percentile(0.5);
        let median_ok = c.after.percentile(0.5) <= 1.2 * h;
        let first_ok = c.first.max() <= 2.0 * h + 50.0;
        let complete =
            c.first.incomplete + c.first.errors + c.after.incomplete + c.after.errors == 0;
        verdicts.push(format!(
            "carbonado, node {failure}: median {:.1} ms vs healthy {h:.1} ms ({:.2}x, target <= 1.2x: {}); first {FIRST} max {:.1} ms (target <= {:.1}: {}); all answers complete: {}",
            c.after.percentile(0.5),
            c.after.percentile(0.5) / h,
            if median_ok { "met" } else { "MISSED" },
            c.first.max(),
            2.0 * h + 50.0,
            if first_ok { "met" } else { "MISSED" },
            if complete { "yes" } else { "NO" },
        ));
    }
    println!();
    for v in verdicts {
        println!("{v}");
    }
    Ok(())
}
