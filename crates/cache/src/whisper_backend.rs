//! The persister's backend over a whisper tree: name -> path, create with the storage rules, update_many.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use whisper::{AggregationMethod, ArchiveSpec, CreateOptions, Whisper};

use crate::Backend;

/// What a new file gets: archives, xFilesFactor, aggregation method.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    /// Retention archives.
    pub archives: Vec<ArchiveSpec>,
    /// xFilesFactor.
    pub xff: f64,
    /// Aggregation method.
    pub method: AggregationMethod,
}

/// Chooses [`NewFile`] parameters for a metric name (storage-schemas + storage-aggregation).
pub type Rules = dyn Fn(&str) -> NewFile + Send + Sync;

/// Maps a cache key to its file below the data directory; `None` if it cannot be stored safely.
pub type PathOf = dyn Fn(&str) -> Option<PathBuf> + Send + Sync;

/// A hidden name next to `path` for building a file before it becomes visible.
fn temp_sibling(path: &Path) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Called with a metric name after its file was created.
pub type OnCreate = dyn Fn(&str) + Send + Sync;

/// Whisper files under one root directory.
pub struct WhisperBackend {
    root: PathBuf,
    rules: RwLock<Arc<Rules>>,
    path_of: Arc<PathOf>,
    dirs: Mutex<HashSet<PathBuf>>,
    handles: Mutex<HashMap<String, Whisper>>,
    max_handles: usize,
    /// Called with the metric name after each file creation (e.g. to add it to the name index).
    on_create: Option<Arc<OnCreate>>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl WhisperBackend {
    /// A backend writing below `root`, keeping up to `max_handles` files open between writes.
    pub fn new(root: &Path, rules: Arc<Rules>, path_of: Arc<PathOf>, max_handles: usize) -> Self {
        WhisperBackend {
            root: root.to_owned(),
            rules: RwLock::new(rules),
            path_of,
            dirs: Mutex::new(HashSet::new()),
            handles: Mutex::new(HashMap::new()),
            max_handles,
            on_create: None,
        }
    }

    /// Replaces the storage rules (SIGHUP reload); files already created keep their layout.
    pub fn set_rules(&self, rules: Arc<Rules>) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    /// Registers a callback run after every create.
    pub fn on_create(mut self, f: Arc<OnCreate>) -> Self {
        self.on_create = Some(f);
        self
    }

    /// The file of `metric`, or an error for a name that has none.
    pub fn path(&self, metric: &str) -> Result<PathBuf, String> {
        (self.path_of)(metric)
            .map(|rel| self.root.join(rel))
            .ok_or_else(|| format!("metric name {metric:?} cannot be stored"))
    }

    fn take_handle(&self, metric: &str) -> Option<Whisper> {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(metric)
    }

    fn put_handle(&self, metric: &str, w: Whisper) {
        let mut h = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= self.max_handles {
            // Any victim will do: hot metrics come back at once, cold ones should not hold descriptors.
            if let Some(k) = h.keys().next().cloned() {
                h.remove(&k);
            }
        }
        if self.max_handles > 0 {
            h.insert(metric.to_owned(), w);
        }
    }
}

impl Backend for WhisperBackend {
    fn exists(&self, metric: &str) -> bool {
        self.path(metric).map(|p| p.is_file()).unwrap_or(false)
    }

    fn create(&self, metric: &str) -> Result<(), String> {
        let path = self.path(metric)?;
        if let Some(dir) = path.parent() {
            let known = self
                .dirs
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(dir);
            if !known {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                self.dirs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(dir.to_owned());
            }
        }
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
        let f = rules(metric);
        if path.is_file() {
            // Another writer (or a previous run) created it meanwhile: fine.
            return Ok(());
        }
        // Build the file under a hidden temporary name and link it into place, so a crash
        // mid-create never leaves a truncated .wsp that would make every later update fail.
        let tmp = temp_sibling(&path);
        let made = whisper::create(&tmp, &f.archives, f.xff, f.method, CreateOptions::default())
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|_| match std::fs::hard_link(&tmp, &path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(format!("{}: {e}", path.display())),
            });
        let _ = std::fs::remove_file(&tmp);
        made?;
        if let Some(cb) = &self.on_create {
            cb(metric);
        }
        Ok(())
    }

    fn update(&self, metric: &str, points: &[(i64, f64)]) -> Result<(), String> {
        let mut w = match self.take_handle(metric) {
            Some(w) => w,
            None => {
                let path = self.path(metric)?;
                Whisper::open_rw(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        w.update_many(points, now())
            .map_err(|e| format!("{}: {e}", w.path().display()))?;
        self.put_handle(metric, w);
        Ok(())
    }

    fn aggregation_method(&self, metric: &str) -> Result<String, String> {
        let path = self.path(metric)?;
        let w = Whisper::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(w.header().aggregation_method.name().to_owned())
    }

    fn set_aggregation_method(&self, metric: &str, method: &str) -> Result<String, String> {
        let path = self.path(metric)?;
        let m: AggregationMethod = method.parse().map_err(|e| format!("{e}"))?;
        // A cached handle holds the old header: drop it so the next write sees the new method.
        self.take_handle(metric);
        let old = whisper::set_aggregation_method(&path, m, None)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(old.name().to_owned())
    }
}

/// carbon's path for an untagged name: dots become directories, plus `.wsp`.
pub fn plain_relative_path(metric: &str) -> Option<PathBuf> {
    if metric.is_empty() || metric.contains(['/', '\\', '\0', ';']) {
        return None;
    }
    let mut p = PathBuf::new();
    for node in metric.split('.') {
        if node.is_empty() || node == ".." {
            return None;
        }
        p.push(node);
    }
    let mut s = p.into_os_string();
    s.push(".wsp");
    Some(PathBuf::from(s))
}

/// The default storage rule: carbonado's embedded schema `10s:6h,1m:7d,10m:5y`, average, xff 0.5.
pub fn default_new_file(_metric: &str) -> NewFile {
    let spec = |spp: u32, points: u32| ArchiveSpec {
        seconds_per_point: spp,
        points,
    };
    NewFile {
        archives: vec![
            spec(10, 6 * 360),
            spec(60, 7 * 1440),
            spec(600, 5 * 365 * 144),
        ],
        xff: 0.5,
        method: AggregationMethod::Average,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_update_and_metadata_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = WhisperBackend::new(
            dir.path(),
            Arc::new(default_new_file),
            Arc::new(plain_relative_path),
            8,
        );
        assert!(!b.exists("a.b.c"));
        b.create("a.b.c").unwrap();
        assert!(dir.path().join("a/b/c.wsp").is_file());
        b.create("a.b.c").unwrap();
        let t = now() - now() % 10;
        b.update("a.b.c", &[(t - 10, 1.0), (t, 2.0)]).unwrap();
        let w = Whisper::open(dir.path().join("a/b/c.wsp")).unwrap();
        let got = w.fetch(t - 20, t + 1, now()).unwrap().unwrap();
        assert!(got.points().any(|p| p == (t, 2.0)));
        assert_eq!(b.aggregation_method("a.b.c").unwrap(), "average");
        assert_eq!(b.set_aggregation_method("a.b.c", "max").unwrap(), "average");
        assert_eq!(b.aggregation_method("a.b.c").unwrap(), "max");
        assert!(b.set_aggregation_method("a.b.c", "bogus").is_err());
        assert!(b.aggregation_method("nope").is_err());
    }

    #[test]
    fn unsafe_names_have_no_path() {
        for bad in ["", "a..b", "../x", "a/b", ".a", "a.", "a\0b"] {
            assert_eq!(plain_relative_path(bad), None, "{bad:?}");
        }
        assert_eq!(plain_relative_path("x.y"), Some(PathBuf::from("x/y.wsp")));
    }
}
