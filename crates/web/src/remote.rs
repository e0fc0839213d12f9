//! Cluster federation: a [`Source`] per `cluster_servers` peer, speaking graphite-web's
//! RemoteFinder protocol (`local=1&format=pickle` on find and render), behind a deadline and a
//! circuit breaker so a hung peer costs at most a few timeouts before it is skipped.

use crate::error::WebError;
use crate::find_format::FoundNode;
use crate::merge::Answer;
use crate::source::{BoxFuture, FindQuery, Reported, Source, TimeRange};
use proto::pickle::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Consecutive failures that open a peer's breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker skips its peer before the next background probe.
pub const BACKOFF: Duration = Duration::from_secs(2);
/// Largest answer accepted from a peer.
const MAX_BODY: usize = 256 << 20;
/// Largest header block accepted from a peer.
const MAX_HEAD: usize = 64 << 10;

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The breaker is open.
    #[error("peer {0} skipped (circuit open)")]
    Skipped(String),
    /// No answer within the deadline.
    #[error("peer {0} timed out")]
    Timeout(String),
    /// Socket error.
    #[error("peer {peer}: {source}")]
    Io {
        /// The peer.
        peer: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The answer is not HTTP/1.1 as expected, or too large.
    #[error("peer {0}: bad answer: {1}")]
    Protocol(String, String),
    /// A non-200 status.
    #[error("peer {0}: status {1}")]
    Status(String, u16),
    /// The pickle holds Python objects (graphite-web's `IntervalSet`), which are never built.
    #[error("peer {0}: pickle holds objects")]
    PickledObjects(String),
    /// The pickle is not what graphite-web sends.
    #[error("peer {0}: bad pickle: {1}")]
    Pickle(String, String),
}

impl From<RemoteError> for WebError {
    fn from(e: RemoteError) -> Self {
        WebError::Internal(e.to_string())
    }
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// One cluster peer.
pub struct RemoteSource {
    peer: String,
    timeout: Duration,
    connect_timeout: Duration,
    breaker: Arc<Mutex<Breaker>>,
    /// Set once the peer's find pickle turned out to hold objects (graphite-web pickles
    /// `IntervalSet` instances, which the safe decoder refuses): its finds then use msgpack.
    find_msgpack: std::sync::atomic::AtomicBool,
    /// Recent answer times, newest last: the hedging delay is their 90th percentile.
    latencies: Mutex<std::collections::VecDeque<Duration>>,
    /// Start times of the calls in flight, by call number (a hung peer shows as an old one).
    pending: Mutex<std::collections::HashMap<u64, Instant>>,
    next_call: std::sync::atomic::AtomicU64,
}

/// Removes a call from [`RemoteSource::pending`] however it ends.
struct PendingGuard<'a> {
    src: &'a RemoteSource,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.src.pending.lock() {
            p.remove(&self.id);
        }
    }
}

/// Answer times kept per peer for the hedging delay.
const LATENCY_SAMPLES: usize = 64;

impl RemoteSource {
    /// A peer `"host:port"` (an `http://` prefix and trailing `/` are accepted, as in CLUSTER_SERVERS).
    pub fn new(peer: &str, timeout: Duration) -> Self {
        let peer = peer
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        RemoteSource {
            peer,
            timeout,
            connect_timeout: timeout.min(Duration::from_millis(500)),
            breaker: Arc::new(Mutex::new(Breaker::default())),
            find_msgpack: std::sync::atomic::AtomicBool::new(false),
            latencies: Mutex::new(std::collections::VecDeque::new()),
            pending: Mutex::new(std::collections::HashMap::new()),
            next_call: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether a call has been waiting on this peer for longer than `after`: the peer is
    /// probably hung, and the next requests go to replicas first instead of waiting for it
    /// again (the breaker opens only once those calls reach their deadline).
    pub fn stalled(&self, after: Duration) -> bool {
        self.pending
            .lock()
            .map(|p| p.values().any(|t| t.elapsed() > after))
            .unwrap_or(false)
    }

    /// The peer's address `host:port`.
    pub fn address(&self) -> &str {
        &self.peer
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether calls go out (the breaker is closed, or its backoff is over).
    pub fn available(&self) -> bool {
        !self.is_open()
    }

    /// How long to wait for this peer before also asking a replica: the 90th percentile of its
    /// recent answer times, within `[min, max]`; `max` until a few answers were timed.
    pub fn hedge_delay(&self, min: Duration, max: Duration) -> Duration {
        let Ok(l) = self.latencies.lock() else {
            return max;
        };
        if l.len() < 4 {
            return max.max(min);
        }
        let mut v: Vec<Duration> = l.iter().copied().collect();
        v.sort_unstable();
        let at = (v.len() * 9 / 10).min(v.len() - 1);
        v.get(at).copied().unwrap_or(max).clamp(min, max.max(min))
    }

    fn record_latency(&self, d: Duration) {
        if let Ok(mut l) = self.latencies.lock() {
            if l.len() >= LATENCY_SAMPLES {
                l.pop_front();
            }
            l.push_back(d);
        }
    }

    fn is_open(&self) -> bool {
        self.breaker
            .lock()
            .ok()
            .and_then(|b| b.open_until)
            .is_some_and(|t| t > Instant::now())
    }

    fn record(&self, ok: bool) {
        let Ok(mut b) = self.breaker.lock() else {
            return;
        };
        if ok {
            *b = Breaker::default();
            return;
        }
        b.failures = b.failures.saturating_add(1);
        if b.failures < FAILURES_TO_OPEN || b.probing {
            return;
        }
        b.open_until = Some(Instant::now() + BACKOFF);
        b.probing = true;
        tracing::warn!(peer = %self.peer, "web: cluster peer failing; skipping it until a probe answers");
        let (peer, breaker) = (self.peer.clone(), self.breaker.clone());
        let (timeout, connect) = (self.timeout, self.connect_timeout);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(BACKOFF).await;
                // still skipped while the probe is out: a hung peer's probe takes the whole
                // deadline, and requests must not reach it meanwhile
                if let Ok(mut b) = breaker.lock() {
                    b.open_until = Some(Instant::now() + timeout + BACKOFF);
                }
                let r = get(&peer, "GET", "/version/?local=1", "", connect, timeout).await;
                let Ok(mut b) = breaker.lock() else { return };
                if r.is_ok() {
                    tracing::info!(peer = %peer, "web: cluster peer answers again");
                    *b = Breaker::default();
                    return;
                }
                b.open_until = Some(Instant::now() + BACKOFF);
            }
        });
    }

    /// One call under the breaker: skipped while open, counted either way.
    async fn call(&self, method: &str, target: &str, body: &str) -> Result<Vec<u8>, RemoteError> {
        if self.is_open() {
            return Err(RemoteError::Skipped(self.peer.clone()));
        }
        let t0 = Instant::now();
        let id = self
            .next_call
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, t0);
        }
        let _guard = PendingGuard { src: self, id };
        let r = get(
            &self.peer,
            method,
            target,
            body,
            self.connect_timeout,
            self.timeout,
        )
        .await;
        if r.is_ok() {
            self.record_latency(t0.elapsed());
        }
        self.record(r.is_ok());
        r
    }

    async fn find_inner(&self, q: &FindQuery) -> Result<Vec<FoundNode>, RemoteError> {
        use std::sync::atomic::Ordering;
        if !self.find_msgpack.load(Ordering::Relaxed) {
            match self.find_as(q, "pickle").await {
                Err(RemoteError::PickledObjects(_)) => {
                    tracing::info!(peer = %self.peer, "web: peer pickles objects; asking it for msgpack");
                    self.find_msgpack.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.find_as(q, "msgpack").await
    }

    async fn find_as(&self, q: &FindQuery, format: &str) -> Result<Vec<FoundNode>, RemoteError> {
        // the serializer is not Send: finish it before any await
        let query = {
            let mut s = form_urlencoded::Serializer::new(String::new());
            // noCache: the asking node caches the merged answer itself; a second cache at the
            // peer would hide new metrics for twice FIND_CACHE_DURATION
            s.append_pair("local", "1")
                .append_pair("format", format)
                .append_pair("noCache", "1")
                .append_pair("query", &q.pattern);
            if q.leaves_only {
                s.append_pair("leavesOnly", "1");
            }
            s.finish()
        };
        let target = format!("/metrics/find/?{query}");
        let body = self.call("GET", &target, "").await?;
        let v = if format == "msgpack" {
            msgpack_value(&mut body.as_slice(), 0)
                .ok_or_else(|| RemoteError::Pickle(self.peer.clone(), "bad msgpack".into()))?
        } else {
            proto::pickle::decode(&body).map_err(|e| match e {
                proto::PickleError::Forbidden(_) => RemoteError::PickledObjects(self.peer.clone()),
                e => RemoteError::Pickle(self.peer.clone(), e.to_string()),
            })?
        };
        decode_nodes(&v).ok_or_else(|| RemoteError::Pickle(self.peer.clone(), "find shape".into()))
    }

    async fn fetch_inner(
        &self,
        leaves: &[String],
        range: TimeRange,
    ) -> Result<Vec<Answer>, RemoteError> {
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        let form = {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("local", "1")
                .append_pair("format", "pickle")
                .append_pair("noCache", "1")
                .append_pair("from", &range.from.to_string())
                .append_pair("until", &range.until.to_string())
                .append_pair("now", &range.now.to_string());
            for l in leaves {
                s.append_pair("target", l);
            }
            s.finish()
        };
        // a form body: the target list can be far longer than a request line may be
        let body = self.call("POST", "/render/", &form).await?;
        let v = proto::pickle::decode(&body)
            .map_err(|e| RemoteError::Pickle(self.peer.clone(), e.to_string()))?;
        decode_series(&v)
            .ok_or_else(|| RemoteError::Pickle(self.peer.clone(), "render shape".into()))
    }
}

impl Source for RemoteSource {
    fn find<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Result<Vec<FoundNode>, WebError>> {
        Box::pin(async move { Ok(self.find_inner(q).await?) })
    }

    fn fetch<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Result<Vec<Answer>, WebError>> {
        Box::pin(async move { Ok(self.fetch_inner(leaves, range).await?) })
    }

    fn index(&self) -> BoxFuture<'_, Result<Vec<String>, WebError>> {
        Box::pin(async move {
            let body = self.call("GET", "/metrics/index.json?local=1", "").await?;
            serde_json::from_slice::<Vec<String>>(&body)
                .map_err(|e| RemoteError::Pickle(self.peer.clone(), e.to_string()).into())
        })
    }

    fn peer(&self) -> Option<&str> {
        Some(&self.peer)
    }

    fn tag_call<'a>(&'a self, path_query: &'a str) -> BoxFuture<'a, Reported<Vec<Vec<u8>>>> {
        Box::pin(async move { Ok((vec![self.call("GET", path_query, "").await?], Vec::new())) })
    }

    fn fetch_tagged<'a>(
        &'a self,
        pattern: &'a str,
        _local_names: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Reported<Vec<Answer>>> {
        let pattern = [pattern.to_string()];
        Box::pin(async move { Ok((self.fetch_inner(&pattern, range).await?, Vec::new())) })
    }
}

fn dict_get<'a>(d: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    d.iter()
        .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
        .map(|(_, v)| v)
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::List(l) | Value::Tuple(l) => Some(l),
        _ => None,
    }
}

/// graphite-web's find pickle: a list of `{path, is_leaf, intervals: [(start, end)]}`.
fn decode_nodes(v: &Value) -> Option<Vec<FoundNode>> {
    let mut out = Vec::new();
    for n in items(v)? {
        let Value::Dict(d) = n else { return None };
        let Value::Str(path) = dict_get(d, "path")? else {
            return None;
        };
        let is_leaf = match dict_get(d, "is_leaf")? {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            _ => return None,
        };
        let mut intervals = Vec::new();
        if let Some(iv) = dict_get(d, "intervals").and_then(items) {
            for i in iv {
                if let [a, b] = items(i)? {
                    intervals.push((as_f64(a)?, as_f64(b)?));
                }
            }
        }
        out.push(FoundNode {
            path: path.clone(),
            is_leaf,
            intervals,
        });
    }
    Some(out)
}

/// graphite-web's render pickle: a list of `{name, start, end, step, values}`.
fn decode_series(v: &Value) -> Option<Vec<Answer>> {
    let mut out = Vec::new();
    for s in items(v)? {
        let Value::Dict(d) = s else { return None };
        let Value::Str(name) = dict_get(d, "name")? else {
            return None;
        };
        let int = |k: &str| as_f64(dict_get(d, k)?).map(|f| f as i64);
        let values = items(dict_get(d, "values")?)?
            .iter()
            .map(as_f64)
            .collect::<Vec<_>>();
        out.push(Answer {
            name: name.clone(),
            start: int("start")?,
            end: int("end")?,
            step: int("step")?.max(1),
            values,
        });
    }
    Some(out)
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

fn be(b: &mut &[u8], n: usize) -> Option<u64> {
    Some(
        take(b, n)?
            .iter()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x)),
    )
}

/// A msgpack document as the pickle value model (only what a find answer holds; `None` on
/// anything else, truncated input or nesting deeper than 32).
fn msgpack_value(b: &mut &[u8], depth: usize) -> Option<Value> {
    if depth > 32 {
        return None;
    }
    let m = *take(b, 1)?.first()?;
    let seq = |b: &mut &[u8], n: u64| -> Option<Vec<Value>> {
        // each element takes at least one byte: a length beyond the input is a lie
        if n > b.len() as u64 {
            return None;
        }
        (0..n).map(|_| msgpack_value(b, depth + 1)).collect()
    };
    let text = |b: &mut &[u8], n: u64| -> Option<Value> {
        let raw = take(b, usize::try_from(n).ok()?)?;
        Some(Value::Str(std::str::from_utf8(raw).ok()?.to_string()))
    };
    let map = |b: &mut &[u8], n: u64| -> Option<Value> {
        let flat = seq(b, n.checked_mul(2)?)?;
        let mut it = flat.into_iter();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Some(Value::Dict(out))
    };
    Some(match m {
        0x00..=0x7f => Value::Int(i64::from(m)),
        0xe0..=0xff => Value::Int(i64::from(m as i8)),
        0x80..=0x8f => map(b, u64::from(m & 0x0f))?,
        0x90..=0x9f => Value::List(seq(b, u64::from(m & 0x0f))?),
        0xa0..=0xbf => text(b, u64::from(m & 0x1f))?,
        0xc0 => Value::None,
        0xc2 => Value::Bool(false),
        0xc3 => Value::Bool(true),
        0xca => Value::Float(f64::from(f32::from_bits(be(b, 4)? as u32))),
        0xcb => Value::Float(f64::from_bits(be(b, 8)?)),
        0xcc => Value::Int(be(b, 1)? as i64),
        0xcd => Value::Int(be(b, 2)? as i64),
        0xce => Value::Int(be(b, 4)? as i64),
        0xcf => Value::Int(i64::try_from(be(b, 8)?).ok()?),
        0xd0 => Value::Int(i64::from(be(b, 1)? as u8 as i8)),
        0xd1 => Value::Int(i64::from(be(b, 2)? as u16 as i16)),
        0xd2 => Value::Int(i64::from(be(b, 4)? as u32 as i32)),
        0xd3 => Value::Int(be(b, 8)? as i64),
        0xd9 => {
            let n = be(b, 1)?;
            text(b, n)?
        }
        0xda => {
            let n = be(b, 2)?;
            text(b, n)?
        }
        0xdb => {
            let n = be(b, 4)?;
            text(b, n)?
        }
        0xdc => {
            let n = be(b, 2)?;
            Value::List(seq(b, n)?)
        }
        0xdd => {
            let n = be(b, 4)?;
            Value::List(seq(b, n)?)
        }
        0xde => {
            let n = be(b, 2)?;
            map(b, n)?
        }
        0xdf => {
            let n = be(b, 4)?;
            map(b, n)?
        }
        _ => return None,
    })
}

/// One HTTP/1.1 request with `Connection: close`, bounded in time and size; the body of a 200.
async fn get(
    peer: &str,
    method: &str,
    target: &str,
    body: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Vec<u8>, RemoteError> {
    let io = |source| RemoteError::Io {
        peer: peer.to_string(),
        source,
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(peer)).await {
        Err(_) => return Err(RemoteError::Timeout(peer.to_string())),
        Ok(r) => r.map_err(io)?,
    };
    let exchange = async {
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {peer}\r\nConnection: close\r\nUser-Agent: carbonado\r\n"
        );
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        stream.write_all(req.as_bytes()).await.map_err(io)?;
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            if buf.len() + n > MAX_BODY + MAX_HEAD {
                return Err(RemoteError::Protocol(
                    peer.to_string(),
                    "answer too large".into(),
                ));
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
        parse_response(peer, &buf)
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => Err(RemoteError::Timeout(peer.to_string())),
        Ok(r) => r,
    }
}

fn parse_response(peer: &str, buf: &[u8]) -> Result<Vec<u8>, RemoteError> {
    let bad = |m: &str| RemoteError::Protocol(peer.to_string(), m.to_string());
    let head_end = buf
        .windows(4)
        .take(MAX_HEAD)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
        .map_err(|_| bad("header not UTF-8"))?;
    let body = buf.get(head_end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    if status != 200 {
        return Err(RemoteError::Status(peer.to_string(), status));
    }
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = Some(v.parse::<usize>().map_err(|_| bad("bad Content-Length"))?);
        }
    }
    if chunked {
        return dechunk(body).ok_or_else(|| bad("bad chunked body"));
    }
    match length {
        Some(n) => body
            .get(..n)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| bad("short body")),
        None => Ok(body.to_vec()),
    }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(body.get(..line_end)?).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        let rest = body.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response("p", r).unwrap(), b"abcde");
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nxyz";
        assert_eq!(parse_response("p", r).unwrap(), b"xy");
        let r = b"HTTP/1.1 500 Oops\r\n\r\n";
        assert!(matches!(
            parse_response("p", r),
            Err(RemoteError::Status(_, 500))
        ));
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(parse_response("p", r).is_err());
    }

    #[tokio::test]
    async fn a_silent_peer_opens_the_breaker() {
        // accepts connections (the kernel does, for a stopped process too) but never answers
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let src = RemoteSource::new(&format!("http://{addr}/"), Duration::from_millis(100));
        assert_eq!(src.peer(), Some(addr.as_str()));
        let q = FindQuery {
            pattern: "a.*".into(),
            leaves_only: false,
            limit: 10,
            with_intervals: false,
        };
        for _ in 0..FAILURES_TO_OPEN {
            assert!(matches!(
                src.find_inner(&q).await,
                Err(RemoteError::Timeout(_))
            ));
        }
        assert!(matches!(
            src.find_inner(&q).await,
            Err(RemoteError::Skipped(_))
        ));
        drop(listener);
    }

    #[test]
    fn pickles_from_our_encoders_decode() {
        let nodes = vec![FoundNode {
            path: "a.b".into(),
            is_leaf: true,
            intervals: vec![(1.0, 2.0)],
        }];
        let v = proto::pickle::decode(&crate::find_format::pickle_nodes(&nodes)).unwrap();
        assert_eq!(decode_nodes(&v).unwrap(), nodes);
        assert!(decode_nodes(&Value::Int(3)).is_none());
        let mp = crate::find_format::msgpack_nodes(&nodes);
        let v = msgpack_value(&mut mp.as_slice(), 0).unwrap();
        assert_eq!(decode_nodes(&v).unwrap(), nodes);
        for cut in 0..mp.len() {
            assert!(
                msgpack_value(&mut mp.get(..cut).unwrap(), 0).is_none(),
                "cut {cut}"
            );
        }
        assert!(msgpack_value(&mut &[0xdd, 0xff, 0xff, 0xff, 0xff][..], 0).is_none());
    }
}
