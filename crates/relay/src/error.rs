//! Errors of the relay role.

use std::path::PathBuf;

/// Everything that can go wrong inside the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Reading or writing a spill file failed.
    #[error("spill {path}: {source}")]
    Spill {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A spill file holds a record that cannot be decoded (torn write at a crash).
    #[error("spill {path}: corrupt record at byte {offset}")]
    CorruptSpill {
        /// The segment file.
        path: PathBuf,
        /// Where decoding stopped.
        offset: u64,
    },
    /// The configuration cannot be used.
    #[error("relay configuration: {0}")]
    Config(String),
    /// Destinations or rules could not be turned into a router.
    #[error(transparent)]
    Ring(#[from] ring::Error),
    /// The relay has been shut down.
    #[error("relay is shut down")]
    Closed,
}

impl RelayError {
    pub(crate) fn spill(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RelayError::Spill {
            path: path.into(),
            source,
        }
    }
}
