//! The carbonlink client: asks the caches that own each metric for points not yet on disk, one
//! `cache-query-bulk` per cache per fetch, routed like graphite-web's `CarbonLinkPool`
//! (consistent-hash ring over `carbonlink_hosts`, first `replication_factor` distinct servers).

use crate::local::{CacheLookup, CachedPoints, InProcessCache};
use crate::source::BoxFuture;
use proto::pickle::{DecodeLimits, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// graphite-web's CARBON_METRIC_PREFIX: such metrics are asked of every cache.
const CARBON_PREFIX: &str = "carbon";
/// CARBONLINK_RETRY_DELAY: a failed cache is avoided this long when a replica can answer.
const RETRY_DELAY: Duration = Duration::from_secs(15);
/// Largest answer accepted from a cache.
const MAX_ANSWER: usize = 256 << 20;
/// Idle connections kept per cache.
const MAX_IDLE: usize = 8;

/// A carbonlink setup that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarbonlinkError {
    /// A `carbonlink_hosts` entry does not parse, or the ring refuses the list.
    #[error("carbonlink_hosts: {0}")]
    Hosts(String),
    /// More replicas asked for than there are servers.
    #[error("replication_factor={factor} cannot exceed servers={servers}")]
    Replication {
        /// Configured factor.
        factor: usize,
        /// Distinct servers.
        servers: usize,
    },
}

struct Host {
    addr: String,
    server: String,
    local: Option<Arc<InProcessCache>>,
    idle: tokio::sync::Mutex<Vec<TcpStream>>,
    last_failure: Mutex<Option<Instant>>,
}

struct Inner {
    hosts: Vec<Host>,
    ring: ring::CarbonRing,
    replication: usize,
    timeout: Duration,
}

/// A pool of carbonlink connections over the configured caches.
#[derive(Clone)]
pub struct CarbonlinkPool {
    inner: Arc<Inner>,
}

impl CarbonlinkPool {
    /// A pool over `hosts` (`host:port:instance`) with ring hash `hash` (`carbon_ch`/`fnv1a_ch`).
    /// A host whose `host:port` equals `local.0` is the cache role of this process: it is queried
    /// directly through `local.1` instead of over TCP.
    pub fn new(
        hosts: &[String],
        hash: &str,
        replication: usize,
        timeout: Duration,
        local: Option<(String, Arc<InProcessCache>)>,
    ) -> Result<Self, CarbonlinkError> {
        let mut parsed = Vec::new();
        for h in hosts {
            parsed.push(
                ring::Destination::parse(h).map_err(|e| CarbonlinkError::Hosts(e.to_string()))?,
            );
        }
        let servers: std::collections::HashSet<&str> =
            parsed.iter().map(|d| d.host.as_str()).collect();
        if servers.len() < replication {
            return Err(CarbonlinkError::Replication {
                factor: replication,
                servers: servers.len(),
            });
        }
        let nodes = parsed
            .iter()
            .map(|d| ring::Node {
                server: d.host.clone(),
                instance: d.instance.clone(),
            })
            .collect();
        let kind = if hash == "fnv1a_ch" {
            ring::CarbonHash::Fnv1aCh
        } else {
            ring::CarbonHash::CarbonCh
        };
        let ring = ring::CarbonRing::new(nodes, kind)
            .map_err(|e| CarbonlinkError::Hosts(e.to_string()))?;
        let hosts = parsed
            .iter()
            .map(|d| {
                let addr = format!("{}:{}", d.host, d.port);
                let local = local
                    .as_ref()
                    .filter(|(a, _)| *a == addr)
                    .map(|(_, c)| c.clone());
                Host {
                    addr,
                    server: d.host.clone(),
                    local,
                    idle: tokio::sync::Mutex::new(Vec::new()),
                    last_failure: Mutex::new(None),
                }
            })
            .collect();
        Ok(CarbonlinkPool {
            inner: Arc::new(Inner {
                hosts,
                ring,
                replication: replication.max(1),
                timeout,
            }),
        })
    }

    /// The cache that answers for `metric`: among the first `replication_factor` distinct servers
    /// on the ring, the first that has not failed lately.
    fn select_host(&self, metric: &str) -> Option<usize> {
        let inner = &self.inner;
        let mut servers: Vec<&str> = Vec::new();
        let mut nodes = Vec::new();
        for idx in inner.ring.get_nodes(metric) {
            let Some(h) = inner.hosts.get(idx) else {
                continue;
            };
            if servers.contains(&h.server.as_str()) {
                continue;
            }
            servers.push(&h.server);
            nodes.push(idx);
            if servers.len() >= inner.replication {
                break;
            }
        }
        let healthy = nodes.iter().copied().find(|i| {
            inner.hosts.get(*i).is_some_and(|h| {
                h.last_failure
                    .lock()
                    .map(|f| f.is_none_or(|t| t.elapsed() > RETRY_DELAY))
                    .unwrap_or(true)
            })
        });
        healthy.or_else(|| nodes.first().copied())
    }
}

impl Inner {
    async fn bulk(&self, idx: usize, metrics: Vec<String>) -> HashMap<String, CachedPoints> {
        let Some(host) = self.hosts.get(idx) else {
            return HashMap::new();
        };
        if let Some(local) = &host.local {
            return local.query_bulk(&metrics).await;
        }
        match tokio::time::timeout(self.timeout, self.exchange(host, &metrics)).await {
            Ok(Ok(map)) => map,
            Ok(Err(e)) => {
                tracing::warn!("carbonlink {}: {e}", host.addr);
                if let Ok(mut f) = host.last_failure.lock() {
                    *f = Some(Instant::now());
                }
                HashMap::new()
            }
            Err(_) => {
                tracing::warn!(
                    "carbonlink {}: timed out after {:?}",
                    host.addr,
                    self.timeout
                );
                if let Ok(mut f) = host.last_failure.lock() {
                    *f = Some(Instant::now());
                }
                HashMap::new()
            }
        }
    }

    async fn exchange(
        &self,
        host: &Host,
        metrics: &[String],
    ) -> Result<HashMap<String, CachedPoints>, String> {
        let request = Value::Dict(vec![
            (Value::str("type"), Value::str("cache-query-bulk")),
            (
                Value::str("metrics"),
                Value::List(metrics.iter().map(|m| Value::str(m.as_str())).collect()),
            ),
        ]);
        let payload = proto::pickle::encode(&request).map_err(|e| e.to_string())?;
        let frame = proto::frame::framed(&payload).map_err(|e| e.to_string())?;
        let pooled = host.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = TcpStream::connect(&host.addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let _ = c.set_nodelay(true);
                c
            }
        };
        conn.write_all(&frame)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut prefix = [0u8; 4];
        conn.read_exact(&mut prefix)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let len = proto::frame::frame_len(prefix) as usize;
        if len > MAX_ANSWER {
            return Err(format!("answer of {len} bytes exceeds {MAX_ANSWER}"));
        }
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let value = proto::pickle::decode_with(&body, &DecodeLimits::default())
            .map_err(|e| e.to_string())?;
        {
            let mut idle = host.idle.lock().await;
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        if let Some(err) = value.get("error") {
            return Err(format!("cache error: {}", err.as_str().unwrap_or("?")));
        }
        let Some(Value::Dict(by_metric)) = value.get("datapointsByMetric") else {
            return Err("answer has no datapointsByMetric".into());
        };
        let mut out = HashMap::with_capacity(by_metric.len());
        for (k, v) in by_metric {
            let (Some(name), Some(points)) = (k.as_str(), v.as_seq()) else {
                continue;
            };
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| match p.as_seq() {
                    Some([t, v]) => Some((t.to_f64()?, v.to_f64()?)),
                    _ => None,
                })
                .collect();
            out.insert(name.to_string(), pts);
        }
        Ok(out)
    }
}

impl CacheLookup for CarbonlinkPool {
    fn query_bulk<'a>(
        &'a self,
        metrics: &'a [String],
    ) -> BoxFuture<'a, HashMap<String, CachedPoints>> {
        Box::pin(async move {
            let n_hosts = self.inner.hosts.len();
            let mut per_host: Vec<Vec<String>> = vec![Vec::new(); n_hosts];
            for m in metrics {
                if m.starts_with(CARBON_PREFIX) {
                    for list in per_host.iter_mut() {
                        list.push(m.clone());
                    }
                } else if let Some(i) = self.select_host(m) {
                    if let Some(list) = per_host.get_mut(i) {
                        list.push(m.clone());
                    }
                }
            }
            let mut tasks = tokio::task::JoinSet::new();
            for (i, list) in per_host.into_iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                let inner = self.inner.clone();
                tasks.spawn(async move { (i, inner.bulk(i, list).await) });
            }
            let mut answers: Vec<(usize, HashMap<String, CachedPoints>)> = Vec::new();
            while let Some(r) = tasks.join_next().await {
                if let Ok(a) = r {
                    answers.push(a);
                }
            }
            // Host order matters for carbon.* metrics: later hosts overwrite earlier timestamps.
            answers.sort_by_key(|(i, _)| *i);
            let mut out: HashMap<String, CachedPoints> = HashMap::new();
            for (_, map) in answers {
                for (name, pts) in map {
                    if !name.starts_with(CARBON_PREFIX) {
                        out.insert(name, pts);
                        continue;
                    }
                    // graphite-web merges only answers holding more than one point
                    if pts.len() <= 1 {
                        continue;
                    }
                    let slot = out.entry(name).or_default();
                    for (t, v) in pts {
                        match slot.iter_mut().find(|(ts, _)| *ts == t) {
                            Some(p) => p.1 = v,
                            None => slot.push((t, v)),
                        }
                    }
                }
            }
            out
        })
    }
}
