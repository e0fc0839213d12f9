//! Moving whisper files between nodes (what `carbonado rebalance` drives): list a node's metrics,
//! download a file, upload one (created as is when absent, else merged with whisper-fill
//! semantics), delete a file once the caller proves a destination holds that exact content, and
//! ask a node to push its own file to another node so copying is spread over the cluster.
//!
//! Access: with `[web] admin_token` set, every call needs `Authorization: Bearer <token>`; without
//! one, only loopback clients are served (a multi-host cluster therefore needs the token, which
//! all nodes share: a pushing node presents its own token to the destination).
//!
//! Writes while traffic flows: an upload into an existing file is merged in place (the cache of
//! that node may keep the file open, so it is never replaced by a rename: a rename would leave the
//! cache writing into an unlinked inode); a new file is built under a hidden name and hard-linked
//! into place, so readers never see half a file. A delete names the digest of the content the
//! caller copied: if the file changed since (the cache flushed points into it), the delete is
//! refused and the caller copies again; it is also refused while this node's in-process cache
//! still holds points for the metric.

pub mod client;

use crate::local::{metric_file, CacheQueryFn};
use crate::params::Params;
use crate::server::App;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest whisper file accepted by an upload (and sent by a download or push).
pub const MAX_FILE_BYTES: usize = 256 << 20;
/// Deadline of one node-to-node push.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(300);
/// The header carrying a downloaded file's digest.
pub const DIGEST_HEADER: &str = "x-carbonado-digest";
/// Per-metric locks are striped over this many mutexes.
const LOCK_STRIPES: usize = 64;

/// Why a transfer call was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// This node has no data directory (a web-only node without local files).
    #[error("transfer: this node has no local data directory")]
    Off,
    /// Missing or wrong bearer token: 401.
    #[error("transfer: missing or wrong admin token")]
    Unauthorized,
    /// No token is configured and the client is not on loopback: 403.
    #[error("transfer: without [web] admin_token only loopback clients are served")]
    Forbidden,
    /// A parameter is missing or invalid: 400.
    #[error("transfer: {0}")]
    BadRequest(String),
    /// The metric has no file here: 404.
    #[error("transfer: no file for {0:?}")]
    NotFound(String),
    /// The delete was refused because the file is not what the caller copied: 409.
    #[error("transfer: {0}")]
    Conflict(String),
    /// The uploaded bytes are not a whisper file: 422.
    #[error("transfer: not a whisper file: {0}")]
    NotWhisper(String),
    /// The destination of a push failed: 502.
    #[error("transfer: destination {0}")]
    Upstream(String),
    /// A local I/O or whisper error: 500.
    #[error("transfer: {0}")]
    Internal(String),
}

impl TransferError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            TransferError::Off => StatusCode::SERVICE_UNAVAILABLE,
            TransferError::Unauthorized => StatusCode::UNAUTHORIZED,
            TransferError::Forbidden => StatusCode::FORBIDDEN,
            TransferError::BadRequest(_) => StatusCode::BAD_REQUEST,
            TransferError::NotFound(_) => StatusCode::NOT_FOUND,
            TransferError::Conflict(_) => StatusCode::CONFLICT,
            TransferError::NotWhisper(_) => StatusCode::UNPROCESSABLE_ENTITY,
            TransferError::Upstream(_) => StatusCode::BAD_GATEWAY,
            TransferError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for TransferError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// What the transfer endpoints of a node work on.
#[derive(Clone, Default)]
pub struct Transfer {
    data_dir: Option<PathBuf>,
    index: Option<Arc<store::NameIndex>>,
    tags: Option<Arc<store::TagIndex>>,
    cache_query: Option<CacheQueryFn>,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
}

impl Transfer {
    /// Transfers over `data_dir`; new files are added to `index` (plain) or `tags` (tagged), and
    /// deletes are refused while `cache_query` (the in-process cache) holds points of the metric.
    pub fn new(
        data_dir: Option<PathBuf>,
        index: Arc<store::NameIndex>,
        tags: Arc<store::TagIndex>,
        cache_query: Option<CacheQueryFn>,
    ) -> Self {
        Transfer {
            data_dir,
            index: Some(index),
            tags: Some(tags),
            cache_query,
            locks: Arc::new((0..LOCK_STRIPES).map(|_| Default::default()).collect()),
        }
    }

    fn dir(&self) -> Result<&Path, TransferError> {
        self.data_dir.as_deref().ok_or(TransferError::Off)
    }

    async fn lock(&self, metric: &str) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let n = self.locks.len();
        if n == 0 {
            return None;
        }
        let i = (digest64(metric.as_bytes()) % n as u64) as usize;
        Some(self.locks.get(i)?.lock().await)
    }

    /// Every metric this node holds: plain leaves, then tagged series.
    pub fn names(&self) -> Vec<String> {
        let mut out = self.index.as_ref().map(|i| i.leaves()).unwrap_or_default();
        if let Some(t) = &self.tags {
            if let Ok(mut tagged) = t.find_series_str(&["name=~.+"]) {
                tagged.sort_unstable();
                out.extend(tagged);
            }
        }
        out
    }

    fn remember(&self, metric: &str) {
        if metric.contains(';') {
            if let Some(t) = &self.tags {
                if let Err(e) = t.insert(metric) {
                    tracing::warn!("transfer: tag index: {e}");
                }
            }
        } else if let Some(i) = &self.index {
            if let Err(e) = i.insert(metric) {
                tracing::warn!("transfer: name index: {e}");
            }
        }
    }

    fn forget(&self, metric: &str) {
        if metric.contains(';') {
            if let Some(t) = &self.tags {
                if let Err(e) = t.remove(metric) {
                    tracing::warn!("transfer: tag index: {e}");
                }
            }
        } else if let Some(i) = &self.index {
            i.remove(metric);
        }
    }

    fn cached_points(&self, metric: &str) -> usize {
        self.cache_query.as_ref().map_or(0, |q| q(metric).len())
    }
}

/// The routes, merged into the web role's router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/transfer/list", get(list))
        .route("/transfer/file", get(download).put(upload))
        .route("/transfer/delete", post(delete))
        .route("/transfer/push", post(push))
        // a whisper file is larger than a render form may be; this limit is set after (inside)
        // the router-wide one, so it wins for these routes
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES))
}

/// A 64-bit FNV-1a digest, as 16 hex digits in answers: cheap, and enough to notice a change.
pub fn digest64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`digest64`] as text.
pub fn digest_hex(bytes: &[u8]) -> String {
    format!("{:016x}", digest64(bytes))
}

fn authorize(app: &App, headers: &HeaderMap, ext: &Extensions) -> Result<(), TransferError> {
    match app.cfg.admin_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if same(given.as_bytes(), token.as_bytes()) {
                Ok(())
            } else {
                Err(TransferError::Unauthorized)
            }
        }
        None => match ext.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) if peer.ip().is_loopback() => Ok(()),
            _ => Err(TransferError::Forbidden),
        },
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from answer times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn metric_param(params: &Params) -> Result<String, TransferError> {
    let m = params
        .get("metric")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TransferError::BadRequest("missing metric".into()))?;
    if m.chars().any(char::is_control) {
        return Err(TransferError::BadRequest(format!("invalid metric {m:?}")));
    }
    Ok(m.to_string())
}

/// The file of `metric` below `dir`, refusing names that could leave it. A tagged series uses
/// the `_DOT_` spelling only when such a file already exists, else carbon's hashed layout.
pub fn file_of(dir: &Path, metric: &str) -> Result<PathBuf, TransferError> {
    let bad = || TransferError::BadRequest(format!("invalid metric {metric:?}"));
    if metric.chars().any(char::is_control) {
        return Err(bad());
    }
    let p = metric_file(dir, metric).ok_or_else(bad)?;
    if !metric.contains(';') {
        // the same spelling must also pass the proto crate's checks (lengths, characters)
        proto::relative_path(metric, false).map_err(|_| bad())?;
        return Ok(p);
    }
    if p.is_file() {
        return Ok(p);
    }
    Ok(dir.join(proto::relative_path(metric, true).map_err(|_| bad())?))
}

fn json(v: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TransferError> + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransferError::Internal(format!("worker: {e}")))?
}

async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ext: Extensions,
) -> Result<Response, TransferError> {
    authorize(&app, &headers, &ext)?;
    app.transfer.dir()?;
    let t = app.transfer.clone();
    let names = blocking(move || Ok(t.names())).await?;
    Ok(json(serde_json::Value::from(names)))
}

/// Reads a whole file, bounded.
fn read_file(path: &Path, metric: &str) -> Result<Vec<u8>, TransferError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Err(TransferError::NotFound(metric.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TransferError::NotFound(metric.to_string()))
        }
        Err(e) => return Err(TransferError::Internal(format!("{}: {e}", path.display()))),
    };
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(TransferError::Internal(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TransferError::NotFound(metric.to_string()),
        _ => TransferError::Internal(format!("{}: {e}", path.display())),
    })
}

async fn download(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Result<Response, TransferError> {
    authorize(&app, &headers, &ext)?;
    let params = Params::parse(uri.query(), None);
    let metric = metric_param(&params)?;
    let path = file_of(app.transfer.dir()?, &metric)?;
    let bytes = blocking(move || read_file(&path, &metric)).await?;
    let digest = digest_hex(&bytes);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static(DIGEST_HEADER), digest),
        ],
        bytes,
    )
        .into_response())
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// There was no file: the upload became it.
    Created,
    /// A file existed: its gaps were filled from the upload.
    Merged,
}

impl Stored {
    /// The word used in answers.
    pub fn name(self) -> &'static str {
        match self {
            Stored::Created => "created",
            Stored::Merged => "merged",
        }
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.transfer-{}-{n}", std::process::id()))
}

/// Stores `bytes` (a whole whisper file) as `path`: linked into place when absent, otherwise
/// merged into the existing file in place with whisper-fill semantics (points already there win,
/// except the first point after each gap, which whisper-fill also takes from the source; gaps,
/// including zeros as whisper-fill has it, are filled from the upload).
pub fn store_file(path: &Path, bytes: &[u8], now: i64) -> Result<Stored, TransferError> {
    use std::io::Write;
    let internal = |what: &Path, e: &dyn std::fmt::Display| {
        TransferError::Internal(format!("{}: {e}", what.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| internal(dir, &e))?;
    }
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| internal(&tmp, &e))?;
        f.write_all(bytes).map_err(|e| internal(&tmp, &e))?;
        f.sync_all().map_err(|e| internal(&tmp, &e))?;
        drop(f);
        let w =
            whisper::Whisper::open(&tmp).map_err(|e| TransferError::NotWhisper(e.to_string()))?;
        if w.header().file_size() != bytes.len() as u64 {
            return Err(TransferError::NotWhisper(format!(
                "{} bytes where the header describes {}",
                bytes.len(),
                w.header().file_size()
            )));
        }
        drop(w);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => return Ok(Stored::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(internal(path, &e)),
        }
        whisper::fill(&tmp, path, now).map_err(|e| internal(path, &e))?;
        Ok(Stored::Merged)
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

async fn upload(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Result<Response, TransferError> {
    authorize(&app, &headers, &ext)?;
    let params = Params::parse(uri.query(), None);
    let metric = metric_param(&params)?;
    let path = file_of(app.transfer.dir()?, &metric)?;
    let n = body.len();
    let _guard = app.transfer.lock(&metric).await;
    let stored = blocking(move || store_file(&path, &body, now())).await?;
    if stored == Stored::Created {
        app.transfer.remember(&metric);
    }
    tracing::info!(
        metric,
        bytes = n,
        result = stored.name(),
        "transfer: file received"
    );
    Ok(json(
        serde_json::json!({ "result": stored.name(), "bytes": n }),
    ))
}

async fn delete(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Result<Response, TransferError> {
    authorize(&app, &headers, &ext)?;
    let params = Params::parse(uri.query(), None);
    let metric = metric_param(&params)?;
    let confirmed = params
        .get("confirmed_digest")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            TransferError::BadRequest(
                "missing confirmed_digest (the digest a destination confirmed holding)".into(),
            )
        })?
        .to_string();
    let path = file_of(app.transfer.dir()?, &metric)?;
    let _guard = app.transfer.lock(&metric).await;
    let pending = app.transfer.cached_points(&metric);
    if pending > 0 {
        return Err(TransferError::Conflict(format!(
            "the cache still holds {pending} points of {metric:?}; retry once it has flushed"
        )));
    }
    let m = metric.clone();
    let gone = blocking(move || {
        let bytes = match read_file(&path, &m) {
            Ok(b) => b,
            Err(TransferError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if digest_hex(&bytes) != confirmed {
            return Err(TransferError::Conflict(format!(
                "{m:?} changed since it was copied; copy it again"
            )));
        }
        std::fs::remove_file(&path)
            .map_err(|e| TransferError::Internal(format!("{}: {e}", path.display())))?;
        Ok(true)
    })
    .await?;
    app.transfer.forget(&metric);
    let result = if gone { "deleted" } else { "absent" };
    tracing::info!(metric, result, "transfer: delete");
    Ok(json(serde_json::json!({ "result": result })))
}

/// A destination `host:port`: no scheme other than `http://`, no path, a numeric port.
fn destination_param(params: &Params) -> Result<String, TransferError> {
    let to = params
        .get("to")
        .ok_or_else(|| TransferError::BadRequest("missing to".into()))?;
    let t = to
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let ok = t.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && p.parse::<u16>().is_ok() && !h.contains(['/', '@', ' '])
    });
    if !ok {
        return Err(TransferError::BadRequest(format!(
            "to {to:?} is not a node's host:port"
        )));
    }
    Ok(t.to_string())
}

async fn push(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Result<Response, TransferError> {
    authorize(&app, &headers, &ext)?;
    let params = Params::parse(uri.query(), None);
    let metric = metric_param(&params)?;
    let to = destination_param(&params)?;
    let path = file_of(app.transfer.dir()?, &metric)?;
    let m = metric.clone();
    let bytes = blocking(move || read_file(&path, &m)).await?;
    let digest = digest_hex(&bytes);
    let c = client::Client::new(app.cfg.admin_token.clone(), PUSH_TIMEOUT);
    let target = format!("/transfer/file?{}", client::query(&[("metric", &metric)]));
    let reply = c
        .call(&to, "PUT", &target, &bytes)
        .await
        .map_err(|e| TransferError::Upstream(e.to_string()))?;
    if reply.status != 200 {
        return Err(TransferError::Upstream(format!(
            "{to} answered {}: {}",
            reply.status,
            reply.text()
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|e| TransferError::Upstream(format!("{to}: {e}")))?;
    let result = answer
        .get("result")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_string();
    Ok(json(serde_json::json!({
        "result": result,
        "bytes": bytes.len(),
        "digest": digest,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(path: &Path, points: &[(i64, f64)], now: i64) {
        let archives = [whisper::parse_retention_def("10s:1h").unwrap()];
        whisper::create(
            path,
            &archives,
            0.5,
            whisper::AggregationMethod::Average,
            whisper::CreateOptions::default(),
        )
        .unwrap();
        whisper::Whisper::open_rw(path)
            .unwrap()
            .update_many(points, now)
            .unwrap();
    }

    fn values(path: &Path, now: i64) -> Vec<(i64, f64)> {
        let w = whisper::Whisper::open(path).unwrap();
        w.fetch(now - 3600, now, now)
            .unwrap()
            .unwrap()
            .points()
            .collect()
    }

    #[test]
    fn upload_creates_then_merges_keeping_existing_points() {
        let d = tempfile::tempdir().unwrap();
        let now = 1_700_000_000 - 1_700_000_000 % 10;
        let src = d.path().join("src.wsp");
        make(&src, &[(now - 30, 1.0), (now - 20, 2.0)], now);
        let bytes = std::fs::read(&src).unwrap();
        let dst = d.path().join("a/b.wsp");
        assert_eq!(store_file(&dst, &bytes, now).unwrap(), Stored::Created);
        assert_eq!(std::fs::read(&dst).unwrap(), bytes);
        // the destination already has newer points and a different value at one time
        let other = d.path().join("other.wsp");
        make(&other, &[(now - 20, 5.0), (now - 10, 3.0)], now);
        let dst2 = d.path().join("c.wsp");
        std::fs::copy(&other, &dst2).unwrap();
        assert_eq!(store_file(&dst2, &bytes, now).unwrap(), Stored::Merged);
        // whisper-fill copies each gap's range up to and including the first point after it
        // (its fetch `until` is inclusive of that interval), so the upload's 2.0 at now-20
        // replaces 5.0 exactly as `whisper-fill.py` does; now-10 is kept.
        assert_eq!(
            values(&dst2, now),
            vec![(now - 30, 1.0), (now - 20, 2.0), (now - 10, 3.0)]
        );
        // no temporary file is left behind
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty());
    }

    #[test]
    fn upload_refuses_what_is_not_whisper() {
        let d = tempfile::tempdir().unwrap();
        let dst = d.path().join("x.wsp");
        assert!(matches!(
            store_file(&dst, b"not whisper at all", 0),
            Err(TransferError::NotWhisper(_))
        ));
        assert!(!dst.exists());
        let src = d.path().join("src.wsp");
        make(&src, &[], 1_700_000_000);
        let mut bytes = std::fs::read(&src).unwrap();
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(
            store_file(&dst, &bytes, 0),
            Err(TransferError::NotWhisper(_))
        ));
        assert!(!dst.exists());
    }

    #[test]
    fn names_never_escape_the_data_dir() {
        let d = Path::new("/data");
        for bad in [
            "..", "a..b", "a/../b", ".hidden", "a./b", "", "a\nb", "a.\0",
        ] {
            assert!(file_of(d, bad).is_err(), "{bad:?}");
        }
        assert_eq!(file_of(d, "a.b.c").unwrap(), Path::new("/data/a/b/c.wsp"));
        let tagged = file_of(d, "cpu;dc=x").unwrap();
        assert!(tagged.starts_with("/data/_tagged"), "{}", tagged.display());
    }

    #[test]
    fn destinations_are_host_port_only() {
        let p = |q: &str| Params::parse(Some(q), None);
        assert_eq!(
            destination_param(&p("to=10.0.0.1:8080")).unwrap(),
            "10.0.0.1:8080"
        );
        assert_eq!(destination_param(&p("to=http://h:1/")).unwrap(), "h:1");
        for bad in ["to=h", "to=h:x", "to=:80", "to=h/p:80", "to=u@h:80", "x=1"] {
            assert!(destination_param(&p(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"ab", b"abc"));
    }
}
