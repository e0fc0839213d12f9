//! The metric tree on disk: INI reading with Python's ConfigParser semantics, storage-schemas.conf and
//! storage-aggregation.conf matching exactly as carbon loads them, and the in-memory name index that
//! answers graphite-web style globs (`* ? [..] {..}`) for find.

pub mod error;
pub mod glob;
pub mod index;
pub mod ini;
pub mod pyre;

pub use error::{ConfigError, IndexError, IniError};
pub use index::{LoadStats, NameIndex, Node};
