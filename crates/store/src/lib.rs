#![warn(missing_docs)]
//! The metric tree on disk: INI reading with Python's ConfigParser semantics, storage-schemas.conf and
//! storage-aggregation.conf matching exactly as carbon loads them, and the in-memory name index that
//! answers graphite-web style globs (`* ? [..] {..}`) for find.
//!
//! ```
//! use store::{NameIndex, Schemas, Aggregations, schemas::carbonado_default_archives};
//! let schemas = Schemas::parse("[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n", carbonado_default_archives()).unwrap();
//! assert_eq!(schemas.match_metric("carbon.agents.a.cpu").name, "carbon");
//! let aggs = Aggregations::parse("[max]\npattern = \\.max$\nxFilesFactor = 0.1\naggregationMethod = max\n").unwrap();
//! assert_eq!(aggs.match_metric("a.b.max").1, 0.1);
//! let index = NameIndex::new();
//! index.insert("servers.web01.cpu").unwrap();
//! let found = index.find("servers.*.cpu", 1000).unwrap();
//! assert_eq!(found[0].path, "servers.web01.cpu");
//! ```

pub mod aggregation;
pub mod error;
pub mod glob;
pub mod index;
pub mod ini;
pub mod pyre;
pub mod retention;
pub mod schemas;
pub mod tags;

use std::path::Path;

pub use aggregation::{AggregationRule, Aggregations};
pub use error::{ConfigError, IndexError, IniError};
pub use index::{LoadStats, NameIndex, Node};
pub use ini::Ini;
pub use schemas::{Schema, Schemas, SkippedSection};
pub use tags::{TagDbError, TagExpr, TagIndex};

/// Reads a conf file as UTF-8 text; `None` if it does not exist.
pub(crate) fn read_conf(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ConfigError::NotUtf8 {
                path: path.to_path_buf(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `dict(config.items(section))` for a section from carbon's raw header scan.
pub(crate) fn section_items(
    ini: &Ini,
    section: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    if !ini.has_section(section) {
        return Err(ConfigError::UnknownSection {
            section: section.to_string(),
        });
    }
    ini.items(section).map_err(|source| ConfigError::Ini {
        context: format!("section [{section}]"),
        source,
    })
}
