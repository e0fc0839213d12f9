//! `/render`: options as graphite-web's `parseOptions` reads them, evaluation through the query
//! crate over the fetch layer, maxDataPoints consolidation, and the output encoders.

use crate::encode::{self, Encoded, SeriesOut, Val};
use crate::error::WebError;
use crate::params::Params;
use crate::server::App;
use crate::source::{FindQuery, Sources, TimeRange};
use chrono_tz::Tz;
use query::context::{FetchError, FetchRequest, Fetcher, Limits, RequestContext};
use query::series::Series;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The request's time zone: `tz` if it names a zone (unknown names are ignored, as graphite does).
pub fn request_tz(app: &App, params: &Params) -> Tz {
    params
        .get("tz")
        .and_then(|t| t.parse::<Tz>().ok())
        .unwrap_or(app.tz)
}

/// The wall clock, epoch seconds.
pub fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The request's `now` (any time spec), else the wall clock.
pub fn parse_now(params: &Params, tz: Tz) -> Result<i64, WebError> {
    let wall = wall_now();
    match params.get("now") {
        Some(v) => parse_time(v, tz, wall)
            .map_err(|e| WebError::BadRequest(format!("Invalid parameters ({e})"))),
        None => Ok(wall),
    }
}

/// Parses one time spec (`-1h`, `20231114`, epoch, ...) relative to `now`.
pub fn parse_time(spec: &str, tz: Tz, now: i64) -> Result<i64, String> {
    query::attime::parse_at_time(spec, tz, now).map_err(|e| e.to_string())
}

/// A short stable hash of a cache key text (md5 hex, as graphite-web's `compactHash`).
pub fn cache_hash(text: &str) -> String {
    use md5::Digest;
    let d = md5::Md5::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Output formats `/render` produces itself; anything else is a graph (png/svg/pdf, not yet).
const DATA_FORMATS: [&str; 7] = [
    "json", "csv", "raw", "pickle", "msgpack", "dygraph", "rickshaw",
];

/// Largest fetch result (in points) remembered for reuse within one request.
const MEMO_MAX_POINTS: usize = 1_000_000;

/// The evaluator's window onto the fetch layer: runs on a blocking thread, drives the async
/// sources through the runtime handle, and remembers each (expression, range) it fetched.
struct WebFetcher {
    sources: Sources,
    handle: tokio::runtime::Handle,
    find_limit: usize,
    xff: f64,
    memo: Mutex<HashMap<(String, i64, i64), Vec<Series>>>,
    tags: Arc<store::TagIndex>,
}

impl Fetcher for WebFetcher {
    fn fetch(&self, req: &FetchRequest<'_>) -> Result<Vec<Series>, FetchError> {
        let key = (req.path_expression.to_string(), req.from, req.until);
        if let Some(hit) = self.memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let by_tag = req.path_expression.starts_with("seriesByTag(");
        let tagged = if by_tag {
            Some(crate::tags::series_by_tag(&self.tags, req.path_expression).map_err(FetchError)?)
        } else if req.path_expression.contains(';') {
            // A tagged name is a literal, not a glob.
            Some(vec![proto::normalize_name(req.path_expression).into_owned()])
        } else {
            None
        };
        let q = FindQuery {
            pattern: req.path_expression.to_string(),
            leaves_only: true,
            limit: self.find_limit,
            with_intervals: false,
        };
        let range = TimeRange {
            from: req.from,
            until: req.until,
            now: req.now,
        };
        let answers = self
            .handle
            .block_on(async {
                if let Some(names) = tagged {
                    if by_tag {
                        // Peers resolve the expression in their own tag index.
                        return self
                            .sources
                            .fetch_tagged(req.path_expression, &names, range)
                            .await;
                    }
                    return self.sources.fetch(&names, range).await;
                }
                let nodes = self.sources.find(&q).await?;
                let leaves: Vec<String> = nodes
                    .into_iter()
                    .filter(|n| n.is_leaf)
                    .map(|n| n.path)
                    .collect();
                self.sources.fetch(&leaves, range).await
            })
            .map_err(|e| FetchError(e.to_string()))?;
        let list: Vec<Series> = answers
            .into_iter()
            .map(|a| {
                let mut s = Series::new(a.name, a.start, a.end, a.step, a.values);
                s.x_files_factor = self.xff;
                s
            })
            .collect();
        // Keeping a copy costs a full clone; worth it for the small lists that targets repeat
        // (asPercent(x, sumSeries(x))), not for the big ones a single expression fetches.
        let points: usize = list.iter().map(|s| s.values.len()).sum();
        if points <= MEMO_MAX_POINTS {
            if let Ok(mut m) = self.memo.lock() {
                m.insert(key, list.clone());
            }
        }
        Ok(list)
    }
}

/// A result series ready for the encoders.
pub struct OutSeries {
    name: String,
    tags: Vec<(String, String)>,
    start: i64,
    end: i64,
    step: i64,
    values: Vec<Option<f64>>,
    /// Which values are Python ints (JSON `2`, not `2.0`).
    ints: Option<Vec<bool>>,
    path_expression: String,
    values_per_point: i64,
    consolidation_func: String,
    xff: f64,
}

impl OutSeries {
    fn from_series(mut s: Series) -> OutSeries {
        // graphite keeps tag insertion order, which starts with `name` for plain series
        let tags = crate::tags::graphite_tag_order(&s.tags);
        let vpp = s.values_per_point.max(1);
        // consolidated chunks are floats unless every value of the series was an int
        let n_out = s.values.len().div_ceil(vpp);
        let ints = match s.int_values.take() {
            Some(flags) if vpp > 1 => flags.iter().all(|b| *b).then(|| vec![true; n_out]),
            other => other,
        };
        let values = if vpp > 1 {
            s.consolidated_values(vpp)
        } else {
            s.values
        };
        OutSeries {
            name: s.name,
            tags,
            start: s.start,
            end: s.end,
            step: s.step,
            values,
            ints,
            path_expression: s.path_expression,
            values_per_point: vpp as i64,
            consolidation_func: s.consolidation_func,
            xff: s.x_files_factor,
        }
    }
}

impl SeriesOut for OutSeries {
    fn name(&self) -> &str {
        &self.name
    }
    fn tags(&self) -> Vec<(&str, &str)> {
        self.tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
    fn start(&self) -> i64 {
        self.start
    }
    fn end(&self) -> i64 {
        self.end
    }
    fn step(&self) -> i64 {
        self.step * self.values_per_point.max(1)
    }
    fn len(&self) -> usize {
        self.values.len()
    }
    fn value(&self, i: usize) -> Val {
        match self.values.get(i) {
            Some(Some(v))
                if self
                    .ints
                    .as_ref()
                    .and_then(|f| f.get(i))
                    .copied()
                    .unwrap_or(false)
                    && v.is_finite() =>
            {
                Val::Int(*v as i64)
            }
            Some(Some(v)) => Val::Float(*v),
            _ => Val::None,
        }
    }
    fn path_expression(&self) -> &str {
        &self.path_expression
    }
    fn values_per_point(&self) -> i64 {
        self.values_per_point
    }
    fn consolidation_func(&self) -> &str {
        &self.consolidation_func
    }
    fn x_files_factor(&self) -> f64 {
        self.xff
    }
}

/// graphite-web's maxDataPoints consolidation of JSON output (render-api.md §5).
fn consolidate_for_json(series: &mut [Series], max_points: usize) -> Result<(), WebError> {
    if !series.iter().any(|s| !s.values.is_empty()) {
        return Ok(());
    }
    let start = series.iter().map(|s| s.start).min().unwrap_or(0);
    let end = series.iter().map(|s| s.end).max().unwrap_or(0);
    let time_range = (end - start) as f64;
    for s in series.iter_mut() {
        if max_points == 1 {
            s.values_per_point = s.values.len().max(1);
            continue;
        }
        if s.step <= 0 {
            continue;
        }
        let points = time_range / s.step as f64;
        if (max_points as f64) < points {
            if max_points == 0 {
                return Err(WebError::Internal("float division by zero".into()));
            }
            let vpp = (points / max_points as f64).ceil() as i64;
            let spp = vpp * s.step;
            let nudge = spp + s.start.rem_euclid(s.step) - s.start.rem_euclid(spp);
            s.start += nudge;
            let lose = (nudge / s.step - 1).max(0) as usize;
            s.values.drain(..lose.min(s.values.len()));
            if let Some(flags) = s.int_values.as_mut() {
                flags.drain(..lose.min(flags.len()));
            }
            s.values_per_point = vpp.max(1) as usize;
        }
    }
    Ok(())
}

fn query_error(e: query::error::QueryError, targets: &[String]) -> WebError {
    use query::error::QueryError as Q;
    match e {
        Q::Limit { what, got, max } => WebError::Limit(format!(
            "request fetches {got} {what}, more than the limit of {max}"
        )),
        Q::EmptyTimeRange => {
            WebError::BadRequest("Invalid parameters (Invalid empty time range)".into())
        }
        e if e.is_client_error() => WebError::BadRequest(format!(
            "Invalid parameters ({e}); targets: \"{}\"",
            targets.join(", ")
        )),
        Q::Fetch(msg)
            if msg.starts_with("find pattern") || msg.starts_with("request would fetch") =>
        {
            WebError::Limit(msg)
        }
        e => WebError::Internal(e.to_string()),
    }
}

/// Renders a request; returns the encoded answer and how many seconds it may be cached.
/// Renders with `sources` (the request's view of the fetch layer, see [`Sources::for_request`]).
pub async fn render(
    app: &App,
    params: &Params,
    sources: &Sources,
) -> Result<(Encoded, u64), WebError> {
    let mut targets: Vec<String> = params
        .get_all("target")
        .into_iter()
        .map(str::to_string)
        .collect();
    if targets.is_empty() {
        targets = params
            .get_all("target[]")
            .into_iter()
            .map(str::to_string)
            .collect();
    }
    let mut format: Option<&str> = None;
    if params.has("pickle") {
        format = Some("pickle");
    }
    if params.has("rawData") {
        format = Some("raw");
    }
    let mut jsonp: Option<&str> = None;
    if let Some(f) = params.get("format") {
        format = Some(f);
        jsonp = params.get("jsonp");
    }
    let format = match format {
        Some(f) if DATA_FORMATS.contains(&f) || crate::graph_out::is_graph_format(f) => f,
        Some(f) => return Err(WebError::UnsupportedFormat(f.to_string())),
        None => "png",
    };
    let is_graph = crate::graph_out::is_graph_format(format);
    let graph_type = params.get("graphType").unwrap_or("line");
    if graph_type != "line" && !(is_graph && graph_type == "pie") {
        return Err(WebError::UnsupportedFormat(format!(
            "graphType={graph_type}"
        )));
    }
    let pretty = params.truthy("pretty");
    let max_data_points = params
        .get("maxDataPoints")
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
        .map(|v| v.parse::<usize>().unwrap_or(usize::MAX));
    let no_null_points = params.has("noNullPoints");
    let tz = request_tz(app, params);
    let now = parse_now(params, tz)?;
    let range = query::attime::TimeRange::resolve(params.get("from"), params.get("until"), now, tz)
        .map_err(|e| match e {
            query::error::QueryError::EmptyTimeRange => {
                WebError::BadRequest("Invalid parameters (Invalid empty time range)".into())
            }
            e => WebError::BadRequest(format!("Invalid parameters ({e})")),
        })?;
    let cache_timeout = match params.get("cacheTimeout") {
        Some(v) => v.trim().parse::<u64>().map_err(|e| {
            WebError::BadRequest(format!(
                "Invalid parameters (invalid cacheTimeout {v:?}: {e})"
            ))
        })?,
        None => app.cfg.default_cache_duration,
    };
    let xff = match params.get("xFilesFactor") {
        Some(v) => v.trim().parse::<f64>().map_err(|e| {
            WebError::BadRequest(format!(
                "Invalid parameters (invalid xFilesFactor {v:?}: {e})"
            ))
        })?,
        None => 0.0,
    };
    let mut ctx = RequestContext::new(range.from, range.until, range.now);
    ctx.tz = tz;
    ctx.x_files_factor = xff;
    ctx.max_data_points = max_data_points;
    ctx.local = params.get("local") == Some("1");
    ctx.no_cache = params.has("noCache");
    ctx.limits = Limits {
        max_series: Some(app.cfg.max_series_per_request),
        max_points: Some(app.cfg.max_points_per_request),
    };
    for (k, v) in params.pairs() {
        if let Some(name) = k
            .strip_prefix("template[")
            .and_then(|r| r.strip_suffix(']'))
        {
            ctx.templates.insert(name.to_string(), v.clone());
        }
    }
    let fetcher = WebFetcher {
        sources: sources.clone(),
        handle: tokio::runtime::Handle::current(),
        find_limit: app.cfg.max_find_results,
        xff,
        memo: Mutex::new(HashMap::new()),
        tags: app.tags.clone(),
    };
    let fetcher = Arc::new(fetcher);
    if is_graph && graph_type == "pie" {
        let f2 = fetcher.clone();
        let eval_targets = targets.clone();
        let parts = tokio::task::spawn_blocking(move || {
            let mut ev = query::eval::Evaluator::new(&*f2);
            let mut parts = Vec::new();
            for t in &eval_targets {
                match crate::graph_out::pie_literal(t) {
                    Some(lit) => parts.push(Ok(Err(lit?))),
                    None => parts.push(
                        ev.evaluate_targets(&ctx, std::slice::from_ref(t))
                            .map(Ok)
                            .map_err(|e| query_error(e, &eval_targets)),
                    ),
                }
            }
            parts.into_iter().collect::<Result<Vec<_>, WebError>>()
        })
        .await
        .map_err(|e| WebError::Internal(format!("evaluation task: {e}")))??;
        return Ok((
            crate::graph_out::encode_pie(parts, params, format)?,
            cache_timeout,
        ));
    }
    let eval_targets = targets.clone();
    let f2 = fetcher.clone();
    let mut series = tokio::task::spawn_blocking(move || {
        let mut ev = query::eval::Evaluator::new(&*f2);
        ev.evaluate_targets(&ctx, &eval_targets)
    })
    .await
    .map_err(|e| WebError::Internal(format!("evaluation task: {e}")))?
    .map_err(|e| query_error(e, &targets))?;
    if format == "json" {
        if let Some(m) = max_data_points {
            consolidate_for_json(&mut series, m)?;
        }
    }
    if is_graph {
        return Ok((
            crate::graph_out::encode_line(&series, params, format, tz)?,
            cache_timeout,
        ));
    }
    let out: Vec<OutSeries> = series.into_iter().map(OutSeries::from_series).collect();
    let enc = match format {
        "json" => encode::json(&out, pretty, no_null_points, jsonp),
        "csv" => encode::csv(&out, tz),
        "raw" => encode::raw(&out),
        "pickle" => encode::pickle(&out),
        "msgpack" => encode::msgpack(&out),
        "dygraph" => encode::dygraph(&out, jsonp),
        _ => encode::rickshaw(&out, pretty, jsonp),
    };
    Ok((enc, cache_timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start: i64, n: usize) -> Series {
        Series::new(
            "a",
            start,
            start + 60 * n as i64,
            60,
            (0..n).map(|i| Some(i as f64)).collect(),
        )
    }

    #[test]
    fn json_consolidation_nudges_like_graphite() {
        // 30 points at 60s from 1700000040 into at most 7 points: vpp 5, nudge 60
        let mut v = vec![s(1_700_000_040, 30)];
        consolidate_for_json(&mut v, 7).unwrap();
        assert_eq!(v[0].values_per_point, 5);
        assert_eq!(v[0].start, 1_700_000_100);
        assert_eq!(v[0].values.len(), 30, "nudge/step - 1 = 0 values dropped");
        let mut one = vec![s(0, 4)];
        consolidate_for_json(&mut one, 1).unwrap();
        assert_eq!(one[0].values_per_point, 4);
        let mut zero = vec![s(0, 4)];
        assert!(consolidate_for_json(&mut zero, 0).is_err());
    }
}
