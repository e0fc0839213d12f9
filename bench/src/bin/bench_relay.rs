//! Side-by-side relay benchmark (driven by bench/relay.sh): Carbonado's relay role, Debian's
//! carbon-c-relay and Python carbon-relay, each with the same carbon_ch ring of 2 destinations
//! (counting sinks in this process), fed 100,000 metrics x 10 points over 4 plaintext
//! connections.
//!
//! (a) the highest paced rate each delivers with no loss (rates doubling from 25,000 points/s
//! until a run loses points or the relay cannot take the rate); (b) an unthrottled burst of
//! the same 1,000,000 points: delivered per second, points lost, CPU seconds per million points
//! and peak RSS of the relay process.
//!
//! Usage: bench_relay <work dir> <carbonado binary> [metrics, default 100000] [max rate, default 3200000]

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POINTS_PER_METRIC: usize = 10;
const CONNECTIONS: usize = 4;

/// A destination that counts the points it receives (pickle frames or plaintext lines,
/// detected per connection by the first byte: a pickle frame length starts with 0).
struct Sink {
    port: u16,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    fn start() -> Result<Sink> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        l.set_nonblocking(true)?;
        std::thread::spawn(move || loop {
            if s.load(Ordering::Relaxed) {
                return;
            }
            match l.accept() {
                Ok((sock, _)) => {
                    let c = c.clone();
                    std::thread::spawn(move || {
                        let _ = count_stream(sock, &c);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        });
        Ok(Sink { port, count, stop })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn count_stream(mut s: TcpStream, count: &AtomicU64) -> Result<()> {
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];
    let mut pickle: Option<bool> = None;
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        if pickle.is_none() {
            pickle = Some(chunk[0] == 0);
        }
        if pickle == Some(false) {
            // Only the benchmark's own metrics count (c-relay may add its statistics).
            buf.extend_from_slice(&chunk[..n]);
            let mut used = 0;
            let mut k = 0;
            while let Some(nl) = buf[used..].iter().position(|&b| b == b'\n') {
                if buf[used..].starts_with(b"bench.") {
                    k += 1;
                }
                used += nl + 1;
            }
            buf.drain(..used);
            count.fetch_add(k, Ordering::Relaxed);
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while buf.len() - used >= 4 {
            let len = u32::from_be_bytes([buf[used], buf[used + 1], buf[used + 2], buf[used + 3]])
                as usize;
            if buf.len() - used - 4 < len {
                break;
            }
            let k = pickle_points(&buf[used + 4..used + 4 + len]).context("bad pickle frame")?;
            count.fetch_add(k, Ordering::Relaxed);
            used += 4 + len;
        }
        buf.drain(..used);
    }
}

/// Number of list items in a carbon pickle frame, following the stack depth opcode by opcode
/// (names may be memo references, so counting strings would be wrong).
fn pickle_points(p: &[u8]) -> Option<u64> {
    let mut depth: i64 = 0;
    let mut marks: Vec<i64> = Vec::new();
    let mut items = 0u64;
    let mut i = 0;
    let arg = |i: usize, n: usize| -> Option<usize> {
        let b = p.get(i..i + n)?;
        Some(b.iter().rev().fold(0usize, |a, &x| (a << 8) | x as usize))
    };
    while i < p.len() {
        let op = p[i];
        i += 1;
        match op {
            0x80 => i += 1,                          // PROTO
            0x95 => i += 8,                          // FRAME
            b']' | b'N' | 0x88 | 0x89 => depth += 1, // EMPTY_LIST, NONE, TRUE, FALSE
            b'(' => marks.push(depth),               // MARK
            b'q' => i += 1,                          // BINPUT
            b'r' => i += 4,                          // LONG_BINPUT
            0x94 => {}                               // MEMOIZE
            b'h' => {
                i += 1;
                depth += 1
            } // BINGET
            b'j' => {
                i += 4;
                depth += 1
            } // LONG_BINGET
            b'G' => {
                i += 8;
                depth += 1
            } // BINFLOAT
            b'J' => {
                i += 4;
                depth += 1
            } // BININT
            b'K' => {
                i += 1;
                depth += 1
            } // BININT1
            b'M' => {
                i += 2;
                depth += 1
            } // BININT2
            b'X' | b'T' => {
                let n = arg(i, 4)?;
                i += 4 + n;
                depth += 1
            }
            0x8c | b'U' | 0x8a => {
                let n = arg(i, 1)?;
                i += 1 + n;
                depth += 1
            }
            0x85 => {}                        // TUPLE1
            0x86 => depth -= 1,               // TUPLE2
            0x87 => depth -= 2,               // TUPLE3
            b't' => depth = marks.pop()? + 1, // TUPLE
            b'a' => {
                items += 1;
                depth -= 1
            } // APPEND
            b'e' => {
                let m = marks.pop()?;
                items += (depth - m) as u64;
                depth = m
            } // APPENDS
            b'.' => return Some(items),
            _ => return None,
        }
    }
    None
}

/// CPU seconds (user + system) used so far by a process.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Peak resident set size in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Carbonado,
    CRelay,
    CarbonRelay,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Carbonado => "carbonado relay",
            Impl::CRelay => "carbon-c-relay",
            Impl::CarbonRelay => "carbon-relay (python)",
        }
    }
}

struct Running {
    child: Child,
    port: u16,
    /// Receives the aggregates of the rules workload (not counted as deliveries).
    _aggregates: Option<Sink>,
}

/// `BENCH_RELAY_RULES=N`: instead of a bare ring, a carbon-c-relay configuration with N match
/// rules (N-1 that no metric matches, then a catch-all) and one aggregate over 1% of the
/// metrics, run by Carbonado (`relay_method = "carbon-c-relay"`) and carbon-c-relay alike.
fn rules_workload() -> usize {
    std::env::var("BENCH_RELAY_RULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The carbon-c-relay configuration of the rules workload.
fn rules_config(rules: usize, a: u16, b: u16, aggregates: u16) -> String {
    let mut c = format!(
        "cluster sinks carbon_ch 127.0.0.1:{a}=a 127.0.0.1:{b}=b;\n\
         cluster aggr forward 127.0.0.1:{aggregates};\n"
    );
    for i in 0..rules.saturating_sub(1) {
        c.push_str(&format!(
            "match ^(app|svc){i}\\.[a-z]+\\.(requests|errors)$ send to sinks stop;\n"
        ));
        if i == rules / 2 {
            c.push_str(
                "aggregate ^bench\\.relay\\.(host00[0-9])\\.m[0-9]+$\n\
                 every 60 seconds expire after 660 seconds\n\
                 compute sum write to agg.\\1.sum\n\
                 compute count write to agg.\\1.count\n\
                 send to aggr;\n",
            );
        }
    }
    c.push_str("match * send to sinks stop;\n");
    c
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one relay implementation with a carbon_ch ring over the two sinks; c-relay 3.7.3
/// sometimes stalls before starting its workers, so a start is tried up to three times.
fn start(which: Impl, work: &Path, carbonado: &Path, sinks: &[u16; 2]) -> Result<Running> {
    let mut last = None;
    for _ in 0..3 {
        match start_once(which, work, carbonado, sinks) {
            Ok(r) => return Ok(r),
            Err(e) => {
                eprintln!("  ({e}; retrying)");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no start attempt")))
}

fn start_once(which: Impl, work: &Path, carbonado: &Path, sinks: &[u16; 2]) -> Result<Running> {
    let port = free_port()?;
    let dir = work.join(format!("{which:?}-{port}"));
    std::fs::create_dir_all(&dir)?;
    let log = std::fs::File::create(dir.join("relay.log"))?;
    let (a, b) = (sinks[0], sinks[1]);
    let rules = rules_workload();
    let aggregates = if rules > 0 {
        Some(Sink::start()?)
    } else {
        None
    };
    let mut cmd = match which {
        Impl::Carbonado | Impl::CRelay if rules > 0 => {
            let agg_port = aggregates.as_ref().map_or(0, |s| s.port);
            std::fs::write(dir.join("relay.conf"), rules_config(rules, a, b, agg_port))?;
            if which == Impl::Carbonado {
                let pickle = free_port()?;
                std::fs::write(
                    dir.join("carbonado.toml"),
                    format!(
                        "[cache]\nenabled = false\n\n[web]\nenabled = false\n\n[relay]\nenabled = true\n\
                         line_receiver = \"127.0.0.1:{port}\"\npickle_receiver = \"127.0.0.1:{pickle}\"\n\
                         relay_method = \"carbon-c-relay\"\ncrelay_config = \"relay.conf\"\n\
                         spill_dir = \"{}\"\ncarbon_metric_interval = 0\n",
                        dir.join("spill").display()
                    ),
                )?;
                let mut c = Command::new(carbonado);
                c.arg("serve")
                    .arg("--config")
                    .arg(dir.join("carbonado.toml"));
                c
            } else {
                let mut c = Command::new("/usr/bin/carbon-c-relay");
                c.arg("-f")
                    .arg(dir.join("relay.conf"))
                    .arg("-p")
                    .arg(port.to_string());
                c
            }
        }
        Impl::CarbonRelay if rules > 0 => {
            bail!("carbon-relay has no carbon-c-relay configuration language")
        }
        Impl::Carbonado => {
            let pickle = free_port()?;
            std::fs::write(
                dir.join("carbonado.toml"),
                format!(
                    "[cache]\nenabled = false\n\n[web]\nenabled = false\n\n[relay]\nenabled = true\n\
                     line_receiver = \"127.0.0.1:{port}\"\npickle_receiver = \"127.0.0.1:{pickle}\"\n\
                     relay_method = \"carbon_ch\"\n\
                     destinations = [\"127.0.0.1:{a}:a\", \"127.0.0.1:{b}:b\"]\n\
                     spill_dir = \"{}\"\ncarbon_metric_interval = 0\n",
                    dir.join("spill").display()
                ),
            )?;
            let mut c = Command::new(carbonado);
            c.arg("serve")
                .arg("--config")
                .arg(dir.join("carbonado.toml"));
            c
        }
        Impl::CRelay => {
            std::fs::write(
                dir.join("relay.conf"),
                format!(
                    "cluster sinks carbon_ch 127.0.0.1:{a}=a 127.0.0.1:{b}=b;\n\
                     match * send to sinks stop;\n"
                ),
            )?;
            let mut c = Command::new("/usr/bin/carbon-c-relay");
            c.arg("-f")
                .arg(dir.join("relay.conf"))
                .arg("-p")
                .arg(port.to_string());
            c
        }
        Impl::CarbonRelay => {
            let pickle = free_port()?;
            let d = dir.display();
            std::fs::write(
                dir.join("storage-schemas.conf"),
                "[all]\npattern = .*\nretentions = 60:1d\n",
            )?;
            std::fs::write(
                dir.join("carbon.conf"),
                format!(
                    "[relay]\nSTORAGE_DIR = {d}\nCONF_DIR = {d}\nLOCAL_DATA_DIR = {d}\nLOG_DIR = {d}\nPID_DIR = {d}\n\
                     LINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {port}\n\
                     PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {pickle}\n\
                     RELAY_METHOD = consistent-hashing\nREPLICATION_FACTOR = 1\n\
                     DESTINATIONS = 127.0.0.1:{a}:a, 127.0.0.1:{b}:b\n\
                     MAX_QUEUE_SIZE = 10000\nMAX_DATAPOINTS_PER_MESSAGE = 500\nUSE_FLOW_CONTROL = True\n\
                     CARBON_METRIC_INTERVAL = 0\nENABLE_LOGROTATION = False\n"
                ),
            )?;
            let mut c = Command::new("/usr/bin/carbon-relay");
            c.arg(format!("--config={d}/carbon.conf"))
                .arg(format!("--pidfile={d}/relay.pid"))
                .arg("--nodaemon")
                .arg("start");
            c
        }
    };
    let child = cmd
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("start {}", which.name()))?;
    let running = Running {
        child,
        port,
        _aggregates: aggregates,
    };
    let t0 = Instant::now();
    let ready = || match which {
        // c-relay listens before its workers run; data sent earlier is lost.
        Impl::CRelay => std::fs::read_to_string(dir.join("relay.log"))
            .is_ok_and(|l| l.contains("startup sequence complete")),
        _ => true,
    };
    while TcpStream::connect(("127.0.0.1", port)).is_err() || !ready() {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!(
                "{} did not start on {port}; see {}",
                which.name(),
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let every implementation finish starting (connections to the sinks, timers).
    std::thread::sleep(Duration::from_millis(500));
    Ok(running)
}

/// The load: per connection, the plaintext of its share of the points, timestamp-major.
fn payloads(metrics: usize) -> Vec<Vec<Vec<u8>>> {
    // The rules workload aggregates, so its points must be recent enough for the aggregator
    // to take them (within the last 660 s); the ring workload keeps fixed timestamps.
    let base = if rules_workload() > 0 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1_700_000_000, |d| d.as_secs())
            - 60 * POINTS_PER_METRIC as u64
    } else {
        1_700_000_000u64
    };
    (0..CONNECTIONS)
        .map(|c| {
            let mut lines = Vec::with_capacity(metrics / CONNECTIONS * POINTS_PER_METRIC);
            for t in 0..POINTS_PER_METRIC {
                for m in (c..metrics).step_by(CONNECTIONS) {
                    lines.push(
                        format!(
                            "bench.relay.host{:03}.m{m} {}.5 {}\n",
                            m % 1000,
                            m + t,
                            base + 60 * t as u64
                        )
                        .into_bytes(),
                    );
                }
            }
            lines
        })
        .collect()
}

struct Outcome {
    sent: u64,
    delivered: u64,
    send_secs: f64,
    deliver_secs: f64,
    cpu: f64,
    rss_mib: f64,
}

/// Sends every payload over 4 connections at `rate` points/s in total (None: as fast as possible)
/// and waits until the sinks stop receiving.
fn run(
    r: &Running,
    sinks: &[Sink; 2],
    load: &[Vec<Vec<u8>>],
    rate: Option<f64>,
) -> Result<Outcome> {
    let pid = r.child.id();
    let before: u64 = sinks.iter().map(|s| s.count.load(Ordering::Relaxed)).sum();
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = load
        .iter()
        .cloned()
        .map(|lines| {
            let port = r.port;
            let sent = sent.clone();
            std::thread::spawn(move || -> Result<()> {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                let per_conn = rate.map(|r| r / CONNECTIONS as f64);
                let chunk = per_conn.map_or(2000, |r| ((r / 200.0) as usize).max(1));
                let start = Instant::now();
                let mut buf = Vec::with_capacity(chunk * 48);
                for (k, group) in lines.chunks(chunk).enumerate() {
                    buf.clear();
                    for l in group {
                        buf.extend_from_slice(l);
                    }
                    if s.write_all(&buf).is_err() {
                        break; // the relay closed on us: the rest counts as lost
                    }
                    sent.fetch_add(group.len() as u64, Ordering::Relaxed);
                    if let Some(r) = per_conn {
                        let due = start + Duration::from_secs_f64(((k + 1) * chunk) as f64 / r);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                }
                s.flush()?;
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("load thread panicked"))??;
    }
    let send_secs = t0.elapsed().as_secs_f64();
    let sent = sent.load(Ordering::Relaxed);
    // Delivered when every point arrived, or nothing arrived for 3 s (loss).
    let mut last = 0;
    let mut last_change = Instant::now();
    let mut last_arrival = t0.elapsed();
    loop {
        let got: u64 = sinks
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum::<u64>()
            - before;
        if got != last {
            last = got;
            last_change = Instant::now();
            last_arrival = t0.elapsed();
        }
        if got >= sent || last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Outcome {
        sent,
        delivered: last,
        send_secs,
        deliver_secs: last_arrival.as_secs_f64(),
        cpu: cpu_seconds(pid) - cpu0,
        rss_mib: peak_rss_mib(pid),
    })
}

struct Row {
    which: Impl,
    lossless_rate: f64,
    burst: Outcome,
}

fn bench(
    which: Impl,
    work: &Path,
    carbonado: &Path,
    load: &[Vec<Vec<u8>>],
    max_rate: f64,
) -> Result<Row> {
    let total: u64 = load.iter().map(|l| l.len() as u64).sum();
    let trial = |rate: f64| -> Result<bool> {
        let sinks = [Sink::start()?, Sink::start()?];
        let r = start(which, work, carbonado, &[sinks[0].port, sinks[1].port])?;
        let o = run(&r, &sinks, load, Some(rate))?;
        let achieved = o.sent as f64 / o.send_secs;
        // 10% slack for the load generator's own pacing on a busy machine, the same for every relay.
        let ok = o.sent == total && o.delivered == o.sent && achieved >= 0.9 * rate;
        println!(
            "  {:<22} paced {:>9.0}/s: sent {:>8} at {:>9.0}/s, delivered {:>8} -> {}",
            which.name(),
            rate,
            o.sent,
            achieved,
            o.delivered,
            if ok { "ok" } else { "LOSS or cannot keep up" }
        );
        Ok(ok)
    };
    // Doubling from 25,000 points/s until a run fails, then two bisection steps.
    let mut lossless = 0.0;
    let mut rate = 25_000.0;
    let mut failed = None;
    while rate <= max_rate {
        if !trial(rate)? {
            failed = Some(rate);
            break;
        }
        lossless = rate;
        rate *= 2.0;
    }
    if let Some(mut hi) = failed {
        for _ in 0..2 {
            let mid = (lossless + hi) / 2.0;
            if trial(mid)? {
                lossless = mid;
            } else {
                hi = mid;
            }
        }
    }
    let sinks = [Sink::start()?, Sink::start()?];
    let r = start(which, work, carbonado, &[sinks[0].port, sinks[1].port])?;
    let burst = run(&r, &sinks, load, None)?;
    Ok(Row {
        which,
        lossless_rate: lossless,
        burst,
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: bench_relay <work dir> <carbonado binary> [metrics] [max rate]");
    }
    let work = PathBuf::from(&args[1]);
    let carbonado = PathBuf::from(&args[2]);
    let metrics: usize = args.get(3).map_or(Ok(100_000), |s| s.parse())?;
    let max_rate: f64 = args.get(4).map_or(Ok(3_200_000.0), |s| s.parse())?;
    let load = payloads(metrics);
    let total = metrics * POINTS_PER_METRIC;
    let rules = rules_workload();
    if rules > 0 {
        println!("{metrics} metrics x {POINTS_PER_METRIC} points = {total} points over {CONNECTIONS} connections, carbon-c-relay configuration: {rules} match rules and one aggregate (1% of the metrics) before a carbon_ch ring of 2 sinks");
    } else {
        println!("{metrics} metrics x {POINTS_PER_METRIC} points = {total} points over {CONNECTIONS} connections, carbon_ch ring of 2 sinks");
    }
    let only = std::env::var("BENCH_RELAY_ONLY").ok();
    let mut rows = Vec::new();
    for which in [Impl::Carbonado, Impl::CRelay, Impl::CarbonRelay] {
        if rules > 0 && which == Impl::CarbonRelay {
            continue;
        }
        if only
            .as_deref()
            .is_some_and(|o| !which.name().starts_with(o))
        {
            continue;
        }
        rows.push(bench(which, &work, &carbonado, &load, max_rate)?);
    }
    println!();
    println!(
        "{:<22} {:>14} {:>14} {:>10} {:>14} {:>12}",
        "relay", "lossless pts/s", "burst deliv/s", "burst lost", "CPU s/M pts", "peak RSS MiB"
    );
    for r in &rows {
        let b = &r.burst;
        let lost = total as u64 - b.delivered.min(total as u64);
        println!(
            "{:<22} {:>14.0} {:>14.0} {:>10} {:>14.2} {:>12.1}",
            r.which.name(),
            r.lossless_rate,
            b.delivered as f64 / b.deliver_secs.max(1e-9),
            lost,
            b.cpu / (total as f64 / 1e6),
            b.rss_mib
        );
    }
    let get = |w: Impl| rows.iter().find(|r| r.which == w).map(|r| r.lossless_rate);
    if let (Some(c), Some(x)) = (get(Impl::Carbonado), get(Impl::CRelay)) {
        println!(
            "lossless rate vs carbon-c-relay: {:.1}x (target >= 2x)",
            c / x.max(1.0)
        );
    }
    if let (Some(c), Some(x)) = (get(Impl::Carbonado), get(Impl::CarbonRelay)) {
        println!(
            "lossless rate vs carbon-relay:   {:.1}x (target >= 10x)",
            c / x.max(1.0)
        );
    }
    Ok(())
}
