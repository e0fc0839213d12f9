//! Evaluating the rules for one metric, as carbon-c-relay's router does.

use regex::Captures;
use ring::{CRelayHash, CRelayRing, Destination, JumpRing, Owners};

use crate::config::{ClusterKind, Compute, Config, Pattern, Rule, Target, ValidateAction};
use crate::replace::expand;

/// One delivery decision: a cluster and the servers that get the metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    /// Cluster name.
    pub cluster: String,
    /// Metric name as sent (after rewrites so far).
    pub metric: String,
    /// Chosen servers (all members for forward; file paths for file clusters).
    pub servers: Vec<Destination>,
}

/// A metric that feeds an `aggregate` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateHit {
    /// Index of the rule in [`Config::rules`].
    pub rule: usize,
    /// Input metric name.
    pub metric: String,
    /// Computations and the output names they write to.
    pub outputs: Vec<(Compute, String)>,
}

/// One step of the routing of a metric, in rule order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A cluster got the metric.
    Send(Send),
    /// A `rewrite` changed the name.
    Rewrite {
        /// Name before.
        from: String,
        /// Name after.
        to: String,
    },
    /// A blackhole rule swallowed the metric.
    Blackhole {
        /// Name at that point.
        metric: String,
    },
    /// An aggregation was fed.
    Aggregate(AggregateHit),
    /// A `validate` clause failed.
    Invalid(ValidateAction),
    /// A rule ended processing.
    Stop,
}

/// Everything the rules decided for one metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    /// Name after all rewrites that applied.
    pub metric: String,
    /// Whether any rule matched at all.
    pub matched: bool,
    /// What happened, in order.
    pub events: Vec<Event>,
}

impl Routing {
    /// Deliveries in order.
    pub fn sends(&self) -> impl Iterator<Item = &Send> {
        self.events.iter().filter_map(|e| match e {
            Event::Send(s) => Some(s),
            _ => None,
        })
    }

    /// `(cluster, metric name as sent)` for every delivery.
    pub fn destinations(&self) -> Vec<(String, String)> {
        self.sends()
            .map(|s| (s.cluster.clone(), s.metric.clone()))
            .collect()
    }

    /// Aggregations fed.
    pub fn aggregates(&self) -> impl Iterator<Item = &AggregateHit> {
        self.events.iter().filter_map(|e| match e {
            Event::Aggregate(a) => Some(a),
            _ => None,
        })
    }

    /// Whether a blackhole rule matched.
    pub fn blackholed(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Blackhole { .. }))
    }

    /// Whether a validation failed.
    pub fn invalid(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Invalid(_)))
    }
}

enum Placement {
    Ring(CRelayRing),
    Jump(JumpRing),
    Other,
}

/// A parsed configuration ready to route metrics.
pub struct Router {
    config: Config,
    placements: Vec<Placement>,
    /// Every name-matching expression of every rule in one set, so a metric is tested against
    /// all of them in one pass (and again only after a rewrite changes its name); `None` when
    /// the set cannot be built (size limits), and each expression is then tried on its own.
    prefilter: Option<regex::RegexSet>,
    /// Per rule, per expression: its index in `prefilter` (`None` for `*`).
    slots: Vec<Vec<Option<usize>>>,
}

/// The name-matching expressions of a rule (not `validate`, which matches the data).
fn rule_patterns(rule: &Rule) -> Vec<&Pattern> {
    match rule {
        Rule::Match { patterns, .. } => patterns.iter().collect(),
        Rule::Rewrite { pattern, .. } => vec![pattern],
        Rule::Aggregate(a) => a.patterns.iter().collect(),
        Rule::Statistics { .. } => Vec::new(),
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Precomputes the hash rings of every cluster.
    pub fn new(config: Config) -> Self {
        let placements = config
            .clusters
            .iter()
            .map(|c| {
                let dests: Vec<Destination> = c.servers.iter().map(|s| s.dest.clone()).collect();
                match c.kind {
                    ClusterKind::CarbonCh => {
                        Placement::Ring(CRelayRing::new(&dests, CRelayHash::CarbonCh))
                    }
                    ClusterKind::Fnv1aCh => {
                        Placement::Ring(CRelayRing::new(&dests, CRelayHash::Fnv1aCh))
                    }
                    ClusterKind::JumpFnv1aCh => Placement::Jump(JumpRing::new(&dests)),
                    _ => Placement::Other,
                }
            })
            .collect();
        let mut texts = Vec::new();
        let slots = config
            .rules
            .iter()
            .map(|r| {
                rule_patterns(r)
                    .into_iter()
                    .map(|p| match p {
                        Pattern::All => None,
                        Pattern::Regex { regex, .. } => {
                            texts.push(regex.as_str().to_owned());
                            Some(texts.len() - 1)
                        }
                    })
                    .collect()
            })
            .collect();
        let prefilter = regex::RegexSet::new(&texts).ok();
        Router {
            config,
            placements,
            prefilter,
            slots,
        }
    }

    /// Which expressions match `name` (all possible when there is no prefilter).
    fn hits(&self, name: &str) -> Option<regex::SetMatches> {
        self.prefilter.as_ref().map(|set| set.matches(name))
    }

    /// Whether expression `j` of rule `rule` can match, per the prefilter.
    fn may_match(&self, hits: &Option<regex::SetMatches>, rule: usize, j: usize) -> bool {
        match (hits, self.slots.get(rule).and_then(|s| s.get(j))) {
            (Some(h), Some(Some(i))) => h.matched(*i),
            _ => true,
        }
    }

    /// The configuration routed by.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Routes one metric; `data` is the rest of the line (value and timestamp) for `validate`.
    pub fn route(&self, metric: &str, data: &str) -> Routing {
        let mut r = Routing {
            metric: metric.to_owned(),
            ..Routing::default()
        };
        let mut hits = self.hits(metric);
        for (idx, rule) in self.config.rules.iter().enumerate() {
            match rule {
                Rule::Match {
                    patterns,
                    validate,
                    route_using,
                    target,
                    stop,
                } => {
                    // Each expression is its own rule in c-relay: a metric matching two of them
                    // is delivered twice.
                    for (j, p) in patterns.iter().enumerate() {
                        if !self.may_match(&hits, idx, j) {
                            continue;
                        }
                        let Some(caps) = matches(p, &r.metric) else {
                            continue;
                        };
                        r.matched = true;
                        if let Some(v) = validate {
                            if matches(&v.pattern, data).is_none() {
                                // The rule's destinations are skipped; it stops processing when it
                                // has none, or when it says `stop`.
                                r.events.push(Event::Invalid(v.action));
                                if target.is_none() || *stop {
                                    r.events.push(Event::Stop);
                                    return r;
                                }
                                continue;
                            }
                        }
                        let key = match (route_using, &caps) {
                            (Some(u), Some(c)) => expand(&r.metric, c, u),
                            _ => r.metric.clone(),
                        };
                        match target {
                            Some(Target::Blackhole) => r.events.push(Event::Blackhole {
                                metric: r.metric.clone(),
                            }),
                            Some(Target::Clusters(ids)) => {
                                for &i in ids {
                                    if let Some(send) = self.send(i, &r.metric, &key) {
                                        r.events.push(Event::Send(send));
                                    }
                                }
                            }
                            None => {}
                        }
                        if *stop {
                            r.events.push(Event::Stop);
                            return r;
                        }
                    }
                }
                Rule::Rewrite {
                    pattern,
                    replacement,
                } => {
                    if !self.may_match(&hits, idx, 0) {
                        continue;
                    }
                    if let Some(Some(caps)) = matches(pattern, &r.metric) {
                        r.matched = true;
                        let to = expand(&r.metric, &caps, replacement);
                        let from = std::mem::replace(&mut r.metric, to.clone());
                        r.events.push(Event::Rewrite { from, to });
                        // Later rules see the new name.
                        hits = self.hits(&r.metric);
                    }
                }
                Rule::Aggregate(a) => {
                    for (j, p) in a.patterns.iter().enumerate() {
                        if !self.may_match(&hits, idx, j) {
                            continue;
                        }
                        let Some(caps) = matches(p, &r.metric) else {
                            continue;
                        };
                        r.matched = true;
                        let groups = caps.as_ref().map_or(0, |c| c.len() - 1);
                        let outputs = a
                            .computes
                            .iter()
                            .map(|(m, tpl)| {
                                let name = match &caps {
                                    Some(c) if groups > 0 => expand(&r.metric, c, tpl),
                                    _ => tpl.clone(),
                                };
                                (*m, name)
                            })
                            .collect();
                        r.events.push(Event::Aggregate(AggregateHit {
                            rule: idx,
                            metric: r.metric.clone(),
                            outputs,
                        }));
                        if a.stop {
                            r.events.push(Event::Stop);
                            return r;
                        }
                    }
                }
                Rule::Statistics { .. } => {}
            }
        }
        r
    }

    /// Where cluster number `cluster` sends `metric` (an aggregate's `send to` outputs).
    pub fn send_to(&self, cluster: usize, metric: &str) -> Option<Send> {
        self.send(cluster, metric, metric)
    }

    fn send(&self, cluster: usize, metric: &str, key: &str) -> Option<Send> {
        let c = self.config.clusters.get(cluster)?;
        let all = || c.servers.iter().map(|s| s.dest.clone()).collect::<Vec<_>>();
        let servers = match (c.kind, self.placements.get(cluster)?) {
            (ClusterKind::Forward | ClusterKind::File { .. }, _) => all(),
            (ClusterKind::Failover, _) => c
                .servers
                .first()
                .map(|s| s.dest.clone())
                .into_iter()
                .collect(),
            (ClusterKind::AnyOf, _) => {
                let n = c.servers.len().max(1) as u32;
                // any_of hashes the metric itself, never the `route using` key.
                let i = ring::hash::crelay_fnv32a(metric.as_bytes()) % n;
                c.servers
                    .get(i as usize)
                    .map(|s| s.dest.clone())
                    .into_iter()
                    .collect()
            }
            (_, Placement::Ring(ring)) => {
                self.owners(c, |o| ring.get_nodes_into(key.as_bytes(), c.replication, o))
            }
            (_, Placement::Jump(ring)) => {
                self.owners(c, |o| ring.get_nodes_into(key.as_bytes(), c.replication, o))
            }
            (_, Placement::Other) => Vec::new(),
        };
        Some(Send {
            cluster: c.name.clone(),
            metric: metric.to_owned(),
            servers,
        })
    }

    fn owners(
        &self,
        c: &crate::config::Cluster,
        fill: impl FnOnce(&mut Owners),
    ) -> Vec<Destination> {
        let mut o = Owners::default();
        fill(&mut o);
        o.iter()
            .filter_map(|&i| c.servers.get(i).map(|s| s.dest.clone()))
            .collect()
    }
}

/// None: no match; Some(None): `*`; Some(Some(caps)): a regex match.
fn matches<'t>(p: &Pattern, text: &'t str) -> Option<Option<Captures<'t>>> {
    match p {
        Pattern::All => Some(None),
        // Most rules do not match most metrics: the capture-free test is several times
        // cheaper, and captures are only built for the rules that do match.
        Pattern::Regex { regex, .. } if !regex.is_match(text) => None,
        Pattern::Regex { regex, .. } => regex.captures(text).map(Some),
    }
}
