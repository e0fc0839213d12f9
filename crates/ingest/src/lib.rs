//! Graphite receivers shared by the cache and relay roles.
//!
//! Listeners turn bytes from sockets into bounded batches of [`Point`]s and hand them to a [`Sink`].
//! A sink that is full makes `send` wait, and the listener stops reading its socket until it returns:
//! back-pressure reaches the sender through TCP instead of growing memory here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use ingest::{IngestConfig, IngestStats, Point, Sink, SinkClosed};
//!
//! struct Print;
//! impl Sink for Print {
//!     async fn send(&self, batch: Vec<Point>) -> Result<(), SinkClosed> {
//!         for p in batch { println!("{} {} {}", p.metric, p.value, p.timestamp); }
//!         Ok(())
//!     }
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2003").await?;
//! let (_stop, stopped) = tokio::sync::watch::channel(false);
//! ingest::serve_line(listener, Arc::new(Print), Arc::new(IngestConfig::default()),
//!     Arc::new(IngestStats::default()), stopped).await;
//! # Ok(()) }
//! ```

mod config;
mod line;
mod name;
mod pickle;
mod point;
mod stats;
mod tcp;
mod udp;

pub use config::IngestConfig;
pub use line::{parse_line, LineError, LineSplitter, Split};
pub use name::{check_name, NameError};
pub use pickle::{decode_frame, PickleError};
pub use point::{Point, Sink, SinkClosed};
pub use stats::{IngestSnapshot, IngestStats};
pub use tcp::{serve_line, serve_line_with, serve_pickle, ListenTransport};
pub use udp::serve_udp;
