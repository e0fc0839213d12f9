//! The renderer's errors.

/// Why a graph could not be drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A graph parameter had a value the renderer cannot use (answered as 400).
    #[error("Invalid parameters ({0})")]
    BadParam(String),
    /// The request is larger than the renderer's bounds (pixels, series, points).
    #[error("graph too large: {0}")]
    TooLarge(String),
    /// Layout failed the way graphite-web's GraphError does (e.g. yMin >= yMax both given).
    #[error("{0}")]
    Layout(String),
    /// The PNG encoder failed.
    #[error("png encoding failed: {0}")]
    Encode(String),
}
