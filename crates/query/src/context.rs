//! What a render request brings to the evaluator: time range, options, limits and the fetcher.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use thiserror::Error;

use crate::series::Series;

/// A failure reported by a [`Fetcher`].
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{0}")]
pub struct FetchError(pub String);

/// One fetch: a path expression (or the raw text of a `seriesByTag(...)` call) over a range.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// Path expression with globs, or `seriesByTag('...')` text.
    pub path_expression: &'a str,
    /// Start, epoch seconds.
    pub from: i64,
    /// End, epoch seconds.
    pub until: i64,
    /// The request's now.
    pub now: i64,
    /// Do not ask cluster peers (`local=1`).
    pub local: bool,
}

/// The data source the evaluator pulls from (local store, carbonlink, peers: the web crate's business).
pub trait Fetcher {
    /// Returns every series matching the request. Each series carries name, start/end/step,
    /// values, tags, consolidation function and xff; order does not matter (the evaluator sorts).
    fn fetch(&self, req: &FetchRequest<'_>) -> Result<Vec<Series>, FetchError>;

    /// Called once per request (and per bootstrapped sub-request) with every path expression the
    /// targets will fetch, before any `fetch`, so an implementation can fetch them in parallel
    /// and answer the later `fetch` calls from its own cache, as graphite-web's prefetch does.
    /// The default does nothing.
    fn prefetch(&self, _reqs: &[FetchRequest<'_>]) {}
}

/// Per-request bounds; `None` means unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of fetched series over the whole request.
    pub max_series: Option<usize>,
    /// Maximum number of fetched points over the whole request.
    pub max_points: Option<usize>,
}

/// Hard bound on the points one generated or re-bucketed series may have (identity, sinFunction,
/// summarize, hitcount, ...), whatever the request's limits: a tiny step over a long range must
/// fail cleanly rather than exhaust memory.
pub const MAX_POINTS_PER_SERIES: usize = 10_000_000;

/// Hard bound on the number of shifted copies timeStack may evaluate.
pub const MAX_TIME_STACK_SHIFTS: i64 = 1_000;

/// Errors unless a series of `n` points is within [`MAX_POINTS_PER_SERIES`].
pub fn check_series_points(n: i64) -> crate::error::Result<()> {
    if n < 0 || n as u64 > MAX_POINTS_PER_SERIES as u64 {
        return Err(crate::error::QueryError::Limit {
            what: "points per series",
            got: usize::try_from(n).unwrap_or(usize::MAX),
            max: MAX_POINTS_PER_SERIES,
        });
    }
    Ok(())
}

/// Everything about the request that functions may consult.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Start, epoch seconds.
    pub from: i64,
    /// End, epoch seconds.
    pub until: i64,
    /// The request's now, epoch seconds.
    pub now: i64,
    /// Time zone for calendar-aligned functions.
    pub tz: Tz,
    /// The server's default zone (graphite's `TIME_ZONE` setting): timeSlice and linearRegression
    /// parse their bounds in it, ignoring the request's `tz`, as graphite does.
    pub server_tz: Tz,
    /// Request-wide xFilesFactor (default 0); read it through [`RequestContext::xff`].
    pub x_files_factor: f64,
    /// What `setXFilesFactor()` set during evaluation: graphite writes it into the shared request
    /// context, so every later step of the request (outer calls, later targets) sees it.
    pub xff_override: std::cell::Cell<Option<f64>>,
    /// Running totals of `stacked()` per stack name, shared by every target of the request
    /// (and by bootstrapped copies, like graphite's shallow-copied context).
    pub stacks: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Vec<f64>>>>,
    /// `template[name]=value` parameters.
    pub templates: BTreeMap<String, String>,
    /// `maxDataPoints`, if given.
    pub max_data_points: Option<usize>,
    /// `local=1`.
    pub local: bool,
    /// `noCache`.
    pub no_cache: bool,
    /// Limits for this request.
    pub limits: Limits,
}

impl RequestContext {
    /// A context for `[from, until]` at `now` in UTC with graphite's defaults.
    pub fn new(from: i64, until: i64, now: i64) -> RequestContext {
        RequestContext {
            from,
            until,
            now,
            tz: Tz::UTC,
            server_tz: Tz::UTC,
            x_files_factor: 0.0,
            xff_override: std::cell::Cell::new(None),
            stacks: Default::default(),
            templates: BTreeMap::new(),
            max_data_points: None,
            local: false,
            no_cache: false,
            limits: Limits::default(),
        }
    }

    /// The xFilesFactor in force: the last `setXFilesFactor()` value, else the request's.
    pub fn xff(&self) -> f64 {
        self.xff_override.get().unwrap_or(self.x_files_factor)
    }

    /// Python's `time.mktime(dt.timetuple())` as graphite applies it to request datetimes: the
    /// wall-clock time of `ts` in the request zone read back as if it were in the server zone
    /// (the process zone). Equal to `ts` when both zones agree.
    pub fn mktime_local(&self, ts: i64) -> i64 {
        use chrono::TimeZone;
        let Some(local) = self.tz.timestamp_opt(ts, 0).earliest() else {
            return ts;
        };
        self.server_tz
            .from_local_datetime(&local.naive_local())
            .earliest()
            .map_or(ts, |d| d.timestamp())
    }

    /// The same context over another range (used by bootstrapping functions).
    pub fn with_range(&self, from: i64, until: i64) -> RequestContext {
        let mut c = self.clone();
        c.from = from;
        c.until = until;
        c
    }
}
