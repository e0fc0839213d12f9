//! The fetch layer: sources of metric names and datapoints behind one trait, so the HTTP layer
//! never knows whether data is local (whisper + carbonlink) or, later, on cluster peers.

use crate::error::WebError;
use crate::find_format::FoundNode;
use crate::merge::{merge_answers, Answer};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a find asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindQuery {
    /// Glob pattern (`*`, `?`, `[..]`, `{a,b}` per dotted component).
    pub pattern: String,
    /// Only leaves.
    pub leaves_only: bool,
    /// Most nodes to return; more is an error ([`WebError::Limit`]).
    pub limit: usize,
    /// Whether leaves need their data intervals (find `format=json|pickle|msgpack`).
    pub with_intervals: bool,
}

/// The time range of a fetch, epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start (exclusive in whisper's sense: first point is the next interval).
    pub from: i64,
    /// End.
    pub until: i64,
    /// The reference "now" for archive selection.
    pub now: i64,
}

/// What answers a `local=1` request (a peer asking) in a source's place.
pub enum LocalView {
    /// The source itself (local data).
    Itself,
    /// Nothing (a peer: federation never recurses).
    Nothing,
    /// The local part of a source that also asks peers (the cluster ring).
    Part(Arc<dyn Source>),
}

/// A source of metric names and datapoints.
pub trait Source: Send + Sync {
    /// Nodes matching a pattern.
    fn find<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Result<Vec<FoundNode>, WebError>>;
    /// Datapoints for leaf paths (each path asked once; a missing path yields nothing).
    fn fetch<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Result<Vec<Answer>, WebError>>;
    /// Every leaf path this source knows (`/metrics/index.json`).
    fn index(&self) -> BoxFuture<'_, Result<Vec<String>, WebError>>;
    /// The cluster peer behind this source (`None` for local data); a peer's failure makes the
    /// answer partial instead of failing it.
    fn peer(&self) -> Option<&str> {
        None
    }
    /// Peers' JSON answers to a tag API call (`/tags...` path with its query, `local=1`
    /// included), and the peers left out; nothing from sources without peers (the node's local
    /// data is answered by its [`store::TagIndex`]).
    fn tag_call<'a>(&'a self, _path_query: &'a str) -> BoxFuture<'a, Reported<Vec<Vec<u8>>>> {
        Box::pin(async { Ok((Vec::new(), Vec::new())) })
    }
    /// Datapoints of a `seriesByTag(...)` expression: peers resolve the pattern with their own
    /// tag index (as graphite-web passes tag patterns to tag-aware finders); local data is
    /// fetched for `local_names`, the series the node's own tag index selected.
    fn fetch_tagged<'a>(
        &'a self,
        _pattern: &'a str,
        local_names: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Reported<Vec<Answer>>> {
        Box::pin(async move {
            if local_names.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            self.fetch_partial(local_names, range).await
        })
    }
    /// What answers for this source when a peer asks with `local=1`.
    fn local_view(&self) -> LocalView {
        if self.peer().is_none() {
            LocalView::Itself
        } else {
            LocalView::Nothing
        }
    }
    /// [`Source::find`] plus the peers that could not answer (a source over several peers,
    /// such as the cluster ring, answers what it can and names the rest).
    fn find_partial<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Reported<Vec<FoundNode>>> {
        Box::pin(async move { self.find(q).await.map(|v| (v, Vec::new())) })
    }
    /// [`Source::fetch`] plus the peers that could not answer.
    fn fetch_partial<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Reported<Vec<Answer>>> {
        Box::pin(async move { self.fetch(leaves, range).await.map(|v| (v, Vec::new())) })
    }
}

/// Nodes found by several sources as graphite-web merges them: one node per path (a leaf
/// anywhere makes it a leaf, intervals are united), sorted by path; more than `q.limit` is an error.
pub fn merge_found(
    found: impl IntoIterator<Item = FoundNode>,
    q: &FindQuery,
) -> Result<Vec<FoundNode>, WebError> {
    let mut all: Vec<FoundNode> = Vec::new();
    let mut by_path: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for n in found {
        match by_path.get(&n.path) {
            Some(&i) => {
                if let Some(kept) = all.get_mut(i) {
                    kept.is_leaf |= n.is_leaf;
                    kept.intervals.extend(n.intervals);
                }
            }
            None => {
                by_path.insert(n.path.clone(), all.len());
                all.push(n);
            }
        }
        if all.len() > q.limit {
            return Err(WebError::Limit(format!(
                "find pattern {:?} matches more than {} nodes",
                q.pattern, q.limit
            )));
        }
    }
    all.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(all)
}

/// An answer and the peers left out of it (the answer is partial when that list is not empty).
pub type Reported<T> = Result<(T, Vec<String>), WebError>;

/// All sources of a node, combined as graphite-web's STORE combines finders.
#[derive(Clone, Default)]
pub struct Sources {
    list: Vec<Arc<dyn Source>>,
    /// The list later requests see: [`Sources::replace`] swaps it (SIGHUP reload) while requests
    /// in flight keep the list they started with.
    live: Arc<std::sync::RwLock<Vec<Arc<dyn Source>>>>,
    /// Peers that failed or were skipped while answering the current request.
    partial: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Leaves each peer (by list position) returned to this request's finds: a fetch asks a
    /// peer only for those, as graphite-web fetches only from the finders that found a node.
    found: Arc<std::sync::Mutex<std::collections::HashMap<usize, HashSet<String>>>>,
}

impl Sources {
    /// Sources in priority order (local first).
    pub fn new(list: Vec<Arc<dyn Source>>) -> Self {
        Sources {
            live: Arc::new(std::sync::RwLock::new(list.clone())),
            list,
            partial: Default::default(),
            found: Default::default(),
        }
    }

    /// Replaces the sources seen by requests started from now on (by this value and its clones).
    pub fn replace(&self, list: Vec<Arc<dyn Source>>) {
        if let Ok(mut l) = self.live.write() {
            *l = list;
        }
    }

    /// The sources requests start with now.
    pub fn current(&self) -> Vec<Arc<dyn Source>> {
        self.live
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|_| self.list.clone())
    }

    /// The sources for one request: only local ones when the request carries `local=1` (a peer
    /// asking, so federation never recurses), with a fresh record of failed peers.
    pub fn for_request(&self, local_only: bool) -> Sources {
        let list: Vec<Arc<dyn Source>> = self
            .current()
            .into_iter()
            .filter_map(|s| {
                if !local_only {
                    return Some(s);
                }
                match s.local_view() {
                    LocalView::Itself => Some(s),
                    LocalView::Nothing => None,
                    LocalView::Part(l) => Some(l),
                }
            })
            .collect();
        Sources {
            live: Arc::new(std::sync::RwLock::new(list.clone())),
            list,
            partial: Default::default(),
            found: Default::default(),
        }
    }

    /// Peers that failed or were skipped since [`Sources::for_request`], sorted.
    pub fn partial(&self) -> Vec<String> {
        self.partial
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A peer's error is recorded and its answer dropped; a local error fails the request.
    fn settle<T: Default>(
        &self,
        s: &dyn Source,
        r: Result<(T, Vec<String>), WebError>,
    ) -> Result<T, WebError> {
        match (r, s.peer()) {
            (Ok((v, left_out)), _) => {
                if !left_out.is_empty() {
                    if let Ok(mut p) = self.partial.lock() {
                        p.extend(left_out);
                    }
                }
                Ok(v)
            }
            (Err(e), Some(peer)) => {
                tracing::debug!(peer, "web: cluster peer left out: {e}");
                if let Ok(mut p) = self.partial.lock() {
                    p.insert(peer.to_string());
                }
                Ok(T::default())
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Runs `call` on every source at once (so one slow peer costs one deadline, not one per
    /// peer) and settles the results in list order, which is the merge's priority order.
    async fn gather<T, F, Fut>(&self, call: F) -> Result<Vec<T>, WebError>
    where
        T: Default + Send + 'static,
        F: Fn(usize, Arc<dyn Source>) -> Fut,
        Fut: Future<Output = Reported<T>> + Send + 'static,
    {
        if let [only] = self.list.as_slice() {
            return Ok(vec![
                self.settle(only.as_ref(), call(0, only.clone()).await)?
            ]);
        }
        let mut set = tokio::task::JoinSet::new();
        for (i, s) in self.list.iter().enumerate() {
            let fut = call(i, s.clone());
            set.spawn(async move { (i, fut.await) });
        }
        let mut slots: Vec<Option<Reported<T>>> = self.list.iter().map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            let (i, r) = done.map_err(|e| WebError::Internal(format!("source task: {e}")))?;
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
        let mut out = Vec::with_capacity(slots.len());
        for (s, r) in self.list.iter().zip(slots) {
            let r = r.unwrap_or_else(|| Err(WebError::Internal("source task lost".into())));
            out.push(self.settle(s.as_ref(), r)?);
        }
        Ok(out)
    }

    /// Finds over every source; nodes with the same path merge (leaf if any source has a leaf).
    pub async fn find(&self, q: &FindQuery) -> Result<Vec<FoundNode>, WebError> {
        let found = self
            .gather(|_, s| {
                let q = q.clone();
                async move { s.find_partial(&q).await }
            })
            .await?;
        if let Ok(mut rec) = self.found.lock() {
            for ((i, s), nodes) in self.list.iter().enumerate().zip(&found) {
                if s.peer().is_some() {
                    let leaves = nodes.iter().filter(|n| n.is_leaf).map(|n| n.path.clone());
                    rec.entry(i).or_default().extend(leaves);
                }
            }
        }
        merge_found(found.into_iter().flatten(), q)
    }

    /// Fetches from every source and merges answers for the same name; sorted by name.
    pub async fn fetch(
        &self,
        leaves: &[String],
        range: TimeRange,
    ) -> Result<Vec<Answer>, WebError> {
        let all: Arc<[String]> = leaves.into();
        // per source: every leaf, or for a peer that answered a find, only the leaves it found
        let asks: Vec<Arc<[String]>> = {
            let rec = self.found.lock().ok();
            (0..self.list.len())
                .map(|i| match rec.as_ref().and_then(|r| r.get(&i)) {
                    Some(set) => all.iter().filter(|l| set.contains(*l)).cloned().collect(),
                    None => all.clone(),
                })
                .collect()
        };
        let answers = self
            .gather(|i, s| {
                let leaves = asks.get(i).cloned().unwrap_or_else(|| all.clone());
                async move {
                    if leaves.is_empty() {
                        return Ok((Vec::new(), Vec::new()));
                    }
                    s.fetch_partial(&leaves, range).await
                }
            })
            .await?;
        Ok(merge_answers(answers.into_iter().flatten().collect()))
    }

    /// The bodies of every peer's answer to a tag API call (peers that fail are left out and
    /// recorded as partial); local sources give none.
    pub async fn tag_calls(&self, path_query: &str) -> Result<Vec<Vec<u8>>, WebError> {
        let path_query: Arc<str> = path_query.into();
        let bodies = self
            .gather(|_, s| {
                let q = path_query.clone();
                async move { s.tag_call(&q).await }
            })
            .await?;
        Ok(bodies.into_iter().flatten().collect())
    }

    /// A `seriesByTag(...)` fetch: sources that resolve the pattern themselves (peers) are asked
    /// for it, local data for `local_names` (what the node's own tag index selected); answers
    /// for the same name merge.
    pub async fn fetch_tagged(
        &self,
        pattern: &str,
        local_names: &[String],
        range: TimeRange,
    ) -> Result<Vec<Answer>, WebError> {
        let names: Arc<[String]> = local_names.into();
        let pattern: Arc<str> = pattern.into();
        let answers = self
            .gather(|_, s| {
                let (names, pattern) = (names.clone(), pattern.clone());
                async move { s.fetch_tagged(&pattern, &names, range).await }
            })
            .await?;
        Ok(merge_answers(answers.into_iter().flatten().collect()))
    }

    /// The union of every source's index, sorted.
    pub async fn index(&self) -> Result<Vec<String>, WebError> {
        let mut all: Vec<String> = self
            .gather(|_, s| async move { s.index().await.map(|v| (v, Vec::new())) })
            .await?
            .into_iter()
            .flatten()
            .collect();
        all.sort();
        all.dedup();
        Ok(all)
    }
}
