//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong while parsing destinations, rules files or building a router.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A destination string is not `host:port[:instance]` / `[v6]:port[:instance]`.
    #[error("invalid destination {input:?}: {reason}")]
    InvalidDestination {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two destinations share the same node identity for the chosen ring.
    #[error("destination {0} is configured twice (same node identity)")]
    DuplicateDestination(String),
    /// A router was asked for with no destination at all.
    #[error("no destinations configured")]
    NoDestinations,
    /// REPLICATION_FACTOR must be at least 1.
    #[error("replication factor must be at least 1")]
    InvalidReplicationFactor,
    /// carbon-c-relay refuses a replication count above the number of servers.
    #[error("replication count ({replication}) is larger than the number of servers ({servers})")]
    ReplicationExceedsServers {
        /// Requested copies.
        replication: usize,
        /// Configured servers.
        servers: usize,
    },
    /// A hash type name that is not carbon_ch, fnv1a_ch or jump_fnv1a_ch.
    #[error("unknown hash type {0:?} (expected carbon_ch, fnv1a_ch or jump_fnv1a_ch)")]
    UnknownHashType(String),
    /// The hash type does not exist for the chosen ring flavour.
    #[error("hash type {0} is not available for this ring flavour")]
    UnsupportedHashType(&'static str),
    /// An INI (relay-rules.conf) syntax error.
    #[error("line {line}: {reason}")]
    Ini {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A relay-rules.conf semantic error (missing destinations, two defaults, ...).
    #[error("relay rules: {0}")]
    RelayRules(String),
    /// A regular expression that the regex engine cannot compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex {
        /// The pattern as written (or as built from an aggregation input pattern).
        pattern: String,
        /// The engine's message.
        reason: String,
    },
    /// An aggregation-rules.conf line that does not parse.
    #[error("aggregation rule line {line}: {reason}")]
    AggregationRule {
        /// 1-based line number (0 when parsing a single definition).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Reading a rules file failed.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path given.
        path: String,
        /// The OS message.
        reason: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T> = std::result::Result<T, Error>;
