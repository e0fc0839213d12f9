//! UDP plaintext receiver: each datagram holds whole lines (Python `splitlines()` separators).

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::line::parse_line;
use crate::tcp::Batcher;
use crate::{IngestConfig, IngestStats, Sink};

/// Serves plaintext datagrams on `sock` until `stop` is set.
pub async fn serve_udp<S: Sink>(
    sock: UdpSocket,
    sink: Arc<S>,
    cfg: Arc<IngestConfig>,
    stats: Arc<IngestStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    let mut b = Batcher::new(&cfg, &stats);
    loop {
        let n = tokio::select! {
            r = sock.recv_from(&mut buf) => match r { Ok((n, _)) => n, Err(_) => continue },
            _ = stop.changed() => break,
        };
        for line in proto::line::udp_lines(&buf[..n]).filter(|l| !l.is_empty()) {
            match parse_line(line) {
                Ok((m, t, v)) => b.push(m, t, v),
                Err(_) => IngestStats::add(&stats.invalid_lines, 1),
            }
            if b.full() && !b.flush(&*sink).await {
                return;
            }
        }
        if !b.flush(&*sink).await {
            return;
        }
    }
}
