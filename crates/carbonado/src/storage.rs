//! Storage rules and metric paths for new files: Graphite's own files, read by crates/store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cache::{NewFile, Rules};

/// Loads storage-schemas.conf and storage-aggregation.conf; absent files mean the built-in defaults
/// (carbonado's `10s:6h,1m:7d,10m:5y`, average, xFilesFactor 0.5).
pub fn load_rules(schemas: &Path, aggregation: &Path) -> anyhow::Result<Arc<Rules>> {
    let s = store::Schemas::load(schemas, store::schemas::carbonado_default_archives())
        .with_context(|| format!("{}", schemas.display()))?;
    for sk in &s.skipped {
        tracing::warn!(file = %schemas.display(), "{}", sk.reason);
    }
    let a = store::Aggregations::load(aggregation)
        .with_context(|| format!("{}", aggregation.display()))?;
    for sk in &a.skipped {
        tracing::warn!(file = %aggregation.display(), "{}", sk.reason);
    }
    Ok(Arc::new(move |m: &str| -> NewFile {
        let (method, xff) = a.match_metric(m);
        NewFile {
            archives: s.match_metric(m).archives.clone(),
            xff,
            method,
        }
    }))
}

/// The file of a cache key below the data directory (tagged names hashed as carbon does); `None`
/// when it has no safe path.
pub fn relative_path(metric: &str) -> Option<PathBuf> {
    proto::relative_path(metric, true).ok()
}
