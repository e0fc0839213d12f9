//! `carbonado.toml`: one section per role, keys named after carbon.conf's in lower snake case.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The embedded default configuration (what `carbonado serve` runs without `--config`).
pub const DEFAULT_CONFIG: &str = r#"
[cache]
enabled = true
local_data_dir = "./data"
line_receiver = "127.0.0.1:2003"
pickle_receiver = "127.0.0.1:2004"
udp_receiver = ""
cache_query = "127.0.0.1:7002"
http_listen = "127.0.0.1:8081"
max_cache_size = 10000000
max_cache_memory = "2GiB"
max_updates_per_second = "inf"
max_creates_per_minute = "inf"
cache_write_strategy = "max"
storage_schemas = "storage-schemas.conf"
storage_aggregation = "storage-aggregation.conf"
wal_sync_interval = "1s"

[web]
enabled = true
listen = "127.0.0.1:8080"
"#;

/// A number that may be `"inf"` (no limit), as in carbon.conf.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Limit {
    /// A finite limit.
    Finite(u64),
    /// `"inf"` or `"unlimited"`.
    Word(LimitWord),
}

/// The spelling of "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitWord {
    /// carbon's spelling.
    Inf,
    /// A synonym.
    Unlimited,
}

impl Limit {
    /// `None` when unlimited (0 also means unlimited, as go-carbon's 0).
    pub fn get(self) -> Option<u64> {
        match self {
            Limit::Finite(0) | Limit::Word(_) => None,
            Limit::Finite(n) => Some(n),
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("inf"),
        }
    }
}

/// The `[cache]` section: the carbon-cache role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// Run the cache role.
    pub enabled: bool,
    /// Root of the whisper tree (carbon's LOCAL_DATA_DIR).
    pub local_data_dir: PathBuf,
    /// Plaintext TCP listener, `"ip:port"`; empty for off.
    pub line_receiver: String,
    /// Pickle TCP listener; empty for off.
    pub pickle_receiver: String,
    /// Plaintext UDP listener; empty for off.
    pub udp_receiver: String,
    /// Carbonlink listener (CACHE_QUERY_INTERFACE:PORT); empty for off.
    pub cache_query: String,
    /// HTTP listener serving `/metrics` (self-metrics as text); empty for off.
    pub http_listen: String,
    /// Most datapoints held in memory (MAX_CACHE_SIZE).
    pub max_cache_size: Limit,
    /// Most memory charged to cached points, e.g. `"2GiB"`.
    pub max_cache_memory: String,
    /// Whisper update calls per second (MAX_UPDATES_PER_SECOND).
    pub max_updates_per_second: Limit,
    /// New whisper files per minute (MAX_CREATES_PER_MINUTE).
    pub max_creates_per_minute: Limit,
    /// `max`, `sorted` (= carbon's `timesorted`) or `noop` (CACHE_WRITE_STRATEGY).
    pub cache_write_strategy: String,
    /// Hold a metric's points until the oldest is this old (by its timestamp), e.g. `"60s"`, so
    /// each whisper update writes several points (MIN_TIMESTAMP_LAG); `"0s"` writes at once.
    pub min_timestamp_lag: String,
    /// storage-schemas.conf; relative paths are taken from the config file's directory.
    pub storage_schemas: PathBuf,
    /// storage-aggregation.conf; same resolution.
    pub storage_aggregation: PathBuf,
    /// How often the WAL is fsynced, e.g. `"1s"`.
    pub wal_sync_interval: String,
    /// WAL segment size before rotation, e.g. `"64MiB"`.
    pub wal_segment_size: String,
    /// Persister threads.
    pub writer_threads: usize,
    /// Whether the persister keeps whisper files as memory mappings between writes (their touched
    /// pages then count in the process's RSS).
    pub whisper_mmap: bool,
    /// Cache shards.
    pub cache_shards: usize,
    /// Longest plaintext line (carbon: 16384).
    pub max_line_length: usize,
    /// Largest pickle frame (PICKLE_RECEIVER_MAX_LENGTH).
    pub pickle_receiver_max_length: usize,
    /// Concurrent connections per listener (MAX_RECEIVER_CONNECTIONS).
    pub max_receiver_connections: usize,
    /// Compression clients use on `line_receiver`: `plain`, `gzip`, `lz4` or `snappy`.
    pub line_receiver_transport: String,
    /// TLS on `line_receiver`: certificate chain (PEM); empty for plain TCP.
    pub line_receiver_tls_cert_file: String,
    /// Private key of `line_receiver_tls_cert_file` (PEM; empty: the certificate file).
    pub line_receiver_tls_key_file: String,
    /// When set, `line_receiver` clients must present a certificate issued by these CAs.
    pub line_receiver_tls_client_ca_file: String,
    /// Self-metrics prefix (CARBON_METRIC_PREFIX).
    pub carbon_metric_prefix: String,
    /// Self-metrics interval, e.g. `"60s"`; `"0s"` disables writing them (CARBON_METRIC_INTERVAL).
    pub carbon_metric_interval: String,
    /// Instance name: self-metrics go under `<prefix>.agents.<host>-<instance>`; empty for `<host>` alone.
    pub instance: String,
    /// At shutdown, how long to keep writing the cache to whisper before leaving the rest to the WAL.
    pub shutdown_flush_timeout: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            enabled: true,
            local_data_dir: PathBuf::from("./data"),
            line_receiver: "127.0.0.1:2003".into(),
            pickle_receiver: "127.0.0.1:2004".into(),
            udp_receiver: String::new(),
            cache_query: "127.0.0.1:7002".into(),
            http_listen: "127.0.0.1:8081".into(),
            max_cache_size: Limit::Finite(10_000_000),
            max_cache_memory: "2GiB".into(),
            max_updates_per_second: Limit::Word(LimitWord::Inf),
            max_creates_per_minute: Limit::Word(LimitWord::Inf),
            cache_write_strategy: "max".into(),
            min_timestamp_lag: "0s".into(),
            storage_schemas: PathBuf::from("storage-schemas.conf"),
            storage_aggregation: PathBuf::from("storage-aggregation.conf"),
            wal_sync_interval: "1s".into(),
            wal_segment_size: "64MiB".into(),
            writer_threads: 0,
            whisper_mmap: false,
            cache_shards: 64,
            max_line_length: 16384,
            pickle_receiver_max_length: 1 << 20,
            max_receiver_connections: 10_000,
            line_receiver_transport: "plain".into(),
            line_receiver_tls_cert_file: String::new(),
            line_receiver_tls_key_file: String::new(),
            line_receiver_tls_client_ca_file: String::new(),
            carbon_metric_prefix: "carbon".into(),
            carbon_metric_interval: "60s".into(),
            instance: "a".into(),
            shutdown_flush_timeout: "10s".into(),
        }
    }
}

/// The whole file. Sections of other roles are kept as raw TOML for their own parsers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The cache role.
    pub cache: CacheSection,
    /// The relay role (parsed by the relay).
    pub relay: Option<toml::Value>,
    /// The web role (parsed by the web role).
    pub web: Option<toml::Value>,
    /// The directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this was read from (re-read by the relay on SIGHUP); `None` for the embedded default.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// Parses `"10s"`, `"500ms"`, `"2m"`, `"1h"`, `"1d"` or a bare number of seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => bail!("invalid duration unit {other:?} in {s:?} (use ms, s, m, h, d)"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("invalid duration {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `"2GiB"`, `"512MiB"`, `"64KiB"`, `"1GB"`, `"1000"` (bytes).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().with_context(|| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => bail!("invalid size unit {other:?} in {s:?} (use B, KiB, MiB, GiB, KB, MB, GB)"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("size {s:?} too large"))
}

/// The cache section with every value parsed and checked.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Raw section (listener strings etc.).
    pub raw: CacheSection,
    /// Absolute-or-relative data dir, resolved against the config's directory.
    pub data_dir: PathBuf,
    /// Parsed `max_cache_memory`.
    pub max_cache_memory: u64,
    /// Parsed `max_cache_size` (u64::MAX for inf).
    pub max_cache_size: u64,
    /// Parsed strategy.
    pub strategy: cache::WriteStrategy,
    /// Parsed `min_timestamp_lag`.
    pub min_timestamp_lag: Duration,
    /// Resolved schema file.
    pub storage_schemas: PathBuf,
    /// Resolved aggregation file.
    pub storage_aggregation: PathBuf,
    /// Parsed WAL sync interval.
    pub wal_sync_interval: Duration,
    /// Parsed WAL segment size.
    pub wal_segment_size: u64,
    /// Parsed self-metrics interval (zero = off).
    pub metric_interval: Duration,
    /// Parsed shutdown flush timeout.
    pub shutdown_flush_timeout: Duration,
    /// Writer threads (resolved from 0 = number of cores).
    pub writer_threads: usize,
    /// Wrapping of `line_receiver` connections (compression, TLS).
    pub line_transport: ingest::ListenTransport,
}

fn check_addr(key: &str, v: &str) -> anyhow::Result<()> {
    if !v.is_empty() {
        v.parse::<std::net::SocketAddr>().with_context(|| {
            format!("{key} = {v:?} is not an \"ip:port\" address (empty for off)")
        })?;
    }
    Ok(())
}

impl Config {
    /// Parses a TOML text; `base_dir` resolves relative paths.
    pub fn parse(text: &str, base_dir: &Path) -> anyhow::Result<Config> {
        let mut c: Config = toml::from_str(text).context("invalid configuration")?;
        c.base_dir = base_dir.to_owned();
        c.cache_settings()?;
        crate::relay_role::settings(&c)?;
        c.web_settings()?;
        Ok(c)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut c =
            Config::parse(&text, &base).with_context(|| format!("in {}", path.display()))?;
        c.path = Some(path.to_owned());
        Ok(c)
    }

    /// The embedded default, relative to the current directory.
    pub fn embedded_default() -> anyhow::Result<Config> {
        Config::parse(DEFAULT_CONFIG, Path::new("."))
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() || self.base_dir.as_os_str().is_empty() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Validates and parses the `[web]` section; `None` when absent or disabled. Its data directory
    /// defaults to the cache role's.
    pub fn web_settings(&self) -> anyhow::Result<Option<web::WebConfig>> {
        let Some(v) = &self.web else { return Ok(None) };
        let mut w: web::WebConfig = v.clone().try_into().context("[web]")?;
        if !w.enabled {
            return Ok(None);
        }
        w.local_data_dir = Some(match &w.local_data_dir {
            Some(d) => self.resolve(d),
            None => self.resolve(&self.cache.local_data_dir),
        });
        w.validate()?;
        Ok(Some(w))
    }

    /// Validates and parses the `[cache]` section.
    pub fn cache_settings(&self) -> anyhow::Result<CacheSettings> {
        let c = &self.cache;
        for (k, v) in [
            ("line_receiver", &c.line_receiver),
            ("pickle_receiver", &c.pickle_receiver),
            ("udp_receiver", &c.udp_receiver),
            ("cache_query", &c.cache_query),
            ("http_listen", &c.http_listen),
        ] {
            check_addr(k, v)?;
        }
        let max_cache_memory = parse_size(&c.max_cache_memory).context("max_cache_memory")?;
        if max_cache_memory < 1 << 20 {
            bail!("max_cache_memory must be at least 1MiB");
        }
        let max_cache_size = c.max_cache_size.get().unwrap_or(u64::MAX);
        if max_cache_size < 10_000 {
            bail!("max_cache_size must be at least 10000 points (or \"inf\")");
        }
        let strategy = c
            .cache_write_strategy
            .parse()
            .map_err(anyhow::Error::new)
            .context("cache_write_strategy")?;
        if !c
            .instance
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            bail!("[cache] instance {:?}: only letters, digits, '-' and '_' (it names the instance's WAL directory)", c.instance);
        }
        if c.max_line_length < 64 || c.max_line_length > 1 << 20 {
            bail!("max_line_length must be between 64 and 1048576");
        }
        if c.pickle_receiver_max_length < 1024 || c.pickle_receiver_max_length > 1 << 30 {
            bail!("pickle_receiver_max_length must be between 1024 and 1073741824");
        }
        let writer_threads = match c.writer_threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 16),
            n => n.min(256),
        };
        Ok(CacheSettings {
            raw: c.clone(),
            data_dir: self.resolve(&c.local_data_dir),
            max_cache_memory,
            max_cache_size,
            strategy,
            min_timestamp_lag: parse_duration(&c.min_timestamp_lag).context("min_timestamp_lag")?,
            storage_schemas: self.resolve(&c.storage_schemas),
            storage_aggregation: self.resolve(&c.storage_aggregation),
            wal_sync_interval: parse_duration(&c.wal_sync_interval).context("wal_sync_interval")?,
            wal_segment_size: parse_size(&c.wal_segment_size).context("wal_segment_size")?,
            metric_interval: parse_duration(&c.carbon_metric_interval)
                .context("carbon_metric_interval")?,
            shutdown_flush_timeout: parse_duration(&c.shutdown_flush_timeout)
                .context("shutdown_flush_timeout")?,
            writer_threads,
            line_transport: crate::listen_transport::build(
                "cache",
                &self.base_dir,
                &crate::listen_transport::LineReceiverKeys {
                    transport: &c.line_receiver_transport,
                    cert_file: &c.line_receiver_tls_cert_file,
                    key_file: &c.line_receiver_tls_key_file,
                    client_ca_file: &c.line_receiver_tls_client_ca_file,
                },
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = Config::embedded_default().unwrap();
        let s = c.cache_settings().unwrap();
        assert_eq!(s.wal_sync_interval, Duration::from_secs(1));
        assert_eq!(s.max_cache_memory, 2 << 30);
        assert_eq!(c.cache.max_updates_per_second.get(), None);
        assert_eq!(c.cache.line_receiver, "127.0.0.1:2003");
    }

    #[test]
    fn values_and_errors() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("2 fortnights").is_err());
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert!(parse_size("-1").is_err());
        let c = Config::parse(
            "[cache]\nmax_updates_per_second = 500\n",
            Path::new("/etc/c"),
        )
        .unwrap();
        assert_eq!(c.cache.max_updates_per_second.get(), Some(500));
        assert_eq!(
            c.cache_settings().unwrap().data_dir,
            PathBuf::from("/etc/c/./data")
        );
        assert!(Config::parse("[cache]\nline_receiver = \"nope\"\n", Path::new(".")).is_err());
        assert!(Config::parse("[cache]\nbogus_key = 1\n", Path::new(".")).is_err());
        assert!(Config::parse(
            "[cache]\ncache_write_strategy = \"random\"\n",
            Path::new(".")
        )
        .is_err());
    }
}

/// What `serve` would run with this configuration, for `check-config`.
pub fn describe(cfg: &Config) -> anyhow::Result<String> {
    use std::fmt::Write;
    let s = cfg.cache_settings()?;
    let r = &s.raw;
    let mut o = String::new();
    let on = |v: &str| {
        if v.is_empty() {
            "off".to_string()
        } else {
            v.to_string()
        }
    };
    let exists = |p: &Path| {
        if p.is_file() {
            "found"
        } else {
            "absent: built-in default"
        }
    };
    writeln!(o, "configuration OK")?;
    writeln!(
        o,
        "[cache] {}",
        if r.enabled { "enabled" } else { "disabled" }
    )?;
    writeln!(o, "  local_data_dir         {}", s.data_dir.display())?;
    writeln!(
        o,
        "  line_receiver          {} ({:?})",
        on(&r.line_receiver),
        s.line_transport
    )?;
    writeln!(o, "  pickle_receiver        {}", on(&r.pickle_receiver))?;
    writeln!(o, "  udp_receiver           {}", on(&r.udp_receiver))?;
    writeln!(o, "  cache_query            {}", on(&r.cache_query))?;
    writeln!(o, "  http_listen            {}", on(&r.http_listen))?;
    writeln!(o, "  max_cache_size         {}", r.max_cache_size)?;
    writeln!(o, "  max_cache_memory       {} bytes", s.max_cache_memory)?;
    writeln!(o, "  max_updates_per_second {}", r.max_updates_per_second)?;
    writeln!(o, "  max_creates_per_minute {}", r.max_creates_per_minute)?;
    writeln!(o, "  cache_write_strategy   {}", s.strategy.as_str())?;
    writeln!(o, "  min_timestamp_lag      {:?}", s.min_timestamp_lag)?;
    writeln!(o, "  writer_threads         {}", s.writer_threads)?;
    writeln!(o, "  whisper_mmap           {}", r.whisper_mmap)?;
    writeln!(
        o,
        "  storage_schemas        {} ({})",
        s.storage_schemas.display(),
        exists(&s.storage_schemas)
    )?;
    writeln!(
        o,
        "  storage_aggregation    {} ({})",
        s.storage_aggregation.display(),
        exists(&s.storage_aggregation)
    )?;
    writeln!(
        o,
        "  wal                    {} (sync every {:?})",
        s.data_dir
            .join(".carbonado")
            .join(wal_dir_name(&r.instance))
            .display(),
        s.wal_sync_interval
    )?;
    writeln!(
        o,
        "  self-metrics           every {:?} as {}.agents.<host>-{}",
        s.metric_interval, r.carbon_metric_prefix, r.instance
    )?;
    o.push_str(&crate::relay_role::describe(&crate::relay_role::settings(
        cfg,
    )?));
    match cfg.web_settings()? {
        Some(w) => {
            writeln!(o, "[web] enabled")?;
            writeln!(o, "  listen                 {}", w.listen)?;
            if let Some(d) = &w.local_data_dir {
                writeln!(o, "  local_data_dir         {}", d.display())?;
            }
            writeln!(o, "  carbonlink_hosts       {:?}", w.carbonlink_hosts)?;
            writeln!(o, "  memcache_hosts         {:?}", w.memcache_hosts)?;
            writeln!(o, "  default_cache_duration {}s", w.default_cache_duration)?;
            writeln!(o, "  cluster_servers        {:?}", w.cluster_servers)?;
            if !w.cluster_ring.is_empty() {
                writeln!(
                    o,
                    "  cluster_ring           {} ({} copies, diverse_replicas {}), self {}",
                    w.cluster_relay_method,
                    w.cluster_replication_factor,
                    w.cluster_diverse_replicas,
                    if w.cluster_self.is_empty() {
                        &w.listen
                    } else {
                        &w.cluster_self
                    }
                )?;
                for m in &w.cluster_ring {
                    writeln!(o, "    {:<22} -> {}", m.destination, m.http)?;
                }
            }
        }
        None => writeln!(o, "[web] disabled")?,
    }
    Ok(o)
}

/// The WAL directory name of a cache instance below `<data dir>/.carbonado`: several caches may
/// share one whisper tree (as carbon-cache instances a, b, ... do), each with its own log.
/// Instance `a` (the default) and the empty instance keep the historical name `wal`.
pub fn wal_dir_name(instance: &str) -> String {
    match instance {
        "" | "a" => "wal".into(),
        other => format!("wal-{other}"),
    }
}
