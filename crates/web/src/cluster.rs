//! The cluster ring as a [`Source`]: with `cluster_ring` set, a render asks each metric only
//! from the nodes the relay placed it on (same ring code as the relay), reads this node's own
//! share locally, hedges a slow owner with its replica, fills an answer's gaps from the other
//! copy, and names the peers behind any metric no owner could deliver.
//!
//! Finds cannot be placed (a pattern is not a metric), so they go to every ring member at once;
//! with replication factor `r`, the names of `r - 1` members that have not answered are known
//! from the others, so a find does not wait for them beyond their hedge delay.

use crate::config::{parse_duration, ConfigError, WebConfig};
use crate::error::WebError;
use crate::find_format::FoundNode;
use crate::merge::Answer;
use crate::remote::RemoteSource;
use crate::source::{BoxFuture, FindQuery, LocalView, Reported, Source, TimeRange};
use ring::{Destination, HashConfig, HashRouter, HashType, RelayMethod, RingFlavor, Router};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Builds the relay's placement from the `cluster_*` settings, exactly as the relay role does
/// from its `relay_method`, `hash_flavor`, `replication_factor` and `diverse_replicas`.
pub fn router(cfg: &WebConfig) -> Result<HashRouter, ConfigError> {
    let err = |key, msg: String| ConfigError { key, msg };
    let dests = cfg
        .cluster_ring
        .iter()
        .map(|m| Destination::parse(&m.destination))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err("cluster_ring", e.to_string()))?;
    let hash = match cfg.cluster_relay_method.parse::<RelayMethod>() {
        Ok(RelayMethod::Hash(h)) => h,
        _ => {
            return Err(err(
                "cluster_relay_method",
                format!(
                    "{:?} (carbon_ch | fnv1a_ch | jump_fnv1a_ch)",
                    cfg.cluster_relay_method
                ),
            ))
        }
    };
    let flavor = match cfg.cluster_hash_flavor.as_str() {
        "" if hash == HashType::JumpFnv1aCh => RingFlavor::CarbonCRelay,
        "" | "carbon" => RingFlavor::Carbon,
        "carbon-c-relay" | "c-relay" => RingFlavor::CarbonCRelay,
        other => {
            return Err(err(
                "cluster_hash_flavor",
                format!("{other:?} (carbon | carbon-c-relay)"),
            ))
        }
    };
    let hc = HashConfig {
        flavor,
        hash,
        replication_factor: cfg.cluster_replication_factor,
        diverse_replicas: cfg.cluster_diverse_replicas,
    };
    HashRouter::new(dests, hc).map_err(|e| err("cluster_ring", e.to_string()))
}

/// Validates the `cluster_*` settings (called by [`WebConfig::validate`]).
pub fn check(cfg: &WebConfig) -> Result<(), ConfigError> {
    if cfg.cluster_ring.is_empty() {
        return Ok(());
    }
    router(cfg)?;
    for m in &cfg.cluster_ring {
        let ok = m
            .http
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(ConfigError {
                key: "cluster_ring",
                msg: format!("http {:?}: expected host:port", m.http),
            });
        }
    }
    let min = parse_duration(&cfg.cluster_hedge_min);
    let max = parse_duration(&cfg.cluster_hedge_max);
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            return Err(ConfigError {
                key: "cluster_hedge_min",
                msg: format!(
                    "{} is longer than cluster_hedge_max {}",
                    cfg.cluster_hedge_min, cfg.cluster_hedge_max
                ),
            });
        }
    }
    Ok(())
}

fn http_key(s: &str) -> String {
    s.trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// One node of the ring (one web role, possibly several destinations).
enum Member {
    /// This node: read through the local source.
    Local,
    /// Another node, asked over HTTP with `local=1`.
    Peer(Arc<RemoteSource>),
}

struct Node {
    http: String,
    member: Member,
}

/// The cluster's ring of web roles, as one [`Source`].
pub struct ClusterSource {
    router: HashRouter,
    /// Node index of each ring destination.
    node_of: Vec<usize>,
    nodes: Vec<Node>,
    local: Option<Arc<dyn Source>>,
    hedge_min: Duration,
    hedge_max: Duration,
    /// Longest wait for a whole fetch or find (the peers' deadline plus the hedge).
    deadline: Duration,
    /// Members that may be missing from a find without losing a name (copies - 1).
    tolerable: usize,
}

impl ClusterSource {
    /// The ring of `cfg.cluster_ring`; `local` answers for the member that is this node
    /// (`cluster_self`, else `listen`); `peers` are reused by address (their breakers and
    /// latency history survive a reload).
    pub fn new(
        cfg: &WebConfig,
        local: Option<Arc<dyn Source>>,
        peers: &HashMap<String, Arc<RemoteSource>>,
        timeout: Duration,
    ) -> Result<ClusterSource, ConfigError> {
        let router = router(cfg)?;
        let me = http_key(if cfg.cluster_self.is_empty() {
            &cfg.listen
        } else {
            &cfg.cluster_self
        });
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_of = Vec::with_capacity(cfg.cluster_ring.len());
        for m in &cfg.cluster_ring {
            let http = http_key(&m.http);
            let i = match nodes.iter().position(|n| n.http == http) {
                Some(i) => i,
                None => {
                    let member = if http == me && local.is_some() {
                        Member::Local
                    } else {
                        Member::Peer(
                            peers
                                .get(&http)
                                .cloned()
                                .unwrap_or_else(|| Arc::new(RemoteSource::new(&http, timeout))),
                        )
                    };
                    nodes.push(Node { http, member });
                    nodes.len() - 1
                }
            };
            node_of.push(i);
        }
        if local.is_some() && !nodes.iter().any(|n| matches!(n.member, Member::Local)) {
            // a front end answering for the cluster; or a member whose cluster_self does not
            // match its `http` entry, then asked over HTTP like the others (slower, still right)
            tracing::info!(
                cluster_self = %me,
                "web: this node is not in cluster_ring: renders read only the ring's nodes"
            );
        }
        let hedge_min = parse_duration(&cfg.cluster_hedge_min).unwrap_or(Duration::from_millis(5));
        let hedge_max =
            parse_duration(&cfg.cluster_hedge_max).unwrap_or(Duration::from_millis(100));
        // Copies of a metric on distinct nodes: only counted on when each node is one
        // destination, otherwise two copies may share a node.
        let copies = if nodes.len() == node_of.len() {
            let hc = router.config();
            let hosts: HashSet<&str> = router.targets().iter().map(|d| d.host.as_str()).collect();
            let placed = if hc.flavor == RingFlavor::Carbon && hc.diverse_replicas {
                hosts.len()
            } else {
                nodes.len()
            };
            hc.replication_factor.min(placed).max(1)
        } else {
            1
        };
        Ok(ClusterSource {
            router,
            node_of,
            nodes,
            local,
            hedge_min,
            hedge_max,
            deadline: timeout + hedge_max,
            tolerable: copies - 1,
        })
    }

    /// The peers of this ring by address (to carry over into the next ring on reload).
    pub fn peers(&self) -> HashMap<String, Arc<RemoteSource>> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.member {
                Member::Peer(p) => Some((n.http.clone(), p.clone())),
                Member::Local => None,
            })
            .collect()
    }

    /// The web addresses of the ring's nodes, in first-appearance order.
    pub fn members(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.http.clone()).collect()
    }

    /// The nodes holding `metric`, primary first (this node first when it is one of them).
    pub fn owners(&self, metric: &str) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for d in &self.router.destinations(metric) {
            if let Some(&n) = self.node_of.get(*d) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        if let Some(p) = out
            .iter()
            .position(|&n| matches!(self.nodes[n].member, Member::Local))
        {
            let me = out.remove(p);
            out.insert(0, me);
        }
        out
    }

    /// The order `metric`'s nodes are asked in: owners (a peer whose breaker is open last), then
    /// the other nodes for a copy the ring does not place there (before a rebalance).
    fn candidates(&self, metric: &str) -> (Vec<usize>, usize) {
        let owners = self.owners(metric);
        let (mut up, down): (Vec<usize>, Vec<usize>) =
            owners.iter().partition(|&&n| self.available(n));
        up.extend(down);
        let n_owners = up.len();
        let (mut rest_up, rest_down): (Vec<usize>, Vec<usize>) = (0..self.nodes.len())
            .filter(|n| !owners.contains(n))
            .partition(|&n| self.available(n));
        rest_up.extend(rest_down);
        up.extend(rest_up);
        (up, n_owners)
    }

    /// How long peer `p` usually takes at most: the 90th percentile of its recent answer
    /// times within `cluster_hedge_min..max`.
    fn usual(&self, p: &RemoteSource) -> Duration {
        p.hedge_delay(self.hedge_min, self.hedge_max)
    }

    /// Whether node `n` is worth asking first: its breaker is closed and no call has been
    /// waiting on it for longer than it usually takes (then it is probably hung, and its
    /// copies are asked elsewhere first).
    fn available(&self, n: usize) -> bool {
        match self.nodes.get(n).map(|n| &n.member) {
            Some(Member::Peer(p)) => p.available() && !p.stalled(self.usual(p)),
            _ => true,
        }
    }

    /// Whether node `n` looks hung beyond doubt: breaker open, or a call waiting longer than
    /// `cluster_hedge_max`. A metric only such a node could still deliver is reported partial
    /// at once instead of waiting for the node's deadline.
    fn hung(&self, n: usize) -> bool {
        match self.nodes.get(n).map(|n| &n.member) {
            Some(Member::Peer(p)) => !p.available() || p.stalled(self.hedge_max),
            _ => false,
        }
    }

    /// How long node `n` may take before the next copy is asked too (nothing for a node that
    /// looks down or hung: it is not waited for).
    fn hedge_delay(&self, n: usize) -> Duration {
        match self.nodes.get(n).map(|n| &n.member) {
            Some(Member::Peer(p)) if self.available(n) => self.usual(p),
            Some(Member::Peer(_)) => Duration::ZERO,
            _ => self.hedge_max,
        }
    }

    /// Starts one node's fetch of `leaves` as its own task (a peer's call runs to its deadline
    /// even when the answer is no longer needed, so the breaker learns of a hung peer).
    fn spawn_fetch(
        &self,
        n: usize,
        leaves: Vec<String>,
        range: TimeRange,
        tx: &tokio::sync::mpsc::UnboundedSender<Reply>,
        ids: Vec<usize>,
    ) {
        let tx = tx.clone();
        let source: Option<Arc<dyn Source>> = match self.nodes.get(n).map(|n| &n.member) {
            Some(Member::Peer(p)) => Some(p.clone()),
            Some(Member::Local) => self.local.clone(),
            None => None,
        };
        tokio::spawn(async move {
            let result = match source {
                Some(s) => s.fetch(&leaves, range).await,
                None => Ok(Vec::new()),
            };
            let _ = tx.send(Reply {
                node: n,
                ids,
                result,
            });
        });
    }

    async fn fetch_ring(&self, leaves: &[String], range: TimeRange) -> Reported<Vec<Answer>> {
        let mut st: Vec<LeafState> = leaves
            .iter()
            .map(|l| {
                let (cands, n_owners) = self.candidates(l);
                LeafState {
                    cands,
                    n_owners,
                    next: 0,
                    inflight: Vec::new(),
                    failed: Vec::new(),
                    best: None,
                    complete: false,
                    gap_until: None,
                }
            })
            .collect();
        // one message per dispatched request, so the channel holds at most that many
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Reply>();
        let mut hedges: Vec<(Instant, usize, Vec<usize>)> = Vec::new();
        let all: Vec<usize> = (0..leaves.len()).collect();
        self.dispatch(&all, &mut st, leaves, range, &tx, &mut hedges, false);
        let end = Instant::now() + self.deadline;
        loop {
            let now = Instant::now();
            let settled = st.iter().all(|s| {
                s.settled(now) || (s.exhausted() && s.inflight.iter().all(|&n| self.hung(n)))
            });
            if settled || now >= end {
                break;
            }
            let wake = hedges
                .iter()
                .map(|h| h.0)
                .chain(st.iter().filter_map(|s| s.gap_until))
                .filter(|t| *t > now)
                .min()
                .unwrap_or(end)
                .min(end);
            // a node in flight may turn "stalled" meanwhile: look again by then
            let wake = if st.iter().any(|s| s.exhausted() && !s.inflight.is_empty()) {
                wake.min(now + self.hedge_max)
            } else {
                wake
            };
            tokio::select! {
                r = rx.recv() => {
                    let Some(r) = r else { break };
                    self.on_reply(r, &mut st, leaves, range, &tx, &mut hedges)?;
                }
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    let due: Vec<(Instant, usize, Vec<usize>)>;
                    (due, hedges) = hedges.into_iter().partition(|h| h.0 <= now);
                    for (_, node, ids) in due {
                        // still waiting on that node and nothing in hand: ask the next copy too
                        let slow: Vec<usize> = ids
                            .into_iter()
                            .filter(|&i| {
                                st[i].best.is_none() && st[i].inflight == [node]
                            })
                            .collect();
                        self.dispatch(&slow, &mut st, leaves, range, &tx, &mut hedges, false);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut left_out: Vec<String> = Vec::new();
        for s in st {
            match s.best {
                Some(a) => out.push(a),
                None => {
                    // no copy came: name who failed or never answered (a leaf every owner
                    // answered without is simply absent, as on a single node)
                    for n in s.failed.iter().chain(&s.inflight) {
                        if let Some(node) = self.nodes.get(*n) {
                            if !left_out.contains(&node.http) {
                                left_out.push(node.http.clone());
                            }
                        }
                    }
                }
            }
        }
        left_out.sort();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((out, left_out))
    }

    /// Sends each leaf of `ids` to its next candidate (owners only when `owners_only`), one
    /// request per node.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        ids: &[usize],
        st: &mut [LeafState],
        leaves: &[String],
        range: TimeRange,
        tx: &tokio::sync::mpsc::UnboundedSender<Reply>,
        hedges: &mut Vec<(Instant, usize, Vec<usize>)>,
        owners_only: bool,
    ) {
        let mut by_node: HashMap<usize, Vec<usize>> = HashMap::new();
        for &i in ids {
            let s = &mut st[i];
            let limit = if owners_only {
                s.n_owners
            } else {
                s.cands.len()
            };
            if s.next >= limit {
                continue;
            }
            let n = s.cands[s.next];
            s.next += 1;
            s.inflight.push(n);
            by_node.entry(n).or_default().push(i);
        }
        let now = Instant::now();
        for (n, ids) in by_node {
            let names: Vec<String> = ids.iter().map(|&i| leaves[i].clone()).collect();
            hedges.push((now + self.hedge_delay(n), n, ids.clone()));
            self.spawn_fetch(n, names, range, tx, ids);
        }
    }

    fn on_reply(
        &self,
        r: Reply,
        st: &mut [LeafState],
        leaves: &[String],
        range: TimeRange,
        tx: &tokio::sync::mpsc::UnboundedSender<Reply>,
        hedges: &mut Vec<(Instant, usize, Vec<usize>)>,
    ) -> Result<(), WebError> {
        let failed = r.result.is_err();
        let answers = match r.result {
            Ok(a) => Some(a),
            Err(e) => {
                if matches!(
                    self.nodes.get(r.node).map(|n| &n.member),
                    Some(Member::Local)
                ) {
                    // this node's own data failing is this request failing, as without a ring
                    return Err(e);
                }
                tracing::debug!(peer = %self.nodes[r.node].http, "web: ring fetch failed: {e}");
                None
            }
        };
        let mut by_name: HashMap<String, Answer> = answers
            .into_iter()
            .flatten()
            .map(|a| (a.name.clone(), a))
            .collect();
        let mut next_any = Vec::new();
        let mut next_owner = Vec::new();
        for &i in &r.ids {
            let Some(s) = st.get_mut(i) else { continue };
            s.inflight.retain(|&n| n != r.node);
            if s.complete {
                continue;
            }
            let Some(name) = leaves.get(i) else { continue };
            if failed {
                s.failed.push(r.node);
            }
            // a reply without the leaf means "not here", not a failure
            if let Some(a) = by_name.remove(name) {
                s.merge(a, range.now);
            }
            if s.complete {
                continue;
            }
            if s.best.is_some() {
                // gaps: the other copy may fill them, worth a wait as long as its hedge delay;
                // not worth asking a copy that looks down or hung
                let next = s.cands.get(s.next).copied().filter(|_| s.next < s.n_owners);
                match next {
                    Some(n) if s.inflight.is_empty() && self.available(n) => {
                        s.gap_until = Some(Instant::now() + self.hedge_delay(n));
                        next_owner.push(i);
                    }
                    Some(_) if s.inflight.is_empty() => s.next = s.n_owners,
                    _ => {
                        if s.gap_until.is_none() {
                            let wait = s.inflight.iter().map(|&n| self.hedge_delay(n)).max();
                            s.gap_until = Some(Instant::now() + wait.unwrap_or_default());
                        }
                    }
                }
            } else if s.inflight.is_empty() {
                next_any.push(i);
            }
        }
        self.dispatch(&next_any, st, leaves, range, tx, hedges, false);
        self.dispatch(&next_owner, st, leaves, range, tx, hedges, true);
        Ok(())
    }
}

struct Reply {
    node: usize,
    ids: Vec<usize>,
    result: Result<Vec<Answer>, WebError>,
}

/// Where one leaf's fetch stands.
struct LeafState {
    /// Nodes in asking order; the first `n_owners` are the ring's owners.
    cands: Vec<usize>,
    n_owners: usize,
    /// The next candidate to ask.
    next: usize,
    /// Nodes asked and not answered yet.
    inflight: Vec<usize>,
    /// Nodes that failed (error, timeout, breaker open).
    failed: Vec<usize>,
    /// The copies merged so far.
    best: Option<Answer>,
    /// No gaps left.
    complete: bool,
    /// Until when a copy with gaps waits for the other copy.
    gap_until: Option<Instant>,
}

impl LeafState {
    fn merge(&mut self, a: Answer, now: i64) {
        match &mut self.best {
            None => self.best = Some(a),
            Some(b) if b.values.len() == a.values.len() && b.start == a.start => {
                for (slot, v) in b.values.iter_mut().zip(a.values) {
                    if slot.is_none() {
                        *slot = v;
                    }
                }
            }
            Some(b) => {
                // different archives answered: keep the copy with more points
                let count = |x: &Answer| x.values.iter().filter(|v| v.is_some()).count();
                if count(&a) > count(b) {
                    *b = a;
                }
            }
        }
        self.complete = self.best.as_ref().is_some_and(|b| !has_gaps(b, now));
    }

    /// Every candidate was asked and no copy came: only a node still in flight could help
    /// (not worth waiting for when it looks hung: the answer is marked partial at once).
    fn exhausted(&self) -> bool {
        self.best.is_none() && self.next >= self.cands.len()
    }

    fn settled(&self, now: Instant) -> bool {
        if self.complete {
            return true;
        }
        if !self.inflight.is_empty() {
            // a copy with gaps waits for the other copy only a little
            return self.best.is_some() && self.gap_until.is_some_and(|t| t <= now);
        }
        let limit = if self.best.is_some() {
            self.n_owners
        } else {
            self.cands.len()
        };
        self.next >= limit
    }
}

/// Whether a copy misses points: a `None` anywhere but in the last two steps before `now`
/// (points of the current interval are usually still on their way to the caches).
pub fn has_gaps(a: &Answer, now: i64) -> bool {
    let fresh_from = now - 2 * a.step.max(1);
    a.values
        .iter()
        .enumerate()
        .any(|(i, v)| v.is_none() && a.start + (i as i64) * a.step < fresh_from)
}

impl Source for ClusterSource {
    fn find<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Result<Vec<FoundNode>, WebError>> {
        Box::pin(async move { self.find_ring(q).await.map(|(v, _)| v) })
    }

    fn fetch<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Result<Vec<Answer>, WebError>> {
        Box::pin(async move { self.fetch_ring(leaves, range).await.map(|(v, _)| v) })
    }

    fn index(&self) -> BoxFuture<'_, Result<Vec<String>, WebError>> {
        Box::pin(async move {
            let mut set = tokio::task::JoinSet::new();
            for n in &self.nodes {
                let s: Option<Arc<dyn Source>> = match &n.member {
                    Member::Peer(p) => Some(p.clone()),
                    Member::Local => self.local.clone(),
                };
                let local = matches!(n.member, Member::Local);
                if let Some(s) = s {
                    set.spawn(async move { (local, s.index().await) });
                }
            }
            let mut all = Vec::new();
            while let Some(done) = set.join_next().await {
                match done {
                    Ok((_, Ok(v))) => all.extend(v),
                    Ok((true, Err(e))) => return Err(e),
                    Ok((false, Err(e))) => tracing::debug!("web: ring index: {e}"),
                    Err(e) => return Err(WebError::Internal(format!("ring index task: {e}"))),
                }
            }
            all.sort();
            all.dedup();
            Ok(all)
        })
    }

    fn find_partial<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Reported<Vec<FoundNode>>> {
        Box::pin(self.find_ring(q))
    }

    fn fetch_partial<'a>(
        &'a self,
        leaves: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Reported<Vec<Answer>>> {
        Box::pin(self.fetch_ring(leaves, range))
    }

    fn local_view(&self) -> LocalView {
        match &self.local {
            Some(l) => LocalView::Part(l.clone()),
            None => LocalView::Nothing,
        }
    }

    /// Tag queries cannot be placed either: every other member is asked (its own tag index,
    /// `local=1`), as cluster_servers peers are.
    fn tag_call<'a>(&'a self, path_query: &'a str) -> BoxFuture<'a, Reported<Vec<Vec<u8>>>> {
        let q: Arc<str> = path_query.into();
        Box::pin(self.ask_every_peer("tag call", move |p| {
            let q = q.clone();
            async move { p.tag_call(&q).await }
        }))
    }

    /// `seriesByTag`: this node's share from its own tag index's names, every other member's
    /// from its own tag index; copies of one series (replicas) merge, the most complete winning.
    fn fetch_tagged<'a>(
        &'a self,
        pattern: &'a str,
        local_names: &'a [String],
        range: TimeRange,
    ) -> BoxFuture<'a, Reported<Vec<Answer>>> {
        let pat: Arc<str> = pattern.into();
        Box::pin(async move {
            let peers = self.ask_every_peer("seriesByTag", move |p| {
                let pat = pat.clone();
                async move { p.fetch_tagged(&pat, &[], range).await }
            });
            let local = async {
                match (&self.local, local_names.is_empty()) {
                    (Some(l), false) => l.fetch_partial(local_names, range).await,
                    _ => Ok((Vec::new(), Vec::new())),
                }
            };
            let (peers, local) = tokio::join!(peers, local);
            let (mut answers, mut left) = peers?;
            let (a, l) = local?;
            answers.extend(a);
            left.extend(l);
            Ok((crate::merge::merge_answers(answers), left))
        })
    }
}

impl ClusterSource {
    /// The other members of the ring (this node excluded).
    fn peer_members(&self) -> Vec<Arc<RemoteSource>> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.member {
                Member::Peer(p) => Some(p.clone()),
                Member::Local => None,
            })
            .collect()
    }

    /// Calls every other member at once and gathers their answers; a member that fails is
    /// named among the peers left out.
    async fn ask_every_peer<T, F, Fut>(&self, what: &str, call: F) -> Reported<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Arc<RemoteSource>) -> Fut,
        Fut: std::future::Future<Output = Reported<Vec<T>>> + Send + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for p in self.peer_members() {
            let name = p.peer().unwrap_or_default().to_string();
            let fut = call(p);
            set.spawn(async move { (name, fut.await) });
        }
        let mut out = Vec::new();
        let mut left = Vec::new();
        while let Some(done) = set.join_next().await {
            match done {
                Ok((_, Ok((v, l)))) => {
                    out.extend(v);
                    left.extend(l);
                }
                Ok((peer, Err(e))) => {
                    tracing::debug!("web: ring {what} from {peer}: {e}");
                    left.push(peer);
                }
                Err(e) => return Err(WebError::Internal(format!("ring {what} task: {e}"))),
            }
        }
        Ok((out, left))
    }
}

impl ClusterSource {
    async fn find_ring(&self, q: &FindQuery) -> Reported<Vec<FoundNode>> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Result<Vec<FoundNode>, WebError>)>(
            self.nodes.len().max(1),
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let s: Option<Arc<dyn Source>> = match &n.member {
                Member::Peer(p) => Some(p.clone()),
                Member::Local => self.local.clone(),
            };
            let (tx, q) = (tx.clone(), q.clone());
            tokio::spawn(async move {
                let r = match s {
                    Some(s) => s.find(&q).await,
                    None => Ok(Vec::new()),
                };
                let _ = tx.send((i, r)).await;
            });
        }
        drop(tx);
        let mut waiting: Vec<usize> = (0..self.nodes.len()).collect();
        let mut failed: Vec<usize> = Vec::new();
        let mut found: Vec<Vec<FoundNode>> = Vec::new();
        let end = Instant::now() + self.deadline;
        let mut grace: Option<Instant> = None;
        while !waiting.is_empty() {
            if failed.len() + waiting.len() <= self.tolerable && grace.is_none() {
                // what the rest hold, the others hold too: wait for them only briefly
                let d = waiting
                    .iter()
                    .map(|&n| self.hedge_delay(n))
                    .max()
                    .unwrap_or_default();
                grace = Some(Instant::now() + d);
            }
            let wake = grace.map_or(end, |g| g.min(end));
            tokio::select! {
                r = rx.recv() => {
                    let Some((i, r)) = r else { break };
                    waiting.retain(|&n| n != i);
                    match r {
                        Ok(v) => found.push(v),
                        Err(e) if matches!(self.nodes[i].member, Member::Local) => return Err(e),
                        Err(e) => {
                            tracing::debug!(peer = %self.nodes[i].http, "web: ring find failed: {e}");
                            failed.push(i);
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => break,
            }
        }
        let missing: Vec<usize> = failed.iter().chain(&waiting).copied().collect();
        let left_out: Vec<String> = if missing.len() > self.tolerable {
            let mut v: Vec<String> = missing
                .iter()
                .filter_map(|&n| self.nodes.get(n).map(|n| n.http.clone()))
                .collect();
            v.sort();
            v
        } else {
            Vec::new()
        };
        Ok((
            crate::source::merge_found(found.into_iter().flatten(), q)?,
            left_out,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RingMember;

    fn cfg(rf: usize, me: &str, ports: &[u16]) -> WebConfig {
        WebConfig {
            cluster_ring: ports
                .iter()
                .enumerate()
                .map(|(i, p)| RingMember {
                    destination: format!("127.0.0.1:{}:{}", 2000 + i, (b'a' + i as u8) as char),
                    http: format!("127.0.0.1:{p}"),
                })
                .collect(),
            cluster_replication_factor: rf,
            cluster_diverse_replicas: false,
            cluster_self: me.into(),
            cluster_hedge_min: "5ms".into(),
            cluster_hedge_max: "50ms".into(),
            ..WebConfig::default()
        }
    }

    #[test]
    fn check_names_the_bad_setting() {
        assert_eq!(check(&cfg(2, "", &[1, 2, 3])), Ok(()));
        let mut c = cfg(2, "", &[1, 2]);
        c.cluster_relay_method = "rules".into();
        assert_eq!(check(&c).unwrap_err().key, "cluster_relay_method");
        let mut c = cfg(2, "", &[1, 2]);
        c.cluster_ring[1].http = "nohost".into();
        assert_eq!(check(&c).unwrap_err().key, "cluster_ring");
        let mut c = cfg(2, "", &[1, 2]);
        c.cluster_ring[1].destination = c.cluster_ring[0].destination.clone();
        assert_eq!(check(&c).unwrap_err().key, "cluster_ring");
        let mut c = cfg(1, "", &[1]);
        c.cluster_hedge_min = "1s".into();
        assert_eq!(check(&c).unwrap_err().key, "cluster_hedge_min");
        let mut c = cfg(1, "", &[1]);
        c.cluster_hash_flavor = "go".into();
        assert_eq!(c.validate().unwrap_err().key, "cluster_hash_flavor");
    }

    #[test]
    fn owners_are_the_relays_placement() {
        let c = cfg(2, "127.0.0.1:2", &[1, 2, 3]);
        let relay = HashRouter::new(
            ring::parse_destinations("127.0.0.1:2000:a,127.0.0.1:2001:b,127.0.0.1:2002:c").unwrap(),
            HashConfig {
                replication_factor: 2,
                diverse_replicas: false,
                ..HashConfig::default()
            },
        )
        .unwrap();
        let local: Arc<dyn Source> = Arc::new(Fixed(Vec::new()));
        let src =
            ClusterSource::new(&c, Some(local), &HashMap::new(), Duration::from_secs(1)).unwrap();
        assert_eq!(src.tolerable, 1);
        for i in 0..200 {
            let m = format!("servers.host{i}.cpu");
            let mut want: Vec<usize> = relay.destinations(&m).to_vec();
            assert_eq!(want.len(), 2);
            let got = src.owners(&m);
            // this node (index 1) is moved first when it owns the metric
            if let Some(p) = want.iter().position(|&n| n == 1) {
                let me = want.remove(p);
                want.insert(0, me);
            }
            assert_eq!(got, want, "{m}");
        }
    }

    #[test]
    fn gaps_ignore_the_newest_steps() {
        let a = Answer {
            name: "x".into(),
            start: 100,
            end: 160,
            step: 10,
            values: vec![Some(1.0), Some(1.0), Some(1.0), Some(1.0), None, None],
        };
        assert!(!has_gaps(&a, 155));
        assert!(has_gaps(&a, 200));
        let mut b = a.clone();
        b.values[1] = None;
        assert!(has_gaps(&b, 155));
    }

    /// A source with fixed answers (this node's data in these tests).
    struct Fixed(Vec<Answer>);

    impl Source for Fixed {
        fn find<'a>(&'a self, q: &'a FindQuery) -> BoxFuture<'a, Result<Vec<FoundNode>, WebError>> {
            Box::pin(async move {
                let prefix = q.pattern.strip_suffix('*');
                Ok(self
                    .0
                    .iter()
                    .filter(|a| match prefix {
                        Some(p) => a.name.starts_with(p),
                        None => a.name == q.pattern,
                    })
                    .map(|a| FoundNode {
                        path: a.name.clone(),
                        is_leaf: true,
                        intervals: Vec::new(),
                    })
                    .collect())
            })
        }
        fn fetch<'a>(
            &'a self,
            leaves: &'a [String],
            _r: TimeRange,
        ) -> BoxFuture<'a, Result<Vec<Answer>, WebError>> {
            Box::pin(async move {
                Ok(self
                    .0
                    .iter()
                    .filter(|a| leaves.contains(&a.name))
                    .cloned()
                    .collect())
            })
        }
        fn index(&self) -> BoxFuture<'_, Result<Vec<String>, WebError>> {
            Box::pin(async move { Ok(self.0.iter().map(|a| a.name.clone()).collect()) })
        }
    }

    fn series(name: &str) -> Answer {
        Answer {
            name: name.into(),
            start: 100,
            end: 130,
            step: 10,
            values: vec![Some(1.0), Some(2.0), Some(3.0)],
        }
    }

    /// A ring of this node plus a dead peer (closed port) and a hung peer (accepts, never
    /// answers): metrics this node holds are complete and fast; those only the others hold are
    /// reported as partial, naming the peers.
    #[tokio::test]
    async fn dead_and_hung_owners_are_named_not_silent() {
        let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hung_port = hung.local_addr().unwrap().port();
        let dead_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = cfg(2, "127.0.0.1:1", &[1, dead_port, hung_port]);
        let names: Vec<String> = (0..60).map(|i| format!("m.{i}")).collect();
        let placement =
            ClusterSource::new(&c, None, &HashMap::new(), Duration::from_secs(1)).unwrap();
        // this node holds exactly what the ring places on it
        let held: Vec<Answer> = names
            .iter()
            .filter(|n| placement.owners(n).contains(&0))
            .map(|n| series(n))
            .collect();
        let local: Arc<dyn Source> = Arc::new(Fixed(held.clone()));
        let src = ClusterSource::new(&c, Some(local), &HashMap::new(), Duration::from_millis(300))
            .unwrap();
        let range = TimeRange {
            from: 100,
            until: 130,
            now: 1000,
        };
        let mine: Vec<String> = names
            .iter()
            .filter(|n| src.owners(n).first() == Some(&0))
            .cloned()
            .collect();
        let theirs: Vec<String> = names
            .iter()
            .filter(|n| !src.owners(n).contains(&0))
            .cloned()
            .collect();
        assert!(!mine.is_empty() && !theirs.is_empty());
        let (got, left) = src.fetch_ring(&mine, range).await.unwrap();
        assert_eq!(got.len(), mine.len());
        assert!(left.is_empty(), "{left:?}");
        // only the dead and hung peers own these: no copy, both named
        let (got, left) = src.fetch_ring(&theirs, range).await.unwrap();
        assert!(got.is_empty(), "{got:?}");
        let mut want = vec![
            format!("127.0.0.1:{dead_port}"),
            format!("127.0.0.1:{hung_port}"),
        ];
        want.sort();
        assert_eq!(left, want);
        // and finds: two of three members missing is more than rf 2 tolerates
        let q = FindQuery {
            pattern: "m.*".into(),
            leaves_only: true,
            limit: 1000,
            with_intervals: false,
        };
        let (nodes, left) = src.find_ring(&q).await.unwrap();
        assert_eq!(nodes.len(), held.len());
        assert_eq!(left, want);
        drop(hung);
    }

    /// A peer that is a real web role (axum, graphite-web's pickle protocol) over fixed data.
    async fn peer_serving(data: Vec<Answer>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cfg = WebConfig {
            default_cache_duration: 0,
            find_cache_duration: 0,
            ..WebConfig::default()
        };
        let src: Arc<dyn Source> = Arc::new(Fixed(data));
        let app = Arc::new(crate::server::App::new(
            cfg,
            crate::source::Sources::new(vec![src]),
        ));
        tokio::spawn(crate::server::serve(listener, app, std::future::pending()));
        port
    }

    /// The primary owner hangs: its metrics come complete from the other owner (a real web
    /// role), hedged after the hang's delay, and the answer is not partial; finds too (one
    /// missing node of three is covered by replication factor 2).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_primary_is_hedged_to_the_replica() {
        let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hung_port = hung.local_addr().unwrap().port();
        let names: Vec<String> = (0..80).map(|i| format!("h.{i}")).collect();
        // placement only depends on the destinations, not on the ports
        let probe = cfg(2, "127.0.0.1:1", &[1, 2, 3]);
        let placement =
            ClusterSource::new(&probe, None, &HashMap::new(), Duration::from_secs(1)).unwrap();
        // node 0: this node, node 1: a real peer, node 2: hung
        let held = |n: usize| -> Vec<Answer> {
            names
                .iter()
                .filter(|m| placement.owners(m).contains(&n))
                .map(|m| series(m))
                .collect()
        };
        let peer_port = peer_serving(held(1)).await;
        let c = cfg(2, "127.0.0.1:1", &[1, peer_port, hung_port]);
        let local: Arc<dyn Source> = Arc::new(Fixed(held(0)));
        let src =
            ClusterSource::new(&c, Some(local), &HashMap::new(), Duration::from_secs(5)).unwrap();
        let hung_first: Vec<String> = names
            .iter()
            .filter(|m| src.owners(m) == vec![2, 1])
            .cloned()
            .collect();
        assert!(!hung_first.is_empty(), "no metric with the hung node first");
        let range = TimeRange {
            from: 100,
            until: 130,
            now: 1000,
        };
        let (got, left) = src.fetch_ring(&hung_first, range).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        // answered while the call to the hung node is still waiting: hedged, not timed out
        let Member::Peer(h) = &src.nodes[2].member else {
            panic!("node 2 is a peer")
        };
        assert!(
            h.stalled(Duration::ZERO),
            "the hung node's call already ended"
        );
        let got_names: Vec<&str> = got.iter().map(|a| a.name.as_str()).collect();
        let mut want: Vec<&str> = hung_first.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(got_names, want);
        assert!(got.iter().all(|a| a.values == series(&a.name).values));
        // everything at once, finds included
        let q = FindQuery {
            pattern: "h.*".into(),
            leaves_only: true,
            limit: 1000,
            with_intervals: false,
        };
        let (nodes, left) = src.find_ring(&q).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(nodes.len(), names.len());
        let (got, left) = src.fetch_ring(&names, range).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(got.len(), names.len());
        drop(hung);
    }

    /// This node's copy has a gap, the other owner's copy another: the answer has both filled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gaps_are_filled_from_the_other_copy() {
        let names: Vec<String> = (0..40).map(|i| format!("g.{i}")).collect();
        let probe = cfg(2, "127.0.0.1:1", &[1, 2, 3]);
        let placement =
            ClusterSource::new(&probe, None, &HashMap::new(), Duration::from_secs(1)).unwrap();
        let shared: Vec<String> = names
            .iter()
            .filter(|m| placement.owners(m) == vec![0, 1])
            .cloned()
            .collect();
        assert!(!shared.is_empty());
        let with_gap = |slot: usize| -> Vec<Answer> {
            shared
                .iter()
                .map(|m| {
                    let mut a = series(m);
                    a.values[slot] = None;
                    a
                })
                .collect()
        };
        let peer_port = peer_serving(with_gap(0)).await;
        let dead_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = cfg(2, "127.0.0.1:1", &[1, peer_port, dead_port]);
        let local: Arc<dyn Source> = Arc::new(Fixed(with_gap(1)));
        let src =
            ClusterSource::new(&c, Some(local), &HashMap::new(), Duration::from_secs(5)).unwrap();
        let range = TimeRange {
            from: 100,
            until: 130,
            now: 1000,
        };
        let (got, left) = src.fetch_ring(&shared, range).await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(got.len(), shared.len());
        for a in &got {
            assert_eq!(a.values, series(&a.name).values, "{}", a.name);
        }
    }
}
