//! Limits of the receivers.

/// Bounds applied by every listener.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Longest plaintext line accepted (carbon: 16384); longer lines are counted and skipped.
    pub max_line_length: usize,
    /// Largest pickle frame accepted (carbon's PICKLE_RECEIVER_MAX_LENGTH, 1 MiB).
    pub max_pickle_frame: usize,
    /// Points per batch handed to the sink.
    pub batch_size: usize,
    /// Concurrent TCP connections per listener; accepting pauses beyond it.
    pub max_connections: usize,
    /// Reject names that could not be stored as a whisper path (`..`, `/`, NUL, empty nodes).
    pub check_paths: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_line_length: 16384,
            max_pickle_frame: 1 << 20,
            batch_size: 1000,
            max_connections: 10_000,
            check_paths: true,
        }
    }
}
