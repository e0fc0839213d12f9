//! The name index: an in-memory trie of the whisper tree (directories are branches, `*.wsp` files are
//! leaves) answering graphite-web's find queries without touching the disk.
//!
//! Query semantics follow graphite-web's `StandardFinder`: backslashes are removed from the query, it is
//! split on `.`, each part is brace-expanded and every variant is either looked up literally (no `*`,
//! `?` or `[`), matched with `fnmatch` against the children, or (exactly `**`) replaced by the node
//! itself and all its descendant branches, not entering symlinked directories as `os.walk` does not
//! (a trailing `**` then lists everything below). An empty part (`a..b`) stays on the same node, as
//! `os.path.join(dir, "")` does (a trailing one yields the branch `a.`, like graphite-web). A name that
//! is both a directory
//! and a `.wsp` file yields a branch and a leaf node with the same path.
//!
//! Deliberate differences from graphite-web, because the index is built from a walk that skips them:
//! hidden entries (names starting with `.`) are never indexed, whereas graphite-web's `*` does descend
//! into hidden *intermediate* directories; the `_tagged` tree is left to the tag index; files whose stem
//! contains a `.` and `.wsp.gz`/`.rrd` files are not leaves; tagged queries (`;` in the query) return
//! nothing here. Query parts with escaped wildcards are matched like graphite-web (backslashes dropped)
//! but results carry the real node names rather than the query text.

mod walk;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::IndexError;
use crate::glob::{expand_braces, has_wildcard, Glob};

pub use walk::LoadStats;

/// Most brace variants one query part may expand to.
pub const MAX_BRACE_VARIANTS: usize = 4096;

/// Most dot-separated parts a query may have (a real tree is never this deep: PATH_MAX is 4096).
pub const MAX_QUERY_PARTS: usize = 1024;

/// Most trie nodes one query may examine. Ordinary queries stay far below it even on million-metric
/// trees; repeated `**` or huge brace products would otherwise take minutes of CPU.
pub const MAX_NODES_EXAMINED: usize = 20_000_000;

/// Name of the top-level directory holding tagged series, which the plain tree leaves out.
pub const TAGGED_DIR: &str = "_tagged";

/// One find result: a branch (directory) or a leaf (whisper file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// The dotted metric path.
    pub path: String,
    /// True for a leaf (a `.wsp` file), false for a branch (a directory).
    pub is_leaf: bool,
}

impl Node {
    /// The last component of the path (graphite-web's `node.name`).
    pub fn name(&self) -> &str {
        match self.path.rfind('.') {
            Some(i) => &self.path[i + 1..],
            None => &self.path,
        }
    }
}

/// A trie node; `children` is only allocated for directories that have entries.
#[derive(Debug, Default)]
struct TrieNode {
    // Boxed so that the many leaves cost one pointer, not an empty map (48 bytes).
    #[allow(clippy::box_collection)]
    children: Option<Box<HashMap<Box<str>, TrieNode>>>,
    is_dir: bool,
    is_leaf: bool,
    /// A directory reached through a symlink: `**` does not descend into it (`os.walk` without
    /// `followlinks`), though every other part follows it.
    is_link: bool,
}

impl TrieNode {
    fn child(&self, name: &str) -> Option<&TrieNode> {
        self.children.as_ref()?.get(name)
    }

    fn child_mut_or_insert(&mut self, name: &str) -> &mut TrieNode {
        let children = self.children.get_or_insert_with(Default::default);
        if !children.contains_key(name) {
            children.insert(name.into(), TrieNode::default());
        }
        // The key was inserted just above if it was missing.
        children.get_mut(name).expect("child present after insert")
    }

    fn iter_children(&self) -> impl Iterator<Item = (&str, &TrieNode)> {
        self.children
            .iter()
            .flat_map(|c| c.iter().map(|(k, v)| (k.as_ref(), v)))
    }

    fn has_children(&self) -> bool {
        self.children.as_ref().is_some_and(|c| !c.is_empty())
    }
}

/// The whole tree behind one lock: many concurrent finds, short exclusive inserts.
#[derive(Debug)]
pub struct NameIndex {
    root: RwLock<TrieNode>,
    /// While a reload walks the disk, inserts are also logged here and replayed into the new tree,
    /// so a metric created mid-walk is not lost by the swap.
    reload_log: Mutex<Option<Vec<String>>>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

impl Default for NameIndex {
    fn default() -> Self {
        NameIndex::new()
    }
}

/// One query part after brace expansion.
enum Variant {
    Literal(String),
    Glob(Glob),
    GlobStar,
}

/// Accumulates results and enforces the limit while the query runs. Duplicates (overlapping brace
/// variants, `**`) are rare, so they are removed by sorting rather than hashing every path.
struct Collector {
    nodes: Vec<Node>,
    limit: usize,
    /// Trie nodes the query may still examine.
    budget: usize,
    /// Length past which the list is deduplicated and checked against the limit again.
    next_check: usize,
}

impl Collector {
    fn new(limit: usize, budget: usize) -> Collector {
        Collector {
            nodes: Vec::new(),
            limit,
            budget,
            next_check: limit,
        }
    }

    /// Accounts for examining `n` more nodes.
    fn spend(&mut self, n: usize) -> Result<(), Overflow> {
        self.budget = self.budget.checked_sub(n).ok_or(Overflow::Budget)?;
        Ok(())
    }

    fn add(&mut self, prefix: &[&str], name: &str, is_leaf: bool) -> bool {
        let mut path =
            String::with_capacity(prefix.iter().map(|p| p.len() + 1).sum::<usize>() + name.len());
        for p in prefix {
            path.push_str(p);
            path.push('.');
        }
        path.push_str(name);
        self.nodes.push(Node { path, is_leaf });
        if self.nodes.len() > self.next_check {
            self.finish();
            if self.nodes.len() > self.limit {
                return false;
            }
            self.next_check = self.limit.max(self.nodes.len().saturating_mul(2));
        }
        true
    }

    /// Sorts as graphite-web's find view does (by node name), then by path, branch before leaf, and
    /// drops duplicates.
    fn finish(&mut self) {
        // Locate each name once; comparisons then only slice.
        let mut keyed: Vec<(usize, Node)> = self
            .nodes
            .drain(..)
            .map(|n| (n.path.rfind('.').map_or(0, |i| i + 1), n))
            .collect();
        keyed.sort_unstable_by(|(ia, a), (ib, b)| {
            a.path[*ia..]
                .cmp(&b.path[*ib..])
                .then_with(|| a.path.cmp(&b.path))
                .then(a.is_leaf.cmp(&b.is_leaf))
        });
        self.nodes.extend(keyed.into_iter().map(|(_, n)| n));
        self.nodes.dedup();
    }
}

/// Why a query stopped early.
enum Overflow {
    /// More results than the caller's limit.
    Limit,
    /// More work than [`MAX_NODES_EXAMINED`].
    Budget,
}

impl NameIndex {
    /// An empty index (the data directory has no metrics yet).
    pub fn new() -> NameIndex {
        NameIndex::with_root(TrieNode {
            is_dir: true,
            ..Default::default()
        })
    }

    fn with_root(root: TrieNode) -> NameIndex {
        NameIndex {
            root: RwLock::new(root),
            reload_log: Mutex::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// Walks `data_dir` (in parallel) and indexes every non-hidden directory and `*.wsp` file in it,
    /// following symlinks but never looping, and leaving out the top-level `_tagged` directory.
    pub fn load(data_dir: &Path) -> Result<(NameIndex, LoadStats), IndexError> {
        let (root, stats) = walk::walk(data_dir)?;
        Ok((NameIndex::with_root(root), stats))
    }

    /// Rebuilds the index from disk and swaps it in; finds keep using the old tree until the swap,
    /// and metrics inserted during the walk are carried over.
    pub fn reload(&self, data_dir: &Path) -> Result<LoadStats, IndexError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        *self.log() = Some(Vec::new());
        let walked = walk::walk(data_dir);
        let mut root = self.write();
        let logged = self.log().take().unwrap_or_default();
        let (new_root, stats) = walked?;
        *root = new_root;
        for metric in logged {
            // Logged names were validated when first inserted.
            if let Ok(parts) = split_name(&metric) {
                insert_parts(&mut root, &parts);
            }
        }
        Ok(stats)
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Option<Vec<String>>> {
        self.reload_log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, TrieNode> {
        // A panic elsewhere never leaves the trie half-updated in a harmful way, so ignore poisoning.
        self.root.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, TrieNode> {
        self.root.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a plain metric as a leaf (and its parents as branches), as the cache does right after
    /// creating its file. Returns whether the leaf is new.
    pub fn insert(&self, metric: &str) -> Result<bool, IndexError> {
        let parts = split_name(metric)?;
        let mut root = self.write();
        let fresh = insert_parts(&mut root, &parts);
        if let Some(log) = self.log().as_mut() {
            log.push(metric.to_string());
        }
        Ok(fresh)
    }

    /// Removes a leaf (its file was deleted). Parent branches stay: their directories still exist.
    /// Returns whether the leaf was present.
    pub fn remove(&self, metric: &str) -> bool {
        let Ok(parts) = split_name(metric) else {
            return false;
        };
        let Some((last, dirs)) = parts.split_last() else {
            return false;
        };
        let mut root = self.write();
        let mut node: &mut TrieNode = &mut root;
        for part in dirs {
            match node.children.as_mut().and_then(|c| c.get_mut(*part)) {
                Some(n) => node = n,
                None => return false,
            }
        }
        let Some(children) = node.children.as_mut() else {
            return false;
        };
        let Some(leaf) = children.get_mut(*last) else {
            return false;
        };
        let was = leaf.is_leaf;
        leaf.is_leaf = false;
        if !leaf.is_dir && !leaf.has_children() {
            children.remove(*last);
        }
        was
    }

    /// Whether `metric` is a leaf in the index.
    pub fn contains(&self, metric: &str) -> bool {
        let root = self.read();
        let mut node: &TrieNode = &root;
        for part in metric.split('.') {
            match node.child(part) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.is_leaf
    }

    /// Number of leaves in the index.
    pub fn leaf_count(&self) -> usize {
        let root = self.read();
        let mut count = 0;
        let mut stack: Vec<&TrieNode> = vec![&root];
        while let Some(n) = stack.pop() {
            for (_, c) in n.iter_children() {
                count += usize::from(c.is_leaf);
                stack.push(c);
            }
        }
        count
    }

    /// Every leaf path, sorted (what `/metrics/index.json` lists for the plain tree).
    pub fn leaves(&self) -> Vec<String> {
        let root = self.read();
        let mut out = Vec::new();
        let mut stack: Vec<(String, &TrieNode)> = vec![(String::new(), &root)];
        while let Some((prefix, n)) = stack.pop() {
            for (name, c) in n.iter_children() {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                if c.is_leaf {
                    out.push(path.clone());
                }
                if c.has_children() {
                    stack.push((path, c));
                }
            }
        }
        out.sort();
        out
    }

    /// Resolves a graphite-web find query. Results are distinct, sorted by node name (as graphite-web's
    /// find view sorts them) then by path, branch before leaf. More than `limit` results is an error.
    pub fn find(&self, pattern: &str, limit: usize) -> Result<Vec<Node>, IndexError> {
        self.find_with_budget(pattern, limit, MAX_NODES_EXAMINED)
    }

    /// [`NameIndex::find`] with an explicit work budget (tests use a small one).
    fn find_with_budget(
        &self,
        pattern: &str,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<Node>, IndexError> {
        if pattern.contains(';') && !pattern.starts_with("_tagged.") {
            return Ok(Vec::new());
        }
        let clean = pattern.replace('\\', "");
        let raw_parts: Vec<&str> = clean.split('.').collect();
        if raw_parts.len() > MAX_QUERY_PARTS {
            return Err(IndexError::QueryTooLong {
                pattern: pattern.to_string(),
                limit: MAX_QUERY_PARTS,
            });
        }
        let mut parts: Vec<Vec<Variant>> = Vec::with_capacity(raw_parts.len());
        for raw in &raw_parts {
            let variants = expand_braces(raw, MAX_BRACE_VARIANTS).ok_or_else(|| {
                IndexError::TooManyVariants {
                    pattern: pattern.to_string(),
                    limit: MAX_BRACE_VARIANTS,
                }
            })?;
            parts.push(variants.into_iter().map(compile_variant).collect());
        }
        let mut out = Collector::new(limit, budget);
        let root = self.read();
        let mut prefix = Vec::new();
        match resolve(&root, &parts, &mut prefix, &mut out) {
            Ok(()) => {}
            Err(Overflow::Limit) => {
                return Err(IndexError::TooManyMatches {
                    pattern: pattern.to_string(),
                    limit,
                })
            }
            Err(Overflow::Budget) => {
                return Err(IndexError::QueryTooExpensive {
                    pattern: pattern.to_string(),
                    limit: budget,
                })
            }
        }
        drop(root);
        out.finish();
        if out.nodes.len() > limit {
            return Err(IndexError::TooManyMatches {
                pattern: pattern.to_string(),
                limit,
            });
        }
        Ok(out.nodes)
    }
}

fn compile_variant(v: String) -> Variant {
    if v == "**" {
        Variant::GlobStar
    } else if has_wildcard(&v) {
        Variant::Glob(Glob::new(&v))
    } else {
        Variant::Literal(v)
    }
}

/// Splits a metric name into path parts, refusing names that cannot be a plain, visible whisper path.
fn split_name(metric: &str) -> Result<Vec<&str>, IndexError> {
    let bad = |reason| {
        Err(IndexError::InvalidName {
            name: metric.to_string(),
            reason,
        })
    };
    if metric.contains(';') {
        return bad("tagged names belong to the tag index");
    }
    if metric.contains(['/', '\0']) {
        return bad("contains '/' or NUL");
    }
    let parts: Vec<&str> = metric.split('.').collect();
    if parts.len() > MAX_QUERY_PARTS {
        // No file can be this deep (PATH_MAX), and a deeper trie would only cost stack.
        return bad("too many path components");
    }
    if parts.iter().any(|p| p.is_empty()) {
        return bad("empty path component");
    }
    if parts.iter().any(|p| p.starts_with('.')) {
        return bad("hidden path component");
    }
    if parts.first() == Some(&TAGGED_DIR) {
        return bad("the _tagged tree belongs to the tag index");
    }
    Ok(parts)
}

/// Marks `parts` as a leaf below `root`, its parents as branches; returns whether the leaf is new.
fn insert_parts(root: &mut TrieNode, parts: &[&str]) -> bool {
    let Some((last, dirs)) = parts.split_last() else {
        return false;
    };
    let mut node = root;
    for part in dirs {
        node = node.child_mut_or_insert(part);
        node.is_dir = true;
    }
    let leaf = node.child_mut_or_insert(last);
    let fresh = !leaf.is_leaf;
    leaf.is_leaf = true;
    fresh
}

/// The `*` that a trailing `**` stands for.
fn star_part() -> Vec<Variant> {
    vec![Variant::Glob(Glob::new("*"))]
}

fn resolve<'t>(
    node: &'t TrieNode,
    parts: &[Vec<Variant>],
    prefix: &mut Vec<&'t str>,
    out: &mut Collector,
) -> Result<(), Overflow> {
    let Some((variants, rest)) = parts.split_first() else {
        return Ok(());
    };
    for variant in variants {
        match variant {
            Variant::GlobStar => {
                let star;
                let next: &[Vec<Variant>] = if rest.is_empty() {
                    star = [star_part()];
                    &star
                } else {
                    rest
                };
                // The node itself, then every branch below it (os.walk order does not matter: results
                // are deduplicated at the end).
                let mut stack: Vec<(&'t TrieNode, Vec<&'t str>)> = vec![(node, Vec::new())];
                while let Some((n, trail)) = stack.pop() {
                    out.spend(1)?;
                    let saved = prefix.len();
                    prefix.extend(trail.iter().copied());
                    let r = resolve(n, next, prefix, out);
                    prefix.truncate(saved);
                    r?;
                    for (name, c) in n.iter_children() {
                        if c.is_dir && !c.is_link {
                            let mut t = trail.clone();
                            t.push(name);
                            stack.push((c, t));
                        }
                    }
                }
            }
            Variant::Glob(glob) => {
                let candidates = node.children.as_ref().map_or(0, |c| c.len());
                out.spend(candidates)?;
                if rest.is_empty() {
                    // One growth instead of many; bounded by the limit.
                    out.nodes
                        .reserve(candidates.min(out.limit.saturating_add(1)));
                }
                for (name, child) in node.iter_children() {
                    if glob.is_match(name) {
                        visit(child, name, rest, prefix, out)?;
                    }
                }
            }
            Variant::Literal(lit) => {
                out.spend(1)?;
                if lit.is_empty() {
                    // `os.path.join(dir, "")` is the directory itself: stay here, or (last part) emit
                    // the branch graphite-web names with a trailing dot.
                    if rest.is_empty() {
                        if !out.add(prefix, "", false) {
                            return Err(Overflow::Limit);
                        }
                    } else {
                        resolve(node, rest, prefix, out)?;
                    }
                } else if let Some((name, child)) = node
                    .children
                    .as_ref()
                    .and_then(|c| c.get_key_value(lit.as_str()))
                {
                    visit(child, name, rest, prefix, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A child matched the current part: descend if more parts follow, else emit it.
fn visit<'t>(
    child: &'t TrieNode,
    name: &'t str,
    rest: &[Vec<Variant>],
    prefix: &mut Vec<&'t str>,
    out: &mut Collector,
) -> Result<(), Overflow> {
    if rest.is_empty() {
        if child.is_dir && !out.add(prefix, name, false) {
            return Err(Overflow::Limit);
        }
        if child.is_leaf && !out.add(prefix, name, true) {
            return Err(Overflow::Limit);
        }
    } else if child.is_dir {
        prefix.push(name);
        let r = resolve(child, rest, prefix, out);
        prefix.pop();
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
