//! The relay role of `carbonado serve`: the `[relay]` section, its receivers, placement over
//! destinations or relay-rules.conf, self-metrics, and reload on SIGHUP.
//!
//! It runs beside the other roles in the same process and stops after them, so a node can
//! store its own share (a destination pointing at its own cache's pickle receiver) and forward
//! the rest. At shutdown receivers stop first, then queues are flushed or spilled to disk;
//! spills are replayed at the next start.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::listen_transport::LineReceiverKeys;
use aggregator::{Aggregator, Pipeline, RegexList, RewriteRules, Settings as AggregatorSettings};
use anyhow::{bail, Context};
use ingest::{IngestConfig, IngestStats, ListenTransport};
use relay::{
    AggregatingDirector, CRelayDirector, Director, Protocol, QueueLimits, Relay, RelayConfig,
    RingDirector, Route, SelfMetrics, SenderConfig, Transport,
};
use ring::{AnyRouter, Destination, HashConfig, HashRouter, HashType, RingFlavor, RulesRouter};
use serde::Deserialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use transport::tls::ClientFiles;
use transport::Compression;

use crate::config::{parse_duration, parse_size, Config};

/// `[relay]` as written in carbonado.toml; keys follow carbon.conf's `[relay]` names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// Run the relay role.
    pub enabled: bool,
    /// Plaintext TCP listener, `"ip:port"`; empty for off.
    pub line_receiver: String,
    /// Pickle TCP listener; empty for off.
    pub pickle_receiver: String,
    /// Plaintext UDP listener; empty for off.
    pub udp_receiver: String,
    /// `carbon_ch`, `fnv1a_ch`, `jump_fnv1a_ch` (consistent hashing), `rules` (relay-rules.conf)
    /// or `carbon-c-relay` (a carbon-c-relay configuration file, `crelay_config`).
    pub relay_method: String,
    /// carbon-c-relay configuration for `relay_method = "carbon-c-relay"`; relative to the config file.
    pub crelay_config: PathBuf,
    /// Graphite's aggregation-rules.conf: when set, the relay aggregates like carbon-aggregator
    /// before placing points; relative to the config file; empty for off.
    pub aggregation_rules: String,
    /// Graphite's rewrite-rules.conf (`[pre]`/`[post]`) for the aggregator; empty for none.
    pub rewrite_rules: String,
    /// whitelist.conf: when set, only metrics matching one of its regexes enter the aggregator.
    pub whitelist: String,
    /// blacklist.conf: metrics matching one of its regexes are dropped by the aggregator.
    pub blacklist: String,
    /// FORWARD_ALL: pass the aggregator's input metrics on besides aggregating them.
    pub forward_all: bool,
    /// MAX_AGGREGATION_INTERVALS: intervals kept per aggregate before the current one.
    pub max_aggregation_intervals: u32,
    /// WRITE_BACK_FREQUENCY in seconds (0: carbon's default, each rule's own frequency).
    pub write_back_frequency: u32,
    /// Most open aggregation intervals across all metrics; points that would open more are
    /// dropped and counted.
    pub max_aggregation_buckets: usize,
    /// Whose placement to reproduce: `carbon` (carbon-relay) or `carbon-c-relay`; empty: carbon,
    /// except for `jump_fnv1a_ch`, which only carbon-c-relay has.
    pub hash_flavor: String,
    /// `host:port:instance` destinations, in ring order.
    pub destinations: Vec<String>,
    /// Copies of each metric (REPLICATION_FACTOR).
    pub replication_factor: usize,
    /// Replicas on distinct hosts (DIVERSE_REPLICAS, carbon flavour only).
    pub diverse_replicas: bool,
    /// relay-rules.conf for `relay_method = "rules"`; relative to the config file.
    pub relay_rules: PathBuf,
    /// `pickle` (as carbon-relay sends to carbon-cache) or `line`.
    pub destination_protocol: String,
    /// Points per destination held in memory before spilling to disk.
    pub max_queue_size: usize,
    /// Memory per destination queue before spilling, e.g. `"512MiB"`.
    pub max_queue_memory: String,
    /// Points per message sent (MAX_DATAPOINTS_PER_MESSAGE).
    pub max_datapoints_per_message: usize,
    /// Root of per-destination spills; empty: `<cache local_data_dir>/.carbonado/spill`.
    pub spill_dir: String,
    /// Disk per destination spill, e.g. `"10GiB"`; when full, receivers stop reading.
    pub max_spill_size: String,
    /// Recent output kept per destination and resent after a broken connection, e.g. `"16MiB"`.
    pub resend_window: String,
    /// Longest pause between reconnect attempts, e.g. `"5s"`.
    pub reconnect_max: String,
    /// At shutdown, how long to keep sending before spilling the rest, e.g. `"5s"`.
    pub shutdown_flush_timeout: String,
    /// HTTP listener serving `/metrics` (relay counters as text); empty for off.
    pub http_listen: String,
    /// Self-metrics prefix (CARBON_METRIC_PREFIX).
    pub carbon_metric_prefix: String,
    /// Self-metrics interval, e.g. `"60s"`; `"0s"` (or 0) turns them off.
    pub carbon_metric_interval: toml::Value,
    /// Instance: self-metrics go under `<prefix>.relays.<host>-<instance>`; empty for `<host>`.
    pub instance: String,
    /// Longest plaintext line.
    pub max_line_length: usize,
    /// Largest pickle frame.
    pub pickle_receiver_max_length: usize,
    /// Concurrent connections per listener.
    pub max_receiver_connections: usize,
    /// Compression clients use on `line_receiver`: `plain`, `gzip`, `lz4` or `snappy`.
    pub line_receiver_transport: String,
    /// TLS on `line_receiver`: certificate chain (PEM); empty for plain TCP.
    pub line_receiver_tls_cert_file: String,
    /// Private key of `line_receiver_tls_cert_file` (PEM; may be the same file).
    pub line_receiver_tls_key_file: String,
    /// When set, `line_receiver` clients must present a certificate issued by these CAs.
    pub line_receiver_tls_client_ca_file: String,
    /// Compression towards `destinations`: `plain`, `gzip`, `lz4` or `snappy` (a carbon-c-relay
    /// configuration names its own per server).
    pub destination_transport: String,
    /// TLS towards `destinations` (carbon-c-relay configurations say `ssl` per server).
    pub destination_tls: bool,
    /// CAs that destinations' certificates must chain to; empty: the system's.
    pub destination_tls_ca_file: String,
    /// Client certificate presented to destinations that ask for one; empty for none.
    pub destination_tls_cert_file: String,
    /// Private key of `destination_tls_cert_file`.
    pub destination_tls_key_file: String,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            enabled: false,
            line_receiver: "127.0.0.1:2013".into(),
            pickle_receiver: "127.0.0.1:2014".into(),
            udp_receiver: String::new(),
            relay_method: "carbon_ch".into(),
            crelay_config: PathBuf::from("carbon-c-relay.conf"),
            aggregation_rules: String::new(),
            rewrite_rules: String::new(),
            whitelist: String::new(),
            blacklist: String::new(),
            forward_all: true,
            max_aggregation_intervals: 5,
            write_back_frequency: 0,
            max_aggregation_buckets: 1_000_000,
            hash_flavor: String::new(),
            destinations: vec!["127.0.0.1:2004:a".into()],
            replication_factor: 1,
            diverse_replicas: true,
            relay_rules: PathBuf::from("relay-rules.conf"),
            destination_protocol: "pickle".into(),
            max_queue_size: 5_000_000,
            max_queue_memory: "512MiB".into(),
            max_datapoints_per_message: 500,
            spill_dir: String::new(),
            max_spill_size: "10GiB".into(),
            resend_window: "16MiB".into(),
            reconnect_max: "5s".into(),
            shutdown_flush_timeout: "5s".into(),
            http_listen: String::new(),
            carbon_metric_prefix: "carbon".into(),
            carbon_metric_interval: toml::Value::String("60s".into()),
            instance: String::new(),
            max_line_length: 16384,
            pickle_receiver_max_length: 1 << 20,
            max_receiver_connections: 10_000,
            line_receiver_transport: "plain".into(),
            line_receiver_tls_cert_file: String::new(),
            line_receiver_tls_key_file: String::new(),
            line_receiver_tls_client_ca_file: String::new(),
            destination_transport: "plain".into(),
            destination_tls: false,
            destination_tls_ca_file: String::new(),
            destination_tls_cert_file: String::new(),
            destination_tls_key_file: String::new(),
        }
    }
}

/// The `[relay]` section checked and resolved.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The section as written.
    pub raw: RelaySection,
    /// Destinations parsed.
    pub destinations: Vec<Destination>,
    /// Resolved relay-rules.conf.
    pub rules_path: PathBuf,
    /// Resolved carbon-c-relay configuration.
    pub crelay_path: PathBuf,
    /// Directory of the configuration file (for relative paths of the aggregator's files).
    pub base_dir: PathBuf,
    /// Queue, spill and sender settings.
    pub relay: RelayConfig,
    /// Self-metrics interval (zero = off).
    pub metric_interval: Duration,
    /// The file to re-read on SIGHUP (none for the embedded default).
    pub config_path: Option<PathBuf>,
    /// Wrapping of `line_receiver` connections.
    pub line_transport: ListenTransport,
    /// TLS files for destinations (`destination_tls`, carbon-c-relay `ssl` servers).
    pub destination_tls: ClientFiles,
}

/// An optional path of `[relay]`, resolved against the configuration's directory.
fn opt_path(base: &Path, p: &str) -> Option<PathBuf> {
    (!p.is_empty()).then(|| resolve(base, Path::new(p)))
}

fn check_addr(key: &str, v: &str) -> anyhow::Result<()> {
    if !v.is_empty() {
        v.parse::<std::net::SocketAddr>().with_context(|| {
            format!("[relay] {key} = {v:?} is not an \"ip:port\" address (empty for off)")
        })?;
    }
    Ok(())
}

pub(crate) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || base.as_os_str().is_empty() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

/// Parses and checks `[relay]`; `None` when absent or disabled.
pub fn settings(cfg: &Config) -> anyhow::Result<Option<RelaySettings>> {
    let Some(v) = &cfg.relay else { return Ok(None) };
    let raw: RelaySection = v.clone().try_into().context("[relay]")?;
    if !raw.enabled {
        return Ok(None);
    }
    for (k, a) in [
        ("line_receiver", &raw.line_receiver),
        ("pickle_receiver", &raw.pickle_receiver),
        ("udp_receiver", &raw.udp_receiver),
        ("http_listen", &raw.http_listen),
    ] {
        check_addr(k, a)?;
    }
    let crelay = raw.relay_method == CRELAY_METHOD;
    let destinations = raw
        .destinations
        .iter()
        .map(|d| Destination::parse(d))
        .collect::<Result<Vec<_>, _>>()
        .context("[relay] destinations")?;
    if destinations.is_empty() && !crelay {
        bail!("[relay] destinations is empty");
    }
    let protocol: Protocol = if crelay {
        // carbon-c-relay's servers (`proto tcp`) are sent plaintext lines.
        Protocol::Line
    } else {
        raw.destination_protocol
            .parse()
            .map_err(anyhow::Error::msg)?
    };
    if raw.max_datapoints_per_message == 0 || raw.max_datapoints_per_message > 100_000 {
        bail!("[relay] max_datapoints_per_message must be between 1 and 100000");
    }
    if raw.max_queue_size < 1000 {
        bail!("[relay] max_queue_size must be at least 1000 points");
    }
    let spill_root = if raw.spill_dir.is_empty() {
        resolve(&cfg.base_dir, &cfg.cache.local_data_dir)
            .join(".carbonado")
            .join("spill")
    } else {
        resolve(&cfg.base_dir, Path::new(&raw.spill_dir))
    };
    let metric_interval = match &raw.carbon_metric_interval {
        toml::Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
        toml::Value::String(s) => parse_duration(s).context("[relay] carbon_metric_interval")?,
        other => bail!("[relay] carbon_metric_interval = {other} is not a duration"),
    };
    let destination_tls = ClientFiles {
        ca_file: opt_path(&cfg.base_dir, &raw.destination_tls_ca_file),
        cert_file: opt_path(&cfg.base_dir, &raw.destination_tls_cert_file),
        key_file: opt_path(&cfg.base_dir, &raw.destination_tls_key_file),
    };
    let compression: Compression = raw
        .destination_transport
        .parse()
        .context("[relay] destination_transport")?;
    let transport = Transport::new(
        compression,
        raw.destination_tls.then(|| destination_tls.clone()),
    )
    .context("[relay] destination_tls")?;
    let mut keys = LineReceiverKeys {
        transport: &raw.line_receiver_transport,
        cert_file: &raw.line_receiver_tls_cert_file,
        key_file: &raw.line_receiver_tls_key_file,
        client_ca_file: &raw.line_receiver_tls_client_ca_file,
    };
    let crelay_listen = if crelay {
        crelay_line_listener(&cfg.base_dir, &raw)
    } else {
        None
    };
    if let Some((transport, pem)) = &crelay_listen {
        keys.transport = transport;
        keys.cert_file = pem;
    }
    let line_transport = crate::listen_transport::build("relay", &cfg.base_dir, &keys)?;
    let relay = RelayConfig {
        sender: SenderConfig {
            transport,
            protocol,
            max_datapoints_per_message: raw.max_datapoints_per_message,
            max_message_bytes: raw.pickle_receiver_max_length.clamp(4096, 1 << 20) - 1024,
            resend_window_bytes: parse_size(&raw.resend_window).context("[relay] resend_window")?
                as usize,
            reconnect_max: parse_duration(&raw.reconnect_max).context("[relay] reconnect_max")?,
            ..SenderConfig::default()
        },
        queue: QueueLimits {
            max_points: raw.max_queue_size,
            max_bytes: parse_size(&raw.max_queue_memory).context("[relay] max_queue_memory")?
                as usize,
        },
        spill_dir: Some(spill_root),
        max_spill_bytes: parse_size(&raw.max_spill_size).context("[relay] max_spill_size")?,
        shutdown_timeout: parse_duration(&raw.shutdown_flush_timeout)
            .context("[relay] shutdown_flush_timeout")?,
    };
    let s = RelaySettings {
        rules_path: resolve(&cfg.base_dir, &raw.relay_rules),
        crelay_path: resolve(&cfg.base_dir, &raw.crelay_config),
        base_dir: cfg.base_dir.clone(),
        raw,
        destinations,
        relay,
        metric_interval,
        config_path: cfg.path.clone(),
        line_transport,
        destination_tls,
    };
    // Placement errors (duplicate destinations, bad rules) are configuration errors.
    director(&s)?;
    Ok(Some(s))
}

/// A carbon-c-relay file's `listen type linemode [transport <c> [ssl <pem>]] <addr>:<port> proto
/// tcp` on the port of `line_receiver` gives that receiver its compression and TLS certificate,
/// unless `[relay]` sets `line_receiver_transport` or `line_receiver_tls_*` itself. Returns the
/// transport name and the PEM path ("" for none).
fn crelay_line_listener(base: &Path, raw: &RelaySection) -> Option<(String, String)> {
    let defaults = RelaySection::default();
    if raw.line_receiver_transport != defaults.line_receiver_transport
        || !raw.line_receiver_tls_cert_file.is_empty()
        || !raw.line_receiver_tls_key_file.is_empty()
    {
        return None;
    }
    let port = raw
        .line_receiver
        .parse::<std::net::SocketAddr>()
        .ok()?
        .port();
    // Parse errors are reported where the file is used for routing.
    let cfg = crelay::parse_file_in(&resolve(base, &raw.crelay_config), base).ok()?;
    let l = cfg.listeners.iter().find(|l| {
        l.proto == crelay::config::Proto::Tcp
            && l.port == port
            && (l.compression != crelay::config::Compression::Plain || l.ssl_pem.is_some())
    })?;
    let transport = match l.compression {
        crelay::config::Compression::Plain => "plain",
        crelay::config::Compression::Gzip => "gzip",
        crelay::config::Compression::Lz4 => "lz4",
        crelay::config::Compression::Snappy => "snappy",
    };
    Some((transport.to_string(), l.ssl_pem.clone().unwrap_or_default()))
}

/// `relay_method` naming a carbon-c-relay configuration file.
pub const CRELAY_METHOD: &str = "carbon-c-relay";

/// Everything that decides where points go: the placement (hash ring, relay-rules.conf or a
/// carbon-c-relay configuration), behind carbon-aggregator's pipeline when aggregation rules
/// are configured.
pub fn director(s: &RelaySettings) -> anyhow::Result<Arc<dyn Director>> {
    let r = &s.raw;
    let base: Arc<dyn Director> = if r.relay_method == CRELAY_METHOD {
        let cfg = crelay::parse_file_in(&s.crelay_path, &s.base_dir)
            .with_context(|| format!("[relay] crelay_config {}", s.crelay_path.display()))?;
        if !cfg.listeners.is_empty() {
            // Receivers are opened from [relay]; a linemode listener on line_receiver's port
            // lends it its transport and certificate (crelay_line_listener).
            tracing::info!(
                "[relay] crelay_config: its {} listen statement(s) are not opened; \
                 listeners come from [relay]",
                cfg.listeners.len()
            );
        }
        Arc::new(
            CRelayDirector::with_tls(cfg, s.destination_tls.clone())
                .context("[relay] crelay_config")?,
        )
    } else {
        Arc::new(RingDirector::new(router(s)?))
    };
    if r.aggregation_rules.is_empty() {
        return Ok(base);
    }
    let path = |p: &str| resolve(&s.base_dir, Path::new(p));
    let rules_path = path(&r.aggregation_rules);
    let rules = ring::aggregation::read_aggregation_rules(&rules_path)
        .with_context(|| format!("[relay] aggregation_rules {}", rules_path.display()))?;
    let list = |key: &str, p: &str| -> anyhow::Result<RegexList> {
        if p.is_empty() {
            return Ok(RegexList::default());
        }
        RegexList::read(&path(p)).with_context(|| format!("[relay] {key} {}", path(p).display()))
    };
    let rewrite = if r.rewrite_rules.is_empty() {
        RewriteRules::default()
    } else {
        RewriteRules::read(&path(&r.rewrite_rules))
            .with_context(|| format!("[relay] rewrite_rules {}", r.rewrite_rules))?
    };
    if r.max_aggregation_intervals == 0 {
        bail!("[relay] max_aggregation_intervals must be at least 1");
    }
    let settings = AggregatorSettings {
        max_aggregation_intervals: r.max_aggregation_intervals,
        write_back_frequency: (r.write_back_frequency > 0).then_some(r.write_back_frequency),
        forward_all: r.forward_all,
        max_open_intervals: r.max_aggregation_buckets,
        ..AggregatorSettings::default()
    };
    let pipeline = Pipeline {
        whitelist: list("whitelist", &r.whitelist)?,
        blacklist: list("blacklist", &r.blacklist)?,
        rewrite,
        aggregator: Aggregator::new(rules, settings),
    };
    Ok(Arc::new(AggregatingDirector::new(pipeline, base)))
}

/// Builds the placement for the settings: a hash ring or relay-rules.conf.
pub fn router(s: &RelaySettings) -> anyhow::Result<Route> {
    Ok(Arc::new(placement(
        &s.raw,
        s.destinations.clone(),
        &s.rules_path,
    )?))
}

/// The placement `[relay]` describes over `dests` (also what `carbonado rebalance` moves files
/// to): a hash ring, or relay-rules.conf read from `rules_path`.
pub fn placement(
    r: &RelaySection,
    dests: Vec<Destination>,
    rules_path: &Path,
) -> anyhow::Result<AnyRouter> {
    if r.relay_method == "rules" {
        let rules = RulesRouter::from_path(rules_path, dests)
            .with_context(|| format!("[relay] relay_rules {}", rules_path.display()))?;
        return Ok(AnyRouter::Rules(rules));
    }
    let hash: HashType = r
        .relay_method
        .parse()
        .context("[relay] relay_method (carbon_ch | fnv1a_ch | jump_fnv1a_ch | rules)")?;
    let flavor = match r.hash_flavor.as_str() {
        "" if hash == HashType::JumpFnv1aCh => RingFlavor::CarbonCRelay,
        "" | "carbon" => RingFlavor::Carbon,
        "carbon-c-relay" | "c-relay" => RingFlavor::CarbonCRelay,
        other => bail!("[relay] hash_flavor {other:?} (carbon | carbon-c-relay)"),
    };
    let cfg = HashConfig {
        flavor,
        hash,
        replication_factor: r.replication_factor,
        diverse_replicas: r.diverse_replicas,
    };
    Ok(AnyRouter::Hash(
        HashRouter::new(dests, cfg).context("[relay]")?,
    ))
}

/// Lines for `carbonado check-config`.
pub fn describe(s: &Option<RelaySettings>) -> String {
    let Some(s) = s else {
        return "[relay] disabled\n".into();
    };
    let r = &s.raw;
    let mut o = String::from("[relay] enabled\n");
    for (k, v) in [
        (
            "line_receiver",
            format!("{} ({:?})", r.line_receiver, s.line_transport),
        ),
        ("pickle_receiver", r.pickle_receiver.clone()),
        (
            "relay_method",
            format!(
                "{} ({} placement)",
                r.relay_method,
                if r.hash_flavor.is_empty() {
                    "default"
                } else {
                    &r.hash_flavor
                }
            ),
        ),
        (
            "destinations",
            s.destinations
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("replication_factor", r.replication_factor.to_string()),
        (
            "destination_protocol",
            format!(
                "{} over {}",
                r.destination_protocol, s.relay.sender.transport
            ),
        ),
        (
            "spill_dir",
            s.relay
                .spill_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ] {
        o.push_str(&format!("  {k:<22} {v}\n"));
    }
    if r.relay_method == CRELAY_METHOD {
        o.push_str(&format!(
            "  crelay_config          {}\n",
            s.crelay_path.display()
        ));
        match crelay::parse_file_in(&s.crelay_path, &s.base_dir) {
            Ok(cfg) => {
                o.push_str("  routing table:\n");
                for line in crelay::routing_table(&cfg).lines() {
                    o.push_str(&format!("    {line}\n"));
                }
            }
            Err(e) => o.push_str(&format!("  (unreadable: {e})\n")),
        }
    }
    if !r.aggregation_rules.is_empty() {
        let path = resolve(&s.base_dir, Path::new(&r.aggregation_rules));
        o.push_str(&format!(
            "  aggregation_rules      {} (forward_all {})\n",
            path.display(),
            r.forward_all
        ));
        if let Ok(rules) = ring::aggregation::read_aggregation_rules(&path) {
            for rule in rules {
                o.push_str(&format!(
                    "    {} ({}) = {} {}\n",
                    rule.output_pattern,
                    rule.frequency,
                    rule.method.name(),
                    rule.input_pattern
                ));
            }
        }
        for (k, v) in [
            ("rewrite_rules", &r.rewrite_rules),
            ("whitelist", &r.whitelist),
            ("blacklist", &r.blacklist),
        ] {
            if !v.is_empty() {
                o.push_str(&format!(
                    "  {k:<22} {}\n",
                    resolve(&s.base_dir, Path::new(v)).display()
                ));
            }
        }
    }
    o
}

async fn bind(key: &str, addr: &str) -> anyhow::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let l = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ([relay] {key})"))?;
    tracing::info!("relay {key} listening on {}", l.local_addr()?);
    Ok(Some(l))
}

/// Waits for SIGTERM or SIGINT (used when the relay is the only role).
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}

/// Runs the relay role while `others` (the other roles, which return after SIGTERM) run,
/// then shuts the relay down: receivers first, then queues flushed or spilled.
pub async fn serve_with<F>(s: RelaySettings, others: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let relay = Arc::new(Relay::start_directed(s.relay.clone(), director(&s)?)?);
    let raw = &s.raw;
    let (stop_tx, stop_rx) = watch::channel(false);
    let icfg = Arc::new(IngestConfig {
        max_line_length: raw.max_line_length,
        max_pickle_frame: raw.pickle_receiver_max_length,
        max_connections: raw.max_receiver_connections,
        // carbon-relay forwards any name; the caches decide what they store.
        check_paths: false,
        ..IngestConfig::default()
    });
    let istats = Arc::new(IngestStats::default());
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = bind("line_receiver", &raw.line_receiver).await? {
        tasks.spawn(ingest::serve_line_with(
            l,
            relay.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
            s.line_transport.clone(),
        ));
    }
    if let Some(l) = bind("pickle_receiver", &raw.pickle_receiver).await? {
        tasks.spawn(ingest::serve_pickle(
            l,
            relay.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
        ));
    }
    if !raw.udp_receiver.is_empty() {
        let sock = UdpSocket::bind(&raw.udp_receiver).await.with_context(|| {
            format!(
                "cannot listen on udp {} ([relay] udp_receiver)",
                raw.udp_receiver
            )
        })?;
        tasks.spawn(ingest::serve_udp(
            sock,
            relay.clone(),
            icfg.clone(),
            istats.clone(),
            stop_rx.clone(),
        ));
    }
    let prefix = relay_prefix(&raw.carbon_metric_prefix, &raw.instance);
    if let Some(l) = bind("http_listen", &raw.http_listen).await? {
        tasks.spawn(http(
            l,
            prefix.clone(),
            relay.clone(),
            istats.clone(),
            stop_rx.clone(),
        ));
    }
    let reporter = (!s.metric_interval.is_zero())
        .then(|| SelfMetrics::new(prefix).spawn((*relay).clone(), s.metric_interval));
    let reloader = tokio::spawn(reload_on_hup(s.clone(), relay.clone()));
    tracing::info!(destinations = s.destinations.len(), "relay role ready");

    let result = others.await;

    tracing::info!("relay: receivers stop reading");
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(2);
    while istats.active_connections.load(Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tasks.abort_all();
    reloader.abort();
    if let Some(r) = reporter {
        r.abort();
    }
    let lost = relay.shutdown().await;
    let spilled: u64 = relay.stats().iter().map(|d| d.queued_spill).sum();
    if lost > 0 {
        tracing::error!(points = lost, "relay: points lost at shutdown");
    }
    tracing::info!(
        spilled,
        "relay stopped; spilled points are sent at the next start"
    );
    result
}

/// `<prefix>.relays.<host>[-<instance>]`, as carbon-relay names its own metrics.
fn relay_prefix(prefix: &str, instance: &str) -> String {
    let host = crate::selfmetrics::hostname();
    if instance.is_empty() {
        format!("{prefix}.relays.{host}")
    } else {
        format!("{prefix}.relays.{host}-{instance}")
    }
}

/// SIGHUP: re-read the configuration's destinations and rules and swap placement; points
/// queued for removed destinations are routed again.
async fn reload_on_hup(mut s: RelaySettings, relay: Arc<Relay>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    while hup.recv().await.is_some() {
        let fresh = match &s.config_path {
            Some(p) => Config::load(p).and_then(|c| settings(&c)).and_then(|n| {
                n.context("[relay] disabled in the new configuration; keeping the old one")
            }),
            None => Ok(s.clone()),
        };
        let next = match fresh {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("relay reload: {e:#}; keeping the running configuration");
                continue;
            }
        };
        let restart_needed = next.raw.line_receiver != s.raw.line_receiver
            || next.raw.pickle_receiver != s.raw.pickle_receiver
            || next.raw.destination_protocol != s.raw.destination_protocol;
        if restart_needed {
            tracing::warn!(
                "relay reload: receivers and destination_protocol change only at restart"
            );
        }
        match director(&next) {
            Ok(d) => match relay.reload_directed(d).await {
                Ok(()) => {
                    tracing::info!(destinations = next.destinations.len(), "relay reloaded");
                    s = next;
                }
                Err(e) => tracing::error!("relay reload: {e}"),
            },
            Err(e) => tracing::error!("relay reload: {e:#}; keeping the running configuration"),
        }
    }
    Ok(())
}

/// Relay counters as text lines `<name> <value>`, one per destination and counter.
fn metrics_text(prefix: &str, relay: &Relay, ingest: &IngestStats) -> String {
    let mut o = String::new();
    let i = ingest.snapshot();
    o.push_str(&format!(
        "{prefix}.metricsReceived {}\n",
        i.metrics_received
    ));
    o.push_str(&format!(
        "{prefix}.activeConnections {}\n",
        i.active_connections
    ));
    o.push_str(&format!("{prefix}.brokenStreams {}\n", i.broken_streams));
    o.push_str(&format!("{prefix}.unroutable {}\n", relay.unroutable()));
    for (name, v) in relay.director_counters() {
        o.push_str(&format!("{prefix}.{name} {v}\n"));
    }
    for d in relay.stats() {
        let p = format!("{prefix}.destinations.{}", d.addr.metric_key());
        for (k, v) in [
            ("sent", d.sent),
            ("queued", d.queued_mem + d.queued_spill),
            ("queuedInMemory", d.queued_mem),
            ("queuedOnDisk", d.queued_spill),
            ("spilled", d.spilled),
            ("dropped", d.dropped),
            ("reconnects", d.reconnects),
            ("resent", d.resent),
        ] {
            o.push_str(&format!("{p}.{k} {v}\n"));
        }
    }
    o
}

async fn http(
    l: TcpListener,
    prefix: String,
    relay: Arc<Relay>,
    ingest: Arc<IngestStats>,
    mut stop: watch::Receiver<bool>,
) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let (p, r, i) = (prefix.clone(), relay.clone(), ingest.clone());
                async move { metrics_text(&p, &r, &i) }
            }),
        )
        .route("/health", get(|| async { "ok\n" }));
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(l, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "relay http listener failed");
    }
}
