//! What the persister writes through: the whisper tree.

/// What [`Backend::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The points are in the metric's file.
    Done,
    /// The metric has no file yet: nothing was written (the caller creates it and retries).
    NoFile,
}

/// The storage the persister writes to; implemented over whisper files by [`crate::WhisperBackend`].
pub trait Backend: Send + Sync + 'static {
    /// Whether the metric already has a file.
    fn exists(&self, metric: &str) -> bool;
    /// Creates the metric's file (retentions and aggregation from the storage rules).
    fn create(&self, metric: &str) -> Result<(), String>;
    /// Writes points `(timestamp, value)`, sorted by timestamp, one per timestamp; a metric
    /// without a file is answered with [`Written::NoFile`] (nothing written).
    fn update(&self, metric: &str, points: &[(i64, f64)]) -> Result<Written, String>;
    /// The metric's aggregation method (carbonlink `get-metadata`).
    fn aggregation_method(&self, metric: &str) -> Result<String, String>;
    /// Changes the aggregation method, returning the old one (carbonlink `set-metadata`).
    fn set_aggregation_method(&self, metric: &str, method: &str) -> Result<String, String>;
}
