//! Errors of the cache role.

/// What can go wrong in the cache, its WAL or its persister.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// File system error on the WAL.
    #[error("wal {path}: {source}")]
    Wal {
        /// The file or directory concerned.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The storage backend refused a create or update.
    #[error("storage: {0}")]
    Backend(String),
    /// The cache is shutting down.
    #[error("cache closed")]
    Closed,
}

impl CacheError {
    pub(crate) fn wal(path: &std::path::Path, source: std::io::Error) -> Self {
        CacheError::Wal {
            path: path.to_owned(),
            source,
        }
    }
}
