//! A small memcached client speaking the text protocol over tokio (`get`/`set`), with a
//! connection pool per server and keys spread over servers by hash, like graphite-web's MEMCACHE_HOSTS.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Failures talking to memcached.
#[derive(Debug, thiserror::Error)]
pub enum MemcacheError {
    /// Socket error or timeout.
    #[error("memcached {host}: {source}")]
    Io {
        /// The server.
        host: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server answered something the protocol does not allow here.
    #[error("memcached {host}: unexpected reply {reply:?}")]
    Protocol {
        /// The server.
        host: String,
        /// The offending line.
        reply: String,
    },
    /// The stored value is larger than this client accepts.
    #[error("memcached {host}: value of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The server.
        host: String,
        /// Announced length.
        len: usize,
        /// Our limit.
        max: usize,
    },
}

type Conn = BufReader<TcpStream>;

struct Server {
    addr: String,
    idle: Mutex<Vec<Conn>>,
}

/// A memcached client over one or more servers.
pub struct Memcache {
    servers: Vec<Server>,
    timeout: Duration,
    max_value: usize,
}

const MAX_IDLE: usize = 8;

impl Memcache {
    /// A client for `hosts` (`"host:port"`), with a per-operation `timeout` and a cap on value size.
    pub fn new(hosts: &[String], timeout: Duration, max_value: usize) -> Self {
        Memcache {
            servers: hosts
                .iter()
                .map(|h| Server {
                    addr: h.clone(),
                    idle: Mutex::new(Vec::new()),
                })
                .collect(),
            timeout,
            max_value,
        }
    }

    fn server_for(&self, key: &str) -> Option<&Server> {
        if self.servers.is_empty() {
            return None;
        }
        // FNV-1a over the key spreads keys evenly; which server holds a key only needs to be stable.
        let mut h: u32 = 0x811c9dc5;
        for b in key.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x01000193);
        }
        self.servers.get(h as usize % self.servers.len())
    }

    async fn checkout(&self, s: &Server) -> Result<Conn, MemcacheError> {
        if let Some(c) = s.idle.lock().await.pop() {
            return Ok(c);
        }
        let io = |source| MemcacheError::Io {
            host: s.addr.clone(),
            source,
        };
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&s.addr))
            .await
            .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        Ok(BufReader::new(stream))
    }

    async fn checkin(&self, s: &Server, c: Conn) {
        let mut idle = s.idle.lock().await;
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }

    /// Fetches `key`; `Ok(None)` on a miss. Keys must be memcached-safe (no spaces, at most 250 bytes).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, MemcacheError> {
        let Some(s) = self.server_for(key) else {
            return Ok(None);
        };
        let mut c = self.checkout(s).await?;
        let res = tokio::time::timeout(self.timeout, self.get_on(&mut c, &s.addr, key)).await;
        match res {
            Ok(Ok(v)) => {
                self.checkin(s, c).await;
                Ok(v)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MemcacheError::Io {
                host: s.addr.clone(),
                source: std::io::ErrorKind::TimedOut.into(),
            }),
        }
    }

    async fn get_on(
        &self,
        c: &mut Conn,
        host: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, MemcacheError> {
        let io = |source| MemcacheError::Io {
            host: host.to_string(),
            source,
        };
        c.get_mut()
            .write_all(format!("get {key}\r\n").as_bytes())
            .await
            .map_err(io)?;
        let line = read_line(c, host).await?;
        if line == "END" {
            return Ok(None);
        }
        let proto = || MemcacheError::Protocol {
            host: host.to_string(),
            reply: line.clone(),
        };
        let mut parts = line.split(' ');
        if parts.next() != Some("VALUE") || parts.next() != Some(key) {
            return Err(proto());
        }
        let _flags = parts.next().ok_or_else(proto)?;
        let len: usize = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(proto)?;
        if len > self.max_value {
            return Err(MemcacheError::TooLarge {
                host: host.to_string(),
                len,
                max: self.max_value,
            });
        }
        let mut data = vec![0u8; len + 2];
        c.read_exact(&mut data).await.map_err(io)?;
        data.truncate(len);
        let end = read_line(c, host).await?;
        if end != "END" {
            return Err(MemcacheError::Protocol {
                host: host.to_string(),
                reply: end,
            });
        }
        Ok(Some(data))
    }

    /// Stores `value` under `key` for `ttl` seconds. A value the server refuses (too large) is not an error.
    pub async fn set(&self, key: &str, value: &[u8], ttl: u32) -> Result<(), MemcacheError> {
        let Some(s) = self.server_for(key) else {
            return Ok(());
        };
        let mut c = self.checkout(s).await?;
        let host = s.addr.clone();
        let op = async {
            let io = |source| MemcacheError::Io {
                host: host.clone(),
                source,
            };
            let mut msg = format!("set {key} 0 {ttl} {}\r\n", value.len()).into_bytes();
            msg.extend_from_slice(value);
            msg.extend_from_slice(b"\r\n");
            c.get_mut().write_all(&msg).await.map_err(io)?;
            let line = read_line(&mut c, &host).await?;
            match line.as_str() {
                "STORED" | "NOT_STORED" => Ok(true),
                l if l.starts_with("SERVER_ERROR") => Ok(true),
                _ => Err(MemcacheError::Protocol {
                    host: host.clone(),
                    reply: line,
                }),
            }
        };
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(_)) => {
                self.checkin(s, c).await;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MemcacheError::Io {
                host: s.addr.clone(),
                source: std::io::ErrorKind::TimedOut.into(),
            }),
        }
    }
}

/// Reads one `\r\n`-terminated reply line, bounded so a broken server cannot grow our memory.
async fn read_line(c: &mut Conn, host: &str) -> Result<String, MemcacheError> {
    let mut buf = Vec::new();
    let mut limited = (&mut *c).take(1024);
    let n = limited
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|source| MemcacheError::Io {
            host: host.to_string(),
            source,
        })?;
    if n == 0 || !buf.ends_with(b"\r\n") {
        return Err(MemcacheError::Protocol {
            host: host.to_string(),
            reply: String::from_utf8_lossy(&buf).into_owned(),
        });
    }
    buf.truncate(buf.len() - 2);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
