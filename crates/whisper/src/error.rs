//! The one error type of the crate, one variant per way a whisper operation can fail.

use std::io;

/// Everything a whisper operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file is not a well-formed whisper file (truncated, foreign, inconsistent header).
    #[error("{reason}")]
    Corrupt {
        /// What was found wrong, in whisper's wording where it has one.
        reason: String,
    },
    /// An archive list that whisper's `validateArchiveList` rejects, or a file that already exists.
    #[error("{0}")]
    InvalidConfiguration(String),
    /// A retention definition (`10s:6h`) that does not parse.
    #[error("{0}")]
    InvalidRetention(String),
    /// An aggregation method name or id whisper does not know.
    #[error("Unrecognized aggregation method: {0}")]
    InvalidAggregationMethod(String),
    /// An xFilesFactor that is not a number between 0 and 1.
    #[error("{0}")]
    InvalidXFilesFactor(String),
    /// A fetch whose start is after its end.
    #[error("Invalid time interval: from time '{from}' is after until time '{until}'")]
    InvalidTimeInterval {
        /// Requested start.
        from: i64,
        /// Requested end.
        until: i64,
    },
    /// A single-point update outside every archive's retention (or in the future).
    #[error("Timestamp not covered by any archives in this database.")]
    TimestampNotCovered,
    /// A timestamp that cannot be stored in whisper's unsigned 32-bit interval field.
    #[error("timestamp {0} cannot be stored in a whisper file (outside 0..2^32)")]
    TimestampOutOfRange(i64),
    /// A requested archive precision that the file does not have.
    #[error("Invalid granularity: {0}")]
    InvalidGranularity(u32),
    /// Two files whose archive lists differ, for merge and diff.
    #[error("{0} and {1} archive configurations are unalike. Resize the input before {2}")]
    ArchivesDiffer(String, String, &'static str),
    /// The archive layout of a file changed under a handle kept open; reopen it
    /// ([`crate::Whisper::revalidate`]).
    #[error("the file's archive layout changed under an open handle; reopen it")]
    HeaderChanged,
    /// merge with a start after its end.
    #[error("time_to must be >= time_from")]
    InvalidMergeRange,
}

impl Error {
    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        Error::Corrupt {
            reason: reason.into(),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
