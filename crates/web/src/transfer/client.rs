//! A minimal HTTP/1.1 client for the transfer endpoints: one request per connection, binary
//! bodies, a bearer token, a deadline, and a bound on the answer's size. Used by a node pushing a
//! file to another node and by `carbonado rebalance`.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer accepted (a whisper file, or a node's list of names).
pub const MAX_REPLY: usize = 512 << 20;
/// Largest header block accepted.
const MAX_HEAD: usize = 64 << 10;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No connection or no complete answer within the deadline.
    #[error("{0}: timed out")]
    Timeout(String),
    /// Socket error.
    #[error("{addr}: {source}")]
    Io {
        /// The node.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The answer is not the HTTP/1.1 expected, or too large.
    #[error("{0}: bad answer: {1}")]
    Protocol(String, String),
}

/// An answer: status, headers (lower-case names) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, lossily (for error messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// Calls the transfer endpoints of nodes with one token and one deadline per call.
#[derive(Debug, Clone)]
pub struct Client {
    token: Option<String>,
    timeout: Duration,
}

/// `key=value&...`, form-encoded (metric names may hold `;`, `=`, `&` and non-ASCII).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Client {
    /// A client sending `Authorization: Bearer <token>` when a token is given.
    pub fn new(token: Option<String>, timeout: Duration) -> Self {
        Client { token, timeout }
    }

    /// One request to `addr` (`host:port`, an `http://` prefix is accepted).
    pub async fn call(
        &self,
        addr: &str,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Reply, ClientError> {
        let addr = addr
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let io = |source| ClientError::Io {
            addr: addr.to_string(),
            source,
        };
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.map_err(io)?;
            let mut head = format!(
                "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: carbonado\r\nContent-Length: {}\r\n",
                body.len()
            );
            if !body.is_empty() {
                head.push_str("Content-Type: application/octet-stream\r\n");
            }
            if let Some(t) = &self.token {
                head.push_str(&format!("Authorization: Bearer {t}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await.map_err(io)?;
            stream.write_all(body).await.map_err(io)?;
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                let n = stream.read(&mut chunk).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                if buf.len() + n > MAX_REPLY + MAX_HEAD {
                    return Err(ClientError::Protocol(
                        addr.to_string(),
                        "answer too large".into(),
                    ));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            parse_reply(addr, buf)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(ClientError::Timeout(addr.to_string())),
            Ok(r) => r,
        }
    }
}

fn parse_reply(addr: &str, mut buf: Vec<u8>) -> Result<Reply, ClientError> {
    let bad = |m: &str| ClientError::Protocol(addr.to_string(), m.to_string());
    let head_end = buf
        .windows(4)
        .take(MAX_HEAD)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
        .map_err(|_| bad("header not UTF-8"))?
        .to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = buf.split_off(head_end + 4);
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(&body).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if body.len() < len {
            return Err(bad("body shorter than content-length"));
        }
        let mut body = body;
        body.truncate(len);
        body
    } else {
        body
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(b.get(..line_end)?).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        b = b.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_with_length_chunks_or_eof() {
        let r = parse_reply(
            "n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcdef".to_vec(),
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x-a")),
            (200, &b"abc"[..], Some("b"))
        );
        let r = parse_reply(
            "n",
            b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                .to_vec(),
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (409, &b"abcde"[..]));
        let r = parse_reply("n", b"HTTP/1.1 200 OK\r\n\r\nrest".to_vec()).unwrap();
        assert_eq!(r.body, b"rest");
    }

    #[test]
    fn bad_replies_are_errors() {
        assert!(parse_reply("n", b"garbage".to_vec()).is_err());
        assert!(parse_reply("n", b"HTTP/1.1 200\r\nContent-Length: 9\r\n\r\nab".to_vec()).is_err());
        assert!(parse_reply(
            "n",
            b"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec()
        )
        .is_err());
        assert!(parse_reply("n", b"HTTP/1.1 x\r\n\r\n".to_vec()).is_err());
    }

    #[test]
    fn query_encodes_tagged_names() {
        assert_eq!(
            query(&[("metric", "a.b;dc=x&y"), ("to", "h:1")]),
            "metric=a.b%3Bdc%3Dx%26y&to=h%3A1"
        );
    }
}
