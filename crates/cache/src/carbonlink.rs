//! The carbonlink server (carbon's cache query port, 7002): graphite-web asks it for points not yet on disk.
//!
//! Frames in both directions are a u32 big-endian length and a pickle. Requests are decoded by proto's
//! restricted unpickler; responses are protocol-2 pickles of plain dicts, as carbon sends them.

use std::sync::Arc;

use proto::pickle::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::{Backend, Cache, CacheStats};

/// Largest request accepted (carbon allows 1 GiB; a bulk query of 100k names is a few MiB).
pub const MAX_REQUEST: usize = 64 << 20;

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (Value::str(k), v))
            .collect(),
    )
}

fn error(msg: impl Into<String>) -> Value {
    dict(vec![("error", Value::Str(msg.into()))])
}

fn points(cache: &Cache, metric: &str) -> Value {
    Value::List(
        cache
            .query(metric)
            .into_iter()
            .map(|(t, v)| Value::Tuple(vec![Value::Float(t), Value::Float(v)]))
            .collect(),
    )
}

/// Answers one decoded request.
pub fn answer(cache: &Cache, backend: &dyn Backend, req: &Value) -> Value {
    let stats = &cache.stats;
    let Some(kind) = req.get("type").and_then(Value::as_str) else {
        return error("request has no 'type'");
    };
    match kind {
        "cache-query" => {
            CacheStats::add(&stats.queries, 1);
            let Some(m) = req.get("metric").and_then(Value::as_str) else {
                return error("request has no 'metric'");
            };
            dict(vec![("datapoints", points(cache, m))])
        }
        "cache-query-bulk" => {
            CacheStats::add(&stats.bulk_queries, 1);
            let Some(ms) = req.get("metrics").and_then(Value::as_seq) else {
                return error("request has no 'metrics' list");
            };
            CacheStats::add(&stats.bulk_query_metrics, ms.len() as u64);
            let by = ms
                .iter()
                .filter_map(Value::as_str)
                .map(|m| (Value::str(m), points(cache, m)))
                .collect();
            dict(vec![("datapointsByMetric", Value::Dict(by))])
        }
        "get-metadata" | "set-metadata" => {
            let (Some(m), Some(key)) = (
                req.get("metric").and_then(Value::as_str),
                req.get("key").and_then(Value::as_str),
            ) else {
                return error("request needs 'metric' and 'key'");
            };
            if key != "aggregationMethod" {
                return error(format!("Unsupported metadata key \"{key}\""));
            }
            if kind == "get-metadata" {
                match backend.aggregation_method(m) {
                    Ok(v) => dict(vec![("value", Value::Str(v))]),
                    Err(e) => error(e),
                }
            } else {
                let Some(v) = req.get("value").and_then(Value::as_str) else {
                    return error("request has no 'value'");
                };
                match backend.set_aggregation_method(m, v) {
                    Ok(old) => dict(vec![
                        ("old_value", Value::Str(old)),
                        ("new_value", Value::str(v)),
                    ]),
                    Err(e) => error(e),
                }
            }
        }
        other => error(format!("Invalid request type \"{other}\"")),
    }
}

/// Serves carbonlink on `listener` until `stop` is set.
pub async fn serve_carbonlink(
    listener: TcpListener,
    cache: Arc<Cache>,
    backend: Arc<dyn Backend>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let sock = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match sock {
            Ok((sock, _)) => {
                let _ = sock.set_nodelay(true);
                tokio::spawn(conn(sock, cache.clone(), backend.clone(), stop.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "carbonlink accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn conn(
    mut sock: TcpStream,
    cache: Arc<Cache>,
    backend: Arc<dyn Backend>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        let r = tokio::select! {
            r = sock.read_exact(&mut len) => r,
            _ = stop.changed() => return,
        };
        if r.is_err() {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_REQUEST {
            // The stream cannot be resynchronised cheaply and no real client sends this: close.
            CacheStats::add(&cache.stats.bad_queries, 1);
            return;
        }
        buf.resize(n, 0);
        if sock.read_exact(&mut buf).await.is_err() {
            return;
        }
        let reply = match proto::pickle::decode(&buf) {
            Ok(req) => {
                let (c, b) = (cache.clone(), backend.clone());
                // Metadata requests touch files: keep them off the reactor threads.
                match tokio::task::spawn_blocking(move || answer(&c, &*b, &req)).await {
                    Ok(v) => v,
                    Err(_) => error("internal error"),
                }
            }
            Err(e) => {
                CacheStats::add(&cache.stats.bad_queries, 1);
                error(format!("invalid request: {e}"))
            }
        };
        let body = match proto::pickle::encode(&reply) {
            Ok(b) => b,
            Err(e) => match proto::pickle::encode(&error(e.to_string())) {
                Ok(b) => b,
                Err(_) => return,
            },
        };
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        if sock.write_all(&out).await.is_err() {
            return;
        }
    }
}
