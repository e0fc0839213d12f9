//! Typed errors of the render language.

use thiserror::Error;

/// Everything that can go wrong while parsing or evaluating a render request.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryError {
    /// A time spec (`from`, `until`, `now`, ...) could not be parsed.
    #[error("invalid time spec {spec:?}: {reason}")]
    Time {
        /// The offending text.
        spec: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An unknown IANA time zone name.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    /// The target text does not follow the grammar.
    #[error("parse error at byte {pos}: {msg}")]
    Parse {
        /// Byte offset in the target text.
        pos: usize,
        /// What was expected.
        msg: String,
    },
    /// A function name that the library does not know (graphite answers 400).
    #[error("Received request for unknown function: {0}")]
    UnknownFunction(String),
    /// A parameter had the wrong type, count or value (graphite's InputParameterError).
    #[error("{0}")]
    InvalidParameter(String),
    /// An evaluation failure graphite reports as a server error (500).
    #[error("{0}")]
    Evaluation(String),
    /// A per-request limit was exceeded.
    #[error("limit exceeded: {what} ({got} > {max})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// The observed amount.
        got: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The fetcher failed.
    #[error("fetch failed: {0}")]
    Fetch(String),
    /// The time range is empty (from == until).
    #[error("Invalid empty time range")]
    EmptyTimeRange,
}

impl QueryError {
    /// True when graphite-web would answer 400 (bad input) rather than 500.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            QueryError::Time { .. }
                | QueryError::TimeZone(_)
                | QueryError::Parse { .. }
                | QueryError::UnknownFunction(_)
                | QueryError::InvalidParameter(_)
                | QueryError::EmptyTimeRange
        )
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, QueryError>;

/// Shorthand for an InvalidParameter error.
pub(crate) fn param_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(QueryError::InvalidParameter(msg.into()))
}

/// Shorthand for an Evaluation error.
pub(crate) fn eval_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(QueryError::Evaluation(msg.into()))
}
