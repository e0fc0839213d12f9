//! Error types of the store crate.

use std::path::PathBuf;

/// Errors from reading INI text; each one is an exception that makes Python's ConfigParser fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IniError {
    /// A line holding an option before any `[section]` header.
    #[error("line {line}: option before any section header: {text:?}")]
    MissingSectionHeader {
        /// 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// The same section header twice in one file.
    #[error("line {line}: section [{section}] already exists")]
    DuplicateSection {
        /// The repeated section name.
        section: String,
        /// 1-based line number of the repeat.
        line: usize,
    },
    /// The same option twice in one section.
    #[error("line {line}: option {option:?} in section [{section}] already exists")]
    DuplicateOption {
        /// Section holding the option.
        section: String,
        /// The repeated (lower-cased) option name.
        option: String,
        /// 1-based line number of the repeat.
        line: usize,
    },
    /// Lines that are neither headers, options, comments nor continuations.
    #[error("unparsable lines: {lines:?}")]
    Parsing {
        /// (1-based line number, line text) of every bogus line.
        lines: Vec<(usize, String)>,
    },
    /// `items()`/`get()` for a section that does not exist.
    #[error("no section [{section}]")]
    NoSection {
        /// The missing section.
        section: String,
    },
    /// A `%` that is not `%%` or a well-formed `%(name)s`.
    #[error("bad interpolation in [{section}] {option}: {message}")]
    InterpolationSyntax {
        /// Section of the value.
        section: String,
        /// Option of the value.
        option: String,
        /// What was wrong.
        message: String,
    },
    /// `%(name)s` naming an option that does not exist.
    #[error("[{section}] {option}: interpolation refers to missing option {reference:?}")]
    InterpolationMissingOption {
        /// Section of the value.
        section: String,
        /// Option of the value.
        option: String,
        /// The missing reference.
        reference: String,
    },
    /// `getboolean` on a value that is not one of ConfigParser's boolean words.
    #[error("[{section}] {option}: not a boolean: {value}")]
    NotABoolean {
        /// Section of the value.
        section: String,
        /// Option of the value.
        option: String,
        /// The value.
        value: String,
    },
    /// Interpolation nested deeper than ConfigParser allows (usually a self-reference).
    #[error("[{section}] {option}: interpolation too deeply nested")]
    InterpolationDepth {
        /// Section of the value.
        section: String,
        /// Option of the value.
        option: String,
    },
}

/// Errors loading storage-schemas.conf / storage-aggregation.conf: each is a case where carbon refuses
/// to start. Sections carbon merely skips are reported in the loaded value instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{path}: not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The INI syntax is invalid.
    #[error("{context}: {source}")]
    Ini {
        /// File name or section the error belongs to.
        context: String,
        /// The INI error.
        source: IniError,
    },
    /// A section listed by carbon's raw header scan that ConfigParser does not know.
    #[error("section [{section}] is not a valid section header for ConfigParser")]
    UnknownSection {
        /// The section name from the raw scan.
        section: String,
    },
    /// A retention definition carbon's parser rejects (carbon exits).
    #[error("{message} in section [{section}]")]
    Retention {
        /// The section.
        section: String,
        /// What was wrong, in carbon's words.
        message: String,
    },
    /// A pattern that Python's `re` rejects, or that Rust's `regex` cannot express.
    #[error("section [{section}]: pattern {pattern:?}: {message}")]
    Pattern {
        /// The section.
        section: String,
        /// The pattern text.
        pattern: String,
        /// Why it cannot be used.
        message: String,
    },
    /// An xFilesFactor outside [0, 1] (carbon fails an assertion and does not start).
    #[error("section [{section}]: xFilesFactor {value} is not within [0, 1]")]
    XFilesFactor {
        /// The section.
        section: String,
        /// The value as written.
        value: String,
    },
    /// An aggregationMethod whisper does not know (carbon fails an assertion and does not start).
    #[error("section [{section}]: unknown aggregationMethod {value:?}")]
    AggregationMethod {
        /// The section.
        section: String,
        /// The value as written.
        value: String,
    },
}

/// Errors from the name index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The data directory itself could not be read.
    #[error("cannot read data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A metric name that cannot be a plain whisper path (empty part, hidden part, `/`, NUL, tags).
    #[error("metric name {name:?} cannot be indexed: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A find matched more nodes than the caller's limit.
    #[error("query {pattern:?} matches more than {limit} nodes")]
    TooManyMatches {
        /// The query.
        pattern: String,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A query whose `{..}` alternatives expand to too many variants.
    #[error("query {pattern:?} expands to more than {limit} brace variants")]
    TooManyVariants {
        /// The query.
        pattern: String,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A query with more dot-separated parts than any tree can have.
    #[error("query {pattern:?} has more than {limit} parts")]
    QueryTooLong {
        /// The query.
        pattern: String,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A query that would examine more of the tree than allowed (e.g. repeated `**`).
    #[error("query {pattern:?} would examine more than {limit} nodes")]
    QueryTooExpensive {
        /// The query.
        pattern: String,
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl ConfigError {
    /// Compiles a section's Python `re` pattern, naming the section and pattern on failure.
    pub(crate) fn compile_pattern(
        section: &str,
        pattern: &str,
    ) -> Result<regex::Regex, ConfigError> {
        crate::pyre::compile(pattern).map_err(|message| ConfigError::Pattern {
            section: section.to_string(),
            pattern: pattern.to_string(),
            message,
        })
    }
}
