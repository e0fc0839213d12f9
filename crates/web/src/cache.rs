//! Response caching as graphite-web does it: an in-process cache by default, memcached when
//! `memcache_hosts` is set. Values are whole encoded responses keyed by a hash of the request.

use crate::memcache::Memcache;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A cached HTTP answer: content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The `Content-Type` header value.
    pub content_type: String,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl CachedResponse {
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.content_type.len() + 1 + self.body.len());
        v.extend_from_slice(self.content_type.as_bytes());
        v.push(b'\n');
        v.extend_from_slice(&self.body);
        v
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let nl = b.iter().position(|c| *c == b'\n')?;
        let content_type = std::str::from_utf8(b.get(..nl)?).ok()?.to_string();
        Some(CachedResponse {
            content_type,
            body: b.get(nl + 1..)?.to_vec(),
        })
    }
}

struct Entry {
    expires: Instant,
    value: Arc<CachedResponse>,
}

/// A bounded in-process TTL cache.
pub struct LocalCache {
    max_bytes: usize,
    inner: Mutex<(HashMap<String, Entry>, usize)>,
}

impl LocalCache {
    /// A cache holding at most `max_bytes` of bodies.
    pub fn new(max_bytes: usize) -> Self {
        LocalCache {
            max_bytes,
            inner: Mutex::new((HashMap::new(), 0)),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<CachedResponse>> {
        let mut g = self.inner.lock().ok()?;
        let (map, used) = &mut *g;
        match map.get(key) {
            Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
            Some(_) => {
                if let Some(e) = map.remove(key) {
                    *used -= e.value.body.len();
                }
                None
            }
            None => None,
        }
    }

    fn put(&self, key: String, value: CachedResponse, ttl: Duration) {
        let size = value.body.len();
        if size > self.max_bytes {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        let (map, used) = &mut *g;
        let now = Instant::now();
        if *used + size > self.max_bytes {
            map.retain(|_, e| e.expires > now);
            *used = map.values().map(|e| e.value.body.len()).sum();
        }
        // Still full of live entries: drop those closest to expiry until the new one fits.
        while *used + size > self.max_bytes {
            let Some(k) = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = map.remove(&k) {
                *used -= e.value.body.len();
            }
        }
        if let Some(old) = map.insert(
            key,
            Entry {
                expires: now + ttl,
                value: Arc::new(value),
            },
        ) {
            *used -= old.value.body.len();
        }
        *used += size;
    }
}

/// The response cache used by the handlers.
pub enum ResponseCache {
    /// No caching.
    Off,
    /// In-process cache.
    Local(LocalCache),
    /// Memcached servers.
    Memcached(Memcache),
}

impl ResponseCache {
    /// Looks `key` up; failures of a remote cache count as misses (and are logged).
    pub async fn get(&self, key: &str) -> Option<Arc<CachedResponse>> {
        match self {
            ResponseCache::Off => None,
            ResponseCache::Local(c) => c.get(key),
            ResponseCache::Memcached(m) => match m.get(key).await {
                Ok(Some(b)) => CachedResponse::from_bytes(&b).map(Arc::new),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!("cache get failed: {e}");
                    None
                }
            },
        }
    }

    /// Stores a response for `ttl`; failures are logged and otherwise ignored.
    pub async fn put(&self, key: &str, value: CachedResponse, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        match self {
            ResponseCache::Off => {}
            ResponseCache::Local(c) => c.put(key.to_string(), value, ttl),
            ResponseCache::Memcached(m) => {
                let secs = u32::try_from(ttl.as_secs().max(1)).unwrap_or(u32::MAX);
                if let Err(e) = m.set(key, &value.to_bytes(), secs).await {
                    tracing::warn!("cache set failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(n: usize) -> CachedResponse {
        CachedResponse {
            content_type: "application/json".into(),
            body: vec![b'x'; n],
        }
    }

    #[test]
    fn local_cache_expires_and_bounds() {
        let c = LocalCache::new(100);
        c.put("a".into(), resp(60), Duration::from_secs(60));
        assert_eq!(c.get("a").map(|r| r.body.len()), Some(60));
        c.put("b".into(), resp(60), Duration::from_secs(120));
        assert!(
            c.get("a").is_none(),
            "oldest-expiring entry is evicted to make room"
        );
        assert!(c.get("b").is_some());
        c.put("big".into(), resp(101), Duration::from_secs(60));
        assert!(c.get("big").is_none());
        c.put("z".into(), resp(1), Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get("z").is_none());
    }

    #[test]
    fn serialized_form_round_trips() {
        let r = CachedResponse {
            content_type: "text/csv".into(),
            body: b"a\nb".to_vec(),
        };
        assert_eq!(CachedResponse::from_bytes(&r.to_bytes()), Some(r));
    }
}
