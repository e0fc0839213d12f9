//! TCP listeners: one task per connection, reading only when the sink has taken the previous batch.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::line::{parse_line, LineSplitter, Split};
use crate::name::check_name;
use crate::pickle::decode_frame;
use crate::{IngestConfig, IngestStats, Point, Sink};

/// Reads this much per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a line listener's connections are wrapped: TLS outside, compression inside (as
/// carbon-c-relay's `listen ... transport gzip ssl <pem>`).
#[derive(Clone, Default)]
pub struct ListenTransport {
    /// Compression of what clients send.
    pub compression: transport::Compression,
    /// TLS acceptor; `None` for plain TCP.
    pub tls: Option<transport::tls::TlsAcceptor>,
}

impl std::fmt::Debug for ListenTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}",
            self.compression,
            if self.tls.is_some() { "+tls" } else { "" }
        )
    }
}

/// Builds batches and applies the checks common to every receiver (carbon's `metricReceived`).
pub(crate) struct Batcher<'a> {
    pub(crate) cfg: &'a IngestConfig,
    pub(crate) stats: &'a IngestStats,
    pub(crate) batch: Vec<Point>,
    now: Option<f64>,
}

impl<'a> Batcher<'a> {
    pub(crate) fn new(cfg: &'a IngestConfig, stats: &'a IngestStats) -> Self {
        Batcher {
            cfg,
            stats,
            batch: Vec::with_capacity(cfg.batch_size),
            now: None,
        }
    }

    /// Applies NaN dropping, `-1` = now, and the name check, then queues the point.
    pub(crate) fn push(&mut self, name: &str, ts: f64, value: f64) {
        if value.is_nan() {
            IngestStats::add(&self.stats.nan_values, 1);
            return;
        }
        if !ts.is_finite() {
            IngestStats::add(&self.stats.invalid_lines, 1);
            return;
        }
        // carbon-cache caches (and stores) the tag-normalised name; untagged names come back borrowed.
        let name = proto::normalize_name(name);
        if self.cfg.check_paths && check_name(&name).is_err() {
            IngestStats::add(&self.stats.invalid_names, 1);
            return;
        }
        let ts = if ts.trunc() == -1.0 {
            *self.now.get_or_insert_with(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            })
        } else {
            ts
        };
        self.batch.push(Point::new(name.into_owned(), ts, value));
    }

    pub(crate) fn full(&self) -> bool {
        self.batch.len() >= self.cfg.batch_size
    }

    /// Hands the batch to the sink; false when the sink is gone.
    pub(crate) async fn flush<S: Sink>(&mut self, sink: &S) -> bool {
        self.now = None;
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.cfg.batch_size));
        let n = batch.len() as u64;
        if sink.send(batch).await.is_err() {
            return false;
        }
        IngestStats::add(&self.stats.metrics_received, n);
        true
    }
}

/// Accepts connections until `stop` turns true, running `handle` for each one.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    mut stop: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(TcpStream, watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let sock = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match sock {
            Ok((sock, _peer)) => {
                let _ = sock.set_nodelay(true);
                stats.connections.fetch_add(1, Relaxed);
                stats.active_connections.fetch_add(1, Relaxed);
                let fut = handle(sock, stop.clone());
                let stats = stats.clone();
                tokio::spawn(async move {
                    fut.await;
                    stats.active_connections.fetch_sub(1, Relaxed);
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Serves carbon's plaintext protocol (`metric value timestamp\n`) on `listener` until `stop` is set.
pub async fn serve_line<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    stop: watch::Receiver<bool>,
) {
    serve_line_with(listener, sink, cfg, stats, stop, ListenTransport::default()).await
}

/// Like [`serve_line`] with connections wrapped in TLS and/or compression. A connection whose
/// handshake or compressed stream is invalid is closed alone (counted in `broken_streams`).
pub async fn serve_line_with<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    stop: watch::Receiver<bool>,
    wrap: ListenTransport,
) {
    let (c, s) = (cfg.clone(), stats.clone());
    accept_loop(listener, cfg, stats, stop, move |sock, stop| {
        let (sink, cfg, stats, wrap) = (sink.clone(), c.clone(), s.clone(), wrap.clone());
        async move {
            match &wrap.tls {
                None => line_conn(sock, wrap.compression, sink, cfg, stats, stop).await,
                Some(acceptor) => {
                    let hs = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await;
                    match hs {
                        Ok(Ok(tls)) => {
                            line_conn(tls, wrap.compression, sink, cfg, stats, stop).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            IngestStats::add(&stats.broken_streams, 1);
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            IngestStats::add(&stats.broken_streams, 1);
                        }
                    }
                }
            }
        }
    })
    .await
}

async fn line_conn<R: AsyncRead + Unpin, S: Sink>(
    mut sock: R,
    compression: transport::Compression,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut split = LineSplitter::new(cfg.max_line_length);
    let mut b = Batcher::new(&cfg, &stats);
    let mut decoder = match compression {
        transport::Compression::Plain => None,
        c => Some(transport::Decoder::new(c)),
    };
    let mut plain = Vec::new();
    loop {
        let n = tokio::select! {
            r = sock.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = stop.changed() => break,
        };
        let Some(dec) = decoder.as_mut() else {
            // One read holds at most READ_CHUNK bytes, so the batch built from it stays bounded too.
            feed(&mut split, &mut b, &buf[..n]);
            if !b.flush(&*sink).await {
                return;
            }
            continue;
        };
        // Decoded output comes in bounded steps, each handed to the sink before the next.
        let mut pos = 0;
        loop {
            plain.clear();
            match dec.decode(&buf[pos..n], &mut plain) {
                Ok(k) => pos += k,
                Err(e) => {
                    // Lines decoded before the corruption in this same step still count.
                    tracing::debug!(error = %e, "closing connection");
                    IngestStats::add(&stats.broken_streams, 1);
                    feed(&mut split, &mut b, &plain);
                    b.flush(&*sink).await;
                    return;
                }
            }
            if plain.is_empty() && pos == n {
                break;
            }
            feed(&mut split, &mut b, &plain);
            if !b.flush(&*sink).await {
                return;
            }
        }
    }
    // Carbon drops a final line without LF at close; so do we (it may be a torn write).
    b.flush(&*sink).await;
}

/// Splits `data` into lines and queues the points they hold.
fn feed(split: &mut LineSplitter, b: &mut Batcher<'_>, data: &[u8]) {
    split.feed(data, |item| match item {
        Split::Line(l) => match parse_line(l) {
            Ok((m, t, v)) => b.push(m, t, v),
            Err(_) => IngestStats::add(&b.stats.invalid_lines, 1),
        },
        Split::TooLong => IngestStats::add(&b.stats.long_lines, 1),
    });
}

/// Serves carbon's pickle protocol (u32 big-endian length + pickled list) on `listener` until `stop` is set.
pub async fn serve_pickle<S: Sink>(
    listener: TcpListener,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    stop: watch::Receiver<bool>,
) {
    let (c, s) = (cfg.clone(), stats.clone());
    accept_loop(listener, cfg, stats, stop, move |sock, stop| {
        pickle_conn(sock, sink.clone(), c.clone(), s.clone(), stop)
    })
    .await
}

async fn pickle_conn<S: Sink>(
    mut sock: TcpStream,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut frame = Vec::new();
    let mut b = Batcher::new(&cfg, &stats);
    loop {
        let mut len = [0u8; 4];
        let r = tokio::select! {
            r = sock.read_exact(&mut len) => r,
            _ = stop.changed() => break,
        };
        if r.is_err() {
            break;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > cfg.max_pickle_frame {
            // Skip the frame without buffering it, so the stream stays in sync and the sender connected.
            IngestStats::add(&stats.invalid_frames, 1);
            let mut left = n as u64;
            let mut sink_buf = vec![0u8; READ_CHUNK];
            while left > 0 {
                let want = left.min(READ_CHUNK as u64) as usize;
                match sock.read(&mut sink_buf[..want]).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => left -= k as u64,
                }
            }
            continue;
        }
        frame.resize(n, 0);
        if sock.read_exact(&mut frame).await.is_err() {
            break;
        }
        match decode_frame(&frame) {
            Ok(items) => {
                for item in items {
                    match item {
                        Some((m, t, v)) => b.push(&m, t, v),
                        None => IngestStats::add(&stats.invalid_pickle_entries, 1),
                    }
                    if b.full() && !b.flush(&*sink).await {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "pickle frame rejected");
                IngestStats::add(&stats.invalid_frames, 1);
            }
        }
        if !b.flush(&*sink).await {
            return;
        }
        if frame.capacity() > READ_CHUNK * 4 {
            frame = Vec::new();
        }
    }
}
