//! A carbon-c-relay configuration as a [`Director`]: its rules decide, per point, which cluster
//! members get it and under which (rewritten) name, and its `aggregate` rules produce points
//! of their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crelay::config::{ClusterKind, Compression, Proto, Rule};
use crelay::{Aggregates, Event, Limits, Router};
use transport::tls::ClientFiles;

use crate::dest::{Destination, Transport};
use crate::direct::Director;
use crate::error::RelayError;
use crate::point::Point;
use crate::relay::unix_now;

/// Routes like carbon-c-relay with a parsed configuration.
pub struct CRelayDirector {
    router: Router,
    targets: Vec<Destination>,
    /// How each target's connection is wrapped (`transport` and `ssl` of its server line).
    transports: Vec<Transport>,
    aggregates: Mutex<Aggregates>,
    has_aggregates: bool,
    /// Whether any rule validates the data part, which then has to be rendered per point.
    needs_data: bool,
    /// `send to` clusters of each aggregate rule (by rule index); absent: outputs re-enter the rules.
    aggregate_targets: HashMap<usize, Vec<usize>>,
    discarded: AtomicU64,
}

impl CRelayDirector {
    /// Prepares routing for `config`; `ssl` servers are verified against the system's CAs.
    pub fn new(config: crelay::Config) -> Result<Self, RelayError> {
        Self::with_tls(config, ClientFiles::default())
    }

    /// Prepares routing for `config`; `ssl` servers are verified with `tls` (CA file, client
    /// certificate), as carbon-c-relay's `-C` option and `mtls` settings do. `proto udp` servers
    /// get one datagram per line. Servers Carbonado cannot talk to (`file` clusters) are refused
    /// with a message naming them.
    pub fn with_tls(config: crelay::Config, tls: ClientFiles) -> Result<Self, RelayError> {
        // One target per `host:port`: a server in several clusters is one connection, as in c-relay.
        let mut targets: Vec<Destination> = Vec::new();
        let mut transports: Vec<Transport> = Vec::new();
        let mut connector = None;
        for c in &config.clusters {
            if let ClusterKind::File { .. } = c.kind {
                return Err(RelayError::Config(format!(
                    "cluster {}: file clusters are not supported by Carbonado's relay",
                    c.name
                )));
            }
            for s in &c.servers {
                let udp = match s.proto {
                    Proto::Tcp => false,
                    Proto::Udp if s.compression == Compression::Plain && !s.ssl => true,
                    Proto::Udp => {
                        return Err(RelayError::Config(format!(
                            "cluster {}: server {}: UDP carries plain lines only",
                            c.name, s.dest
                        )))
                    }
                    Proto::Unix => {
                        return Err(RelayError::Config(format!(
                            "cluster {}: server {}: unix sockets are not supported as servers",
                            c.name, s.dest
                        )))
                    }
                };
                let compression = match s.compression {
                    Compression::Plain => transport::Compression::Plain,
                    Compression::Gzip => transport::Compression::Gzip,
                    Compression::Lz4 => transport::Compression::Lz4,
                    Compression::Snappy => transport::Compression::Snappy,
                };
                let tls = if s.ssl {
                    if connector.is_none() {
                        let built = tls.connector().map_err(|e| {
                            RelayError::Config(format!(
                                "cluster {}: server {}: {e}",
                                c.name, s.dest
                            ))
                        })?;
                        connector = Some(built);
                    }
                    connector.clone().map(|k| (tls.clone(), k))
                } else {
                    None
                };
                if !targets
                    .iter()
                    .any(|t| t.port == s.dest.port && t.host == s.dest.host)
                {
                    targets.push(Destination::new(s.dest.host.clone(), s.dest.port, None));
                    transports.push(Transport {
                        compression,
                        tls,
                        udp,
                    });
                }
            }
        }
        let mut aggregate_targets = HashMap::new();
        let mut needs_data = false;
        for (i, r) in config.rules.iter().enumerate() {
            match r {
                Rule::Aggregate(a) => {
                    if let Some(to) = &a.send_to {
                        aggregate_targets.insert(i, to.clone());
                    }
                }
                Rule::Match {
                    validate: Some(_), ..
                } => needs_data = true,
                _ => {}
            }
        }
        let aggregates = Aggregates::new(&config, Limits::default());
        let has_aggregates = !aggregates.is_empty();
        Ok(CRelayDirector {
            router: Router::new(config),
            targets,
            transports,
            aggregates: Mutex::new(aggregates),
            has_aggregates,
            needs_data,
            aggregate_targets,
            discarded: AtomicU64::new(0),
        })
    }

    /// The router (for printing the routing of sample metrics).
    pub fn router(&self) -> &Router {
        &self.router
    }

    fn deliver(
        &self,
        servers: &[ring::Destination],
        metric: &str,
        p: &Point,
        out: &mut Vec<(usize, Point)>,
    ) {
        for s in servers {
            // A linear scan: clusters are small, and it needs no owned key per lookup.
            let hit = self
                .targets
                .iter()
                .position(|t| t.port == s.port && t.host == s.host);
            if let Some(i) = hit {
                out.push((i, Point::new(metric, p.timestamp, p.value)));
            }
        }
    }

    fn emit(&self, produced: Vec<crelay::Output>, out: &mut Vec<(usize, Point)>) {
        for o in produced {
            let p = Point::new(o.metric, o.timestamp as f64, o.value);
            match self.aggregate_targets.get(&o.rule) {
                Some(clusters) => {
                    for &c in clusters {
                        if let Some(send) = self.router.send_to(c, &p.metric) {
                            self.deliver(&send.servers, &send.metric, &p, out);
                        }
                    }
                }
                // Without `send to`, c-relay feeds aggregates back into its own rules.
                None => self.direct(p, out),
            }
        }
    }
}

impl Director for CRelayDirector {
    fn targets(&self) -> &[Destination] {
        &self.targets
    }

    fn transport(&self, index: usize) -> Option<Transport> {
        self.transports.get(index).cloned()
    }

    fn direct(&self, p: Point, out: &mut Vec<(usize, Point)>) {
        let data = if self.needs_data {
            format!("{} {}", p.value, p.timestamp)
        } else {
            String::new()
        };
        let routing = self.router.route(&p.metric, &data);
        let before = out.len();
        let mut aggregated = false;
        for e in &routing.events {
            match e {
                Event::Send(s) => self.deliver(&s.servers, &s.metric, &p, out),
                Event::Aggregate(hit) => {
                    aggregated = true;
                    let mut a = self.aggregates.lock().unwrap_or_else(|e| e.into_inner());
                    a.feed(unix_now(), hit.rule, &hit.outputs, p.value, p.timestamp);
                }
                _ => {}
            }
        }
        if out.len() == before && !aggregated {
            self.discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn ticks(&self) -> bool {
        self.has_aggregates
    }

    fn tick(&self, now: i64, out: &mut Vec<(usize, Point)>) {
        let mut produced = Vec::new();
        self.aggregates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tick(now, &mut produced);
        self.emit(produced, out);
    }

    fn flush(&self, now: i64, out: &mut Vec<(usize, Point)>) {
        let mut produced = Vec::new();
        self.aggregates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush(now, &mut produced);
        self.emit(produced, out);
    }

    fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        if !self.has_aggregates {
            return Vec::new();
        }
        let a = self.aggregates.lock().unwrap_or_else(|e| e.into_inner());
        let (mut received, mut sent, mut dropped) = (0, 0, 0);
        for i in 0..self.router.config().rules.len() {
            if let Some(st) = a.stats(i) {
                received += st.received;
                sent += st.sent;
                dropped += st.dropped;
            }
        }
        vec![
            ("aggregateDatapointsReceived", received),
            ("aggregateDatapointsSent", sent),
            ("aggregateDatapointsDropped", dropped),
            ("aggregatorInvocations", a.invocations() as u64),
        ]
    }
}
