//! The relay role: places incoming metrics on cache nodes like carbon-relay and
//! carbon-c-relay do, and delivers them without losing points when a node restarts.
//!
//! Each destination has a bounded in-memory queue backed by a bounded disk spill
//! (`<spill_dir>/<host:port:instance>/`), one sender task that batches points into pickle
//! or plaintext messages, reconnects with backoff and resends its last messages after a
//! broken connection. When memory and spill are both full, [`Relay::submit`] waits, so the
//! receivers stop reading their sockets instead of dropping.
//!
//! ```no_run
//! # async fn demo() -> Result<(), relay::RelayError> {
//! use relay::{Point, Relay, RelayConfig};
//! use ring::{parse_destinations, HashConfig, HashRouter};
//! use std::sync::Arc;
//! let dests = parse_destinations("127.0.0.1:2004:a, 127.0.0.1:2104:b").unwrap();
//! let router = HashRouter::new(dests, HashConfig::default()).unwrap();
//! let relay = Relay::start(RelayConfig::default(), Arc::new(router))?;
//! relay.submit(vec![Point::new("a.b.c", 1700000000.0, 1.0)]).await?;
//! relay.shutdown().await;
//! # Ok(()) }
//! ```

mod aggregating;
mod crelay_director;
mod dest;
mod direct;
mod encode;
mod error;
mod point;
mod queue;
mod relay;
mod selfmetrics;
mod sender;
mod spill;

pub use aggregating::AggregatingDirector;
pub use crelay_director::CRelayDirector;
pub use dest::{spill_dir_name, Destination, Transport};
pub use direct::{Director, RingDirector};
pub use encode::{encode, Protocol};
pub use error::RelayError;
pub use point::Point;
pub use queue::QueueLimits;
pub use relay::{DestStats, Relay, RelayConfig, Route};
pub use selfmetrics::SelfMetrics;
pub use sender::SenderConfig;
