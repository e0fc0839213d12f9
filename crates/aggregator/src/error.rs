//! Errors of the aggregator crate.

use std::path::PathBuf;

/// Everything that can go wrong loading aggregator configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line of a rewrite-rules.conf or white/blacklist file is not valid.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An aggregation rule was refused by the rule parser.
    #[error(transparent)]
    Rule(#[from] ring::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
