//! Pickle frames of carbon datapoints.

/// Why a pickle frame was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// The payload is not a pickle this decoder accepts.
    #[error("invalid pickle: {0}")]
    Invalid(String),
}

/// One decoded element: `Some((metric, timestamp, value))`, or `None` for an element carbon would skip.
pub type Entry = Option<(String, f64, f64)>;

/// Decodes one frame payload (without its length prefix) into datapoints.
pub fn decode_frame(_payload: &[u8]) -> Result<Vec<Entry>, PickleError> {
    Err(PickleError::Invalid("pickle decoder not wired yet".into()))
}
