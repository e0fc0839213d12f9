//! The persister's backend over a whisper tree: name -> path, create with the storage rules, update_many.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use whisper::{Access, AggregationMethod, ArchiveSpec, CreateOptions, Whisper};

use crate::{Backend, Written};

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

/// Creates `path` from an unnamed file (`O_TMPFILE`) linked into place once complete: one
/// directory entry written instead of three (temporary name, link, unlink). `None` when the
/// file system has no `O_TMPFILE` (the caller then uses a temporary name). On success, the
/// file is handed back when it is the one now at `path` (not when another writer's won).
fn create_unnamed(
    path: &Path,
    f: &NewFile,
    opts: CreateOptions,
) -> Option<Result<Option<std::fs::File>, String>> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let dir = path.parent()?;
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        // No access-time updates: a kept handle's reads would otherwise dirty the inode.
        .custom_flags(libc::O_TMPFILE | libc::O_NOATIME)
        .mode(0o666)
        .open(dir)
    {
        Ok(f) => f,
        Err(_) => return None,
    };
    let err = |e: String| Some(Err(format!("{}: {e}", path.display())));
    if let Err(e) = whisper::create_in(&mut file, &f.archives, f.xff, f.method, opts) {
        return err(e.to_string());
    }
    let src = format!("/proc/self/fd/{}\0", file.as_raw_fd());
    let Ok(dst) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return err("path holds a NUL byte".into());
    };
    // SAFETY: both strings are NUL-terminated and outlive the call; the descriptor is `file`'s.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            src.as_ptr().cast(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        return Some(Ok(Some(file)));
    }
    match std::io::Error::last_os_error() {
        // Created meanwhile by someone else: theirs stands.
        e if e.kind() == std::io::ErrorKind::AlreadyExists => Some(Ok(None)),
        // No /proc (or linking refused): fall back to a named temporary file.
        e if matches!(
            e.raw_os_error(),
            Some(libc::ENOENT) | Some(libc::EPERM) | Some(libc::EACCES)
        ) =>
        {
            None
        }
        e => err(e.to_string()),
    }
}

/// Called with a metric name after its file was created.
pub type OnCreate = dyn Fn(&str) + Send + Sync;

/// How long, by default, a file replaced by a rename (whisper-resize and other tools replace
/// files by renaming a new one over them) may still be written through an old kept handle:
/// directories are checked twice in this time (see [`DirWatch`]). Also how often a kept
/// handle re-reads its method and xFilesFactor.
const REVALIDATE_AFTER: Duration = Duration::from_secs(5);

/// A handle kept between writes (boxed in the map: it is large, and moves in and out of the
/// map on every update).
struct Kept {
    file: Whisper,
    /// When the handle's method and xFilesFactor were last re-read (and whether it may become a
    /// mapping was last considered).
    checked: Instant,
    /// The directory holding the file, and its generation when the handle was known current.
    dir: Arc<DirWatch>,
    dir_gen: u64,
    /// Every block of the file is allocated (so it may be mapped).
    allocated: bool,
}

/// A directory holding kept handles and what its last `stat` found. Renaming a file over
/// another (whisper-resize, a rebalance) or removing one changes the directory's modification
/// time, so one `stat` of the directory stands for a `stat` of every file kept in it: a kept
/// handle is checked against its own path only when its directory's generation moved on.
struct DirWatch {
    path: PathBuf,
    state: Mutex<DirState>,
}

#[derive(Default)]
struct DirState {
    checked: Option<Instant>,
    mtime: Option<(i64, i64)>,
    generation: u64,
}

/// A directory modification time this recent may still be shared by a change that follows
/// within the same clock tick, so it proves nothing: such a directory counts as changed.
const SETTLED_SECS: i64 = 2;

impl DirWatch {
    /// The directory's generation, re-checked (one `stat`) when the last check is older than
    /// `period`: it moves on when the modification time changed, is too recent to rely on, or
    /// cannot be read.
    fn generation(&self, period: Duration) -> u64 {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.checked.is_some_and(|c| c.elapsed() < period) {
            return st.generation;
        }
        let mtime = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.mtime(), m.mtime_nsec()));
        let settled = mtime.is_some_and(|(secs, _)| now() - secs >= SETTLED_SECS);
        if mtime.is_none() || mtime != st.mtime || !settled {
            st.generation += 1;
        }
        st.mtime = mtime;
        st.checked = Some(Instant::now());
        st.generation
    }
}

type HandleMap = HashMap<String, Box<Kept>, BuildHasherDefault<crate::shards::Fnv>>;

/// Parts of the kept-handle map.
const HANDLE_SHARDS: usize = 16;

/// Whisper files under one root directory.
pub struct WhisperBackend {
    root: PathBuf,
    rules: RwLock<Arc<Rules>>,
    path_of: Arc<PathOf>,
    dirs: Mutex<HashSet<PathBuf>>,
    /// Directories of kept handles (see [`DirWatch`]).
    watches: Mutex<HashMap<PathBuf, Arc<DirWatch>>>,
    /// Kept handles by metric, in independently locked parts (writer threads take and put
    /// back a handle around every write).
    handles: Box<[Mutex<HandleMap>]>,
    /// Most kept handles that hold a descriptor.
    max_handles: usize,
    /// How many handles hold a descriptor now (kept or in use).
    fds: std::sync::atomic::AtomicUsize,
    /// Most kept handles that are memory mappings (bounded by the kernel's vm.max_map_count).
    max_mapped: usize,
    /// How many kept handles are mappings now.
    mapped: std::sync::atomic::AtomicUsize,
    /// How long a kept handle is used before it is checked against its path.
    revalidate_after: Duration,
    /// Called with the metric name after each file creation (e.g. to add it to the name index).
    on_create: Option<Arc<OnCreate>>,
}

fn now() -> i64 {
    crate::shards::unix_now() as i64
}

impl WhisperBackend {
    /// A backend writing below `root`, keeping up to `max_handles` files open between writes.
    pub fn new(root: &Path, rules: Arc<Rules>, path_of: Arc<PathOf>, max_handles: usize) -> Self {
        WhisperBackend {
            root: root.to_owned(),
            rules: RwLock::new(rules),
            path_of,
            dirs: Mutex::new(HashSet::new()),
            watches: Mutex::new(HashMap::new()),
            handles: (0..HANDLE_SHARDS)
                .map(|_| Mutex::new(HandleMap::default()))
                .collect(),
            max_handles,
            fds: std::sync::atomic::AtomicUsize::new(0),
            max_mapped: 0,
            mapped: std::sync::atomic::AtomicUsize::new(0),
            revalidate_after: REVALIDATE_AFTER,
            on_create: None,
        }
    }

    /// Keeps up to `max` handles as memory mappings (0: descriptors only), on top of the
    /// descriptor handles (a mapping holds no descriptor). A mapped update is plain memory
    /// copies instead of a `pread`/`pwrite` per archive. Only files whose blocks are
    /// all allocated are mapped: a write into a hole of a mapped sparse file on a full disk
    /// would kill the process with SIGBUS instead of returning ENOSPC.
    pub fn with_mapped_handles(mut self, max: usize) -> Self {
        self.max_mapped = max;
        self
    }

    /// Checks kept handles against their paths after `d` instead of the default 5 s.
    pub fn with_revalidate_after(mut self, d: Duration) -> Self {
        self.revalidate_after = d;
        self
    }

    /// How many kept handles are memory mappings now.
    pub fn mapped_handles(&self) -> usize {
        self.mapped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A mapping budget that leaves room for everything else in the process (thread stacks,
    /// the allocator, libraries, readers' mappings): vm.max_map_count (65530 by default) less
    /// an eighth of it, at least 4096; at most `cap`.
    pub fn default_mapped_handles(cap: usize) -> usize {
        let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(65_530);
        max_map_count
            .saturating_sub((max_map_count / 8).max(4096))
            .min(cap)
    }

    /// Whether another handle may become a mapping now.
    fn may_map(&self) -> bool {
        self.mapped.load(std::sync::atomic::Ordering::Relaxed) < self.max_mapped
    }

    /// The watch of the directory holding `path`, made on first use.
    fn watch(&self, path: &Path) -> Arc<DirWatch> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut w = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = w.get(dir) {
            return d.clone();
        }
        // Forget directories no kept handle is in any more, so the map follows the handles.
        if w.len() >= 4096 && w.len() >= 2 * self.max_handles.max(self.max_mapped) {
            w.retain(|_, d| Arc::strong_count(d) > 1);
        }
        let d = Arc::new(DirWatch {
            path: dir.to_owned(),
            state: Mutex::new(DirState::default()),
        });
        w.insert(dir.to_owned(), d.clone());
        d
    }

    /// Opens `path` for writing (`None`: no file there), as a mapping when allowed and safe
    /// (see [`Self::with_mapped_handles`]).
    fn open_for_write(&self, path: &Path) -> Result<Option<Box<Kept>>, String> {
        let dir = self.watch(path);
        // Read before the open: a replacement after this read moves the generation on later.
        let dir_gen = dir.generation(self.revalidate_after / 2);
        let file = match Whisper::open_rw(path) {
            Ok(w) => w,
            Err(whisper::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        self.fds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let allocated = self.may_map()
            && file
                .file()
                .and_then(|f| f.metadata().ok())
                .is_some_and(|m| m.blocks().saturating_mul(512) >= m.len());
        let mut k = Box::new(Kept {
            file,
            checked: Instant::now(),
            dir,
            dir_gen,
            allocated,
        });
        self.map_if_allowed(&mut k);
        Ok(Some(k))
    }

    /// Turns a descriptor handle into a mapping when mappings are kept, the budget allows and
    /// every block of the file is allocated.
    fn map_if_allowed(&self, k: &mut Kept) {
        use std::sync::atomic::Ordering::Relaxed;
        if k.allocated && k.file.access() == Access::ReadWrite && self.may_map() {
            // Past the process's mapping limit (vm.max_map_count) the descriptor does as well.
            if k.file.map_in_place().is_ok() {
                self.fds.fetch_sub(1, Relaxed);
                self.mapped.fetch_add(1, Relaxed);
            } else {
                k.allocated = false;
            }
        }
    }

    /// Makes a kept handle current before a write: checked against its path when its directory
    /// changed (see [`DirWatch`]); every `revalidate_after`, its method and xFilesFactor are
    /// re-read and a descriptor handle becomes a mapping if it may.
    fn refresh(&self, metric: &str, mut k: Box<Kept>) -> Result<Option<Box<Kept>>, String> {
        let generation = k.dir.generation(self.revalidate_after / 2);
        if generation != k.dir_gen {
            match k.file.revalidate() {
                Ok(false) => {
                    k.dir_gen = generation;
                    k.checked = Instant::now();
                }
                // Replaced or unusable: open the file now at the path afresh (which also
                // re-checks whether it may be mapped).
                Ok(true) | Err(_) => {
                    self.release(k.file);
                    return self.open_for_write(&self.path(metric)?);
                }
            }
        } else if k.checked.elapsed() >= self.revalidate_after {
            if let Err(e) = k.file.refresh_metadata() {
                let msg = format!("{}: {e}", k.file.path().display());
                self.release(k.file);
                return Err(msg);
            }
            k.checked = Instant::now();
        }
        // A new file's first handle is its creating descriptor; it becomes a mapping here.
        self.map_if_allowed(&mut k);
        Ok(Some(k))
    }

    /// Forgets a handle, keeping the counts of mappings and descriptors right.
    fn release(&self, w: Whisper) {
        use std::sync::atomic::Ordering::Relaxed;
        if w.access() == Access::MappedReadWrite {
            self.mapped.fetch_sub(1, Relaxed);
        } else {
            self.fds.fetch_sub(1, Relaxed);
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

    /// The kept handle of `metric` with its map key (handed back to [`Self::put_handle`], so a
    /// kept handle costs no allocation per update).
    fn take_handle(&self, metric: &str) -> Option<(String, Box<Kept>)> {
        self.handle_shard(metric)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove_entry(metric)
    }

    fn handle_shard(&self, metric: &str) -> &Mutex<HandleMap> {
        use std::hash::Hasher;
        let mut h = crate::shards::Fnv::default();
        h.write(metric.as_bytes());
        // High bits: the map inside uses the same hash's low bits.
        &self.handles[(h.finish() >> 40) as usize % self.handles.len()]
    }

    fn put_handle(&self, metric: String, k: Box<Kept>) {
        // Past the descriptor budget a descriptor handle is closed at once (mappings are
        // bounded when they are made).
        if k.file.access() != Access::MappedReadWrite
            && self.fds.load(std::sync::atomic::Ordering::Relaxed) > self.max_handles
        {
            self.release(k.file);
            return;
        }
        let capacity = (self.max_handles + self.max_mapped).div_ceil(self.handles.len());
        let mut evicted = Vec::new();
        {
            let mut h = self
                .handle_shard(&metric)
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if h.len() >= capacity {
                // Any victim will do: hot metrics come back at once, cold ones should not hold
                // descriptors or mappings.
                if let Some(key) = h.keys().next().cloned() {
                    evicted.extend(h.remove(&key));
                }
            }
            h.insert(metric, k);
        }
        // Closing and unmapping happen outside the lock.
        for k in evicted {
            self.release(k.file);
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
        // No check that the file is absent: the persister asked `exists` just before, and a
        // file another writer created meanwhile makes the link below fail, leaving theirs.
        // Build the file unseen and link it into place complete, so a crash mid-create never
        // leaves a truncated .wsp that would make every later update fail. The data area is
        // written out (no holes), so every block is allocated: later updates never allocate,
        // and the file may be mapped (measured here, fallocate's unwritten extents were no faster).
        let opts = CreateOptions::default();
        // Read before the file appears: a replacement after this read (even one right after the
        // link) moves the generation on, so the handle kept below is checked then.
        let dir = self.watch(&path);
        let dir_gen = dir.generation(self.revalidate_after / 2);
        let made = match create_unnamed(&path, &f, opts) {
            Some(r) => r,
            None => {
                // No O_TMPFILE here: a hidden temporary name, hard-linked, then removed.
                let tmp = temp_sibling(&path);
                let r = whisper::create(&tmp, &f.archives, f.xff, f.method, opts)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|_| match std::fs::hard_link(&tmp, &path) {
                        Ok(()) => Ok(None),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
                        Err(e) => Err(format!("{}: {e}", path.display())),
                    });
                let _ = std::fs::remove_file(&tmp);
                r
            }
        };
        // The new file's descriptor becomes its kept handle: its first update, which follows
        // at once, then needs no open (a later one maps it, if mappings are kept).
        if let Some(file) = made? {
            if let Ok(w) = Whisper::from_file(file, &path) {
                self.fds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.put_handle(
                    metric.to_owned(),
                    Box::new(Kept {
                        file: w,
                        checked: Instant::now(),
                        dir,
                        dir_gen,
                        allocated: true,
                    }),
                );
            }
        }
        if let Some(cb) = &self.on_create {
            cb(metric);
        }
        Ok(())
    }

    fn update(&self, metric: &str, points: &[(i64, f64)]) -> Result<Written, String> {
        let (key, kept) = match self.take_handle(metric) {
            Some((key, k)) => (key, self.refresh(metric, k)?),
            None => (metric.to_owned(), self.open_for_write(&self.path(metric)?)?),
        };
        let Some(mut kept) = kept else {
            return Ok(Written::NoFile);
        };
        if let Err(e) = kept.file.update_many(points, now()) {
            let msg = format!("{}: {e}", kept.file.path().display());
            self.release(kept.file);
            return Err(msg);
        }
        self.put_handle(key, kept);
        Ok(Written::Done)
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
        if let Some((_, k)) = self.take_handle(metric) {
            self.release(k.file);
        }
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

    /// A backend over `dir` with the default rules, keeping up to `handles` descriptors.
    fn backend(dir: &Path, handles: usize) -> WhisperBackend {
        WhisperBackend::new(
            dir,
            Arc::new(default_new_file),
            Arc::new(plain_relative_path),
            handles,
        )
    }

    #[test]
    fn create_update_and_metadata_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), 8);
        assert!(!b.exists("a.b.c"));
        b.create("a.b.c").unwrap();
        assert!(dir.path().join("a/b/c.wsp").is_file());
        b.create("a.b.c").unwrap();
        let t = now() - now() % 10;
        assert_eq!(
            b.update("a.b.c", &[(t - 10, 1.0), (t, 2.0)]),
            Ok(Written::Done)
        );
        // No file: nothing written, nothing created (the persister decides about creates).
        assert_eq!(b.update("a.b.d", &[(t, 1.0)]), Ok(Written::NoFile));
        assert!(!dir.path().join("a/b/d.wsp").exists());
        let w = Whisper::open(dir.path().join("a/b/c.wsp")).unwrap();
        let got = w.fetch(t - 20, t + 1, now()).unwrap().unwrap();
        assert!(got.points().any(|p| p == (t, 2.0)));
        assert_eq!(b.aggregation_method("a.b.c").unwrap(), "average");
        assert_eq!(b.set_aggregation_method("a.b.c", "max").unwrap(), "average");
        assert_eq!(b.aggregation_method("a.b.c").unwrap(), "max");
        assert!(b.set_aggregation_method("a.b.c", "bogus").is_err());
        assert!(b.aggregation_method("nope").is_err());
    }

    fn fetch_last(path: &Path, t: i64) -> Vec<(i64, f64)> {
        let w = Whisper::open(path).unwrap();
        w.fetch(t - 60, t + 1, now())
            .unwrap()
            .unwrap()
            .points()
            .collect()
    }

    #[test]
    fn kept_handles_are_mapped_only_for_allocated_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), 8).with_mapped_handles(8);
        let t = now() - now() % 10;
        // Created by the backend: fully allocated, so kept as a mapping.
        b.create("full").unwrap();
        b.update("full", &[(t, 1.0)]).unwrap();
        assert_eq!(b.mapped_handles(), 1);
        // A sparse file (python whisper's sparse=True) is written through a descriptor.
        let sparse = dir.path().join("sparse.wsp");
        let f = default_new_file("sparse");
        let opts = CreateOptions {
            sparse: true,
            fallocate: false,
        };
        whisper::create(&sparse, &f.archives, f.xff, f.method, opts).unwrap();
        b.update("sparse", &[(t, 2.0)]).unwrap();
        assert_eq!(b.mapped_handles(), 1);
        b.update("full", &[(t - 10, 3.0)]).unwrap();
        assert!(fetch_last(&dir.path().join("full.wsp"), t).contains(&(t, 1.0)));
        assert!(fetch_last(&dir.path().join("full.wsp"), t).contains(&(t - 10, 3.0)));
        assert!(fetch_last(&sparse, t).contains(&(t, 2.0)));
        // Budgets hold: one descriptor and one mapping at most; beyond, handles are closed.
        let small = backend(dir.path(), 1).with_mapped_handles(1);
        small.create("full2").unwrap();
        small.update("full", &[(t, 4.0)]).unwrap();
        small.update("sparse", &[(t, 5.0)]).unwrap();
        small.update("full2", &[(t, 6.0)]).unwrap();
        assert_eq!(small.mapped_handles(), 1);
        assert_eq!(small.fds.load(std::sync::atomic::Ordering::Relaxed), 1);
        small.update("full2", &[(t - 10, 7.0)]).unwrap();
        assert!(fetch_last(&dir.path().join("full2.wsp"), t).contains(&(t, 6.0)));
        assert!(fetch_last(&dir.path().join("full2.wsp"), t).contains(&(t - 10, 7.0)));
        assert!(fetch_last(&dir.path().join("full.wsp"), t).contains(&(t, 4.0)));
    }

    /// What whisper-resize does to `metric`'s file below `dir`: builds a new, empty one and renames
    /// it over the old one. Returns the path.
    fn replace_by_rename(dir: &Path, metric: &str) -> PathBuf {
        let path = dir.join(format!("{metric}.wsp"));
        let fresh = dir.join(format!("{metric}.wsp.new"));
        let f = default_new_file(metric);
        whisper::create(
            &fresh,
            &f.archives,
            f.xff,
            f.method,
            CreateOptions::default(),
        )
        .unwrap();
        std::fs::rename(&fresh, &path).unwrap();
        path
    }

    #[test]
    fn handles_past_the_descriptor_budget_are_closed_and_files_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), 1);
        let t = now() - now() % 10;
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            b.create(m).unwrap();
            for k in 0..3 {
                let at = t - 50 + 10 * k;
                assert_eq!(b.update(m, &[(at, i as f64)]), Ok(Written::Done));
                let path = dir.path().join(format!("{m}.wsp"));
                assert!(fetch_last(&path, t).contains(&(at, i as f64)), "{m} {k}");
            }
        }
        // One descriptor kept; the other handles were closed.
        assert_eq!(b.fds.load(std::sync::atomic::Ordering::Relaxed), 1);
        // A file replaced meanwhile is written afresh.
        let path = replace_by_rename(dir.path(), "b");
        b.update("b", &[(t, 9.0)]).unwrap();
        let got = fetch_last(&path, t);
        assert!(got.contains(&(t, 9.0)), "{got:?}");
        assert!(!got.iter().any(|p| p.0 == t - 50), "{got:?}");
        // A removed one is reported, not written into nothing.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(b.update("b", &[(t, 9.0)]), Ok(Written::NoFile));
    }

    #[test]
    fn a_file_replaced_by_rename_is_reopened() {
        let periods = [Duration::ZERO, Duration::from_millis(300)];
        for (mapped, period) in [0, 8].into_iter().flat_map(|m| periods.map(|p| (m, p))) {
            let dir = tempfile::tempdir().unwrap();
            let b = backend(dir.path(), 8)
                .with_mapped_handles(mapped)
                .with_revalidate_after(period);
            let t = now() - now() % 10;
            b.create("m").unwrap();
            b.update("m", &[(t - 20, 0.5)]).unwrap();
            if !period.is_zero() {
                // Once the directory's modification time is settled, its unchanged `stat`
                // vouches for the kept handle...
                std::thread::sleep(Duration::from_secs(SETTLED_SECS as u64 + 1));
            }
            b.update("m", &[(t - 10, 1.0)]).unwrap();
            let path = replace_by_rename(dir.path(), "m");
            // ...and a rename changes it: within `period`, writes reach the new file.
            std::thread::sleep(period);
            b.update("m", &[(t, 2.0)]).unwrap();
            // The point went into the file now at the path, not into the unlinked old inode.
            let got = fetch_last(&path, t);
            assert!(got.contains(&(t, 2.0)), "mapped={mapped}: {got:?}");
            assert!(
                !got.iter().any(|p| p.0 == t - 10),
                "mapped={mapped} period={period:?}: {got:?}"
            );
        }
    }

    #[test]
    fn created_files_are_complete_allocated_and_the_same_bytes_as_whisper_writes() {
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), 8);
        b.create("x.y").unwrap();
        let made = dir.path().join("x/y.wsp");
        let f = default_new_file("x.y");
        let reference = dir.path().join("ref.wsp");
        whisper::create(
            &reference,
            &f.archives,
            f.xff,
            f.method,
            CreateOptions::default(),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(&made).unwrap(),
            std::fs::read(&reference).unwrap()
        );
        let md = std::fs::metadata(&made).unwrap();
        assert!(
            md.blocks() * 512 >= md.len(),
            "blocks reserved: {} of {}",
            md.blocks() * 512,
            md.len()
        );
        // No temporary file is left next to it.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("x"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("y.wsp")]);
        // A second create of an existing metric keeps the file.
        b.update("x.y", &[(now() - 10, 5.0)]).unwrap();
        b.create("x.y").unwrap();
        assert_ne!(
            std::fs::read(&made).unwrap(),
            std::fs::read(&reference).unwrap()
        );
    }

    #[test]
    fn unsafe_names_have_no_path() {
        for bad in ["", "a..b", "../x", "a/b", ".a", "a.", "a\0b"] {
            assert_eq!(plain_relative_path(bad), None, "{bad:?}");
        }
        assert_eq!(plain_relative_path("x.y"), Some(PathBuf::from("x/y.wsp")));
    }
}
