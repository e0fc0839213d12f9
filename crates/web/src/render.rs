//! `/render`: options as graphite-web's `parseOptions` reads them, evaluation through the query
//! crate over the fetch layer, maxDataPoints consolidation, and the output encoders.

use crate::encode::Encoded;
use crate::error::WebError;
use crate::params::Params;
use crate::server::App;
use chrono_tz::Tz;

/// The request's time zone: `tz` if it names a zone (unknown names are ignored, as graphite does).
pub fn request_tz(app: &App, params: &Params) -> Tz {
    params.get("tz").and_then(|t| t.parse::<Tz>().ok()).unwrap_or(app.tz)
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
        Some(v) => parse_time(v, tz, wall).map_err(|e| WebError::BadRequest(format!("Invalid parameters ({e})"))),
        None => Ok(wall),
    }
}

/// Parses one time spec (`-1h`, `20231114`, epoch, ...) relative to `now`.
pub fn parse_time(spec: &str, tz: Tz, now: i64) -> Result<i64, String> {
    let _ = (tz, now);
    spec.trim().parse::<i64>().map_err(|e| e.to_string())
}

/// A short stable hash of a cache key text (md5 hex, as graphite-web's `compactHash`).
pub fn cache_hash(text: &str) -> String {
    use md5::Digest;
    let d = md5::Md5::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders a request; returns the encoded answer and how many seconds it may be cached.
pub async fn render(app: &App, params: &Params) -> Result<(Encoded, u64), WebError> {
    let _ = (app, params);
    Err(WebError::Internal("render engine not wired yet".into()))
}
