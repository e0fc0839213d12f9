//! The `[web]` section of carbonado.toml.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of the web role (graphite-web's local_settings.py, in carbon.conf-like names).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Whether the role runs.
    pub enabled: bool,
    /// HTTP listen address `"ip:port"`.
    pub listen: String,
    /// Whisper tree root; defaults to the cache role's `local_data_dir`.
    pub local_data_dir: Option<PathBuf>,
    /// Cluster peers `"host:port"` whose web roles are asked with `local=1` (graphite-web's CLUSTER_SERVERS).
    pub cluster_servers: Vec<String>,
    /// Caches to ask for points not yet on disk, `"host:port:instance"`, in the relay's ring order.
    pub carbonlink_hosts: Vec<String>,
    /// Ring hash for `carbonlink_hosts`: `carbon_ch` or `fnv1a_ch`.
    pub carbonlink_hashing_type: String,
    /// Copies of each metric among `carbonlink_hosts` (REPLICATION_FACTOR).
    pub replication_factor: usize,
    /// Carbonlink connect/answer timeout (CARBONLINK_TIMEOUT), e.g. `"1s"`.
    pub carbonlink_timeout: String,
    /// memcached servers `"host:port"`; empty uses the in-process cache.
    pub memcache_hosts: Vec<String>,
    /// Timeout for remote calls (memcached, later cluster peers), e.g. `"2s"`.
    pub remote_timeout: String,
    /// Seconds a render answer is cached (DEFAULT_CACHE_DURATION); 0 turns all answer caching off.
    pub default_cache_duration: u64,
    /// Seconds a find answer is cached (FIND_CACHE_DURATION); new metrics show up after at most this.
    pub find_cache_duration: u64,
    /// Bytes of answers the in-process cache may hold.
    pub local_cache_bytes: usize,
    /// Time zone for absolute times and CSV output (TIME_ZONE).
    pub time_zone: String,
    /// Most nodes one find (or one path expression of a render) may match.
    pub max_find_results: usize,
    /// Most series one render may fetch.
    pub max_series_per_request: usize,
    /// Most datapoints one render may fetch (summed over all series).
    pub max_points_per_request: usize,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Whisper reads running at once.
    pub read_concurrency: usize,
    /// The cluster's placement ring: the relay's `destinations` in ring order, each with the web
    /// address of the node storing it. When set, a render asks only each metric's owners.
    pub cluster_ring: Vec<RingMember>,
    /// The relay's `relay_method` for `cluster_ring`: `carbon_ch`, `fnv1a_ch` or `jump_fnv1a_ch`.
    pub cluster_relay_method: String,
    /// The relay's `hash_flavor` (`carbon` or `carbon-c-relay`; empty: as the relay's default).
    pub cluster_hash_flavor: String,
    /// The relay's `replication_factor`: copies of each metric on the ring.
    pub cluster_replication_factor: usize,
    /// The relay's `diverse_replicas`.
    pub cluster_diverse_replicas: bool,
    /// This node's `http` address as written in `cluster_ring`; empty: the `listen` address.
    pub cluster_self: String,
    /// Shortest wait for a metric's owner before its replica is also asked, e.g. `"10ms"`.
    pub cluster_hedge_min: String,
    /// Longest wait for a metric's owner before its replica is also asked, e.g. `"100ms"`.
    pub cluster_hedge_max: String,
    /// Bearer token required by the `/transfer/*` endpoints (rebalance); unset: loopback clients only.
    pub admin_token: Option<String>,
    /// How often the name index is rebuilt from the whisper tree, e.g. `"60s"`, so files written
    /// by other processes (separate cache instances, carbon-cache, copies) become findable;
    /// `"0s"` turns it off (the in-process cache adds its own new metrics at once anyway).
    pub index_reload_interval: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            local_data_dir: None,
            cluster_servers: Vec::new(),
            carbonlink_hosts: Vec::new(),
            carbonlink_hashing_type: "carbon_ch".into(),
            replication_factor: 1,
            carbonlink_timeout: "1s".into(),
            memcache_hosts: Vec::new(),
            remote_timeout: "2s".into(),
            default_cache_duration: 60,
            find_cache_duration: 60,
            local_cache_bytes: 256 << 20,
            time_zone: "UTC".into(),
            max_find_results: 100_000,
            max_series_per_request: 50_000,
            max_points_per_request: 50_000_000,
            max_body_bytes: 8 << 20,
            read_concurrency: 16,
            cluster_ring: Vec::new(),
            cluster_relay_method: "carbon_ch".into(),
            cluster_hash_flavor: String::new(),
            cluster_replication_factor: 1,
            cluster_diverse_replicas: true,
            cluster_self: String::new(),
            cluster_hedge_min: "5ms".into(),
            cluster_hedge_max: "100ms".into(),
            admin_token: None,
            index_reload_interval: "60s".into(),
        }
    }
}

/// One `cluster_ring` entry: where the relay sends, and which web role serves what it stores.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RingMember {
    /// The destination exactly as in the relay's `destinations` (`host:port:instance`); its text
    /// is part of the hash, so it must be spelled the same.
    pub destination: String,
    /// The web role (`host:port`) of the node whose cache receives that destination's points.
    pub http: String,
}

/// A setting that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[web] {key}: {msg}")]
pub struct ConfigError {
    /// The setting.
    pub key: &'static str,
    /// What is wrong.
    pub msg: String,
}

/// Parses `"500ms"`, `"2s"`, `"1m"`, `"1h"` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

impl WebConfig {
    /// Checks every setting that has a syntax, so `check-config` and start-up report them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let dur = |key, v: &str| {
            parse_duration(v).map(|_| ()).ok_or(ConfigError {
                key,
                msg: format!("invalid duration {v:?}"),
            })
        };
        dur("carbonlink_timeout", &self.carbonlink_timeout)?;
        dur("remote_timeout", &self.remote_timeout)?;
        dur("cluster_hedge_min", &self.cluster_hedge_min)?;
        dur("cluster_hedge_max", &self.cluster_hedge_max)?;
        dur("index_reload_interval", &self.index_reload_interval)?;
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError {
                key: "time_zone",
                msg: format!("unknown time zone {:?}", self.time_zone),
            });
        }
        if !matches!(
            self.carbonlink_hashing_type.as_str(),
            "carbon_ch" | "fnv1a_ch"
        ) {
            return Err(ConfigError {
                key: "carbonlink_hashing_type",
                msg: format!("unknown hashing type {:?}", self.carbonlink_hashing_type),
            });
        }
        for h in &self.carbonlink_hosts {
            if h.split(':').count() < 2 {
                return Err(ConfigError {
                    key: "carbonlink_hosts",
                    msg: format!("expected host:port[:instance], got {h:?}"),
                });
            }
        }
        if self.replication_factor == 0 {
            return Err(ConfigError {
                key: "replication_factor",
                msg: "must be at least 1".into(),
            });
        }
        crate::cluster::check(self)?;
        if self.read_concurrency == 0 {
            return Err(ConfigError {
                key: "read_concurrency",
                msg: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert_eq!(WebConfig::default().validate(), Ok(()));
        let c = WebConfig {
            time_zone: "Mars/Olympus".into(),
            ..WebConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "time_zone");
    }
}
