//! Nothing lost: SIGTERM (flush or WAL dump) and kill -9 (WAL replay) followed by a restart.

mod cache_support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_support::*;

const METRICS: i64 = 100;

fn name(i: i64) -> String {
    format!("dur.m{i:03}")
}

/// One round: one point for every metric, value derived from the round so it can be checked.
fn round(base: i64, k: i64) -> String {
    (0..METRICS)
        .map(|i| format!("{} {} {}\n", name(i), k * 1000 + i, base + 10 * k))
        .collect()
}

fn assert_rounds_present(srv: &Server, base: i64, rounds: impl Iterator<Item = i64>) {
    let tree = read_tree(&srv.data);
    let mut checked = 0;
    for k in rounds {
        for i in 0..METRICS {
            let got = tree.get(&name(i)).and_then(|f| f.get(&(base + 10 * k)));
            assert_eq!(
                got,
                Some(&((k * 1000 + i) as f64)),
                "{} round {k} lost",
                name(i)
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

fn wait_empty(srv: &Server) {
    srv.wait_metrics("cache drained", |m| m["cache.size"] == 0.0);
}

#[test]
fn sigterm_with_no_flush_time_keeps_everything_in_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    // A slow persister and no time to flush: the points must survive through the WAL alone.
    let extra = "carbon_metric_interval = \"0s\"\nmax_updates_per_second = 20\nshutdown_flush_timeout = \"0s\"";
    let mut srv = Server::start(dir.path(), extra);
    let base = now() - now() % 10 - 4 * 3600;
    let rounds = 200;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    for k in 0..rounds {
        s.write_all(round(base, k).as_bytes()).unwrap();
    }
    let total = (rounds * METRICS) as f64;
    let m = srv.wait_metrics("all received", |m| m["metricsReceived"] == total);
    assert!(
        m["cache.size"] > 0.0,
        "the test needs points still cached at SIGTERM"
    );
    srv.term();
    let on_disk: usize = read_tree(&srv.data).values().map(|f| f.len()).sum();
    assert!(
        (on_disk as f64) < total,
        "nothing was left for the WAL to carry"
    );

    let ups = std::fs::read_to_string(&srv.config)
        .unwrap()
        .replace("max_updates_per_second = 20", "");
    std::fs::write(&srv.config, ups).unwrap();
    srv.spawn();
    wait_empty(&srv);
    assert_rounds_present(&srv, base, 0..rounds);
    srv.term();
}

#[test]
fn sigterm_flushes_the_cache_to_whisper() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(
        dir.path(),
        "carbon_metric_interval = \"0s\"\nmax_updates_per_second = 2000",
    );
    let base = now() - now() % 10 - 4 * 3600;
    let rounds = 100;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    for k in 0..rounds {
        s.write_all(round(base, k).as_bytes()).unwrap();
    }
    srv.wait_metrics("all received", |m| {
        m["metricsReceived"] == (rounds * METRICS) as f64
    });
    srv.term();
    // Flushed at shutdown: on disk before any restart.
    assert_rounds_present(&srv, base, 0..rounds);
    // ...and the WAL segments were removed once their points were on disk.
    let left: Vec<_> = std::fs::read_dir(srv.data.join(".carbonado/wal"))
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::metadata(e.path())
                .map(|m| m.len() > 0)
                .unwrap_or(false)
        })
        .collect();
    assert!(
        left.is_empty(),
        "non-empty WAL segments after a full flush: {left:?}"
    );
}

#[test]
fn kill_9_during_ingest_loses_nothing_older_than_the_sync_interval() {
    let dir = tempfile::tempdir().unwrap();
    let sync = Duration::from_millis(500);
    let extra = "carbon_metric_interval = \"0s\"\nwal_sync_interval = \"500ms\"\nmax_updates_per_second = 300";
    let mut srv = Server::start(dir.path(), extra);
    let base = now() - now() % 10 - 5 * 3600;
    let sent: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent2, stop2, port) = (sent.clone(), stop.clone(), srv.line);
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut k = 0;
        while !stop2.load(Ordering::Relaxed) && k < 1500 {
            if s.write_all(round(base, k).as_bytes()).is_err() {
                break;
            }
            sent2.lock().unwrap().push((Instant::now(), k));
            k += 1;
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    // Sustained ingest, then a crash in the middle of it.
    srv.wait_metrics("ingest under way", |m| m["metricsReceived"] >= 60_000.0);
    let killed_at = Instant::now();
    srv.kill9();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();

    // The allowance beyond the sync interval covers the receiver's read and WAL append of a sent line.
    let cutoff = killed_at - sync - Duration::from_millis(100);
    let must: Vec<i64> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t < cutoff)
        .map(|(_, k)| *k)
        .collect();
    assert!(
        must.len() > 100,
        "too few rounds before the cutoff: {}",
        must.len()
    );

    srv.spawn();
    wait_empty(&srv);
    assert_rounds_present(&srv, base, must.into_iter());
    let m = srv.metrics();
    assert_eq!(m["errors"], 0.0);
    srv.term();
}
