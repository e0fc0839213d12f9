//! graphite-web's `/tags` endpoints over the node's [`store::TagIndex`], with its JSON shapes
//! (`{"error": ...}` bodies, `pretty` indenting and sorting keys) and `seriesByTag` lookups;
//! read queries merge the answers of cluster peers (see [`crate::tags_fanout`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use store::tags::{TagDbError, TagDetails, TagIndex, ValueInfo};

use crate::params::Params;
use crate::pyjson::PyJson;
use crate::server::{mark_partial, request_params, respond, App};
use crate::source::Sources;
use crate::tags_fanout as fanout;

/// The `/tags` routes; merged into the main router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/tags", any(tag_list))
        .route("/tags/", any(tag_list))
        .route("/tags/tagSeries", any(tag_series))
        .route("/tags/tagMultiSeries", any(tag_multi_series))
        .route("/tags/delSeries", any(del_series))
        .route("/tags/findSeries", any(find_series))
        .route("/tags/autoComplete/tags", any(auto_complete_tags))
        .route("/tags/autoComplete/values", any(auto_complete_values))
        .route("/tags/{*tag}", any(tag_details))
}

/// Picks up series another process (a cache next to this web-only node) logged meanwhile.
fn refresh(tags: &TagIndex) {
    if let Err(e) = tags.refresh() {
        tracing::warn!("tag index: {e}");
    }
}

/// Names of the series a raw `seriesByTag('a=b', ...)` call selects, sorted.
pub fn series_by_tag(tags: &TagIndex, raw: &str) -> Result<Vec<String>, String> {
    refresh(tags);
    let call = match query::parser::parse_target(raw) {
        Ok(query::parser::Expr::Call(c)) if c.name == "seriesByTag" => c,
        _ => return Err(format!("not a seriesByTag call: {raw}")),
    };
    let mut exprs = Vec::with_capacity(call.args.len());
    for a in &call.args {
        match a {
            query::parser::Expr::Str(s) => exprs.push(s.as_str()),
            other => return Err(format!("seriesByTag takes strings, got {other:?}")),
        }
    }
    tags.find_series_str(&exprs).map_err(|e| e.to_string())
}

/// A JSON answer or a graphite-web style `{"error": ...}` with its status.
enum Answer {
    Json(String),
    Error(StatusCode, String),
    Status(StatusCode),
}

fn writer(params: &Params) -> PyJson {
    PyJson::new(params.truthy("pretty"), false)
}

fn finish(answer: Answer, params: &Params) -> Response {
    match answer {
        Answer::Json(body) => respond(StatusCode::OK, "application/json", body.into_bytes()),
        Answer::Error(status, message) => {
            let mut w = writer(params);
            w.begin_object();
            w.key("error");
            w.string(&message);
            w.end_object();
            respond(status, "application/json", w.finish().into_bytes())
        }
        Answer::Status(status) => respond(status, "text/html; charset=utf-8", Vec::new()),
    }
}

/// graphite-web answers ValueErrors (bad tagspecs, limits) with 400 and everything else (bad
/// series names raise a bare Exception, bad regexes `re.error`) with 500.
fn db_error(e: TagDbError) -> Answer {
    let status = match e {
        TagDbError::InvalidTagspec(_) | TagDbError::AllMatchEmpty => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Answer::Error(status, e.to_string())
}

fn bad(message: &str) -> Answer {
    Answer::Error(StatusCode::BAD_REQUEST, message.to_string())
}

/// Python's `int(limit)`; `/tags` and `/tags/<tag>` only convert a non-empty limit.
fn limit_param(params: &Params, empty_is_none: bool) -> Result<Option<i64>, Answer> {
    match params.get("limit") {
        None => Ok(None),
        Some("") if empty_is_none => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad(&format!("invalid literal for int() with base 10: '{v}'"))),
    }
}

/// `expr` or, failing that, `expr[]`.
fn list_param<'a>(params: &'a Params, key: &str) -> Vec<&'a str> {
    let plain = params.get_all(key);
    if plain.is_empty() {
        params.get_all(&format!("{key}[]"))
    } else {
        plain
    }
}

fn string_list(params: &Params, items: &[String]) -> String {
    let mut w = writer(params);
    w.begin_array();
    for s in items {
        w.string(s);
    }
    w.end_array();
    w.finish()
}

fn write_values(w: &mut PyJson, values: &[ValueInfo], sorted: bool) {
    w.begin_array();
    for v in values {
        w.begin_object();
        // json.dumps(sort_keys=True) under `pretty`, dict order otherwise.
        if sorted {
            w.key("count");
            w.int(i64::try_from(v.count).unwrap_or(i64::MAX));
            w.key("id");
            w.int(i64::try_from(v.id).unwrap_or(i64::MAX));
            w.key("value");
            w.string(&v.value);
        } else {
            w.key("id");
            w.int(i64::try_from(v.id).unwrap_or(i64::MAX));
            w.key("value");
            w.string(&v.value);
            w.key("count");
            w.int(i64::try_from(v.count).unwrap_or(i64::MAX));
        }
        w.end_object();
    }
    w.end_array();
}

fn details_json(params: &Params, d: Option<TagDetails>) -> String {
    let mut w = writer(params);
    let Some(d) = d else {
        w.null();
        return w.finish();
    };
    w.begin_object();
    w.key("id");
    w.int(i64::try_from(d.id).unwrap_or(i64::MAX));
    w.key("tag");
    w.string(&d.tag);
    w.key("values");
    write_values(&mut w, &d.values, params.truthy("pretty"));
    w.end_object();
    w.finish()
}

async fn run<F>(app: Arc<App>, params: Params, f: F) -> Response
where
    F: FnOnce(&TagIndex, &Params) -> Answer + Send + 'static,
{
    let (answer, params) = local(&app, params, |tags, p| Ok::<_, Answer>(f(tags, p))).await;
    match answer {
        Ok(a) | Err(a) => finish(a, &params),
    }
}

/// Runs `f` over the node's index on a blocking thread (queries over a large index are CPU
/// work: kept off the async workers); hands the parameters back.
async fn local<T, F>(app: &Arc<App>, params: Params, f: F) -> (Result<T, Answer>, Params)
where
    T: Send + 'static,
    F: FnOnce(&TagIndex, &Params) -> Result<T, Answer> + Send + 'static,
{
    let tags = app.tags.clone();
    match tokio::task::spawn_blocking(move || {
        refresh(&tags);
        let r = f(&tags, &params);
        (r, params)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => (
            Err(Answer::Error(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            )),
            Params::parse(None, None),
        ),
    }
}

/// The request's peers (none under `local=1`) and their answers to the same call.
async fn ask_peers(
    app: &App,
    params: &Params,
    path: &str,
    defaults: &[(&str, &str)],
) -> (Sources, Vec<serde_json::Value>) {
    let sources = app.sources.for_request(params.get("local") == Some("1"));
    let target = fanout::peer_target(path, params, defaults);
    let answers = fanout::peer_answers(&sources, &target).await;
    (sources, answers)
}

/// The answer, marked partial when a peer was left out.
fn finish_merged(answer: Answer, params: &Params, sources: &Sources) -> Response {
    let mut r = finish(answer, params);
    mark_partial(&mut r, sources);
    r
}

fn post_only(method: &Method) -> Option<Answer> {
    (method != Method::POST).then_some(Answer::Status(StatusCode::METHOD_NOT_ALLOWED))
}

fn get_or_post(method: &Method) -> Option<Answer> {
    (method != Method::GET && method != Method::POST)
        .then_some(Answer::Status(StatusCode::METHOD_NOT_ALLOWED))
}

async fn tag_series(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = post_only(&method) {
        return finish(a, &params);
    }
    run(app, params, |tags, p| {
        let Some(path) = p.get("path").filter(|s| !s.is_empty()) else {
            return bad("no path specified");
        };
        match tags.tag_series(path) {
            Ok(name) => {
                let mut w = writer(p);
                w.string(&name);
                Answer::Json(w.finish())
            }
            Err(e) => db_error(e),
        }
    })
    .await
}

async fn tag_multi_series(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = post_only(&method) {
        return finish(a, &params);
    }
    run(app, params, |tags, p| {
        let paths = list_param(p, "path");
        if paths.is_empty() {
            return bad("no paths specified");
        }
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            match tags.tag_series(path) {
                Ok(name) => out.push(name),
                Err(e) => return db_error(e),
            }
        }
        Answer::Json(string_list(p, &out))
    })
    .await
}

async fn del_series(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = post_only(&method) {
        return finish(a, &params);
    }
    run(app, params, |tags, p| {
        let paths = list_param(p, "path");
        if paths.is_empty() {
            return bad("no path specified");
        }
        for path in paths {
            if let Err(e) = tags.remove(path) {
                return db_error(e);
            }
        }
        let mut w = writer(p);
        w.bool(true);
        Answer::Json(w.finish())
    })
    .await
}

async fn find_series(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = get_or_post(&method) {
        return finish(a, &params);
    }
    let (r, params) = local(&app, params, |tags, p| {
        let exprs = list_param(p, "expr");
        if exprs.is_empty() {
            return Err(bad("no tag expressions specified"));
        }
        tags.find_series_str(&exprs).map_err(db_error)
    })
    .await;
    let names = match r {
        Ok(n) => n,
        Err(a) => return finish(a, &params),
    };
    let (sources, peers) = ask_peers(&app, &params, "/tags/findSeries", &[]).await;
    let names = fanout::union(names, &peers);
    finish_merged(
        Answer::Json(string_list(&params, &names)),
        &params,
        &sources,
    )
}

async fn tag_list(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if method != Method::GET {
        return finish(Answer::Status(StatusCode::METHOD_NOT_ALLOWED), &params);
    }
    let (r, params) = local(&app, params, |tags, p| {
        let limit = limit_param(p, true)?;
        Ok((tags.tags(p.get("filter"), limit).map_err(db_error)?, limit))
    })
    .await;
    let (mut list, limit) = match r {
        Ok(l) => l,
        Err(a) => return finish(a, &params),
    };
    let (sources, peers) = ask_peers(&app, &params, "/tags", &[]).await;
    if !peers.is_empty() {
        list = fanout::merge_tag_list(list, &peers, limit);
    }
    let answer = {
        let p = &params;
        let mut w = writer(p);
        w.begin_array();
        for t in list {
            w.begin_object();
            w.key("id");
            w.int(i64::try_from(t.id).unwrap_or(i64::MAX));
            w.key("tag");
            w.string(&t.tag);
            w.end_object();
        }
        w.end_array();
        Answer::Json(w.finish())
    };
    finish_merged(answer, &params, &sources)
}

async fn tag_details(
    State(app): State<Arc<App>>,
    Path(tag): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if method != Method::GET {
        return finish(Answer::Status(StatusCode::METHOD_NOT_ALLOWED), &params);
    }
    let name = tag.clone();
    let (r, params) = local(&app, params, move |tags, p| {
        let limit = limit_param(p, true)?;
        Ok((
            tags.tag_details(&name, p.get("filter"), limit)
                .map_err(db_error)?,
            limit,
        ))
    })
    .await;
    let (mut details, limit) = match r {
        Ok(d) => d,
        Err(a) => return finish(a, &params),
    };
    let path = format!("/tags/{}", fanout::path_segment(&tag));
    let (sources, peers) = ask_peers(&app, &params, &path, &[]).await;
    if !peers.is_empty() {
        details = fanout::merge_details(&tag, details, &peers, limit);
    }
    finish_merged(
        Answer::Json(details_json(&params, details)),
        &params,
        &sources,
    )
}

async fn auto_complete_tags(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = get_or_post(&method) {
        return finish(a, &params);
    }
    let (r, params) = local(&app, params, |tags, p| {
        let limit = limit_param(p, false)?;
        let exprs = TagIndex::parse_exprs(&list_param(p, "expr")).map_err(db_error)?;
        let list = tags
            .auto_complete_tags(&exprs, p.get("tagPrefix"), limit)
            .map_err(db_error)?;
        Ok((list, limit))
    })
    .await;
    auto_complete_merged(&app, r, params, "/tags/autoComplete/tags").await
}

/// An autocomplete answer with the peers': graphite-web's `Store` takes the sorted union of
/// every finder's list and cuts it at the request's `limit`.
async fn auto_complete_merged(
    app: &App,
    local: Result<(Vec<String>, Option<i64>), Answer>,
    params: Params,
    path: &str,
) -> Response {
    let (mut list, limit) = match local {
        Ok(l) => l,
        Err(a) => return finish(a, &params),
    };
    let default_limit = store::tags::AUTOCOMPLETE_LIMIT.to_string();
    let (sources, peers) = ask_peers(app, &params, path, &[("limit", &default_limit)]).await;
    if !peers.is_empty() {
        list = fanout::py_cut(fanout::union(list, &peers), limit);
    }
    finish_merged(Answer::Json(string_list(&params, &list)), &params, &sources)
}

async fn auto_complete_values(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    if let Some(a) = get_or_post(&method) {
        return finish(a, &params);
    }
    let (r, params) = local(&app, params, |tags, p| {
        let Some(tag) = p.get("tag").filter(|t| !t.is_empty()) else {
            return Err(bad("no tag specified"));
        };
        let limit = limit_param(p, false)?;
        let exprs = TagIndex::parse_exprs(&list_param(p, "expr")).map_err(db_error)?;
        let list = tags
            .auto_complete_values(&exprs, tag, p.get("valuePrefix"), limit)
            .map_err(db_error)?;
        Ok((list, limit))
    })
    .await;
    auto_complete_merged(&app, r, params, "/tags/autoComplete/values").await
}

/// Tags render functions add to a series (graphite appends them after the name's own tags).
const FUNCTION_TAGS: &[&str] = &[
    "add",
    "aggregatedBy",
    "areaBetween",
    "consolidateBy",
    "dashed",
    "delay",
    "derivative",
    "drawAsInfinite",
    "exp",
    "exponentialMovingAverage",
    "hitcount",
    "holtWintersAberration",
    "holtWintersConfidenceArea",
    "holtWintersConfidenceLower",
    "holtWintersConfidenceUpper",
    "holtWintersDeviation",
    "holtWintersForecast",
    "integral",
    "integralByInterval",
    "isNonNull",
    "linearRegressions",
    "log",
    "logit",
    "nPercentile",
    "nonNegativeDerivative",
    "offset",
    "perSecond",
    "pow",
    "referenceSeries",
    "round",
    "scale",
    "scaleToSeconds",
    "secondYAxis",
    "sigmoid",
    "smartSummarize",
    "smartSummarizeFunction",
    "stacked",
    "stdev",
    "summarize",
    "summarizeFunction",
    "timeShift",
    "timeShiftUnit",
    "timeSliceEnd",
    "timeSliceStart",
    "transformNull",
    "xFilesFactor",
];

/// graphite's dict order for a series' tags: the tags parsed from a tagged name (in normalised
/// order), then `name`, then the tags functions added.
pub fn graphite_tag_order(
    tags: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut own: Vec<(&String, &String)> = tags
        .iter()
        .filter(|(k, _)| k.as_str() != "name" && !FUNCTION_TAGS.contains(&k.as_str()))
        .collect();
    own.sort_by_cached_key(|(k, v)| format!(";{k}={v}"));
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    out.extend(own.into_iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(n) = tags.get("name") {
        out.push(("name".into(), n.clone()));
    }
    out.extend(
        tags.iter()
            .filter(|(k, _)| FUNCTION_TAGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_by_tag_reads_the_call() {
        let idx = TagIndex::new();
        idx.tag_series("a;x=1").unwrap();
        idx.tag_series("b;x=2").unwrap();
        assert_eq!(
            series_by_tag(&idx, "seriesByTag('x=~[12]')").unwrap(),
            ["a;x=1", "b;x=2"]
        );
        assert_eq!(
            series_by_tag(&idx, "seriesByTag(\"name=b\")").unwrap(),
            ["b;x=2"]
        );
        assert!(series_by_tag(&idx, "seriesByTag('x=')").is_err());
        assert!(series_by_tag(&idx, "sumSeries(a)").is_err());
    }
}
