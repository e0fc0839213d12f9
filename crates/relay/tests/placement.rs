//! End-to-end placement: every metric reaches exactly the destinations the real
//! implementations choose (Python carbon's ConsistentHashingRouter, run through Debian's
//! carbon; the real carbon-c-relay binary for jump_fnv1a_ch).

mod common;

use common::CountingSink;
use relay::{Destination, Point, Relay, RelayConfig};
use ring::{HashConfig, HashRouter, HashType, RingFlavor};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sys_python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

fn metric_names(n: usize, ascii_only: bool) -> Vec<String> {
    (0..n)
        .map(|i| match (i % 5, ascii_only) {
            (0, _) => format!("servers.host{i}.cpu.user"),
            (1, _) => format!("app-{}.requests_{i}.count", i % 17),
            (2, false) => format!("disk.sda{i};dc=eu;rack=r{}", i % 7),
            (3, false) => format!("unicode.ümlaut.{i}"),
            _ => format!("m{i}"),
        })
        .collect()
}

/// Owners of each metric according to Python carbon, as `host:port:instance` strings.
fn python_owners(
    dests: &[Destination],
    rf: usize,
    diverse: bool,
    metrics: &[String],
) -> Vec<Vec<String>> {
    let script = r#"
import json, sys
from carbon.routers import ConsistentHashingRouter
from carbon.util import parseDestinations
class S(dict):
    def __getattr__(self, k): return self[k]
req = json.load(sys.stdin)
r = ConsistentHashingRouter(S(REPLICATION_FACTOR=req["rf"], DIVERSE_REPLICAS=req["diverse"], ROUTER_HASH_TYPE="carbon_ch"))
for d in parseDestinations(req["dests"]):
    r.addDestination(d)
print(json.dumps([["%s:%d:%s" % o for o in r.getDestinations(m)] for m in req["metrics"]]))
"#;
    let req = serde_json::json!({
        "rf": rf, "diverse": diverse,
        "dests": dests.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "metrics": metrics,
    });
    let mut child = Command::new(sys_python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Debian's python3 with carbon is required");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python carbon: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Which sinks (by index) received each metric, waiting until `expected` points arrived.
async fn arrivals(
    sinks: &[CountingSink],
    expected: usize,
    known: &[String],
) -> HashMap<String, Vec<usize>> {
    let known: BTreeSet<&str> = known.iter().map(|s| s.as_str()).collect();
    let count = || {
        sinks
            .iter()
            .map(|s| {
                s.got
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|p| known.contains(p.0.as_str()))
                    .count()
            })
            .sum::<usize>()
    };
    let t0 = Instant::now();
    while count() < expected && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything extra (a wrong second copy) would arrive right behind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut map: HashMap<String, Vec<usize>> = HashMap::new();
    for (k, s) in sinks.iter().enumerate() {
        for (m, _, _) in s.got.lock().unwrap().iter() {
            if known.contains(m.as_str()) {
                map.entry(m.clone()).or_default().push(k);
            }
        }
    }
    map
}

async fn sinks_on(hosts: &[&str]) -> Vec<CountingSink> {
    let mut v = Vec::new();
    for h in hosts {
        v.push(CountingSink::start_on(h, true).await);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbon_ch_places_like_python_carbon_rf_1_to_3() {
    let metrics = metric_names(2000, false);
    for (hosts, rf, diverse) in [
        (["127.0.0.1", "127.0.0.2", "127.0.0.3"], 1, true),
        (["127.0.0.1", "127.0.0.2", "127.0.0.3"], 2, true),
        (["127.0.0.1", "127.0.0.2", "127.0.0.3"], 3, true),
        (["127.0.0.1", "127.0.0.1", "127.0.0.1"], 2, false),
        (["127.0.0.1", "127.0.0.1", "127.0.0.1"], 3, true),
    ] {
        let sinks = sinks_on(&hosts).await;
        let dests: Vec<Destination> = sinks
            .iter()
            .zip(["a", "b", "c"])
            .map(|(s, i)| Destination::parse(&format!("{}:{i}", s.addr)).unwrap())
            .collect();
        let want = python_owners(&dests, rf, diverse, &metrics);
        let cfg = HashConfig {
            replication_factor: rf,
            diverse_replicas: diverse,
            ..HashConfig::default()
        };
        let router = HashRouter::new(dests.clone(), cfg).unwrap();
        let relay = Relay::start(RelayConfig::default(), Arc::new(router)).unwrap();
        let points: Vec<Point> = metrics
            .iter()
            .map(|m| Point::new(m.clone(), 1_700_000_000.0, 1.0))
            .collect();
        relay.submit(points).await.unwrap();
        let expected: usize = want.iter().map(|o| o.len()).sum();
        let got = arrivals(&sinks, expected, &metrics).await;
        let mut copies = 0;
        for (m, owners) in metrics.iter().zip(&want) {
            let mut want_idx: Vec<usize> = owners
                .iter()
                .map(|o| {
                    dests
                        .iter()
                        .position(|d| {
                            format!(
                                "{}:{}:{}",
                                d.host,
                                d.port,
                                d.instance.as_deref().unwrap_or("None")
                            ) == *o
                        })
                        .unwrap()
                })
                .collect();
            want_idx.sort_unstable();
            want_idx.dedup();
            let mut have = got.get(m).cloned().unwrap_or_default();
            have.sort_unstable();
            assert_eq!(
                have, want_idx,
                "{m}: rf {rf} diverse {diverse} hosts {hosts:?}"
            );
            copies += have.len();
        }
        assert!(
            copies
                >= metrics.len()
                    * rf.min(if diverse && hosts[0] == hosts[1] {
                        1
                    } else {
                        rf
                    })
        );
        relay.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jump_fnv1a_ch_places_like_carbon_c_relay() {
    let metrics = metric_names(3000, true);
    for rf in [1, 2] {
        let theirs = sinks_on(&["127.0.0.1"; 3]).await;
        let ours = sinks_on(&["127.0.0.1"; 3]).await;
        let inst = ["a", "b", "c"];
        // Same instances, same order: jump buckets depend on instances only.
        let servers: Vec<String> = theirs
            .iter()
            .zip(inst)
            .map(|(s, i)| format!("{}={i}", s.addr))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("relay.conf");
        std::fs::write(
            &conf,
            format!(
                "cluster sinks jump_fnv1a_ch replication {rf} {};\nmatch * send to sinks stop;\n",
                servers.join(" ")
            ),
        )
        .unwrap();
        let (mut child, port) = start_crelay(&conf, dir.path());
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut text = String::new();
        for m in &metrics {
            text.push_str(&format!("{m} 1 1700000000\n"));
        }
        conn.write_all(text.as_bytes()).unwrap();
        drop(conn);

        let dests: Vec<Destination> = ours
            .iter()
            .zip(inst)
            .map(|(s, i)| Destination::parse(&format!("{}:{i}", s.addr)).unwrap())
            .collect();
        let cfg = HashConfig {
            flavor: RingFlavor::CarbonCRelay,
            hash: HashType::JumpFnv1aCh,
            replication_factor: rf,
            diverse_replicas: false,
        };
        let relay = Relay::start(
            RelayConfig::default(),
            Arc::new(HashRouter::new(dests, cfg).unwrap()),
        )
        .unwrap();
        relay
            .submit(
                metrics
                    .iter()
                    .map(|m| Point::new(m.clone(), 1_700_000_000.0, 1.0))
                    .collect(),
            )
            .await
            .unwrap();
        let want = arrivals(&theirs, metrics.len() * rf, &metrics).await;
        let got = arrivals(&ours, metrics.len() * rf, &metrics).await;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            want.values().map(|v| v.len()).sum::<usize>(),
            metrics.len() * rf,
            "c-relay delivered everything"
        );
        for m in &metrics {
            let mut a = want.get(m).cloned().unwrap_or_default();
            let mut b = got.get(m).cloned().unwrap_or_default();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(b, a, "{m} (replication {rf})");
        }
        relay.shutdown().await;
    }
}

/// Starts carbon-c-relay on a free port and waits for "startup sequence complete": it listens
/// before its workers run, and 3.7.3 sometimes stalls there, so a start is tried three times.
fn start_crelay(conf: &std::path::Path, dir: &std::path::Path) -> (std::process::Child, u16) {
    let bin = std::env::var("CARBONADO_CARBON_C_RELAY")
        .unwrap_or_else(|_| "/usr/bin/carbon-c-relay".into());
    for attempt in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("crelay-{attempt}.log"));
        let mut child = Command::new(&bin)
            .arg("-f")
            .arg(conf)
            .arg("-p")
            .arg(port.to_string())
            .arg("-l")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("reference {bin} is required: {e}"));
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if std::fs::read_to_string(&log).is_ok_and(|l| l.contains("startup sequence complete"))
            {
                return (child, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("carbon-c-relay did not start three times in a row");
}
