//! The parsed configuration: clusters, rules in file order, listeners, statistics.

use regex::Regex;
use ring::Destination;

use crate::error::Pos;

/// How a cluster spreads metrics over its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterKind {
    /// Every server gets every metric.
    Forward,
    /// One server per metric, picked by FNV-1a of the name.
    AnyOf,
    /// The first (healthy) server.
    Failover,
    /// carbon_ch consistent hashing.
    CarbonCh,
    /// fnv1a_ch consistent hashing.
    Fnv1aCh,
    /// jump_fnv1a_ch jump hashing.
    JumpFnv1aCh,
    /// Writes to local files (`file`), `ip` variant prefixes the sender's address.
    File {
        /// `file ip`.
        ip: bool,
    },
}

impl ClusterKind {
    /// The keyword as written in the configuration.
    pub fn keyword(self) -> &'static str {
        match self {
            ClusterKind::Forward => "forward",
            ClusterKind::AnyOf => "any_of",
            ClusterKind::Failover => "failover",
            ClusterKind::CarbonCh => "carbon_ch",
            ClusterKind::Fnv1aCh => "fnv1a_ch",
            ClusterKind::JumpFnv1aCh => "jump_fnv1a_ch",
            ClusterKind::File { .. } => "file",
        }
    }

    /// Whether this is one of the consistent-hash kinds.
    pub fn is_hash(self) -> bool {
        matches!(
            self,
            ClusterKind::CarbonCh | ClusterKind::Fnv1aCh | ClusterKind::JumpFnv1aCh
        )
    }
}

/// Connection protocol of a server or listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// Unix socket (listeners only).
    Unix,
}

/// Wire wrapping of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain line protocol.
    Plain,
    /// gzip stream.
    Gzip,
    /// lz4 frames.
    Lz4,
    /// snappy frames.
    Snappy,
}

/// One cluster member.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Address, port (default 2003) and instance.
    pub dest: Destination,
    /// Protocol.
    pub proto: Proto,
    /// Compression.
    pub compression: Compression,
    /// TLS on top.
    pub ssl: bool,
}

/// A named group of servers.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Name used in `send to`.
    pub name: String,
    /// Distribution kind.
    pub kind: ClusterKind,
    /// Replication count of hash clusters (1 otherwise).
    pub replication: usize,
    /// `dynamic` flag of hash clusters.
    pub dynamic: bool,
    /// `useall` flag of forward/any_of/failover.
    pub useall: bool,
    /// Members in configuration order (paths for file clusters, in `dest.host`).
    pub servers: Vec<Server>,
    /// Where it was defined.
    pub pos: Pos,
}

/// A compiled match expression.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `*`: everything.
    All,
    /// A regular expression (unanchored search, as regexec).
    Regex {
        /// As written.
        text: String,
        /// Compiled.
        regex: Regex,
    },
}

impl Pattern {
    /// The expression as written.
    pub fn text(&self) -> &str {
        match self {
            Pattern::All => "*",
            Pattern::Regex { text, .. } => text,
        }
    }
}

/// What a failed `validate` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidateAction {
    /// Log and drop.
    Log,
    /// Drop silently.
    Drop,
}

/// `validate <regex> else log|drop` on the data part of a line.
#[derive(Debug, Clone)]
pub struct Validate {
    /// Pattern matched against the value and timestamp.
    pub pattern: Pattern,
    /// What happens on failure.
    pub action: ValidateAction,
}

/// Where a matching rule sends metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Discard (implies stop).
    Blackhole,
    /// Named clusters, by index into [`Config::clusters`].
    Clusters(Vec<usize>),
}

/// One aggregate computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compute {
    /// sum / summary.
    Sum,
    /// count / cnt.
    Count,
    /// max / maximum.
    Max,
    /// min / minimum.
    Min,
    /// average / avg.
    Average,
    /// median.
    Median,
    /// percentileNN.
    Percentile(u8),
    /// variance.
    Variance,
    /// stddev.
    Stddev,
}

impl Compute {
    /// The name c-relay prints for it.
    pub fn name(self) -> String {
        match self {
            Compute::Sum => "sum".into(),
            Compute::Count => "count".into(),
            Compute::Max => "max".into(),
            Compute::Min => "min".into(),
            Compute::Average => "average".into(),
            Compute::Median => "median".into(),
            Compute::Percentile(p) => format!("percentile{p}"),
            Compute::Variance => "variance".into(),
            Compute::Stddev => "stddev".into(),
        }
    }
}

/// Where an aggregate's bucket timestamp sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampAt {
    /// Start of the bucket.
    Start,
    /// Middle of the bucket.
    Middle,
    /// End of the bucket (the default).
    End,
}

/// An `aggregate` rule.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Input expressions.
    pub patterns: Vec<Pattern>,
    /// Bucket width in seconds.
    pub interval: u32,
    /// Seconds after which a bucket is final.
    pub expire: u32,
    /// Bucket timestamp placement.
    pub timestamp: TimestampAt,
    /// Computations and their output metric templates (with backreferences).
    pub computes: Vec<(Compute, String)>,
    /// Clusters for the produced metrics; None: they re-enter the router.
    pub send_to: Option<Vec<usize>>,
    /// Stop processing the input metric after this rule.
    pub stop: bool,
}

/// A rule, in file order.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `match`.
    Match {
        /// Expressions (any may match).
        patterns: Vec<Pattern>,
        /// Optional data validation.
        validate: Option<Validate>,
        /// `route using` replacement for the hash key.
        route_using: Option<String>,
        /// Destinations; None when the rule only validates.
        target: Option<Target>,
        /// Whether a match ends rule processing.
        stop: bool,
    },
    /// `rewrite <regex> into <replacement>`.
    Rewrite {
        /// The expression.
        pattern: Pattern,
        /// Replacement with `\N`, `\_`, `\^`, `\.` notation.
        replacement: String,
    },
    /// `aggregate`.
    Aggregate(Aggregate),
    /// `statistics` / `send statistics to`.
    Statistics {
        /// `submit every N seconds`.
        interval: Option<u32>,
        /// `reset counters after interval`.
        reset_counters: bool,
        /// `prefix with`.
        prefix: Option<String>,
        /// `send to`.
        send_to: Option<Vec<usize>>,
        /// `stop`.
        stop: bool,
    },
}

/// A `listen` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Interface (None: any), or the socket path for unix.
    pub address: Option<String>,
    /// Port (0 for unix sockets).
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Compression.
    pub compression: Compression,
    /// TLS certificate (PEM) when `ssl` is given.
    pub ssl_pem: Option<String>,
}

/// A whole configuration, includes resolved.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Clusters in definition order.
    pub clusters: Vec<Cluster>,
    /// Rules in file order (includes spliced in place).
    pub rules: Vec<Rule>,
    /// Listeners (empty: c-relay's defaults).
    pub listeners: Vec<Listener>,
}

impl Config {
    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The listeners to open: the configured ones, or c-relay's defaults without any
    /// (`port` on TCP and UDP on all interfaces plus the unix socket `/tmp/.s.carbon-c-relay.<port>`).
    pub fn effective_listeners(&self, port: u16) -> Vec<Listener> {
        if !self.listeners.is_empty() {
            return self.listeners.clone();
        }
        let plain = |address: Option<String>, port, proto| Listener {
            address,
            port,
            proto,
            compression: Compression::Plain,
            ssl_pem: None,
        };
        vec![
            plain(None, port, Proto::Tcp),
            plain(None, port, Proto::Udp),
            plain(
                Some(format!("/tmp/.s.carbon-c-relay.{port}")),
                0,
                Proto::Unix,
            ),
        ]
    }
}
