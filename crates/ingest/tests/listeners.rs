//! The listeners over real loopback sockets: framing across writes, pickle frames, counted rejects,
//! and back-pressure (a sink that does not take batches stops the reading).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingest::{IngestConfig, IngestStats, Point, Sink, SinkClosed};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// Keeps every batch; while `hold` is set, `send` waits (a full downstream).
#[derive(Default)]
struct Collect {
    points: Mutex<Vec<Point>>,
    hold: AtomicBool,
    released: Notify,
}

impl Sink for Collect {
    async fn send(&self, batch: Vec<Point>) -> Result<(), SinkClosed> {
        while self.hold.load(Ordering::SeqCst) {
            self.released.notified().await;
        }
        self.points.lock().unwrap().extend(batch);
        Ok(())
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_listener_frames_parses_and_counts() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = Arc::new(Collect::default());
    let stats = Arc::new(IngestStats::default());
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ingest::serve_line(
        l,
        sink.clone(),
        Arc::new(IngestConfig::default()),
        stats.clone(),
        stop,
    ));
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for part in [
        "a.b 1.5 1700000000\na.",
        "c 2 17000",
        "00010\r\nbad\n../x 1 1\n",
        "t;z=1;a=2 3 1700000020\n",
    ] {
        s.write_all(part.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_for("3 points", || sink.points.lock().unwrap().len() == 3).await;
    let got = sink.points.lock().unwrap().clone();
    assert_eq!(got[0], Point::new("a.b", 1_700_000_000.0, 1.5));
    assert_eq!(got[1], Point::new("a.c", 1_700_000_010.0, 2.0));
    assert_eq!(
        got[2],
        Point::new("t;a=2;z=1", 1_700_000_020.0, 3.0),
        "tags normalised"
    );
    let st = stats.snapshot();
    assert_eq!(
        (st.metrics_received, st.invalid_lines, st.invalid_names),
        (3, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickle_listener_takes_carbon_relay_frames() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = Arc::new(Collect::default());
    let stats = Arc::new(IngestStats::default());
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ingest::serve_pickle(
        l,
        sink.clone(),
        Arc::new(IngestConfig::default()),
        stats.clone(),
        stop,
    ));
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = proto::pickle::encode_datapoints(&[
        ("p.one", 1_700_000_000.0, 1.0),
        ("p.two", 1_700_000_010.0, f64::NAN),
    ]);
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    // The frame arrives in two pieces, then a garbage frame, then the same good frame again.
    s.write_all(&frame[..7]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.write_all(&frame[7..]).await.unwrap();
    s.write_all(&[0, 0, 0, 3, b'x', b'y', b'z']).await.unwrap();
    s.write_all(&frame).await.unwrap();
    wait_for("2 points", || sink.points.lock().unwrap().len() == 2).await;
    let st = stats.snapshot();
    assert_eq!(
        (st.metrics_received, st.nan_values, st.invalid_frames),
        (2, 2, 1)
    );
    assert!(sink
        .points
        .lock()
        .unwrap()
        .iter()
        .all(|p| p.metric == "p.one"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sink_stops_reading_and_nothing_is_lost() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = Arc::new(Collect::default());
    sink.hold.store(true, Ordering::SeqCst);
    let stats = Arc::new(IngestStats::default());
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn(ingest::serve_line(
        l,
        sink.clone(),
        Arc::new(IngestConfig::default()),
        stats.clone(),
        stop,
    ));
    let n = 400_000;
    let writer = tokio::spawn(async move {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let text: String = (0..n)
            .map(|i| format!("bp.m{} {i} 1700000000\n", i % 100))
            .collect();
        s.write_all(text.as_bytes()).await.unwrap();
    });
    // Several MB cannot all fit in socket buffers: the writer must be blocked while the sink holds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "the listener kept reading while its sink was full"
    );
    assert!(sink.points.lock().unwrap().is_empty());
    sink.hold.store(false, Ordering::SeqCst);
    sink.released.notify_waiters();
    writer.await.unwrap();
    wait_for("every point", || sink.points.lock().unwrap().len() == n).await;
    assert_eq!(stats.snapshot().metrics_received, n as u64);
}
