//! Counters of what the receivers accepted and rejected; every rejection path increments one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Shared, lock-free receiver counters (cumulative since start).
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Points delivered to the sink.
    pub metrics_received: AtomicU64,
    /// Plaintext lines that did not parse (field count, number syntax, UTF-8).
    pub invalid_lines: AtomicU64,
    /// Lines longer than the limit, skipped.
    pub long_lines: AtomicU64,
    /// Names rejected as unsafe or malformed.
    pub invalid_names: AtomicU64,
    /// NaN values, dropped as carbon does.
    pub nan_values: AtomicU64,
    /// Pickle frames rejected whole (bad pickle, unsafe opcode, too large).
    pub invalid_frames: AtomicU64,
    /// Elements of a valid pickle list that were not `(name, (ts, value))`.
    pub invalid_pickle_entries: AtomicU64,
    /// Connections closed because their TLS handshake or compressed stream was invalid.
    pub broken_streams: AtomicU64,
    /// Connections currently open.
    pub active_connections: AtomicU64,
    /// Connections accepted since start.
    pub connections: AtomicU64,
}

/// A plain copy of [`IngestStats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestSnapshot {
    /// See [`IngestStats::metrics_received`].
    pub metrics_received: u64,
    /// See [`IngestStats::invalid_lines`].
    pub invalid_lines: u64,
    /// See [`IngestStats::long_lines`].
    pub long_lines: u64,
    /// See [`IngestStats::invalid_names`].
    pub invalid_names: u64,
    /// See [`IngestStats::nan_values`].
    pub nan_values: u64,
    /// See [`IngestStats::invalid_frames`].
    pub invalid_frames: u64,
    /// See [`IngestStats::invalid_pickle_entries`].
    pub invalid_pickle_entries: u64,
    /// See [`IngestStats::broken_streams`].
    pub broken_streams: u64,
    /// See [`IngestStats::active_connections`].
    pub active_connections: u64,
    /// See [`IngestStats::connections`].
    pub connections: u64,
}

impl IngestSnapshot {
    /// Every input rejected for any reason.
    pub fn rejected(&self) -> u64 {
        self.invalid_lines
            + self.long_lines
            + self.invalid_names
            + self.invalid_frames
            + self.invalid_pickle_entries
    }
}

impl IngestStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> IngestSnapshot {
        IngestSnapshot {
            metrics_received: self.metrics_received.load(Relaxed),
            invalid_lines: self.invalid_lines.load(Relaxed),
            long_lines: self.long_lines.load(Relaxed),
            invalid_names: self.invalid_names.load(Relaxed),
            nan_values: self.nan_values.load(Relaxed),
            invalid_frames: self.invalid_frames.load(Relaxed),
            invalid_pickle_entries: self.invalid_pickle_entries.load(Relaxed),
            broken_streams: self.broken_streams.load(Relaxed),
            active_connections: self.active_connections.load(Relaxed),
            connections: self.connections.load(Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Relaxed);
        }
    }
}
