//! The parallel walk that builds the trie from the whisper tree on disk.
//!
//! Worker threads share a stack of directories to read; each directory read yields its leaves and
//! subdirectories, and the trie is assembled from those results once the walk is done. Symlinks are
//! followed (graphite-web's `scandir().is_dir()`/`is_file()` follow them), but a directory whose
//! (device, inode) is already one of its own ancestors is recorded as an empty branch instead of being
//! entered again, so a link loop cannot make the walk infinite.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::{TrieNode, TAGGED_DIR};
use crate::error::IndexError;

/// What the walk found and what it had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Whisper files indexed.
    pub leaves: usize,
    /// Directories indexed (the data directory itself not counted).
    pub branches: usize,
    /// Directories that could not be read (permissions, races with deletion).
    pub unreadable_dirs: usize,
    /// Symlinked directories not entered because they point back at an ancestor.
    pub symlink_loops: usize,
    /// Entries skipped because their name is not UTF-8 or their stem holds a `.`.
    pub skipped_names: usize,
}

/// The chain of directories from the root to a directory, as (device, inode) pairs.
struct Ancestors {
    id: (u64, u64),
    parent: Option<Arc<Ancestors>>,
}

impl Ancestors {
    fn contains(&self, id: (u64, u64)) -> bool {
        let mut cur = Some(self);
        while let Some(a) = cur {
            if a.id == id {
                return true;
            }
            cur = a.parent.as_deref();
        }
        false
    }
}

/// A directory waiting to be read.
struct Job {
    path: PathBuf,
    components: Vec<String>,
    ancestors: Arc<Ancestors>,
}

/// What one directory holds.
#[derive(Default)]
struct DirResult {
    components: Vec<String>,
    leaves: Vec<String>,
    /// Subdirectories (entered or not), flagged when reached through a symlink.
    subdirs: Vec<(String, bool)>,
}

/// Shared work list: pending directories and how many are being read right now.
struct Queue {
    jobs: Vec<Job>,
    active: usize,
}

/// Per-worker output.
#[derive(Default)]
struct WorkerOut {
    results: Vec<DirResult>,
    stats: LoadStats,
}

/// Walks `root` and returns the trie and the statistics.
pub(super) fn walk(root: &Path) -> Result<(TrieNode, LoadStats), IndexError> {
    let meta = fs::metadata(root).map_err(|source| IndexError::DataDir {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(IndexError::DataDir {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    // Reading the root must work; deeper failures are only counted.
    fs::read_dir(root).map_err(|source| IndexError::DataDir {
        path: root.to_path_buf(),
        source,
    })?;
    let first = Job {
        path: root.to_path_buf(),
        components: Vec::new(),
        ancestors: Arc::new(Ancestors {
            id: (meta.dev(), meta.ino()),
            parent: None,
        }),
    };
    let queue = Mutex::new(Queue {
        jobs: vec![first],
        active: 0,
    });
    let wake = Condvar::new();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let outs: Vec<WorkerOut> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| worker(&queue, &wake)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut stats = LoadStats::default();
    let mut trie = TrieNode {
        is_dir: true,
        ..Default::default()
    };
    for out in outs {
        stats.unreadable_dirs += out.stats.unreadable_dirs;
        stats.symlink_loops += out.stats.symlink_loops;
        stats.skipped_names += out.stats.skipped_names;
        for dir in out.results {
            let mut node = &mut trie;
            for c in &dir.components {
                node = node.child_mut_or_insert(c);
                node.is_dir = true;
            }
            for leaf in dir.leaves {
                node.child_mut_or_insert(&leaf).is_leaf = true;
                stats.leaves += 1;
            }
            for (sub, is_link) in dir.subdirs {
                let child = node.child_mut_or_insert(&sub);
                child.is_dir = true;
                child.is_link = is_link;
                stats.branches += 1;
            }
        }
    }
    Ok((trie, stats))
}

fn worker(queue: &Mutex<Queue>, wake: &Condvar) -> WorkerOut {
    let mut out = WorkerOut::default();
    loop {
        let job = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = q.jobs.pop() {
                    q.active += 1;
                    break Some(job);
                }
                if q.active == 0 {
                    break None;
                }
                q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(job) = job else {
            wake.notify_all();
            return out;
        };
        let (result, children) = read_one(&job, &mut out.stats);
        out.results.push(result);
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        q.jobs.extend(children);
        q.active -= 1;
        drop(q);
        wake.notify_all();
    }
}

/// What a directory entry turned out to be once symlinks are resolved.
enum Kind {
    /// A directory: its (device, inode) and whether the entry is a symlink.
    Dir((u64, u64), bool),
    File,
    Other,
}

fn read_one(job: &Job, stats: &mut LoadStats) -> (DirResult, Vec<Job>) {
    let mut result = DirResult {
        components: job.components.clone(),
        ..Default::default()
    };
    let mut children = Vec::new();
    let entries = match fs::read_dir(&job.path) {
        Ok(e) => e,
        Err(_) => {
            stats.unreadable_dirs += 1;
            return (result, children);
        }
    };
    let at_root = job.components.is_empty();
    for entry in entries {
        let Ok(entry) = entry else {
            stats.unreadable_dirs += 1;
            continue;
        };
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            stats.skipped_names += 1;
            continue;
        };
        if name.starts_with('.') || (at_root && name == TAGGED_DIR) {
            continue;
        }
        let path = entry.path();
        let kind = match entry.file_type() {
            Ok(t) if t.is_dir() || t.is_symlink() => match fs::metadata(&path) {
                Ok(m) if m.is_dir() => Kind::Dir((m.dev(), m.ino()), t.is_symlink()),
                Ok(m) if m.is_file() => Kind::File,
                _ => Kind::Other,
            },
            Ok(t) if t.is_file() => Kind::File,
            _ => Kind::Other,
        };
        match kind {
            Kind::File => {
                if let Some(stem) = name.strip_suffix(".wsp") {
                    if stem.is_empty() || stem.contains('.') {
                        stats.skipped_names += 1;
                    } else {
                        result.leaves.push(stem.to_string());
                    }
                }
            }
            Kind::Dir(id, is_link) => {
                result.subdirs.push((name.to_string(), is_link));
                if job.ancestors.contains(id) {
                    stats.symlink_loops += 1;
                    continue;
                }
                let mut components = job.components.clone();
                components.push(name.to_string());
                children.push(Job {
                    path,
                    components,
                    ancestors: Arc::new(Ancestors {
                        id,
                        parent: Some(job.ancestors.clone()),
                    }),
                });
            }
            Kind::Other => {}
        }
    }
    (result, children)
}
