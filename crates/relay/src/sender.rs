//! The task that owns one destination's connection: batches, writes, reconnects with backoff,
//! and resends what may have been lost when a connection breaks.
//!
//! TCP says nothing about what the peer application read: bytes in our send buffer and in
//! a killed peer's receive buffer vanish with the connection. So the most recently written
//! messages (up to `resend_window_bytes`) are kept and written again after a reconnect. That
//! turns loss into at most a window of duplicates, which a whisper store absorbs (same
//! timestamp, same value).

use crate::encode::{encode, encoded_len, Protocol};
use crate::point::Point;
use crate::queue::Queue;
use crate::{Destination, Transport};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// Settings of a sender, shared by all destinations.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Wire format.
    pub protocol: Protocol,
    /// Most points in one message.
    pub max_datapoints_per_message: usize,
    /// Most encoded bytes in one message (receivers cap frames at 1 MiB).
    pub max_message_bytes: usize,
    /// Encoded bytes of recent messages kept for resending after a broken connection.
    pub resend_window_bytes: usize,
    /// First reconnect delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Give up a connect attempt (TCP and TLS handshake) after this long.
    pub connect_timeout: Duration,
    /// Wrapping of destinations whose director names none.
    pub transport: Transport,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            protocol: Protocol::Pickle,
            max_datapoints_per_message: 500,
            max_message_bytes: 1_000_000,
            resend_window_bytes: 16 << 20,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            transport: Transport::plain(),
        }
    }
}

/// What the owner wants the sender to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Normal operation.
    Run,
    /// Shut down: send what is in memory until the deadline, then hand back the rest.
    Flush(Instant),
    /// Destination removed: stop now and hand back everything unconfirmed.
    Remove,
}

/// Coalesce messages into writes of about this size.
const WRITE_CHUNK: usize = 256 << 10;

struct Window {
    batches: VecDeque<(Vec<Point>, usize)>,
    bytes: usize,
    limit: usize,
}

impl Window {
    fn push(&mut self, batch: Vec<Point>, len: usize) {
        self.bytes += len;
        self.batches.push_back((batch, len));
        while self.bytes > self.limit {
            match self.batches.pop_front() {
                Some((_, l)) => self.bytes -= l,
                None => break,
            }
        }
    }

    fn take_all(&mut self) -> Vec<Point> {
        self.bytes = 0;
        self.batches.drain(..).flat_map(|(b, _)| b).collect()
    }
}

/// Runs until told to stop; returns the points it could not confirm as sent, oldest first.
pub(crate) async fn run(
    addr: Destination,
    transport: Transport,
    queue: Arc<Queue>,
    cfg: Arc<SenderConfig>,
    mut mode: watch::Receiver<Mode>,
) -> Vec<Point> {
    let mut window = Window {
        batches: VecDeque::new(),
        bytes: 0,
        limit: cfg.resend_window_bytes,
    };
    let mut conn: Option<Conn> = None;
    let mut backoff = cfg.reconnect_min;
    let mut dirty = false; // the window holds messages of a connection that broke
    let mut buf = Vec::with_capacity(WRITE_CHUNK * 2);
    let mut wire = Vec::new();
    let mut pending: Vec<(Vec<Point>, usize)> = Vec::new();
    let len_fn = |p: &Point| encoded_len(cfg.protocol, p);
    loop {
        let m = *mode.borrow();
        match m {
            Mode::Remove => break,
            Mode::Flush(deadline) => {
                if Instant::now() >= deadline || conn.is_none() {
                    break;
                }
                if queue.mem_is_empty() && !dirty {
                    if let Some(c) = conn.as_mut() {
                        let _ = c.write.shutdown().await;
                    }
                    window.take_all();
                    break;
                }
            }
            Mode::Run => {}
        }
        if conn.is_none() {
            let attempt = tokio::time::timeout(cfg.connect_timeout, connect(&addr, &transport));
            let res = tokio::select! {
                r = attempt => r,
                _ = mode.changed() => continue,
            };
            match res {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    backoff = cfg.reconnect_min;
                    tracing::info!("relay: connected to {addr} ({transport})");
                }
                other => {
                    if let Ok(Err(e)) = other {
                        tracing::debug!("relay: connect to {addr}: {e}");
                    }
                    queue.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = mode.changed() => {}
                    }
                    backoff = (backoff * 2).min(cfg.reconnect_max);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        buf.clear();
        pending.clear();
        if dirty {
            // Messages of the broken connection go first, in their original order.
            let old = window.take_all();
            queue
                .counters
                .resent
                .fetch_add(old.len() as u64, Ordering::Relaxed);
            for chunk in old.chunks(cfg.max_datapoints_per_message.max(1)) {
                let before = buf.len();
                encode(cfg.protocol, chunk, &mut buf);
                pending.push((chunk.to_vec(), buf.len() - before));
            }
            dirty = false;
        }
        let from_spill = matches!(m, Mode::Run);
        while buf.len() < WRITE_CHUNK {
            let mut batch = Vec::new();
            queue.take(
                cfg.max_datapoints_per_message.max(1),
                cfg.max_message_bytes,
                len_fn,
                from_spill,
                &mut batch,
            );
            if batch.is_empty() {
                break;
            }
            let before = buf.len();
            encode(cfg.protocol, &batch, &mut buf);
            pending.push((batch, buf.len() - before));
        }
        if pending.is_empty() {
            let notified = queue.data.notified();
            tokio::select! {
                _ = notified => {}
                _ = c.closed() => {
                    tracing::warn!("relay: {addr} closed the connection");
                    conn = None;
                    queue.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    dirty = !window.batches.is_empty();
                }
                _ = mode.changed() => {}
                // A sender never sleeps long on a lost wake-up.
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let n: usize = pending.iter().map(|(b, _)| b.len()).sum();
        let mut eof = c.eof.clone();
        wire.clear();
        let encoded = c.encoder.encode(&buf, &mut wire);
        let write = async {
            encoded.map_err(std::io::Error::other)?;
            let out = async {
                c.write.write_all(&wire).await?;
                // TLS holds records back until flushed.
                c.write.flush().await
            };
            tokio::select! {
                r = out => r,
                _ = eof.wait_for(|c| *c) => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer closed")),
            }
        };
        let outcome = tokio::select! {
            r = write => Some(r),
            _ = wait_stop(&mut mode) => None,
        };
        match outcome {
            Some(Ok(())) => {
                queue.counters.sent.fetch_add(n as u64, Ordering::Relaxed);
                for (b, l) in pending.drain(..) {
                    window.push(b, l);
                }
            }
            Some(Err(e)) => {
                tracing::warn!("relay: write to {addr} failed: {e}");
                for (b, l) in pending.drain(..) {
                    window.push(b, l);
                }
                conn = None;
                dirty = true;
                queue.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                // Stopped in the middle of a blocked write: all of it is unconfirmed.
                for (b, l) in pending.drain(..) {
                    window.push(b, l);
                }
                dirty = true;
                break;
            }
        }
    }
    if dirty {
        // Nothing proves the window of a broken connection arrived: hand it back.
        window.take_all()
    } else {
        Vec::new()
    }
}

/// Resolves when the mode leaves `Run` with a passed deadline or turns into `Remove`.
async fn wait_stop(mode: &mut watch::Receiver<Mode>) {
    loop {
        let m = *mode.borrow_and_update();
        match m {
            Mode::Remove => return,
            Mode::Flush(deadline) => {
                tokio::time::sleep_until(deadline).await;
                return;
            }
            Mode::Run => {}
        }
        if mode.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

struct Conn {
    write: Box<dyn AsyncWrite + Send + Unpin>,
    /// Compresses what is written; a new connection starts a new stream.
    encoder: transport::Encoder,
    eof: watch::Receiver<bool>,
    _reader: tokio::task::JoinHandle<()>,
}

impl Conn {
    /// Resolves once the peer closed or reset the connection.
    async fn closed(&mut self) {
        let _ = self.eof.wait_for(|c| *c).await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self._reader.abort();
    }
}

/// Writes each line it is given as one UDP datagram, as carbon-c-relay does for `proto udp`.
struct UdpLines(tokio::net::UdpSocket);

impl AsyncWrite for UdpLines {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // Senders write whole lines; a piece without LF goes out as it is.
        let end = buf
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| i + 1);
        match self.0.poll_send(cx, &buf[..end]) {
            // UDP promises nothing: a refusal (ICMP from an earlier datagram) is a lost line,
            // not a broken connection.
            std::task::Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::task::Poll::Ready(Ok(end))
            }
            std::task::Poll::Ready(Ok(_)) => std::task::Poll::Ready(Ok(end)),
            other => other,
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

async fn connect(addr: &Destination, transport: &Transport) -> std::io::Result<Conn> {
    if transport.udp {
        let target = tokio::net::lookup_host((addr.host.as_str(), addr.port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{} has no address", addr.host)))?;
        let local: std::net::SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(local).await?;
        sock.connect(target).await?;
        // Nothing ever ends a UDP "connection".
        let (_tx, eof) = watch::channel(false);
        return Ok(Conn {
            write: Box::new(UdpLines(sock)),
            encoder: transport::Encoder::new(transport::Compression::Plain),
            eof,
            _reader: tokio::spawn(async move {
                let _keep = _tx;
                std::future::pending::<()>().await
            }),
        });
    }
    let stream = TcpStream::connect((addr.host.as_str(), addr.port)).await?;
    stream.set_nodelay(true)?;
    let (read, write): (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) = match &transport.tls {
        Some((_, connector)) => {
            let name = transport::tls::server_name(&addr.host).map_err(std::io::Error::other)?;
            let tls = connector.connect(name, stream).await?;
            let (r, w) = tokio::io::split(tls);
            (Box::new(r), Box::new(w))
        }
        None => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
    };
    let (tx, eof) = watch::channel(false);
    // Destinations never talk back; reading only tells us when they hang up.
    let reader = tokio::spawn(async move {
        let mut read = read;
        let mut sink = [0u8; 4096];
        loop {
            match read.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(true);
    });
    Ok(Conn {
        write,
        encoder: transport::Encoder::new(transport.compression),
        eof,
        _reader: reader,
    })
}
