//! Side-by-side benchmark of the relay's transports: Carbonado's relay role and Debian's
//! carbon-c-relay (built with TLS only) forwarding the same points, first paced at a rate both
//! can take (loss and CPU per million points compared), then as an unthrottled burst
//!
//! * `tls-out`: received plain, sent over TLS to a TLS-terminating counting sink;
//! * `tls-in`: received over TLS (4 TLS client connections), sent plain to a counting sink;
//!
//! and, Carbonado only (c-relay here has no compression), `gzip-out`, `lz4-out`, `snappy-out`
//! and the matching `-in` cases. Prints delivered and lost points, points per second from the
//! first byte sent to the last point counted, relay CPU seconds per million points delivered,
//! and the ratio to carbon-c-relay where it can run the case.
//!
//! Usage: bench_transport <work dir> <carbonado binary> [burst points, default 1000000]
//!        [paced rate in points/s, default 25000 (5 s of points per case)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport::tls::{ClientFiles, ServerFiles, TlsAcceptor, TlsConnector};
use transport::{Compression, Decoder, Encoder};

const CONNECTIONS: usize = 4;
/// Lines per write (and per pacing step).
const CHUNK_LINES: usize = 500;
const CRELAY: &str = "/usr/bin/carbon-c-relay";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Carbonado,
    CRelay,
}

/// One case: which side of the relay is wrapped, and how.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    compression: Compression,
    tls: bool,
    /// Wrapped on the relay's listener (true) or towards its destination (false).
    inbound: bool,
}

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    pem: PathBuf,
}

fn pki(dir: &Path) -> Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "bench CA");
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = p.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()])?;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &ca, &ca_key)?;
    let w = |n: &str, t: String| -> Result<PathBuf> {
        let path = dir.join(n);
        std::fs::write(&path, t)?;
        Ok(path)
    };
    Ok(Pki {
        ca: w("ca.pem", ca.pem())?,
        cert: w("server.crt", cert.pem())?,
        key: w("server.key", key.serialize_pem())?,
        pem: w(
            "server.pem",
            format!("{}{}", cert.pem(), key.serialize_pem()),
        )?,
    })
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// CPU seconds (user + system) used so far by a process.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = s.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

type Stream = Box<dyn AsyncReadWrite>;
trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncReadWrite for T {}

/// A sink counting the lines it receives, decoding TLS and compression.
async fn sink(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    c: Compression,
    count: Arc<AtomicU64>,
) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let (tls, count) = (tls.clone(), count.clone());
        tokio::spawn(async move {
            let mut s: Stream = match tls {
                Some(a) => match a.accept(sock).await {
                    Ok(t) => Box::new(t),
                    Err(_) => return,
                },
                None => Box::new(sock),
            };
            let mut dec = (c != Compression::Plain).then(|| Decoder::new(c));
            let mut buf = vec![0u8; 256 << 10];
            let mut out = Vec::new();
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let Some(d) = dec.as_mut() else {
                    count.fetch_add(lines(&buf[..n]), Ordering::Relaxed);
                    continue;
                };
                let mut pos = 0;
                loop {
                    out.clear();
                    match d.decode(&buf[pos..n], &mut out) {
                        Ok(k) => pos += k,
                        Err(_) => return,
                    }
                    if out.is_empty() && pos == n {
                        break;
                    }
                    count.fetch_add(lines(&out), Ordering::Relaxed);
                }
            }
        });
    }
}

fn lines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Sends `parts` (each a list of chunks of lines) over one connection each, wrapped as asked,
/// at `rate` points per second in all when given; then waits for the relay to close, so that
/// nothing the relay sent (TLS session tickets) is left unread to turn the close into a reset.
async fn send(
    port: u16,
    parts: Arc<Vec<Vec<Vec<u8>>>>,
    tls: Option<TlsConnector>,
    c: Compression,
    rate: Option<f64>,
) -> Result<()> {
    let mut tasks = Vec::new();
    for p in 0..parts.len() {
        let (tls, parts) = (tls.clone(), parts.clone());
        tasks.push(tokio::spawn(async move {
            let sock = TcpStream::connect(("127.0.0.1", port)).await?;
            sock.set_nodelay(true)?;
            let mut s: Stream = match tls {
                Some(k) => Box::new(
                    k.connect(transport::tls::server_name("127.0.0.1")?, sock)
                        .await?,
                ),
                None => Box::new(sock),
            };
            let mut enc = Encoder::new(c);
            let mut wire = Vec::new();
            let t0 = tokio::time::Instant::now();
            let per_conn = rate.map(|r| r / parts.len() as f64);
            for (k, chunk) in parts[p].iter().enumerate() {
                if let Some(r) = per_conn {
                    let due = t0 + Duration::from_secs_f64((k * CHUNK_LINES) as f64 / r);
                    tokio::time::sleep_until(due).await;
                }
                wire.clear();
                enc.encode(chunk, &mut wire)?;
                s.write_all(&wire).await?;
            }
            s.flush().await?;
            s.shutdown().await?;
            let mut drain = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while let Ok(n) = s.read(&mut drain).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

struct Relay {
    child: Child,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    which: Impl,
    dir: &Path,
    carbonado: &Path,
    case: Case,
    port: u16,
    dest: u16,
    pki: &Pki,
) -> Result<Relay> {
    std::fs::create_dir_all(dir)?;
    let log = std::fs::File::create(dir.join("relay.log"))?;
    let child = match which {
        Impl::Carbonado => {
            let mut wrap = String::new();
            let side = if case.inbound {
                "line_receiver"
            } else {
                "destination"
            };
            wrap.push_str(&format!("{side}_transport = \"{}\"\n", case.compression));
            if case.tls && case.inbound {
                wrap.push_str(&format!(
                    "line_receiver_tls_cert_file = \"{}\"\nline_receiver_tls_key_file = \"{}\"\n",
                    pki.cert.display(),
                    pki.key.display()
                ));
            } else if case.tls {
                wrap.push_str(&format!(
                    "destination_tls = true\ndestination_tls_ca_file = \"{}\"\n",
                    pki.ca.display()
                ));
            }
            let toml = format!(
                "[cache]\nenabled = false\nlocal_data_dir = \"{d}/data\"\n[web]\nenabled = false\n\
                 [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{port}\"\npickle_receiver = \"\"\n\
                 destinations = [\"127.0.0.1:{dest}\"]\ndestination_protocol = \"line\"\n\
                 carbon_metric_interval = \"0s\"\n{wrap}",
                d = dir.display()
            );
            std::fs::write(dir.join("carbonado.toml"), toml)?;
            Command::new(carbonado)
                .arg("serve")
                .arg("--config")
                .arg(dir.join("carbonado.toml"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?
        }
        Impl::CRelay => {
            if case.compression != Compression::Plain {
                bail!("Debian's carbon-c-relay has no {}", case.compression);
            }
            let listen_ssl = if case.inbound && case.tls {
                format!("transport plain ssl {} ", pki.pem.display())
            } else {
                String::new()
            };
            let server_ssl = if !case.inbound && case.tls {
                " transport plain ssl"
            } else {
                ""
            };
            let conf = format!(
                "listen type linemode {listen_ssl}127.0.0.1:{port} proto tcp;\n\
                 cluster sink forward 127.0.0.1:{dest}{server_ssl};\n\
                 match * send to sink stop;\n"
            );
            std::fs::write(dir.join("relay.conf"), conf)?;
            Command::new(CRELAY)
                .arg("-f")
                .arg(dir.join("relay.conf"))
                .arg("-C")
                .arg(&pki.ca)
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(log)
                .spawn()?
        }
    };
    let relay = Relay { child };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!(
                "{which:?} did not listen; see {}",
                dir.join("relay.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // c-relay accepts before its workers run.
    while which == Impl::CRelay
        && !std::fs::read_to_string(dir.join("relay.log"))
            .is_ok_and(|l| l.contains("startup sequence complete"))
    {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!(
                "carbon-c-relay did not start; see {}",
                dir.join("relay.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(relay)
}

struct Outcome {
    delivered: u64,
    secs: f64,
    cpu: f64,
}

/// What every run shares: the work directory, our binary, the certificates.
struct Env {
    work: PathBuf,
    carbonado: PathBuf,
    pki: Pki,
}

async fn run(
    which: Impl,
    env: &Env,
    case: Case,
    parts: Arc<Vec<Vec<Vec<u8>>>>,
    total: u64,
    rate: Option<f64>,
) -> Result<Outcome> {
    let (work, carbonado, pki) = (&env.work, &env.carbonado, &env.pki);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let dest = listener.local_addr()?.port();
    let count = Arc::new(AtomicU64::new(0));
    let sink_tls = (!case.inbound && case.tls)
        .then(|| {
            ServerFiles {
                cert_file: pki.cert.clone(),
                key_file: pki.key.clone(),
                client_ca_file: None,
            }
            .acceptor()
        })
        .transpose()?;
    let sink_c = if case.inbound {
        Compression::Plain
    } else {
        case.compression
    };
    let sink_task = tokio::spawn(sink(listener, sink_tls, sink_c, count.clone()));
    let port = free_port()?;
    let dir = work.join(format!(
        "{}-{which:?}-{}",
        case.name,
        if rate.is_some() { "paced" } else { "burst" }
    ));
    let relay = start(which, &dir, carbonado, case, port, dest, pki)?;
    let pid = relay.child.id();
    let client_tls = (case.inbound && case.tls)
        .then(|| {
            ClientFiles {
                ca_file: Some(pki.ca.clone()),
                ..Default::default()
            }
            .connector()
        })
        .transpose()?;
    let client_c = if case.inbound {
        case.compression
    } else {
        Compression::Plain
    };
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    send(port, parts, client_tls, client_c, rate).await?;
    // Done when everything arrived, or nothing more arrived for 3 s.
    let (mut last, mut last_change, mut done_at) = (0, Instant::now(), t0.elapsed());
    loop {
        let n = count.load(Ordering::Relaxed);
        if n != last {
            last = n;
            last_change = Instant::now();
            done_at = t0.elapsed();
        }
        if n >= total || last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = cpu_seconds(pid) - cpu0;
    drop(relay);
    sink_task.abort();
    Ok(Outcome {
        delivered: last,
        secs: done_at.as_secs_f64(),
        cpu,
    })
}

/// Each connection's lines, in chunks of [`CHUNK_LINES`].
fn workload(total: usize, ts: u64) -> Arc<Vec<Vec<Vec<u8>>>> {
    Arc::new(
        (0..CONNECTIONS)
            .map(|c| {
                let idx: Vec<usize> = (c..total).step_by(CONNECTIONS).collect();
                idx.chunks(CHUNK_LINES)
                    .map(|ch| {
                        let mut b = Vec::new();
                        for &i in ch {
                            let _ = writeln!(
                                b,
                                "bench.transport.host{}.metric{} {i} {ts}",
                                i % 100,
                                i % 10_000
                            );
                        }
                        b
                    })
                    .collect()
            })
            .collect(),
    )
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (inbound, dir) in [(false, "out"), (true, "in")] {
        for (c, tls) in [
            (Compression::Plain, true),
            (Compression::Plain, false),
            (Compression::Gzip, false),
            (Compression::Lz4, false),
            (Compression::Snappy, false),
        ] {
            let what = if tls { "tls" } else { c.name() };
            cases.push(Case {
                name: Box::leak(format!("{what}-{dir}").into_boxed_str()),
                compression: c,
                tls,
                inbound,
            });
        }
    }
    cases
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: bench_transport <work dir> <carbonado binary> [burst points] [paced rate]");
    }
    let work = PathBuf::from(&args[1]);
    let carbonado = PathBuf::from(&args[2]);
    let burst: usize = match args.get(3) {
        Some(v) => v.parse().context("burst points")?,
        None => 1_000_000,
    };
    let rate: f64 = match args.get(4) {
        Some(v) => v.parse().context("paced rate")?,
        None => 25_000.0,
    };
    std::fs::create_dir_all(&work)?;
    let pki = pki(&work)?;
    let env = Env {
        work,
        carbonado,
        pki,
    };
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let paced = (rate * 5.0) as usize;
    for (title, total, pace) in [
        (
            format!("paced: {paced} points at {rate:.0} points/s"),
            paced,
            Some(rate),
        ),
        (format!("burst: {burst} points unthrottled"), burst, None),
    ] {
        let parts = workload(total, ts);
        println!("\n{title}, {CONNECTIONS} connections, one destination");
        println!(
            "{:<11} {:<15} {:>10} {:>8} {:>7} {:>11} {:>14}",
            "case", "relay", "delivered", "lost", "secs", "points/s", "CPU s/Mpoints"
        );
        for case in cases() {
            let mut ours: Option<(f64, f64)> = None;
            for which in [Impl::Carbonado, Impl::CRelay] {
                if which == Impl::CRelay && case.compression != Compression::Plain {
                    continue;
                }
                let o = rt.block_on(run(which, &env, case, parts.clone(), total as u64, pace))?;
                let rate = o.delivered as f64 / o.secs.max(1e-9);
                let cpu = o.cpu / (o.delivered.max(1) as f64 / 1e6);
                println!(
                    "{:<11} {:<15} {:>10} {:>8} {:>7.2} {:>11.0} {:>14.2}",
                    case.name,
                    match which {
                        Impl::Carbonado => "carbonado",
                        Impl::CRelay => "carbon-c-relay",
                    },
                    o.delivered,
                    total as u64 - o.delivered.min(total as u64),
                    o.secs,
                    rate,
                    cpu
                );
                match (which, ours) {
                    (Impl::Carbonado, _) => ours = Some((rate, cpu)),
                    (Impl::CRelay, Some((r, c))) => println!(
                        "{:<11} carbonado / carbon-c-relay: {:.2}x points/s, {:.2}x CPU per point",
                        case.name,
                        r / rate,
                        c / cpu
                    ),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
