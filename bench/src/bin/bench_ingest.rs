//! Side-by-side ingest benchmark (driven by bench/ingest.sh): Debian's carbon-cache and Carbonado's cache
//! role on the same workloads, same storage schema, loopback ports, one after the other.
//!
//! (a) flood of `metrics` existing metrics x `points` points over 4 connections, plaintext then pickle:
//!     accepted/s (until the 4 senders have written everything and closed) and persisted/s (until every
//!     point is in its whisper file, checked by reading the files);
//! (b) `creates` brand-new metrics x 1 point: whisper files created per second;
//! (c) steady state: `metrics` metrics x 1 point every 10 s for `steady_secs`: CPU (% of one core) and RSS.
//!
//! Usage: bench_ingest <work dir> <carbonado binary> [metrics 50000] [points 20] [creates 100000] [steady_secs 60]
//! BENCH_INGEST_LAG=N makes both sides hold points N seconds before writing them (carbon's
//! MIN_TIMESTAMP_LAG with `timesorted`, Carbonado's `min_timestamp_lag` with `sorted`).
//! BENCH_INGEST_ONLY=carbonado|carbon-cache runs one implementation; BENCH_INGEST_WARMUP_SECS (60) is how
//! long the steady workload runs before it is measured; BENCH_INGEST_CACHE_EXTRA / _CARBON_EXTRA add
//! settings to Carbonado's `[cache]` section / carbon.conf. BENCH_FS_FLOOR (set by bench/ingest.sh) is
//! the bench_fs_floor binary: run at the end, it creates as many files with bare system calls.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CONNECTIONS: usize = 4;
const SCHEMA: &str = "[bench]\npattern = .*\nretentions = 10s:2h\n";
const STEP: i64 = 10;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .unwrap_or(0)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Target {
    name: &'static str,
    child: Child,
    line: u16,
    pickle: u16,
    data: PathBuf,
    /// Carbonado's self-metrics listener (carbon-cache has none).
    http: Option<u16>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_port(port: u16, child: &mut Child, what: &str) -> Result<()> {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = child.try_wait()? {
            bail!("{what} exited with {st}");
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{what} did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// BENCH_INGEST_LAG: seconds both sides hold points before writing them (carbon's
/// MIN_TIMESTAMP_LAG, which carbon honours only with the `timesorted` strategy; Carbonado's
/// `min_timestamp_lag`, with the same oldest-first order).
fn lag() -> Option<u64> {
    std::env::var("BENCH_INGEST_LAG")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn carbon_extra() -> String {
    let mut s = std::env::var("BENCH_INGEST_CARBON_EXTRA").unwrap_or_default();
    if let Some(l) = lag() {
        s.push_str(&format!(
            "\nMIN_TIMESTAMP_LAG = {l}\nCACHE_WRITE_STRATEGY = timesorted\n"
        ));
    }
    s
}

fn carbonado_extra() -> String {
    let mut s = std::env::var("BENCH_INGEST_CACHE_EXTRA").unwrap_or_default();
    if let Some(l) = lag() {
        s.push_str(&format!(
            "\nmin_timestamp_lag = \"{l}s\"\ncache_write_strategy = \"sorted\"\n"
        ));
    }
    s
}

fn start_carbon_cache(work: &Path) -> Result<Target> {
    let dir = work.join("carbon-cache");
    let data = dir.join("whisper");
    std::fs::create_dir_all(&data)?;
    let (line, pickle, query) = (free_port(), free_port(), free_port());
    let d = dir.display();
    std::fs::write(
        dir.join("carbon.conf"),
        format!(
            "[cache]\nSTORAGE_DIR = {d}\nLOCAL_DATA_DIR = {}\nCONF_DIR = {d}\nLOG_DIR = {d}/log\nPID_DIR = {d}\n\
             ENABLE_LOGROTATION = False\nMAX_CACHE_SIZE = inf\nMAX_UPDATES_PER_SECOND = inf\n\
             MAX_CREATES_PER_MINUTE = inf\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {line}\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {pickle}\n\
             CACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = {query}\nENABLE_TAGS = False\n\
             CARBON_METRIC_INTERVAL = 0\nLOG_UPDATES = False\nLOG_CREATES = False\nLOG_CACHE_HITS = False\n\
             LOG_LISTENER_CONNECTIONS = False\n{}\n",
            data.display(),
            // Extra carbon.conf settings to compare variants, e.g. "LOG_CACHE_QUEUE_SORTS = True".
            carbon_extra()
        ),
    )?;
    std::fs::write(dir.join("storage-schemas.conf"), SCHEMA)?;
    let mut child = Command::new("/usr/bin/carbon-cache")
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/carbon.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("/usr/bin/carbon-cache (Debian graphite-carbon) is required")?;
    wait_port(pickle, &mut child, "carbon-cache")?;
    wait_port(line, &mut child, "carbon-cache")?;
    Ok(Target {
        name: "carbon-cache",
        child,
        line,
        pickle,
        data,
        http: None,
    })
}

fn start_carbonado(work: &Path, bin: &Path) -> Result<Target> {
    let dir = work.join("carbonado");
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let (line, pickle, query, http) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("carbonado.toml"),
        format!(
            "[cache]\nlocal_data_dir = \"{}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
             pickle_receiver = \"127.0.0.1:{pickle}\"\ncache_query = \"127.0.0.1:{query}\"\n\
             http_listen = \"127.0.0.1:{http}\"\nmax_cache_size = \"inf\"\nmax_updates_per_second = \"inf\"\n\
             max_creates_per_minute = \"inf\"\ncarbon_metric_interval = \"0s\"\n{}\n",
            data.display(),
            // Extra `[cache]` settings to compare variants, e.g. "whisper_mmap = true".
            carbonado_extra()
        ),
    )?;
    std::fs::write(dir.join("storage-schemas.conf"), SCHEMA)?;
    let log = std::fs::File::create(dir.join("carbonado.log"))?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("carbonado.toml"))
        .env("CARBONADO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    wait_port(line, &mut child, "carbonado")?;
    Ok(Target {
        name: "carbonado",
        child,
        line,
        pickle,
        data,
        http: Some(http),
    })
}

fn file_of(data: &Path, metric: &str) -> PathBuf {
    let mut p = data.to_owned();
    for n in metric.split('.') {
        p.push(n);
    }
    p.set_extension("wsp");
    p
}

/// `updateOperations` and `committedPoints` from Carbonado's `/metrics` (what each update carried).
fn update_counters(port: u16) -> Option<(f64, f64)> {
    use std::io::Read;
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let get = |k: &str| {
        body.lines()
            .find(|l| l.split_whitespace().next().is_some_and(|n| n.ends_with(k)))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((get(".updateOperations")?, get(".committedPoints")?))
}

/// The value stored at `ts` (aligned to STEP), if any: reads the one slot, so that checking the
/// server's progress takes little of the CPU the server is being measured on.
fn stored(path: &Path, ts: i64) -> Option<f64> {
    let w = whisper::Whisper::open(path).ok()?;
    let got = w.fetch(ts - STEP, ts, now()).ok()??;
    let found = got.points().find(|&(t, _)| t == ts).map(|(_, v)| v);
    found
}

fn value(m: usize, k: i64) -> f64 {
    (m as f64) * 0.5 + k as f64
}

/// What each of the 4 connections sends: `names` x `rounds`, interleaved by round, as plaintext
/// lines or 500-point pickle frames (as carbon-relay sends). Built before the clock starts, so the
/// load generator's formatting does not compete with the server for the 2 cores.
fn payloads(pickle: bool, names: &[String], rounds: &[i64], base: i64) -> Vec<Vec<u8>> {
    (0..CONNECTIONS)
        .map(|c| {
            let mut buf: Vec<u8> = Vec::new();
            let mut frame: Vec<(String, f64, f64)> = Vec::with_capacity(500);
            let flush = |frame: &mut Vec<(String, f64, f64)>, buf: &mut Vec<u8>| {
                let body = proto::pickle::encode_datapoints(frame);
                buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
                buf.extend_from_slice(&body);
                frame.clear();
            };
            for &k in rounds {
                for m in (c..names.len()).step_by(CONNECTIONS) {
                    let ts = base + STEP * k;
                    if pickle {
                        frame.push((names[m].clone(), ts as f64, value(m, k)));
                        if frame.len() == 500 {
                            flush(&mut frame, &mut buf);
                        }
                    } else {
                        // Writing into a Vec cannot fail.
                        let _ = writeln!(buf, "{} {} {ts}", names[m], value(m, k));
                    }
                }
            }
            if !frame.is_empty() {
                flush(&mut frame, &mut buf);
            }
            buf
        })
        .collect()
}

/// Sends each payload over its own connection and waits until the server has read every byte.
fn send_payloads(port: u16, payloads: &[Vec<u8>]) -> Result<()> {
    std::thread::scope(|s| -> Result<()> {
        let hs: Vec<_> = payloads
            .iter()
            .map(|p| {
                s.spawn(move || -> Result<TcpStream> {
                    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
                    sock.write_all(p)?;
                    // Everything written is in flight or read; wait_read() tells when the server
                    // has read it.
                    Ok(sock)
                })
            })
            .collect();
        let mut socks = Vec::new();
        for h in hs {
            socks.push(h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??);
        }
        wait_read(port)?;
        drop(socks);
        Ok(())
    })
}

/// Sends `names` x `rounds` over 4 connections (see [`payloads`]).
fn send(port: u16, pickle: bool, names: &[String], rounds: &[i64], base: i64) -> Result<()> {
    send_payloads(port, &payloads(pickle, names, rounds, base))
}

/// Waits until no byte sent to `port` is left unread: every loopback connection to it has empty send
/// and receive queues (/proc/net/tcp), i.e. the server process has read everything.
fn wait_read(port: u16) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let tab = std::fs::read_to_string("/proc/net/tcp")?;
        let mut pending = 0u64;
        for l in tab.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (Some(local), Some(remote), Some(queues)) = (f.get(1), f.get(2), f.get(4)) else {
                continue;
            };
            let port_of = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (tx, rx) = queues.split_once(':').unwrap_or(("0", "0"));
            let q = |h: &str| u64::from_str_radix(h, 16).unwrap_or(0);
            if port_of(local) == Some(port) {
                pending += q(rx);
            }
            if port_of(remote) == Some(port) {
                pending += q(tx);
            }
        }
        if pending == 0 {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("server on port {port} stopped reading");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until round `k` of every metric is on disk and returns how long after `wall0` the last of
/// them was written, from the files' modification times: so that the time is the server's, not
/// the time this process takes to read 50,000 files on the 2 cores the server is using, progress
/// is first watched on a sample (every 250th metric and the last), and only then is every file
/// read. Writes through a mapping (`whisper_mmap = true`) into pages already dirty do not update
/// the modification time: when the newest file time is earlier than `not_before` seconds after
/// `wall0` (the last point's receipt), the time the sample was seen complete is returned instead.
fn wait_written(
    data: &Path,
    names: &[String],
    k: i64,
    base: i64,
    wall0: SystemTime,
    not_before: f64,
    patience: Duration,
) -> Result<f64> {
    let ts = base + STEP * k;
    let mut sample: Vec<usize> = (0..names.len()).step_by(250).collect();
    sample.push(names.len() - 1);
    let mut last_progress = Instant::now();
    while !sample.is_empty() {
        let before = sample.len();
        sample.retain(|&i| stored(&file_of(data, &names[i]), ts) != Some(value(i, k)));
        if sample.len() < before {
            last_progress = Instant::now();
        } else if last_progress.elapsed() > patience {
            bail!("no progress persisting for {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let sample_seen = SystemTime::now();
    wait_persisted(data, names, k, base, patience)?;
    let mut newest = wall0;
    for n in names {
        let m = std::fs::metadata(file_of(data, n))?.modified()?;
        newest = newest.max(m);
    }
    let since = |t: SystemTime| t.duration_since(wall0).map_or(0.0, |d| d.as_secs_f64());
    if since(newest) < not_before {
        // Nothing can be persisted before it was received: these file times are not the
        // write times. Writes through a shared mapping (`whisper_mmap`) set a file's time only
        // on the first write after the kernel wrote the page back; take the time the sample
        // was seen complete instead (later than the last write by up to one 20 ms poll).
        eprintln!("(file times predate the last accepted point: persisted time is when the sample was seen complete)");
        return Ok(since(sample_seen).max(1e-3));
    }
    Ok(since(newest).max(1e-3))
}

/// Waits until the last round of every metric is on disk; fails after `patience` without progress.
fn wait_persisted(
    data: &Path,
    names: &[String],
    k: i64,
    base: i64,
    patience: Duration,
) -> Result<()> {
    let mut i = 0;
    let mut last_progress = Instant::now();
    while i < names.len() {
        if stored(&file_of(data, &names[i]), base + STEP * k) == Some(value(i, k)) {
            i += 1;
            last_progress = Instant::now();
        } else {
            if last_progress.elapsed() > patience {
                bail!("no progress persisting {} for {patience:?}", names[i]);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn verify_all(data: &Path, names: &[String], rounds: &[i64], base: i64) -> Result<()> {
    for (m, n) in names.iter().enumerate() {
        let w = whisper::Whisper::open(file_of(data, n)).with_context(|| n.clone())?;
        let raw = w.raw_archive(0)?;
        for &k in rounds {
            let ts = base + STEP * k;
            if !raw.iter().any(|&(t, v)| t == ts && v == value(m, k)) {
                bail!("{n} @{ts} missing");
            }
        }
    }
    Ok(())
}

fn cpu_secs(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = s.rfind(')').map(|i| s[i + 1..].to_string()) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn rss_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[derive(Default, Clone, Copy)]
struct Figures {
    accepted_plain: f64,
    persisted_plain: f64,
    accepted_pickle: f64,
    persisted_pickle: f64,
    creates: f64,
    cpu_pct: f64,
    rss_mb: f64,
}

struct Sizes {
    metrics: usize,
    points: i64,
    creates: usize,
    steady_secs: u64,
    warmup_secs: u64,
}

fn run(t: &Target, sz: &Sizes) -> Result<Figures> {
    let mut f = Figures::default();
    let names: Vec<String> = (0..sz.metrics)
        .map(|i| format!("bench.flood.h{:03}.m{i:06}", i % 500))
        .collect();
    // Room for warm-up, two floods of `points` rounds, all inside the 2 h retention.
    let base = now() - now() % STEP - 3 * sz.points * STEP - 600;
    let patience = Duration::from_secs(300);

    eprintln!("[{}] warm-up: creating {} files", t.name, names.len());
    send(t.line, false, &names, &[0], base)?;
    wait_persisted(&t.data, &names, 0, base, patience)?;

    for (pickle, first) in [(false, 1), (true, 1 + sz.points)] {
        let rounds: Vec<i64> = (first..first + sz.points).collect();
        let total = (names.len() as i64 * sz.points) as f64;
        eprintln!(
            "[{}] flood {} points ({})",
            t.name,
            total,
            if pickle { "pickle" } else { "plaintext" }
        );
        let load = payloads(pickle, &names, &rounds, base);
        let counters0 = t.http.and_then(update_counters);
        let (t0, wall0) = (Instant::now(), SystemTime::now());
        send_payloads(if pickle { t.pickle } else { t.line }, &load)?;
        let accepted = t0.elapsed().as_secs_f64();
        let last = *rounds.last().unwrap_or(&0);
        let persisted = wait_written(&t.data, &names, last, base, wall0, accepted, patience)?;
        if let (Some((u0, p0)), Some((u1, p1))) = (counters0, t.http.and_then(update_counters)) {
            eprintln!(
                "[{}] {:.0} updates, {:.1} points per update",
                t.name,
                u1 - u0,
                (p1 - p0) / (u1 - u0).max(1.0)
            );
        }
        let mut tries = 0;
        while verify_all(&t.data, &names, &rounds, base).is_err() {
            tries += 1;
            if tries > 50 {
                verify_all(&t.data, &names, &rounds, base)?;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if pickle {
            (f.accepted_pickle, f.persisted_pickle) = (total / accepted, total / persisted);
        } else {
            (f.accepted_plain, f.persisted_plain) = (total / accepted, total / persisted);
        }
    }

    let new: Vec<String> = (0..sz.creates)
        .map(|i| format!("bench.new.h{:03}.n{i:07}", i % 1000))
        .collect();
    eprintln!("[{}] creates: {} new metrics", t.name, new.len());
    let load = payloads(false, &new, &[0], base);
    let wall0 = SystemTime::now();
    send_payloads(t.line, &load)?;
    f.creates = new.len() as f64 / wait_written(&t.data, &new, 0, base, wall0, 0.0, patience)?;

    // The steady workload first runs unmeasured for `warmup_secs`, so that what is measured is the
    // steady state (caches holding points for a lag have reached their equilibrium).
    eprintln!(
        "[{}] steady state: {} metrics every 10 s, {} s unmeasured then {} s measured",
        t.name,
        names.len(),
        sz.warmup_secs,
        sz.steady_secs
    );
    let pid = t.child.id();
    let w0 = Instant::now();
    let measure_from = w0 + Duration::from_secs(sz.warmup_secs);
    let end = measure_from + Duration::from_secs(sz.steady_secs);
    let mut tick = 0;
    let mut cpu0 = None;
    while Instant::now() < end {
        if cpu0.is_none() && Instant::now() >= measure_from {
            cpu0 = Some((cpu_secs(pid), Instant::now()));
        }
        let ts = now();
        let k = (ts - base) / STEP;
        send(t.line, false, &names, &[k], base)?;
        tick += 1;
        let next = w0 + Duration::from_secs(10 * tick);
        if next > Instant::now() {
            std::thread::sleep(next - Instant::now());
        }
    }
    let (cpu0, w0) = cpu0.unwrap_or((0.0, w0));
    f.cpu_pct = 100.0 * (cpu_secs(pid) - cpu0) / w0.elapsed().as_secs_f64();
    f.rss_mb = rss_mb(pid);
    Ok(f)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(work), Some(bin)) = (args.get(1), args.get(2)) else {
        bail!("usage: bench_ingest <work dir> <carbonado binary> [metrics] [points] [creates] [steady_secs]");
    };
    let sz = Sizes {
        metrics: arg(&args, 3, 50_000),
        points: arg(&args, 4, 20),
        creates: arg(&args, 5, 100_000),
        steady_secs: arg(&args, 6, 60),
        warmup_secs: std::env::var("BENCH_INGEST_WARMUP_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    };
    let only = std::env::var("BENCH_INGEST_ONLY").unwrap_or_default();
    let work = PathBuf::from(work);
    let mut results: Vec<(&str, Figures)> = Vec::new();
    if only.is_empty() || only == "carbon-cache" {
        let t = start_carbon_cache(&work)?;
        results.push(("carbon-cache", run(&t, &sz)?));
    }
    if only.is_empty() || only == "carbonado" {
        let t = start_carbonado(&work, Path::new(bin))?;
        results.push(("carbonado", run(&t, &sz)?));
    }
    println!(
        "\ningest benchmark: {} metrics x {} points over {CONNECTIONS} connections; {} new metrics; steady {} s \
         (after {} s unmeasured); lag {}",
        sz.metrics,
        sz.points,
        sz.creates,
        sz.steady_secs,
        sz.warmup_secs,
        lag().map_or("0 (off)".to_string(), |l| format!("{l} s on both sides"))
    );
    let rows: [(&str, fn(&Figures) -> f64, bool); 7] = [
        ("plaintext accepted points/s", |f| f.accepted_plain, true),
        ("plaintext persisted points/s", |f| f.persisted_plain, true),
        ("pickle accepted points/s", |f| f.accepted_pickle, true),
        ("pickle persisted points/s", |f| f.persisted_pickle, true),
        ("creates/s", |f| f.creates, true),
        ("steady CPU % of a core", |f| f.cpu_pct, false),
        ("steady RSS MB", |f| f.rss_mb, false),
    ];
    print!("{:<32}", "");
    for (n, _) in &results {
        print!("{n:>16}");
    }
    if results.len() == 2 {
        print!("{:>12}", "ratio");
    }
    println!();
    for (label, get, higher_better) in rows {
        print!("{label:<32}");
        for (_, f) in &results {
            print!("{:>16.1}", get(f));
        }
        if let [(_, a), (_, b)] = results.as_slice() {
            let (x, y) = (get(a), get(b));
            let r = if higher_better { y / x } else { x / y };
            print!("{:>11.1}x", r);
        }
        println!();
    }
    println!("(ratio = how many times better carbonado is: throughput carbonado/carbon, CPU and RSS carbon/carbonado)");
    // What the file system itself allows for (b), measured now, in the same state: the same
    // number of whisper-sized files created with bare system calls (bench_fs_floor).
    if let Ok(floor) = std::env::var("BENCH_FS_FLOOR") {
        let out = Command::new(&floor)
            .arg(work.join("fs-floor"))
            .arg(sz.creates.to_string())
            .arg("0")
            .output()
            .with_context(|| floor.clone())?;
        if !out.status.success() {
            bail!("{floor}: {}", String::from_utf8_lossy(&out.stderr));
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(())
}
