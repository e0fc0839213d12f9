//! The HTTP router and handlers: parameter handling, caching and response shapes of graphite-web's views.

use crate::cache::{CachedResponse, ResponseCache};
use crate::config::WebConfig;
use crate::error::WebError;
use crate::find_format::{self, FoundNode};
use crate::params::Params;
use crate::pyjson::PyJson;
use crate::source::{FindQuery, Sources};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;

/// The version string `/version` reports (the graphite-web API level we reproduce).
pub const GRAPHITE_VERSION: &str = "1.1.10";

/// Shared state of the web role.
pub struct App {
    /// Settings.
    pub cfg: WebConfig,
    /// Where names and datapoints come from.
    pub sources: Sources,
    /// Answer cache.
    pub cache: ResponseCache,
    /// Default time zone.
    pub tz: chrono_tz::Tz,
    /// Tag index answering `/tags` and `seriesByTag` (empty until the role loads one).
    pub tags: Arc<store::TagIndex>,
    /// The `/transfer/*` endpoints' files (off until the role gives it a data directory).
    pub transfer: crate::transfer::Transfer,
}

impl App {
    /// Builds the state from settings and sources (the response cache follows `memcache_hosts`).
    pub fn new(cfg: WebConfig, sources: Sources) -> Self {
        let remote_timeout =
            crate::config::parse_duration(&cfg.remote_timeout).unwrap_or(Duration::from_secs(2));
        let cache = if cfg.default_cache_duration == 0 {
            ResponseCache::Off
        } else if !cfg.memcache_hosts.is_empty() {
            ResponseCache::Memcached(crate::memcache::Memcache::new(
                &cfg.memcache_hosts,
                remote_timeout,
                64 << 20,
            ))
        } else {
            ResponseCache::Local(crate::cache::LocalCache::new(cfg.local_cache_bytes))
        };
        let tz = cfg.time_zone.parse().unwrap_or(chrono_tz::UTC);
        App {
            cfg,
            sources,
            cache,
            tz,
            tags: Arc::new(store::TagIndex::new()),
            transfer: Default::default(),
        }
    }
}

/// The router for every endpoint of the web role.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.cfg.max_body_bytes;
    Router::new()
        .route("/render", any(render))
        .route("/render/", any(render))
        .route("/metrics", any(find))
        .route("/metrics/", any(find))
        .route("/metrics/find", any(find))
        .route("/metrics/find/", any(find))
        .route("/metrics/expand", any(expand))
        .route("/metrics/expand/", any(expand))
        .route("/metrics/index.json", any(index_json))
        .route("/functions", get(functions))
        .route("/functions/", get(functions))
        .route("/functions/{name}", get(function_one))
        .route("/version", any(version))
        .route("/version/", any(version))
        .merge(crate::ui::router())
        .merge(crate::tags::router())
        .merge(crate::transfer::router())
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// The header naming cluster peers left out of an answer.
pub const PARTIAL_HEADER: &str = "x-carbonado-partial";

/// Adds [`PARTIAL_HEADER`] when a peer failed or was skipped; true if it did.
pub(crate) fn mark_partial(r: &mut Response, sources: &Sources) -> bool {
    let peers = sources.partial();
    if peers.is_empty() {
        return false;
    }
    if let Ok(v) = HeaderValue::from_str(&peers.join(",")) {
        r.headers_mut().insert(PARTIAL_HEADER, v);
    }
    true
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // the peer address lets /transfer/* serve loopback clients when no admin token is set
    let service = router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parameters of a request: query string, then a form body (POST) appended.
pub(crate) fn request_params(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Params {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let mut params = Params::parse(uri.query(), (is_form && !body.is_empty()).then_some(body));
    // carbon's tagger posts multipart forms (urllib3 `fields=`), which Django reads as POST too.
    if let Some(b) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::multipart::boundary)
    {
        params.extend(crate::multipart::fields(b, body));
    }
    params
}

pub(crate) fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Mirrors `json_response_for`: ASCII-escaped unless the client's Accept is something else than JSON.
fn json_response(
    headers: &HeaderMap,
    params: &Params,
    text_of: impl FnOnce(&mut PyJson),
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let ascii = accept == "application/json";
    let mut w = PyJson::new(params.truthy("pretty"), false).ensure_ascii(ascii);
    text_of(&mut w);
    let text = w.finish();
    let (ct, body) = match params.get("jsonp").filter(|j| !j.is_empty()) {
        Some(cb) => ("text/javascript", format!("{cb}({text})")),
        None => ("application/json", text),
    };
    let ct = if ascii {
        ct.to_string()
    } else {
        format!("{ct};charset=utf-8")
    };
    respond(StatusCode::OK, &ct, body.into_bytes())
}

fn int_param(params: &Params, name: &str, default: i64) -> Result<i64, WebError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse::<i64>().map_err(|e| {
            WebError::BadRequest(format!(
                "Invalid parameters (Invalid int value '{v}' for param {name}: {e})"
            ))
        }),
    }
}

async fn find(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let params = request_params(&uri, &headers, &body);
    // the Accept header changes the JSON escaping, so it is part of the key
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = format!(
        "find:{}",
        crate::render::cache_hash(&format!("{}|{accept}", params.canonical()))
    );
    let ttl = app.cfg.find_cache_duration;
    let use_cache = ttl > 0 && !params.has("noCache");
    if use_cache {
        if let Some(hit) = app.cache.get(&key).await {
            let mut r = respond(StatusCode::OK, &hit.content_type, hit.body.clone());
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return r;
        }
    }
    let sources = app.sources.for_request(params.get("local") == Some("1"));
    match find_inner(&app, &sources, &params, &headers).await {
        Ok(mut r) => {
            // a partial answer is never cached: the next request may reach the peer again
            if mark_partial(&mut r, &sources) || !use_cache || r.status() != StatusCode::OK {
                return r;
            }
            let (parts, body) = r.into_parts();
            let bytes = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => return WebError::Internal(e.to_string()).into_response(),
            };
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let cached = CachedResponse {
                content_type: ct,
                body: bytes.to_vec(),
            };
            app.cache.put(&key, cached, Duration::from_secs(ttl)).await;
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => e.into_response(),
    }
}

async fn find_inner(
    app: &App,
    sources: &Sources,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, WebError> {
    let format = params.get("format").unwrap_or("treejson").to_string();
    let leaves_only = int_param(params, "leavesOnly", 0)? != 0;
    let wildcards = int_param(params, "wildcards", 0)? != 0;
    let position = int_param(params, "position", -1)?;
    let automatic_variants = int_param(params, "automatic_variants", 0)? != 0;
    let tz = crate::render::request_tz(app, params);
    let now = crate::render::parse_now(params, tz)?;
    for key in ["from", "until"] {
        if let Some(v) = params.get(key).filter(|v| *v != "-1") {
            crate::render::parse_time(v, tz, now).map_err(|e| {
                WebError::BadRequest(format!(
                    "Invalid parameters (Invalid value '{v}' for param {key}: {e})"
                ))
            })?;
        }
    }
    let mut query = match params.get("query") {
        None => {
            return Err(WebError::BadRequest(
                "Invalid parameters (Missing required parameter 'query')".into(),
            ))
        }
        Some("") => {
            return Err(WebError::BadRequest(
                "Invalid parameters (Required parameter 'query' is empty)".into(),
            ))
        }
        Some(q) => q.to_string(),
    };
    let base_path = match query.rsplit_once('.') {
        Some((head, _)) => format!("{head}."),
        None => String::new(),
    };
    if format == "completer" {
        query = query.replace("..", "*.");
        if !query.ends_with('*') {
            query.push('*');
        }
        if automatic_variants {
            query = query
                .split('.')
                .map(|p| {
                    if p.contains(',') && !p.contains('{') {
                        format!("{{{p}}}")
                    } else {
                        p.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(".");
        }
    }
    let mut nodes: Vec<FoundNode> = sources
        .find(&FindQuery {
            pattern: query,
            leaves_only,
            limit: app.cfg.max_find_results,
            with_intervals: matches!(format.as_str(), "json" | "pickle" | "msgpack"),
        })
        .await?;
    find_format::sort_matches(&mut nodes);
    let resp = match format.as_str() {
        "treejson" => json_response(headers, params, |w| {
            find_format::treejson(w, &nodes, &base_path, wildcards)
        }),
        "completer" => json_response(headers, params, |w| {
            find_format::completer(w, &nodes, wildcards)
        }),
        "json" => json_response(headers, params, |w| find_format::json_nodes(w, &nodes)),
        "nodelist" => {
            let mut err = None;
            let r = json_response(headers, params, |w| {
                if let Err(e) = find_format::nodelist(w, &nodes, position) {
                    err = Some(e);
                }
            });
            if let Some(e) = err {
                return Err(WebError::Internal(e));
            }
            r
        }
        "pickle" => respond(
            StatusCode::OK,
            "application/pickle",
            find_format::pickle_nodes(&nodes),
        ),
        "msgpack" => respond(
            StatusCode::OK,
            "application/x-msgpack",
            find_format::msgpack_nodes(&nodes),
        ),
        _ => respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            b"Invalid value for 'format' parameter".to_vec(),
        ),
    };
    let mut resp = resp;
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

async fn expand(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    // The request's view of the sources: the ones live now (a SIGHUP reload may have replaced
    // the list the app started with), local only when a peer asks with local=1.
    let sources = app.sources.for_request(params.get("local") == Some("1"));
    let run = async {
        let group = int_param(&params, "groupByExpr", 0)? != 0;
        let leaves_only = int_param(&params, "leavesOnly", 0)? != 0;
        let mut per_query: Vec<(String, Vec<String>)> = Vec::new();
        for q in params.get_all("query") {
            let nodes = sources
                .find(&FindQuery {
                    pattern: q.to_string(),
                    leaves_only: false,
                    limit: app.cfg.max_find_results,
                    with_intervals: false,
                })
                .await?;
            let mut paths: Vec<String> = nodes
                .into_iter()
                .filter(|n| n.is_leaf || !leaves_only)
                .map(|n| n.path)
                .collect();
            paths.sort();
            paths.dedup();
            match per_query.iter_mut().find(|(k, _)| k == q) {
                Some(slot) => slot.1 = paths,
                None => per_query.push((q.to_string(), paths)),
            }
        }
        Ok::<_, WebError>(json_response(&headers, &params, |w| {
            w.begin_object();
            w.key("results");
            if group {
                w.begin_object();
                for (q, paths) in &per_query {
                    w.key(q);
                    w.begin_array();
                    for p in paths {
                        w.string(p);
                    }
                    w.end_array();
                }
                w.end_object();
            } else {
                let mut all: Vec<&String> = per_query.iter().flat_map(|(_, p)| p).collect();
                all.sort();
                all.dedup();
                w.begin_array();
                for p in all {
                    w.string(p);
                }
                w.end_array();
            }
            w.end_object();
        }))
    };
    match run.await {
        Ok(mut r) => {
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn index_json(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    let sources = app.sources.for_request(params.get("local") == Some("1"));
    match sources.index().await {
        Ok(all) => json_response(&headers, &params, |w| {
            w.begin_array();
            for p in &all {
                w.string(p);
            }
            w.end_array();
        }),
        Err(e) => {
            tracing::error!("index.json: {e}");
            let mut r = json_response(&headers, &params, |w| {
                w.begin_array();
                w.end_array();
            });
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

async fn version() -> Response {
    respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        format!("{GRAPHITE_VERSION}\n").into_bytes(),
    )
}

async fn functions(uri: Uri, headers: HeaderMap) -> Response {
    let params = request_params(&uri, &headers, &[]);
    match crate::functions::list(&params) {
        Ok(text) => respond(StatusCode::OK, "application/json", text.into_bytes()),
        Err(e) => e.into_response(),
    }
}

async fn function_one(Path(name): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let params = request_params(&uri, &headers, &[]);
    match crate::functions::one(&name, &params) {
        Ok(text) => respond(StatusCode::OK, "application/json", text.into_bytes()),
        Err(e) => {
            let status = e.status();
            let mut w = PyJson::new(false, false);
            w.begin_object();
            w.key("error");
            w.string(&e.to_string());
            w.end_object();
            respond(status, "application/json", w.finish().into_bytes())
        }
    }
}

async fn render(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&uri, &headers, &body);
    let _ = method;
    let no_cache = params.has("noCache");
    let key = format!("render:{}", crate::render::cache_hash(&params.canonical()));
    if !no_cache {
        if let Some(hit) = app.cache.get(&key).await {
            return respond(StatusCode::OK, &hit.content_type, hit.body.clone());
        }
    }
    let sources = app.sources.for_request(params.get("local") == Some("1"));
    match crate::render::render(&app, &params, &sources).await {
        Ok((enc, ttl)) => {
            let mut r = respond(StatusCode::OK, enc.content_type, enc.body.clone());
            if mark_partial(&mut r, &sources) {
                return r;
            }
            if !no_cache && ttl > 0 {
                let cached = CachedResponse {
                    content_type: enc.content_type.to_string(),
                    body: enc.body.clone(),
                };
                app.cache.put(&key, cached, Duration::from_secs(ttl)).await;
            }
            r
        }
        Err(e) => e.into_response(),
    }
}
