//! The tag index: which series carry which `tag=value`, answering graphite-web's tag API
//! (`/tags`, `findSeries`, autocomplete) and `seriesByTag` with its local tag database's semantics.
//!
//! Tags and values are interned; every series keeps its `(tag, value)` pairs and every
//! `tag=value` keeps a posting list of series ids (ids grow, so posting lists stay sorted).
//! A query starts from the positive expression with the fewest candidates and checks the
//! others on each candidate.
//!
//! graphite-web semantics kept here: an expression that matches the empty value also matches
//! series without the tag; at least one expression must not match the empty value; regexes are
//! anchored at the start (`^(...)` unless they start with `^`). Expressions that need the tag
//! are answered like its SQL `REGEXP` (a search), the ones that accept a missing tag like its
//! Python filter (`re.match`). The `id`s reported by `/tags` mimic its SQLite row ids: every
//! attempted row insert consumes one, as `INSERT OR IGNORE` on an AUTOINCREMENT table does.
//!
//! Hashed whisper file names (`_tagged/abc/def/<sha256>.wsp`) cannot be turned back into names,
//! so the index keeps an append-only log of the names it was given under
//! `DATA_DIR/.carbonado/tagdb` and, at load, keeps those whose file still exists.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use regex::Regex;

/// Default `TAGDB_AUTOCOMPLETE_LIMIT` of graphite-web.
pub const AUTOCOMPLETE_LIMIT: i64 = 100;

/// Marks a removal in the name log; no valid name starts with `;` (its metric would be empty).
const REMOVED_MARK: char = ';';

/// Errors of the tag index; `Display` is graphite-web's message where it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TagDbError {
    /// An expression that is not `tag<op>spec`.
    #[error("Invalid tagspec {0}")]
    InvalidTagspec(String),
    /// Every expression would match series without the tag.
    #[error("At least one tagspec must not match the empty string")]
    AllMatchEmpty,
    /// A regex (expression or filter) that cannot be compiled.
    #[error("invalid regex {pattern:?}: {message}")]
    BadRegex {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// A series name that is not a valid tagged name.
    #[error("{0}")]
    BadSeries(#[from] proto::TagError),
    /// The name log could not be read or written.
    #[error("tag log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Comparison of one tag expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    /// `tag=value`
    Eq,
    /// `tag!=value`
    Ne,
    /// `tag=~regex`
    Match,
    /// `tag!=~regex`
    NotMatch,
}

/// One parsed `tag<op>spec` expression (graphite-web's `parse_tagspec`).
#[derive(Debug, Clone)]
pub struct TagExpr {
    /// Tag name.
    pub tag: String,
    /// Operator.
    pub op: TagOp,
    /// Value, or the regex as anchored by graphite-web.
    pub spec: String,
    /// Search form of the regex (SQL `REGEXP`), for `=~`/`!=~`.
    search: Option<Regex>,
    /// `re.match` form of the regex, for `=~`/`!=~`.
    anchored: Option<Regex>,
    /// Whether the expression accepts the empty value (and so series without the tag).
    matches_empty: bool,
}

impl TagExpr {
    /// Parses `tag=v`, `tag!=v`, `tag=~re`, `tag!=~re` like `^([^;!=]+)(!?=~?)([^;]*)$`.
    pub fn parse(text: &str) -> Result<TagExpr, TagDbError> {
        let bad = || TagDbError::InvalidTagspec(text.to_string());
        let op_at = text.find(['!', '=', ';']).ok_or_else(bad)?;
        let (tag, rest) = text.split_at(op_at);
        let (op, len) = if rest.starts_with("!=~") {
            (TagOp::NotMatch, 3)
        } else if rest.starts_with("!=") {
            (TagOp::Ne, 2)
        } else if rest.starts_with("=~") {
            (TagOp::Match, 2)
        } else if rest.starts_with('=') {
            (TagOp::Eq, 1)
        } else {
            return Err(bad());
        };
        let spec = &rest[len..];
        if tag.is_empty() || spec.contains(';') {
            return Err(bad());
        }
        let spec = spec.to_string();
        let (spec, search, anchored, matches_empty) = match op {
            TagOp::Eq => (spec.clone(), None, None, spec.is_empty()),
            TagOp::Ne => (spec.clone(), None, None, !spec.is_empty()),
            TagOp::Match | TagOp::NotMatch => {
                let spec = if spec.starts_with('^') {
                    spec
                } else {
                    format!("^({spec})")
                };
                let (search, anchored) = compile_pair(&spec)?;
                let m = anchored.is_match("");
                let me = if op == TagOp::Match { m } else { !m };
                (spec, Some(search), Some(anchored), me)
            }
        };
        Ok(TagExpr {
            tag: tag.to_string(),
            op,
            spec,
            search,
            anchored,
            matches_empty,
        })
    }

    /// Whether the expression accepts the empty value (series without the tag).
    pub fn matches_empty(&self) -> bool {
        self.matches_empty
    }

    /// Whether a present value satisfies the expression.
    fn accepts(&self, value: &str) -> bool {
        // Positive expressions go through SQL REGEXP (re.search); the others through re.match.
        let re = if self.matches_empty {
            &self.anchored
        } else {
            &self.search
        };
        match self.op {
            TagOp::Eq => value == self.spec,
            TagOp::Ne => value != self.spec,
            TagOp::Match => re.as_ref().is_some_and(|r| r.is_match(value)),
            TagOp::NotMatch => !re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// Patterns kept compiled: Grafana repeats the same expressions on every refresh, and
/// compiling costs more than answering a query over a small index (Python's `re` keeps a cache
/// of 512 compiled patterns for graphite-web the same way).
const REGEX_CACHE_MAX: usize = 512;

/// Compiles a Python pattern for search and for `re.match` (anchored at the start), once.
fn compile_pair(pattern: &str) -> Result<(Regex, Regex), TagDbError> {
    static CACHE: std::sync::OnceLock<Mutex<HashMap<String, (Regex, Regex)>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(hit);
    }
    let pair = compile_pair_uncached(pattern)?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= REGEX_CACHE_MAX {
            c.clear();
        }
        c.insert(pattern.to_string(), pair.clone());
    }
    Ok(pair)
}

fn compile_pair_uncached(pattern: &str) -> Result<(Regex, Regex), TagDbError> {
    let bad = |message: String| TagDbError::BadRegex {
        pattern: pattern.to_string(),
        message,
    };
    let translated = crate::pyre::translate(pattern).map_err(bad)?;
    let search = Regex::new(&translated).map_err(|e| bad(e.to_string()))?;
    let anchored = Regex::new(&format!("^(?:{translated})")).map_err(|e| bad(e.to_string()))?;
    Ok((search, anchored))
}

/// A filter regex of `/tags?filter=` and `/tags/<tag>?filter=`: anchored, then searched.
fn compile_filter(filter: Option<&str>) -> Result<Option<Regex>, TagDbError> {
    match filter {
        None | Some("") => Ok(None),
        Some(f) => {
            let anchored = if f.starts_with('^') {
                f.to_string()
            } else {
                format!("^({f})")
            };
            Ok(Some(compile_pair(&anchored)?.0))
        }
    }
}

/// Applies an SQL `LIMIT` the way graphite-web passes it (`if limit:`; SQLite reads < 0 as none).
fn sql_limit(limit: Option<i64>) -> usize {
    match limit {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => usize::MAX,
    }
}

/// One entry of `/tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// Row id (as graphite-web's database would number it).
    pub id: u64,
    /// Tag name.
    pub tag: String,
}

/// One value of `/tags/<tag>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
    /// Row id (values are numbered across all tags).
    pub id: u64,
    /// The value.
    pub value: String,
    /// How many series carry `tag=value`.
    pub count: usize,
}

/// `/tags/<tag>`: the tag and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDetails {
    /// Row id.
    pub id: u64,
    /// Tag name.
    pub tag: String,
    /// Values with at least one series, sorted.
    pub values: Vec<ValueInfo>,
}

/// What [`TagIndex::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagLoadStats {
    /// Series indexed.
    pub series: usize,
    /// Logged names dropped because their file is gone.
    pub missing: usize,
    /// Names recovered from non-hashed `_tagged` file names.
    pub from_files: usize,
}

struct TagEntry {
    name: String,
    id: u64,
    /// value id -> series ids (ascending).
    postings: HashMap<u32, Vec<u32>>,
    /// Series carrying the tag.
    series: usize,
}

struct Series {
    name: Box<str>,
    /// (tag index, value index) pairs.
    tags: Box<[(u32, u32)]>,
}

#[derive(Default)]
struct Inner {
    series: Vec<Option<Series>>,
    by_name: HashMap<Box<str>, u32>,
    live: usize,
    tags: Vec<TagEntry>,
    tag_ids: HashMap<String, u32>,
    values: Vec<(Box<str>, u64)>,
    value_ids: HashMap<Box<str>, u32>,
    tag_rows: u64,
    value_rows: u64,
}

/// Value ids of one tag an expression accepts: a few listed, all but a few, or (a regex checked
/// only on the candidates another expression selected) decided per value on first sight.
enum ValueSet<'a> {
    Only(HashSet<u32>),
    AllBut(HashSet<u32>),
    Tested {
        expr: &'a TagExpr,
        values: &'a [(Box<str>, u64)],
        seen: std::cell::RefCell<HashMap<u32, bool>>,
    },
}

impl ValueSet<'_> {
    fn contains(&self, v: u32) -> bool {
        match self {
            ValueSet::Only(s) => s.contains(&v),
            ValueSet::AllBut(s) => !s.contains(&v),
            ValueSet::Tested { expr, values, seen } => {
                if let Some(&known) = seen.borrow().get(&v) {
                    return known;
                }
                let ok = values
                    .get(v as usize)
                    .is_some_and(|(value, _)| expr.accepts(value));
                seen.borrow_mut().insert(v, ok);
                ok
            }
        }
    }
}

/// A compiled expression: which value ids of a tag it accepts, and whether absence is accepted.
struct Pred<'a> {
    tag: Option<u32>,
    accept: ValueSet<'a>,
    absent_ok: bool,
}

impl Inner {
    fn intern_tag(&mut self, tag: &str) -> u32 {
        self.tag_rows += 1;
        if let Some(&t) = self.tag_ids.get(tag) {
            return t;
        }
        let idx = u32::try_from(self.tags.len()).unwrap_or(u32::MAX);
        self.tags.push(TagEntry {
            name: tag.to_string(),
            id: self.tag_rows,
            postings: HashMap::new(),
            series: 0,
        });
        self.tag_ids.insert(tag.to_string(), idx);
        idx
    }

    fn intern_value(&mut self, value: &str) -> u32 {
        self.value_rows += 1;
        if let Some(&v) = self.value_ids.get(value) {
            return v;
        }
        let idx = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push((value.into(), self.value_rows));
        self.value_ids.insert(value.into(), idx);
        idx
    }

    /// Adds a parsed series; false when it was already there.
    fn add(&mut self, parsed: &proto::TaggedName) -> bool {
        if self.by_name.contains_key(parsed.normalized.as_str()) {
            return false;
        }
        // graphite-web inserts all tags, then all values, one row attempt each.
        let tag_idx: Vec<u32> = parsed
            .tags
            .iter()
            .map(|(t, _)| self.intern_tag(t))
            .collect();
        let val_idx: Vec<u32> = parsed
            .tags
            .iter()
            .map(|(_, v)| self.intern_value(v))
            .collect();
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        let pairs: Vec<(u32, u32)> = tag_idx.into_iter().zip(val_idx).collect();
        for &(t, v) in &pairs {
            if let Some(entry) = self.tags.get_mut(t as usize) {
                entry.postings.entry(v).or_default().push(id);
                entry.series += 1;
            }
        }
        self.series.push(Some(Series {
            name: parsed.normalized.as_str().into(),
            tags: pairs.into_boxed_slice(),
        }));
        self.by_name.insert(parsed.normalized.as_str().into(), id);
        self.live += 1;
        true
    }

    fn remove(&mut self, normalized: &str) -> bool {
        let Some(id) = self.by_name.remove(normalized) else {
            return false;
        };
        let Some(series) = self.series.get_mut(id as usize).and_then(Option::take) else {
            return false;
        };
        for &(t, v) in series.tags.iter() {
            if let Some(entry) = self.tags.get_mut(t as usize) {
                if let Some(list) = entry.postings.get_mut(&v) {
                    if let Ok(pos) = list.binary_search(&id) {
                        list.remove(pos);
                        entry.series -= 1;
                    }
                    if list.is_empty() {
                        entry.postings.remove(&v);
                    }
                }
            }
        }
        self.live -= 1;
        true
    }

    fn value_of(&self, series: &Series, tag: u32) -> Option<u32> {
        series.tags.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
    }

    /// A regex expression tested on each candidate instead of on every value of its tag (for
    /// when another expression selects fewer series than the tag has values).
    fn compile_tested<'a>(&'a self, expr: &'a TagExpr) -> Pred<'a> {
        Pred {
            tag: self.tag_ids.get(&expr.tag).copied(),
            accept: ValueSet::Tested {
                expr,
                values: &self.values,
                seen: Default::default(),
            },
            absent_ok: expr.matches_empty,
        }
    }

    /// Distinct values of a regex expression's tag: what compiling it eagerly costs.
    fn regex_cost(&self, expr: &TagExpr) -> usize {
        match expr.op {
            TagOp::Match | TagOp::NotMatch => self
                .tag_ids
                .get(&expr.tag)
                .and_then(|&t| self.tags.get(t as usize))
                .map_or(0, |e| e.postings.len()),
            TagOp::Eq | TagOp::Ne => 0,
        }
    }

    fn compile<'a>(&'a self, expr: &TagExpr) -> Pred<'a> {
        let tag = self.tag_ids.get(&expr.tag).copied();
        // Exact comparisons look the one value up instead of scanning every value of the tag.
        let exact: HashSet<u32> = self
            .value_ids
            .get(expr.spec.as_str())
            .copied()
            .into_iter()
            .collect();
        let accept = match expr.op {
            TagOp::Eq => ValueSet::Only(exact),
            TagOp::Ne => ValueSet::AllBut(exact),
            TagOp::Match | TagOp::NotMatch => {
                let mut only = HashSet::new();
                if let Some(entry) = tag.and_then(|t| self.tags.get(t as usize)) {
                    for &v in entry.postings.keys() {
                        if let Some((value, _)) = self.values.get(v as usize) {
                            if expr.accepts(value) {
                                only.insert(v);
                            }
                        }
                    }
                }
                ValueSet::Only(only)
            }
        };
        Pred {
            tag,
            accept,
            absent_ok: expr.matches_empty,
        }
    }

    fn pred_ok(&self, pred: &Pred, series: &Series) -> bool {
        match pred.tag.and_then(|t| self.value_of(series, t)) {
            Some(v) => pred.accept.contains(v),
            None => pred.absent_ok,
        }
    }

    /// Series in the posting lists a predicate accepts (the cost of starting from it).
    fn size(&self, p: &Pred) -> usize {
        let Some(entry) = p.tag.and_then(|t| self.tags.get(t as usize)) else {
            return 0;
        };
        match &p.accept {
            ValueSet::Only(only) => only
                .iter()
                .filter_map(|v| entry.postings.get(v))
                .map(Vec::len)
                .sum(),
            ValueSet::AllBut(but) => {
                let skipped: usize = but
                    .iter()
                    .filter_map(|v| entry.postings.get(v))
                    .map(Vec::len)
                    .sum();
                entry.series.saturating_sub(skipped)
            }
            ValueSet::Tested { .. } => entry.series,
        }
    }

    /// Ids of the series matching every expression, in no particular order.
    fn find_ids(&self, exprs: &[TagExpr]) -> Result<Vec<u32>, TagDbError> {
        if exprs.iter().all(|e| e.matches_empty) {
            return Err(TagDbError::AllMatchEmpty);
        }
        // Exact expressions first (one lookup each); a regex whose tag has more values than the
        // smallest positive exact expression has series is tested on candidates only.
        let exact_min = exprs
            .iter()
            .filter(|e| e.op == TagOp::Eq && !e.matches_empty)
            .map(|e| self.size(&self.compile(e)))
            .min();
        let preds: Vec<Pred> = exprs
            .iter()
            .map(|e| match exact_min {
                Some(m) if self.regex_cost(e) > m => self.compile_tested(e),
                _ => self.compile(e),
            })
            .collect();
        let size = |p: &Pred| -> usize {
            if matches!(p.accept, ValueSet::Tested { .. }) {
                return usize::MAX;
            }
            self.size(p)
        };
        let Some((start, _)) = preds
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.absent_ok)
            .map(|(i, p)| (i, size(p)))
            .min_by_key(|&(_, s)| s)
        else {
            return Err(TagDbError::AllMatchEmpty);
        };
        let Some(first) = preds.get(start) else {
            return Ok(Vec::new());
        };
        let Some(entry) = first.tag.and_then(|t| self.tags.get(t as usize)) else {
            return Ok(Vec::new());
        };
        let lists: Vec<&Vec<u32>> = match &first.accept {
            ValueSet::Only(only) => only.iter().filter_map(|v| entry.postings.get(v)).collect(),
            ValueSet::AllBut(but) => entry
                .postings
                .iter()
                .filter(|(v, _)| !but.contains(v))
                .map(|(_, l)| l)
                .collect(),
            tested @ ValueSet::Tested { .. } => entry
                .postings
                .iter()
                .filter(|(&v, _)| tested.contains(v))
                .map(|(_, l)| l)
                .collect(),
        };
        let mut out = Vec::new();
        for list in lists {
            for &id in list {
                let Some(Some(series)) = self.series.get(id as usize) else {
                    continue;
                };
                let ok = preds
                    .iter()
                    .enumerate()
                    .all(|(i, p)| i == start || self.pred_ok(p, series));
                if ok {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    fn names_sorted(&self, ids: &[u32]) -> Vec<String> {
        let mut names: Vec<&str> = ids
            .iter()
            .filter_map(|&id| self.series.get(id as usize).and_then(Option::as_ref))
            .map(|s| &*s.name)
            .collect();
        names.sort_unstable();
        names.into_iter().map(str::to_string).collect()
    }
}

/// Keeps the `limit` smallest distinct strings (graphite-web's bisect loop in autocomplete).
fn smallest(mut items: Vec<String>, limit: i64) -> Vec<String> {
    items.sort_unstable();
    items.dedup();
    items.truncate(usize::try_from(limit.max(0)).unwrap_or(usize::MAX));
    items
}

/// The tag index of one node; cheap to share behind an `Arc`.
#[derive(Default)]
pub struct TagIndex {
    inner: RwLock<Inner>,
    log: Mutex<Option<NameLog>>,
}

/// The open name log: appended to on every change, and followed for lines other processes
/// sharing the data directory append.
struct NameLog {
    path: PathBuf,
    file: File,
    /// Inode of `file`, to notice a compaction (rename) by another process.
    ino: u64,
    /// Bytes of the log already applied to the index.
    applied: u64,
}

/// Longest log tail one refresh reads (a fresh process starts at the end of the log).
const MAX_REFRESH_BYTES: u64 = 256 << 20;

impl std::fmt::Debug for TagIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagIndex")
            .field("len", &self.len())
            .finish()
    }
}

/// Where the name log lives under a data directory.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(".carbonado").join("tagdb")
}

impl TagIndex {
    /// An empty index that persists nothing.
    pub fn new() -> TagIndex {
        TagIndex::default()
    }

    /// Loads the index of `data_dir` (logged names whose file exists, plus non-hashed
    /// `_tagged` files), rewrites the log compactly and keeps appending to it.
    pub fn open(data_dir: &Path) -> Result<(TagIndex, TagLoadStats), TagDbError> {
        let path = log_path(data_dir);
        let io = |source| TagDbError::Io {
            path: path.clone(),
            source,
        };
        let mut order: Vec<String> = Vec::new();
        let mut lines = 0usize;
        let mut present: HashMap<String, usize> = HashMap::new();
        match File::open(&path) {
            Ok(f) => {
                for line in BufReader::new(f).split(b'\n') {
                    let line = line.map_err(io)?;
                    lines += 1;
                    // A torn last line or foreign bytes are skipped, not fatal.
                    let Ok(text) = String::from_utf8(line) else {
                        continue;
                    };
                    if let Some(gone) = text.strip_prefix(REMOVED_MARK) {
                        present.remove(gone);
                    } else if !text.is_empty() && !present.contains_key(&text) {
                        present.insert(text.clone(), order.len());
                        order.push(text);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut stats = TagLoadStats::default();
        let index = TagIndex::new();
        {
            let mut inner = index.inner.write().unwrap_or_else(|p| p.into_inner());
            for (i, name) in order.iter().enumerate() {
                if present.get(name) != Some(&i) {
                    continue;
                }
                let exists = [true, false].iter().any(|&hashed| {
                    proto::relative_path(name, hashed)
                        .map(|rel| data_dir.join(rel).is_file())
                        .unwrap_or(false)
                });
                let parsed = match proto::parse_tagged(name) {
                    Ok(p) if exists => p,
                    _ => {
                        stats.missing += 1;
                        continue;
                    }
                };
                inner.add(&parsed);
            }
            for name in plain_tagged_names(&data_dir.join("_tagged")) {
                if let Ok(parsed) = proto::parse_tagged(&name) {
                    if inner.add(&parsed) {
                        stats.from_files += 1;
                    }
                }
            }
            stats.series = inner.live;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            // Compact (one line per live series, written aside and renamed over the old log)
            // only when lines would be dropped or added: another process sharing the data
            // directory may hold the old log open for appending.
            if lines != inner.live {
                let tmp = path.with_extension("tmp");
                let mut buf = Vec::new();
                for s in inner.series.iter().flatten() {
                    buf.extend_from_slice(s.name.as_bytes());
                    buf.push(b'\n');
                }
                std::fs::write(&tmp, &buf).map_err(io)?;
                std::fs::rename(&tmp, &path).map_err(io)?;
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        *index.log.lock().unwrap_or_else(|p| p.into_inner()) = Some(NameLog {
            path,
            ino: std::os::unix::fs::MetadataExt::ino(&meta),
            applied: meta.len(),
            file,
        });
        Ok((index, stats))
    }

    /// Number of series indexed.
    pub fn len(&self) -> usize {
        self.read().live
    }

    /// Whether the index holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn append_log(&self, line: &str) -> Result<(), TagDbError> {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = guard.as_mut() {
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            log.file.write_all(&buf).map_err(|source| TagDbError::Io {
                path: log.path.clone(),
                source,
            })?;
            // Our own line needs no replay unless another process appended meanwhile.
            let len = buf.len() as u64;
            if log
                .file
                .metadata()
                .is_ok_and(|m| m.len() == log.applied + len)
            {
                log.applied += len;
            }
        }
        Ok(())
    }

    /// Applies what other processes sharing the data directory appended to the name log since
    /// the last call (a web-only node next to a cache process); cheap when nothing changed.
    pub fn refresh(&self) -> Result<usize, TagDbError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut inner = self.write();
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = guard.as_mut() else {
            return Ok(0);
        };
        let io = |path: &Path, source| TagDbError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = match std::fs::metadata(&log.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&log.path, e)),
        };
        let ino = std::os::unix::fs::MetadataExt::ino(&meta);
        if ino != log.ino {
            // Compacted by another process: append to the new file and replay it whole
            // (adding what is already known is a no-op).
            log.file = OpenOptions::new()
                .append(true)
                .open(&log.path)
                .map_err(|e| io(&log.path, e))?;
            log.ino = ino;
            log.applied = 0;
        }
        if meta.len() <= log.applied {
            return Ok(0);
        }
        let mut f = File::open(&log.path).map_err(|e| io(&log.path, e))?;
        f.seek(SeekFrom::Start(log.applied))
            .map_err(|e| io(&log.path, e))?;
        let mut buf = Vec::new();
        f.take(MAX_REFRESH_BYTES)
            .read_to_end(&mut buf)
            .map_err(|e| io(&log.path, e))?;
        // Only whole lines: a line being written is picked up next time.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(0);
        };
        let mut changed = 0;
        for line in buf[..end].split(|&b| b == b'\n') {
            let Ok(text) = std::str::from_utf8(line) else {
                continue;
            };
            if let Some(gone) = text.strip_prefix(REMOVED_MARK) {
                changed += usize::from(inner.remove(gone));
            } else if let Ok(parsed) = proto::parse_tagged(text) {
                changed += usize::from(inner.add(&parsed));
            }
        }
        log.applied += end as u64 + 1;
        Ok(changed)
    }

    /// Indexes a series the moment it is created. Untagged names are skipped (carbon's
    /// `SKIP_TAGS_FOR_NONTAGGED`), as are names that do not parse; true when newly indexed.
    pub fn insert(&self, normalized_name: &str) -> Result<bool, TagDbError> {
        let tagged = normalized_name.contains(';')
            || (normalized_name.ends_with("\"}") && normalized_name.contains('{'));
        if !tagged {
            return Ok(false);
        }
        if self.read().by_name.contains_key(normalized_name) {
            return Ok(false);
        }
        let Ok(parsed) = proto::parse_tagged(normalized_name) else {
            return Ok(false);
        };
        self.add_parsed(&parsed)
    }

    fn add_parsed(&self, parsed: &proto::TaggedName) -> Result<bool, TagDbError> {
        // Logged under the write lock so the log's order is the index's order.
        let mut inner = self.write();
        let added = inner.add(parsed);
        if added {
            self.append_log(&parsed.normalized)?;
        }
        Ok(added)
    }

    /// `/tags/tagSeries`: indexes any valid name (tagged or not) and returns it normalised.
    pub fn tag_series(&self, raw: &str) -> Result<String, TagDbError> {
        let parsed = proto::parse_tagged(raw)?;
        self.add_parsed(&parsed)?;
        Ok(parsed.normalized)
    }

    /// `/tags/delSeries` for one name: forgets it (true even when it was not indexed).
    pub fn remove(&self, raw: &str) -> Result<bool, TagDbError> {
        let parsed = proto::parse_tagged(raw)?;
        let mut inner = self.write();
        if inner.remove(&parsed.normalized) {
            self.append_log(&format!("{REMOVED_MARK}{}", parsed.normalized))?;
        }
        Ok(true)
    }

    /// Parses expressions (all of them, so the first bad one is reported).
    pub fn parse_exprs<S: AsRef<str>>(exprs: &[S]) -> Result<Vec<TagExpr>, TagDbError> {
        exprs.iter().map(|e| TagExpr::parse(e.as_ref())).collect()
    }

    /// Normalised names of the series matching every expression, sorted.
    pub fn find_series(&self, exprs: &[TagExpr]) -> Result<Vec<String>, TagDbError> {
        let inner = self.read();
        let ids = inner.find_ids(exprs)?;
        Ok(inner.names_sorted(&ids))
    }

    /// [`TagIndex::find_series`] from expression strings.
    pub fn find_series_str<S: AsRef<str>>(&self, exprs: &[S]) -> Result<Vec<String>, TagDbError> {
        self.find_series(&Self::parse_exprs(exprs)?)
    }

    /// `/tags`: tags whose name matches `filter` (anchored regex), sorted, at most `limit`.
    pub fn tags(
        &self,
        filter: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<TagInfo>, TagDbError> {
        let re = compile_filter(filter)?;
        let inner = self.read();
        let mut out: Vec<TagInfo> = inner
            .tags
            .iter()
            .filter(|t| re.as_ref().is_none_or(|r| r.is_match(&t.name)))
            .map(|t| TagInfo {
                id: t.id,
                tag: t.name.clone(),
            })
            .collect();
        out.sort_unstable_by(|a, b| a.tag.cmp(&b.tag));
        out.truncate(sql_limit(limit));
        Ok(out)
    }

    /// Values of `tag` with at least one series, matching `filter`, sorted, at most `limit`.
    pub fn tag_values(
        &self,
        tag: &str,
        filter: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<ValueInfo>, TagDbError> {
        let re = compile_filter(filter)?;
        let inner = self.read();
        let Some(entry) = inner
            .tag_ids
            .get(tag)
            .and_then(|&t| inner.tags.get(t as usize))
        else {
            return Ok(Vec::new());
        };
        let mut out: Vec<ValueInfo> = entry
            .postings
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .filter_map(|(&v, list)| {
                let (value, id) = inner.values.get(v as usize)?;
                if re.as_ref().is_some_and(|r| !r.is_match(value)) {
                    return None;
                }
                Some(ValueInfo {
                    id: *id,
                    value: value.to_string(),
                    count: list.len(),
                })
            })
            .collect();
        out.sort_unstable_by(|a, b| a.value.cmp(&b.value));
        out.truncate(sql_limit(limit));
        Ok(out)
    }

    /// `/tags/<tag>`: `None` when the tag was never seen.
    pub fn tag_details(
        &self,
        tag: &str,
        filter: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Option<TagDetails>, TagDbError> {
        let id = {
            let inner = self.read();
            match inner
                .tag_ids
                .get(tag)
                .and_then(|&t| inner.tags.get(t as usize))
            {
                Some(e) => e.id,
                None => return Ok(None),
            }
        };
        Ok(Some(TagDetails {
            id,
            tag: tag.to_string(),
            values: self.tag_values(tag, filter, limit)?,
        }))
    }

    /// `/tags/autoComplete/tags`: tags of the matching series (not those searched on),
    /// starting with `prefix`, sorted, at most `limit`.
    pub fn auto_complete_tags(
        &self,
        exprs: &[TagExpr],
        prefix: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<String>, TagDbError> {
        let limit = limit.unwrap_or(AUTOCOMPLETE_LIMIT);
        let prefix = prefix.filter(|p| !p.is_empty());
        if exprs.is_empty() {
            let filter = prefix.map(|p| format!("^({})", regex::escape(p)));
            return Ok(self
                .tags(filter.as_deref(), Some(limit))?
                .into_iter()
                .map(|t| t.tag)
                .collect());
        }
        let searched: HashSet<&str> = exprs.iter().map(|e| e.tag.as_str()).collect();
        let inner = self.read();
        let ids = inner.find_ids(exprs)?;
        // The tags that could be answered: few, so the scan of the matching series stops as
        // soon as each was seen once.
        let mut wanted: Vec<bool> = inner
            .tags
            .iter()
            .map(|e| {
                !searched.contains(e.name.as_str()) && prefix.is_none_or(|p| e.name.starts_with(p))
            })
            .collect();
        let mut left = wanted.iter().filter(|w| **w).count();
        let mut names = Vec::new();
        for id in ids {
            if left == 0 {
                break;
            }
            let Some(Some(s)) = inner.series.get(id as usize) else {
                continue;
            };
            for &(t, _) in s.tags.iter() {
                if let Some(w) = wanted.get_mut(t as usize).filter(|w| **w) {
                    *w = false;
                    left -= 1;
                    if let Some(e) = inner.tags.get(t as usize) {
                        names.push(e.name.clone());
                    }
                }
            }
        }
        Ok(smallest(names, limit))
    }

    /// `/tags/autoComplete/values`: values of `tag` on the matching series, starting with
    /// `prefix`, sorted, at most `limit`.
    pub fn auto_complete_values(
        &self,
        exprs: &[TagExpr],
        tag: &str,
        prefix: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Vec<String>, TagDbError> {
        let limit = limit.unwrap_or(AUTOCOMPLETE_LIMIT);
        let prefix = prefix.filter(|p| !p.is_empty());
        if exprs.is_empty() {
            let filter = prefix.map(|p| format!("^({})", regex::escape(p)));
            return Ok(self
                .tag_values(tag, filter.as_deref(), Some(limit))?
                .into_iter()
                .map(|v| v.value)
                .collect());
        }
        let mut all = exprs.to_vec();
        all.push(TagExpr::parse(&format!("{tag}!="))?);
        let inner = self.read();
        let ids = inner.find_ids(&all)?;
        let Some(&t) = inner.tag_ids.get(tag) else {
            return Ok(Vec::new());
        };
        let mut seen: HashSet<u32> = HashSet::new();
        for id in ids {
            if let Some(Some(s)) = inner.series.get(id as usize) {
                seen.extend(inner.value_of(s, t));
            }
        }
        let values = seen
            .into_iter()
            .filter_map(|v| inner.values.get(v as usize))
            .map(|(v, _)| &**v)
            .filter(|v| prefix.is_none_or(|p| v.starts_with(p)))
            .map(str::to_string)
            .collect();
        Ok(smallest(values, limit))
    }
}

/// Names recoverable from non-hashed `_tagged/xxx/yyy/<name with _DOT_>.wsp` files.
fn plain_tagged_names(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(level1) = std::fs::read_dir(root) else {
        return out;
    };
    for d1 in level1.flatten() {
        let Ok(level2) = std::fs::read_dir(d1.path()) else {
            continue;
        };
        for d2 in level2.flatten() {
            let Ok(files) = std::fs::read_dir(d2.path()) else {
                continue;
            };
            for f in files.flatten() {
                let file_name = f.file_name();
                let Some(name) = file_name.to_str() else {
                    continue;
                };
                let Some(stem) = name.strip_suffix(".wsp") else {
                    continue;
                };
                // A bare sha256 is a hashed name: only the log knows what it stands for.
                let hashed = stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
                if !hashed && stem.contains(';') {
                    out.push(stem.replace("_DOT_", "."));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TagIndex {
        let idx = TagIndex::new();
        for s in [
            "disk.used;datacenter=dc1;rack=a1;server=web01",
            "disk.used;datacenter=dc1;rack=a2;server=web02",
            "disk.used;datacenter=dc2;rack=b1;server=db01",
            "cpu.load;datacenter=dc1;server=web01",
        ] {
            idx.tag_series(s).unwrap();
        }
        idx
    }

    fn find(idx: &TagIndex, exprs: &[&str]) -> Vec<String> {
        idx.find_series_str(exprs).unwrap()
    }

    #[test]
    fn every_operator() {
        let idx = sample();
        assert_eq!(
            find(&idx, &["datacenter=dc2"]),
            ["disk.used;datacenter=dc2;rack=b1;server=db01"]
        );
        assert_eq!(
            find(&idx, &["datacenter=dc1", "server!=web01"]),
            ["disk.used;datacenter=dc1;rack=a2;server=web02"]
        );
        assert_eq!(find(&idx, &["name=disk.used", "rack=~a.*"]).len(), 2);
        assert_eq!(
            find(&idx, &["server=~^(web|db)0[12]$", "datacenter!=~dc2"]).len(),
            3
        );
        // `!=` accepts series without the tag; `tag=` demands its absence.
        assert_eq!(find(&idx, &["datacenter=dc1", "rack!=a1"]).len(), 2);
        assert_eq!(
            find(&idx, &["datacenter=dc1", "rack="]),
            ["cpu.load;datacenter=dc1;server=web01"]
        );
        assert_eq!(find(&idx, &["name=disk.used", "rack!="]).len(), 3);
        // Anchored at the start only.
        assert_eq!(find(&idx, &["server=~eb"]).len(), 0);
        assert_eq!(find(&idx, &["server=~web"]).len(), 3);
        assert_eq!(find(&idx, &["nosuch=x"]).len(), 0);
    }

    #[test]
    fn errors_are_graphite_web_text() {
        let idx = sample();
        let e = idx.find_series_str(&["rack="]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "At least one tagspec must not match the empty string"
        );
        let e = idx.find_series_str(&["rack"]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid tagspec rack");
        assert!(idx.find_series_str(&["a=~("]).is_err());
        assert!(idx.find_series_str::<&str>(&[]).is_err());
    }

    #[test]
    fn ids_like_sqlite() {
        let idx = sample();
        idx.tag_series("some.metric;b=2;a=1").unwrap();
        let tags = idx.tags(None, None).unwrap();
        let ids: Vec<(String, u64)> = tags.into_iter().map(|t| (t.tag, t.id)).collect();
        assert_eq!(ids[0], ("a".to_string(), 17));
        assert_eq!(ids[1], ("b".to_string(), 16));
        let d = idx.tag_details("datacenter", None, None).unwrap().unwrap();
        assert_eq!(d.values[1].id, 9);
        assert_eq!(d.values[0].count, 3);
        assert!(idx.tag_details("nosuch", None, None).unwrap().is_none());
    }

    #[test]
    fn autocomplete() {
        let idx = sample();
        let e = TagIndex::parse_exprs(&["datacenter=dc2"]).unwrap();
        assert_eq!(
            idx.auto_complete_tags(&e, None, None).unwrap(),
            ["name", "rack", "server"]
        );
        assert_eq!(
            idx.auto_complete_values(&e, "server", None, None).unwrap(),
            ["db01"]
        );
        assert_eq!(
            idx.auto_complete_values(&[], "datacenter", None, Some(1))
                .unwrap(),
            ["dc1"]
        );
        assert_eq!(
            idx.auto_complete_tags(&[], Some("ra"), None).unwrap(),
            ["rack"]
        );
        assert_eq!(
            idx.auto_complete_values(&[], "server", Some("w"), None)
                .unwrap(),
            ["web01", "web02"]
        );
    }

    #[test]
    fn remove_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, _) = TagIndex::open(dir.path()).unwrap();
        let names = ["a.b;x=1", "a.b;x=2", "c;y=3"];
        for n in names {
            assert!(idx.insert(n).unwrap());
            let rel = proto::relative_path(n, true).unwrap();
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        assert!(!idx.insert("plain.name").unwrap());
        idx.remove("a.b;x=2").unwrap();
        // c;y=3 loses its file: gone after reload.
        std::fs::remove_file(
            dir.path()
                .join(proto::relative_path("c;y=3", true).unwrap()),
        )
        .unwrap();
        // A non-hashed file is recovered from its name.
        let plain = dir
            .path()
            .join(proto::relative_path("d.e;z=4", false).unwrap());
        std::fs::create_dir_all(plain.parent().unwrap()).unwrap();
        std::fs::write(&plain, b"").unwrap();
        drop(idx);
        let (idx, stats) = TagIndex::open(dir.path()).unwrap();
        assert_eq!(stats.series, 2);
        assert_eq!(stats.missing, 1);
        assert_eq!(stats.from_files, 1);
        assert_eq!(find(&idx, &["x=~."]), ["a.b;x=1"]);
        assert_eq!(find(&idx, &["z=4"]), ["d.e;z=4"]);
        // The log was compacted to the live series; a clean log is left in place on reopen.
        let log = std::fs::read_to_string(log_path(dir.path())).unwrap();
        assert_eq!(log.lines().count(), 2);
        drop(idx);
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(log_path(dir.path())).unwrap().ino();
        let (idx, _) = TagIndex::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(log_path(dir.path())).unwrap().ino(), ino);
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn follows_another_process_appending_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _) = TagIndex::open(dir.path()).unwrap();
        let (reader, _) = TagIndex::open(dir.path()).unwrap();
        writer.insert("m;k=1").unwrap();
        writer.insert("m;k=2").unwrap();
        assert_eq!(reader.refresh().unwrap(), 2);
        assert_eq!(find(&reader, &["name=m"]), ["m;k=1", "m;k=2"]);
        assert_eq!(reader.refresh().unwrap(), 0);
        writer.remove("m;k=1").unwrap();
        assert_eq!(reader.refresh().unwrap(), 1);
        assert_eq!(find(&reader, &["name=m"]), ["m;k=2"]);
        // A third process compacts the log (no files exist): the reader follows the new file.
        let (_third, stats) = TagIndex::open(dir.path()).unwrap();
        assert_eq!(stats.missing, 1);
        writer.insert("m;k=3").unwrap();
        reader.refresh().unwrap();
        _third.insert("m;k=4").unwrap();
        reader.refresh().unwrap();
        assert_eq!(find(&reader, &["name=m"]), ["m;k=2", "m;k=4"]);
        // Its own lines are not replayed.
        reader.insert("m;k=5").unwrap();
        assert_eq!(reader.refresh().unwrap(), 0);
    }
}
