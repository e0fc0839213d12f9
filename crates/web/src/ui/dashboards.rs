//! Saved dashboards as JSON files under `<data dir>/.carbonado/dashboards`, one per name,
//! with names encoded so that no name can address a path outside that directory.

use std::path::{Path, PathBuf};

/// Longest dashboard name accepted.
pub const MAX_NAME: usize = 200;
/// Largest saved state in bytes.
pub const MAX_STATE: usize = 4 * 1024 * 1024;
/// Most dashboards listed by one find.
pub const MAX_LIST: usize = 10_000;

/// Why a dashboard operation failed (texts follow graphite-web's where it has one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// No dashboard of that name.
    #[error("Dashboard '{0}' does not exist. ")]
    NotFound(String),
    /// The name is empty or too long.
    #[error("invalid dashboard name {0:?}")]
    BadName(String),
    /// The state is not JSON or too large.
    #[error("invalid dashboard state: {0}")]
    BadState(String),
    /// The file system failed.
    #[error("dashboard storage: {0}")]
    Io(#[from] std::io::Error),
}

/// The dashboard directory of one data dir.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Encodes a name as a file name: `[A-Za-z0-9_-]` kept, every other byte as `%XX`, so `.`
/// and `/` can never appear and names map one to one.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The inverse of [`encode_name`]; `None` for names it would not have produced.
pub fn decode_name(file: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(file.len());
    let raw = file.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

impl Store {
    /// The store under `data_dir`.
    pub fn new(data_dir: &Path) -> Store {
        Store {
            dir: data_dir.join(".carbonado").join("dashboards"),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf, DashboardError> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(DashboardError::BadName(name.chars().take(50).collect()));
        }
        Ok(self.dir.join(format!("{}.json", encode_name(name))))
    }

    /// Saves `state` (JSON text, re-serialized as graphite-web does to validate it).
    pub fn save(&self, name: &str, state: &str) -> Result<(), DashboardError> {
        let path = self.path(name)?;
        if state.len() > MAX_STATE {
            return Err(DashboardError::BadState(format!(
                "larger than {MAX_STATE} bytes"
            )));
        }
        let v: serde_json::Value =
            serde_json::from_str(state).map_err(|e| DashboardError::BadState(e.to_string()))?;
        std::fs::create_dir_all(&self.dir)?;
        // write then rename, so a reader never sees half a file
        let tmp = self.dir.join(format!(".{}.tmp", encode_name(name)));
        std::fs::write(&tmp, v.to_string())?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// The saved state of `name`.
    pub fn load(&self, name: &str) -> Result<serde_json::Value, DashboardError> {
        let path = self.path(name)?;
        match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| DashboardError::BadState(e.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(DashboardError::NotFound(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `name`.
    pub fn delete(&self, name: &str) -> Result<(), DashboardError> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(DashboardError::NotFound(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Names containing every whitespace-separated term of `query` (case-insensitive), sorted,
    /// without graphite's `temporary-` dashboards.
    pub fn find(&self, query: &str) -> Result<Vec<String>, DashboardError> {
        let terms: Vec<String> = query
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in rd.flatten().take(MAX_LIST) {
            let file = entry.file_name();
            let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            let Some(name) = decode_name(stem) else {
                continue;
            };
            let lower = name.to_lowercase();
            if lower.starts_with("temporary-") || !terms.iter().all(|t| lower.contains(t.as_str()))
            {
                continue;
            }
            out.push(name);
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_stay_inside() {
        for n in [
            "ops",
            "../../etc/passwd",
            "a/b",
            ".hidden",
            "ünïcode dash",
            "%41",
        ] {
            let e = encode_name(n);
            assert!(!e.contains('/') && !e.contains('.'), "{e}");
            assert_eq!(decode_name(&e).as_deref(), Some(n));
        }
        assert_eq!(decode_name("%4"), None);
    }

    #[test]
    fn save_load_find_delete() {
        let d = tempfile::tempdir().expect("tmp");
        let s = Store::new(d.path());
        assert!(s.find("").expect("find").is_empty());
        s.save("Ops Overview", r#"{"name": "Ops Overview", "graphs": []}"#)
            .expect("save");
        s.save("../evil", "{}").expect("save");
        s.save("temporary-1", "{}").expect("save");
        assert!(d.path().join(".carbonado/dashboards").is_dir());
        assert_eq!(
            s.load("Ops Overview").expect("load")["name"],
            "Ops Overview"
        );
        assert_eq!(s.find("").expect("find"), vec!["../evil", "Ops Overview"]);
        assert_eq!(s.find("ops view").expect("find"), vec!["Ops Overview"]);
        assert!(matches!(
            s.save("x", "not json"),
            Err(DashboardError::BadState(_))
        ));
        assert!(matches!(s.save("", "{}"), Err(DashboardError::BadName(_))));
        s.delete("Ops Overview").expect("delete");
        let e = s.load("Ops Overview").unwrap_err();
        assert_eq!(e.to_string(), "Dashboard 'Ops Overview' does not exist. ");
        assert!(matches!(s.delete("nope"), Err(DashboardError::NotFound(_))));
    }
}
