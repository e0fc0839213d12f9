//! Counters of the cache and persister (cumulative; the self-metrics reporter turns them into deltas).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Shared counters of one cache.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Points written to whisper files.
    pub committed_points: AtomicU64,
    /// `update_many` calls.
    pub update_operations: AtomicU64,
    /// Microseconds spent in `update_many`.
    pub update_micros: AtomicU64,
    /// Files created.
    pub creates: AtomicU64,
    /// Times a metric's create was postponed by `max_creates_per_minute` (its points stay cached).
    pub deferred_creates: AtomicU64,
    /// Failed creates or updates.
    pub errors: AtomicU64,
    /// Points lost to failed creates or updates (counted in `errors` too).
    pub dropped_points: AtomicU64,
    /// Carbonlink single-metric queries.
    pub queries: AtomicU64,
    /// Carbonlink bulk queries.
    pub bulk_queries: AtomicU64,
    /// Metrics asked for in bulk queries.
    pub bulk_query_metrics: AtomicU64,
    /// Times a receiver waited because the cache was full (back-pressure, not loss).
    pub full_waits: AtomicU64,
    /// Carbonlink requests that could not be decoded.
    pub bad_queries: AtomicU64,
}

impl CacheStats {
    /// Adds `n` to `c`.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
}
