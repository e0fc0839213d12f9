//! The local source: names from the store's in-memory index, points from whisper files read on a
//! bounded blocking pool, merged with the caches' not-yet-persisted points (render-api.md §3, §7).

use crate::error::WebError;
use crate::find_format::FoundNode;
use crate::merge::{merge_with_cache, Answer};
use crate::source::{BoxFuture, FindQuery, Source, TimeRange};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cached `(timestamp, value)` points of one metric, in the cache's order.
pub type CachedPoints = Vec<(f64, f64)>;

/// A function answering the in-process cache's points for one metric.
pub type CacheQueryFn = Arc<dyn Fn(&str) -> CachedPoints + Send + Sync>;

/// Where cached (not yet persisted) points come from: carbonlink, or the cache role in this process.
pub trait CacheLookup: Send + Sync {
    /// Cached `(timestamp, value)` points per metric, for all `metrics` in one round.
    fn query_bulk<'a>(
        &'a self,
        metrics: &'a [String],
    ) -> BoxFuture<'a, HashMap<String, CachedPoints>>;
}

/// A cache role in the same process, queried through a function (no socket, no pickle).
pub struct InProcessCache {
    query: CacheQueryFn,
}

impl InProcessCache {
    /// Wraps the cache's per-metric query.
    pub fn new(query: CacheQueryFn) -> Self {
        InProcessCache { query }
    }
}

impl CacheLookup for InProcessCache {
    fn query_bulk<'a>(
        &'a self,
        metrics: &'a [String],
    ) -> BoxFuture<'a, HashMap<String, CachedPoints>> {
        Box::pin(async move {
            metrics
                .iter()
                .filter_map(|m| {
                    let pts = (self.query)(m);
                    (!pts.is_empty()).then(|| (m.clone(), pts))
                })
                .collect()
        })
    }
}

/// The whisper tree under `data_dir`, indexed by a [`store::NameIndex`].
pub struct LocalSource {
    data_dir: PathBuf,
    index: Arc<store::NameIndex>,
    cache: Option<Arc<dyn CacheLookup>>,
    reads: Arc<tokio::sync::Semaphore>,
    max_points: usize,
}

/// A file read: the fetched range plus what the cache merge needs from the header.
struct Read {
    name: String,
    fetched: whisper::Fetched,
    aggregation: &'static str,
    raw_step: i64,
}

/// The whisper file of a metric path; `None` for names that could leave the data directory.
pub fn metric_file(data_dir: &Path, metric: &str) -> Option<PathBuf> {
    if metric.contains(';') {
        // Tagged: carbon's hashed `_tagged/abc/def/<sha256>.wsp`, else the `_DOT_` spelling.
        let hashed = data_dir.join(proto::relative_path(metric, true).ok()?);
        if hashed.is_file() {
            return Some(hashed);
        }
        return Some(data_dir.join(proto::relative_path(metric, false).ok()?));
    }
    let mut p = data_dir.to_path_buf();
    for part in metric.split('.') {
        if part.is_empty() || part == ".." || part.starts_with('.') || part.contains(['/', '\0']) {
            return None;
        }
        p.push(part);
    }
    p.set_extension("");
    let mut s = p.into_os_string();
    s.push(".wsp");
    Some(PathBuf::from(s))
}

impl LocalSource {
    /// A source over `data_dir`; `read_concurrency` whisper reads run at once; one fetch may
    /// return at most `max_points` datapoints.
    pub fn new(
        data_dir: PathBuf,
        index: Arc<store::NameIndex>,
        cache: Option<Arc<dyn CacheLookup>>,
        read_concurrency: usize,
        max_points: usize,
    ) -> Self {
        LocalSource {
            data_dir,
            index,
            cache,
            reads: Arc::new(tokio::sync::Semaphore::new(read_concurrency.max(1))),
            max_points,
        }
    }

    /// The name index (the cache role inserts new metrics into it).
    pub fn index(&self) -> &Arc<store::NameIndex> {
        &self.index
    }

    fn read_one(data_dir: &Path, name: &str, range: TimeRange) -> Result<Option<Read>, WebError> {
        let Some(path) = metric_file(data_dir, name) else {
            return Ok(None);
        };
        let w = match whisper::Whisper::open(&path) {
            Ok(w) => w,
            // vanished between find and fetch (deleted, rebalanced): graphite logs and skips it
            Err(whisper::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => {
                tracing::warn!("whisper open {}: {e}", path.display());
                return Ok(None);
            }
        };
        let fetched = match w.fetch(range.from, range.until, range.now) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!("whisper fetch {}: {e}", path.display());
                return Ok(None);
            }
        };
        let h = w.header();
        Ok(Some(Read {
            name: name.to_string(),
            fetched,
            aggregation: h.aggregation_method.name(),
            raw_step: h
                .archives
                .first()
                .map(|a| i64::from(a.seconds_per_point))
                .unwrap_or(1),
        }))
    }

    async fn read_all(&self, leaves: &[String], range: TimeRange) -> Result<Vec<Read>, WebError> {
        // One blocking task per chunk keeps task overhead low for thousands of small files while
        // the semaphore bounds how many files are read at once across all requests.
        let chunk = leaves
            .len()
            .div_ceil(self.reads.available_permits().clamp(1, 64))
            .max(1);
        let mut tasks = tokio::task::JoinSet::new();
        for (ci, names) in leaves.chunks(chunk).enumerate() {
            let names: Vec<String> = names.to_vec();
            let dir = self.data_dir.clone();
            let permit = self
                .reads
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| WebError::Internal(e.to_string()))?;
            tasks.spawn_blocking(move || {
                let _permit = permit;
                let mut out = Vec::with_capacity(names.len());
                for n in &names {
                    if let Some(r) = Self::read_one(&dir, n, range)? {
                        out.push(r);
                    }
                }
                Ok::<_, WebError>((ci, out))
            });
        }
        let mut parts = Vec::new();
        while let Some(res) = tasks.join_next().await {
            parts.push(res.map_err(|e| WebError::Internal(format!("whisper read task: {e}")))??);
        }
        parts.sort_by_key(|(ci, _)| *ci);
        let reads: Vec<Read> = parts.into_iter().flat_map(|(_, r)| r).collect();
        let points: usize = reads.iter().map(|r| r.fetched.values.len()).sum();
        if points > self.max_points {
            return Err(WebError::Limit(format!(
                "request would fetch {points} datapoints, more than the limit of {}",
                self.max_points
            )));
        }
        Ok(reads)
    }

    fn tagged_find(&self, q: &FindQuery) -> Vec<store::Node> {
        tagged_fs_find(&self.data_dir, &q.pattern, q.limit)
    }
}

/// Finds under `_tagged/` by walking the directory (the name index leaves that tree out).
fn tagged_fs_find(data_dir: &Path, pattern: &str, limit: usize) -> Vec<store::Node> {
    let parts: Vec<&str> = pattern.split('.').collect();
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    if !store::glob::Glob::new(first).is_match(store::index::TAGGED_DIR) {
        return Vec::new();
    }
    let base = data_dir.join(store::index::TAGGED_DIR);
    if !base.is_dir() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut frontier = vec![(base, store::index::TAGGED_DIR.to_string())];
    for (depth, part) in parts.iter().enumerate().skip(1) {
        let glob = store::glob::Glob::new(part);
        let last = depth == parts.len() - 1;
        let mut next = Vec::new();
        for (dir, prefix) in &frontier {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                let fname = e.file_name().to_string_lossy().into_owned();
                if fname.starts_with('.') {
                    continue;
                }
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                let (name, leaf) = match fname.strip_suffix(".wsp") {
                    Some(stem) if !is_dir => (stem.to_string(), true),
                    _ if is_dir => (fname.clone(), false),
                    _ => continue,
                };
                if !glob.is_match(&name) {
                    continue;
                }
                let path = format!("{prefix}.{name}");
                if last {
                    out.push(store::Node {
                        path,
                        is_leaf: leaf,
                    });
                    if out.len() > limit {
                        return out;
                    }
                } else if !leaf {
                    next.push((e.path(), path));
                }
            }
        }
        frontier = next;
    }
    if parts.len() == 1 {
        out.push(store::Node {
            path: store::index::TAGGED_DIR.to_string(),
            is_leaf: false,
        });
    }
    out
}

fn tagged_leaves(dir: &Path, prefix: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let fname = e.file_name().to_string_lossy().into_owned();
        if fname.starts_with('.') {
            continue;
        }
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            tagged_leaves(&e.path(), &format!("{prefix}.{fname}"), out, depth + 1);
        } else if let Some(stem) = fname.strip_suffix(".wsp") {
            out.push(format!("{prefix}.{stem}"));
        }
    }
}

/// graphite-web's whisper `get_intervals`: `[now - maxRetention, max(mtime, start)]`.
fn leaf_interval(data_dir: &Path, metric: &str) -> Option<(f64, f64)> {
    let path = metric_file(data_dir, metric)?;
    let w = whisper::Whisper::open(&path).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let start = now - f64::from(w.header().max_retention);
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(start);
    Some((start, mtime.max(start)))
}

impl Source for LocalSource {
    fn find<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Result<Vec<FoundNode>, WebError>> {
        Box::pin(async move {
            let mut nodes = match self.index.find(&q.pattern, q.limit) {
                Ok(n) => n,
                Err(store::IndexError::TooManyMatches { pattern, limit }) => {
                    return Err(WebError::Limit(format!(
                        "find pattern {pattern:?} matches more than {limit} nodes"
                    )))
                }
                Err(e) => return Err(WebError::BadRequest(e.to_string())),
            };
            for t in self.tagged_find(q) {
                if !nodes.contains(&t) {
                    nodes.push(t);
                }
            }
            if nodes.len() > q.limit {
                return Err(WebError::Limit(format!(
                    "find pattern {:?} matches more than {} nodes",
                    q.pattern, q.limit
                )));
            }
            let nodes: Vec<store::Node> = nodes
                .into_iter()
                .filter(|n| n.is_leaf || !q.leaves_only)
                .collect();
            if !q.with_intervals {
                return Ok(nodes
                    .into_iter()
                    .map(|n| FoundNode {
                        path: n.path,
                        is_leaf: n.is_leaf,
                        intervals: vec![],
                    })
                    .collect());
            }
            let dir = self.data_dir.clone();
            tokio::task::spawn_blocking(move || {
                nodes
                    .into_iter()
                    .map(|n| {
                        let intervals = if n.is_leaf {
                            leaf_interval(&dir, &n.path).into_iter().collect()
                        } else {
                            vec![]
                        };
                        FoundNode {
                            path: n.path,
                            is_leaf: n.is_leaf,
                            intervals,
                        }
                    })
                    .collect()
            })
            .await
            .map_err(|e| WebError::Internal(e.to_string()))
        })
    }

    fn fetch<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Result<Vec<Answer>, WebError>> {
        Box::pin(async move {
            // Cache and disk are asked at the same time; the merge needs both.
            let cached = async {
                match &self.cache {
                    Some(c) if !leaves.is_empty() => c.query_bulk(leaves).await,
                    _ => HashMap::new(),
                }
            };
            let (reads, mut cached) = tokio::join!(self.read_all(leaves, range), cached);
            let reads = reads?;
            let mut out = Vec::with_capacity(reads.len());
            for r in reads {
                let whisper::Fetched {
                    from,
                    until,
                    step,
                    mut values,
                } = r.fetched;
                if let Some(points) = cached.remove(&r.name) {
                    // graphite-web fails the whole fetch here; we do the same (500)
                    merge_with_cache(
                        &points,
                        from,
                        step,
                        &mut values,
                        Some(r.aggregation),
                        Some(r.raw_step),
                    )
                    .map_err(|e| WebError::Internal(e.to_string()))?;
                }
                out.push(Answer {
                    name: r.name,
                    start: from,
                    end: until,
                    step,
                    values,
                });
            }
            Ok(out)
        })
    }

    fn index(&self) -> BoxFuture<'_, Result<Vec<String>, WebError>> {
        Box::pin(async move {
            let mut all = self.index.leaves();
            let dir = self.data_dir.join(store::index::TAGGED_DIR);
            if dir.is_dir() {
                tagged_leaves(&dir, store::index::TAGGED_DIR, &mut all, 0);
            }
            all.sort();
            Ok(all)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_paths_stay_inside_the_data_dir() {
        let d = Path::new("/data");
        assert_eq!(
            metric_file(d, "a.b.c"),
            Some(PathBuf::from("/data/a/b/c.wsp"))
        );
        assert_eq!(metric_file(d, "a..b"), None);
        assert_eq!(metric_file(d, "a/../../etc.passwd"), None);
        assert_eq!(metric_file(d, ".hidden"), None);
        assert_eq!(
            metric_file(d, "v1.5"),
            Some(PathBuf::from("/data/v1/5.wsp"))
        );
    }
}

#[cfg(test)]
mod fetch_tests {
    use super::*;

    #[tokio::test]
    async fn in_process_cache_points_merge_over_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b.wsp");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let arch = [whisper::parse_retention_def("60:100").unwrap()];
        whisper::create(
            &path,
            &arch,
            0.5,
            whisper::AggregationMethod::Average,
            whisper::CreateOptions::default(),
        )
        .unwrap();
        let now = 1_700_000_000 - 1_700_000_000 % 60;
        whisper::Whisper::open_rw(&path)
            .unwrap()
            .update_many(&[(now - 180, 1.0), (now - 120, 2.0)], now)
            .unwrap();
        let index = Arc::new(store::NameIndex::load(dir.path()).unwrap().0);
        let cache = InProcessCache::new(Arc::new(move |m: &str| {
            if m == "a.b" {
                vec![(now as f64 - 120.0, 5.0), (now as f64 - 60.0, 6.0)]
            } else {
                vec![]
            }
        }));
        let src = LocalSource::new(
            dir.path().to_path_buf(),
            index,
            Some(Arc::new(cache)),
            2,
            1000,
        );
        let out = src
            .fetch(
                &["a.b".to_string()],
                TimeRange {
                    from: now - 240,
                    until: now,
                    now,
                },
            )
            .await
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].values,
            vec![Some(1.0), Some(5.0), Some(6.0), None],
            "first point is from - from % step + step"
        );
        let too_many = LocalSource::new(dir.path().to_path_buf(), src.index().clone(), None, 2, 3);
        let err = too_many
            .fetch(
                &["a.b".to_string()],
                TimeRange {
                    from: now - 240,
                    until: now,
                    now,
                },
            )
            .await;
        assert!(matches!(err, Err(WebError::Limit(_))), "{err:?}");
    }
}
