//! Errors of the transport wrappings.

use std::path::PathBuf;

/// What can go wrong while wrapping or unwrapping a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A compressed stream is malformed; the connection carrying it is closed.
    #[error("{codec} stream: {reason}")]
    Corrupt {
        /// `gzip`, `lz4` or `snappy`.
        codec: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A compressor failed (out of memory and the like).
    #[error("{codec} compression: {source}")]
    Compress {
        /// `gzip`, `lz4` or `snappy`.
        codec: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A certificate, key or CA file cannot be read or used.
    #[error("TLS {path}: {reason}")]
    TlsFile {
        /// The file involved.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The TLS configuration cannot be built from what was given.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// An unknown transport name.
    #[error("unknown transport {0:?} (plain | gzip | lz4 | snappy)")]
    UnknownCompression(String),
}

impl TransportError {
    pub(crate) fn corrupt(codec: &'static str, reason: impl Into<String>) -> Self {
        TransportError::Corrupt {
            codec,
            reason: reason.into(),
        }
    }
}
