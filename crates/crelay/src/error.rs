//! Errors of the crelay crate: every configuration error carries its file, line and column.

use std::fmt;
use std::path::PathBuf;

/// Where in which file something was found (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// File the text came from (`<string>` for text given directly).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration that carbon-c-relay would refuse, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Syntax or meaning error at a position.
    #[error("{pos}: {message}")]
    At {
        /// Where.
        pos: Pos,
        /// What is wrong.
        message: String,
    },
    /// A configuration or included file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Includes nested deeper than the limit (an include loop, most likely).
    #[error("{0}: includes nested too deep (loop?)")]
    IncludeDepth(PathBuf),
}

impl Error {
    /// The position of a syntax or meaning error.
    pub fn pos(&self) -> Option<&Pos> {
        match self {
            Error::At { pos, .. } => Some(pos),
            _ => None,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
