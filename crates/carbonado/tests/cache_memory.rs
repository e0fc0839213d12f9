//! Memory stays bounded under a flood larger than the cache: receivers are paused, nothing is dropped.

mod cache_support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_support::*;

/// The configured cache bound.
const CACHE_BYTES: u64 = 16 << 20;
/// What the process may use beyond the cache bound: runtime, per-connection read buffers and the batch in
/// hand of each connection, WAL buffer, open whisper handles, allocator slack.
const OVERHEAD: u64 = 48 << 20;

#[test]
fn flood_beyond_the_cache_bound_keeps_rss_bounded_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "carbon_metric_interval = \"0s\"\nmax_cache_size = 60000\nmax_cache_memory = \"{}MiB\"\nmax_updates_per_second = 1000",
        CACHE_BYTES >> 20
    );
    let srv = Server::start(dir.path(), &extra);
    let pid = srv.child_pid();
    let base = now() - now() % 10 - 5 * 3600;
    let (metrics, per_metric, conns) = (1000i64, 300i64, 4i64);
    let total = (metrics * per_metric) as f64;

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let (d2, p2) = (done.clone(), peak.clone());
    let sampler = std::thread::spawn(move || {
        while !d2.load(Ordering::Relaxed) {
            p2.fetch_max(rss_of(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let mut senders = Vec::new();
    for c in 0..conns {
        let port = srv.line;
        senders.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut buf = String::new();
            for k in 0..per_metric {
                for m in (c..metrics).step_by(conns as usize) {
                    buf.push_str(&format!(
                        "flood.m{m:04} {} {}\n",
                        k * 10_000 + m,
                        base + 10 * k
                    ));
                }
                if buf.len() > 1 << 16 {
                    s.write_all(buf.as_bytes()).unwrap();
                    buf.clear();
                }
            }
            s.write_all(buf.as_bytes()).unwrap();
        }));
    }
    for s in senders {
        s.join().unwrap();
    }
    let m = srv.wait_metrics("everything received", |m| m["metricsReceived"] == total);
    assert!(
        m["cache.fullWaits"] > 0.0,
        "the flood never filled the cache: {m:?}"
    );
    srv.wait_metrics("everything persisted", |m| m["cache.size"] == 0.0);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!(
        "peak RSS {} MiB (bound {} MiB + {} MiB overhead)",
        peak >> 20,
        CACHE_BYTES >> 20,
        OVERHEAD >> 20
    );
    assert!(peak > 0);
    assert!(
        peak < CACHE_BYTES + OVERHEAD,
        "peak RSS {peak} over the bound"
    );

    let tree = read_tree(&srv.data);
    for m in 0..metrics {
        let f = &tree[&format!("flood.m{m:04}")];
        for k in 0..per_metric {
            assert_eq!(
                f.get(&(base + 10 * k)),
                Some(&((k * 10_000 + m) as f64)),
                "m{m} k{k}"
            );
        }
    }
    assert_eq!(srv.metrics()["droppedPoints"], 0.0);
}
