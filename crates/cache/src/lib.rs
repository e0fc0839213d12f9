//! The cache role: holds received points in memory until the persister writes them to whisper.
//!
//! Receivers call [`Cache::put`] (through the [`ingest::Sink`] impl), which waits while the cache is full,
//! appends the batch to the [`Wal`] and stores it in a shard. [`Persister`] threads drain metrics in the
//! order of the [`WriteStrategy`] through a [`Backend`] under the update and create rate limits.
//! [`carbonlink::serve_carbonlink`] answers graphite-web's queries for points not yet on disk.

mod backend;
pub mod carbonlink;
mod error;
mod persister;
mod ratelimit;
mod shards;
mod stats;
mod strategy;
mod wal;
mod whisper_backend;

pub use backend::{Backend, Written};
pub use error::CacheError;
pub use persister::{raise_fd_limit, Persister, PersisterConfig};
pub use ratelimit::TokenBucket;
pub use shards::{point_cost, Cache, CacheLimits};
pub use stats::CacheStats;
pub use strategy::{UnknownStrategy, WriteStrategy};
pub use wal::{SegmentId, Wal};
pub use whisper_backend::{
    default_new_file, plain_relative_path, NewFile, PathOf, Rules, WhisperBackend,
};
