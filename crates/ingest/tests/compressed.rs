//! The line listener with compressed connections over real loopback sockets: a decompression
//! bomb reaches the sink in bounded batches (and completely), over-long lines inside a
//! compressed stream are still skipped and counted, and a corrupt stream closes its connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ingest::{IngestConfig, IngestStats, ListenTransport, Point, Sink, SinkClosed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use transport::{Compression, Encoder, OUTPUT_STEP};

/// Counts points and remembers the largest batch.
#[derive(Default)]
struct Count {
    points: AtomicUsize,
    largest: AtomicUsize,
}

impl Sink for Count {
    async fn send(&self, batch: Vec<Point>) -> Result<(), SinkClosed> {
        self.points.fetch_add(batch.len(), Ordering::SeqCst);
        self.largest.fetch_max(batch.len(), Ordering::SeqCst);
        Ok(())
    }
}

async fn listen(c: Compression, cfg: IngestConfig) -> (u16, Arc<Count>, Arc<IngestStats>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = Arc::new(Count::default());
    let stats = Arc::new(IngestStats::default());
    let (stop_tx, stop) = watch::channel(false);
    // The listener lives as long as the test's runtime.
    std::mem::forget(stop_tx);
    tokio::spawn(ingest::serve_line_with(
        l,
        sink.clone(),
        Arc::new(cfg),
        stats.clone(),
        stop,
        ListenTransport {
            compression: c,
            tls: None,
        },
    ));
    (port, sink, stats)
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    for _ in 0..3000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_arrives_whole_in_bounded_batches() {
    // 1.5 million 8-byte lines: 12 MB that compress to a few tens of KiB.
    let line = b"b.m 1 1\n";
    let n = 1_500_000;
    let plain: Vec<u8> = line.iter().copied().cycle().take(line.len() * n).collect();
    for c in [Compression::Gzip, Compression::Lz4, Compression::Snappy] {
        let (port, sink, _) = listen(c, IngestConfig::default()).await;
        let mut wire = Vec::new();
        Encoder::new(c).encode(&plain, &mut wire).unwrap();
        assert!(wire.len() < plain.len() / 20, "{c}: {} bytes", wire.len());
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(&wire).await.unwrap();
        s.shutdown().await.unwrap();
        wait_for(&format!("{c} points"), || {
            sink.points.load(Ordering::SeqCst) == n
        })
        .await;
        // One decoding step's worth of lines at most (a step may end with a partial line).
        let bound = 4 * OUTPUT_STEP / line.len() + 1;
        let largest = sink.largest.load(Ordering::SeqCst);
        assert!(largest <= bound, "{c}: a batch of {largest} points");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_inside_a_compressed_stream_are_skipped_and_counted() {
    let cfg = IngestConfig {
        max_line_length: 100,
        ..IngestConfig::default()
    };
    let (port, sink, stats) = listen(Compression::Gzip, cfg).await;
    let mut text = String::from("ok.a 1 1700000000\n");
    text.push_str(&"x".repeat(1_000_000));
    text.push_str(" 1 1700000000\nok.b 2 1700000000\n");
    let mut wire = Vec::new();
    Encoder::new(Compression::Gzip)
        .encode(text.as_bytes(), &mut wire)
        .unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&wire).await.unwrap();
    s.shutdown().await.unwrap();
    wait_for("points", || sink.points.load(Ordering::SeqCst) == 2).await;
    wait_for("long line counted", || {
        stats.long_lines.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_stream_closes_its_connection_and_is_counted() {
    let (port, sink, stats) = listen(Compression::Lz4, IngestConfig::default()).await;
    let mut good = Vec::new();
    let mut enc = Encoder::new(Compression::Lz4);
    enc.encode(b"good.a 1 1700000000\n", &mut good).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&good).await.unwrap();
    // Valid frames, then bytes that are not a frame.
    s.write_all(b"\x00\x01\x02\x03garbage").await.unwrap();
    let mut b = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
        .await
        .expect("connection left open");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    wait_for("point before the garbage", || {
        sink.points.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(stats.broken_streams.load(Ordering::SeqCst), 1);
}
