//! Delivery guarantees of the relay against real TCP servers on 127.0.0.1.

mod common;

use common::{by_number, dest, hostile, rss_kib, to_last, CountingSink};
use relay::{Point, QueueLimits, Relay, RelayConfig};
use std::collections::HashMap;
use std::time::Duration;

fn cfg(spill: Option<&std::path::Path>, max_points: usize) -> RelayConfig {
    let mut c = RelayConfig {
        queue: QueueLimits {
            max_points,
            max_bytes: 64 << 20,
        },
        spill_dir: spill.map(|p| p.to_path_buf()),
        ..RelayConfig::default()
    };
    c.sender.reconnect_max = Duration::from_millis(500);
    c
}

fn point(i: usize, ts: usize) -> Point {
    Point::new(
        format!("load.metric.{i}"),
        (1_700_000_000 + ts) as f64,
        (i * 7 + ts) as f64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_killed_for_15s_loses_nothing() {
    let spill = tempfile::tempdir().unwrap();
    let mut a = CountingSink::start(true).await;
    let b = CountingSink::start(true).await;
    let relay = Relay::start(
        cfg(Some(spill.path()), 20_000),
        by_number(vec![dest(a.addr, "a"), dest(b.addr, "b")]),
    )
    .unwrap();
    // 4 producers, 1000 metrics x 60 points each, paced over ~20 s: sustained load.
    let mut producers = Vec::new();
    for w in 0..4 {
        let relay = relay.clone();
        producers.push(tokio::spawn(async move {
            for ts in 0..60 {
                let batch: Vec<Point> = (w * 1000..(w + 1) * 1000).map(|i| point(i, ts)).collect();
                relay.submit(batch).await.unwrap();
                tokio::time::sleep(Duration::from_millis(330)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.kill();
    tokio::time::sleep(Duration::from_secs(15)).await;
    a.restart().await;
    for p in producers {
        p.await.unwrap();
    }
    assert!(
        relay.drained(Duration::from_secs(60)).await,
        "queues drained"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stats = relay.stats();
    assert!(
        stats[0].spilled > 0,
        "the outage went through the spill: {stats:?}"
    );
    assert!(stats[0].reconnects > 0);
    for (k, sink) in [(0usize, &a), (1, &b)] {
        let (got, dups) = sink.distinct();
        let mut want = HashMap::new();
        for i in (0..4000).filter(|i| i % 2 == k) {
            for ts in 0..60 {
                let p = point(i, ts);
                want.insert((p.metric, p.timestamp.to_bits()), p.value);
            }
        }
        assert_eq!(
            got.len(),
            want.len(),
            "destination {k}: every point arrived"
        );
        assert_eq!(
            got, want,
            "destination {k}: exactly its points with their values"
        );
        assert!(
            dups as u64 <= stats[k].resent,
            "duplicates only from resends ({dups})"
        );
        eprintln!(
            "destination {k}: {} points, {dups} duplicates resent after the restart",
            want.len()
        );
    }
    assert_eq!(relay.shutdown().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_destination_stays_within_bounds() {
    let spill = tempfile::tempdir().unwrap();
    let (addr, _h) = hostile().await;
    let mut c = cfg(Some(spill.path()), 50_000);
    c.max_spill_bytes = 8 << 20;
    let relay = Relay::start(c, by_number(vec![dest(addr, "h")])).unwrap();
    let before = rss_kib();
    let r2 = relay.clone();
    let feeder = tokio::spawn(async move {
        for round in 0..200 {
            let batch: Vec<Point> = (0..10_000).map(|i| point(i, round)).collect();
            r2.submit(batch).await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !feeder.is_finished(),
        "2M points cannot fit: the producer must be held back"
    );
    let s = &relay.stats()[0];
    assert!(s.queued_mem <= 50_000, "{s:?}");
    assert!(s.spilled > 0);
    let spill_bytes: u64 = walk(spill.path());
    assert!(spill_bytes <= 8 << 20, "spill bound: {spill_bytes}");
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 128 * 1024, "memory grew by {grown} KiB");
    assert_eq!(s.dropped, 0, "back-pressure, not loss");
    feeder.abort();
}

fn walk(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        n += if md.is_dir() {
            walk(&e.path())
        } else {
            md.len()
        };
    }
    n
}

async fn free_port() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_spills_and_next_start_replays_in_order() {
    let spill = tempfile::tempdir().unwrap();
    let addr = free_port().await;
    let relay = Relay::start(
        cfg(Some(spill.path()), 10_000),
        by_number(vec![dest(addr, "x")]),
    )
    .unwrap();
    let sent: Vec<Point> = (0..30_000).map(|i| point(i, 0)).collect();
    for chunk in sent.chunks(1000) {
        relay.submit(chunk.to_vec()).await.unwrap();
    }
    assert_eq!(relay.shutdown().await, 0, "nothing lost at shutdown");
    assert!(
        relay.submit(vec![point(1, 1)]).await.is_err(),
        "closed after shutdown"
    );
    assert!(walk(spill.path()) > 0, "kept on disk");

    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    drop(listener);
    let sink = {
        let mut s = CountingSink::start(true).await;
        s.kill();
        s.addr = addr;
        s.restart().await;
        s
    };
    let relay = Relay::start(
        cfg(Some(spill.path()), 10_000),
        by_number(vec![dest(addr, "x")]),
    )
    .unwrap();
    assert!(relay.drained(Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = sink.got.lock().unwrap().clone();
    let want: Vec<(String, f64, f64)> = sent
        .into_iter()
        .map(|p| (p.metric, p.timestamp, p.value))
        .collect();
    assert_eq!(got, want, "replayed once, in order");
    relay.shutdown().await;
    assert_eq!(walk(spill.path()), 0, "spent spill removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reroutes_points_of_a_removed_destination() {
    let spill = tempfile::tempdir().unwrap();
    let a = CountingSink::start(false).await;
    let gone = free_port().await;
    let mut c = cfg(Some(spill.path()), 1_000);
    c.sender.protocol = relay::Protocol::Line;
    let relay = Relay::start(c, to_last(vec![dest(a.addr, "a"), dest(gone, "b")])).unwrap();
    let sent: Vec<Point> = (0..5_000).map(|i| point(i, 3)).collect();
    relay.submit(sent.clone()).await.unwrap();
    assert_eq!(
        relay.stats()[1].queued_mem + relay.stats()[1].queued_spill,
        5_000
    );
    relay
        .reload(by_number(vec![dest(a.addr, "a")]))
        .await
        .unwrap();
    assert!(relay.drained(Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (got, _) = a.distinct();
    assert_eq!(
        got.len(),
        5_000,
        "every queued point re-routed to the remaining destination"
    );
    assert_eq!(relay.destinations(), vec![dest(a.addr, "a")]);
    relay.shutdown().await;
}
