//! Routers: metric name -> destination indexes, as carbon-relay and carbon-c-relay decide.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::aggregated::AggregatedRouter;
use crate::carbon_ring::{CarbonHash, CarbonRing, Node};
use crate::crelay::{CRelayHash, CRelayRing, JumpRing};
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::owners::Owners;
use crate::rules::RulesRouter;

/// Anything that places a metric on destinations.
pub trait Router {
    /// Appends the destination indexes for `metric` to `out` (primary first).
    fn destinations_into(&self, metric: &str, out: &mut Owners);

    /// The destination indexes for `metric` (primary first).
    fn destinations(&self, metric: &str) -> Owners {
        let mut out = Owners::new();
        self.destinations_into(metric, &mut out);
        out
    }

    /// How many copies of each metric are sent (1 for rules).
    fn replication_factor(&self) -> usize;

    /// The destinations the indexes refer to.
    fn targets(&self) -> &[Destination];
}

/// Which implementation's placement to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingFlavor {
    /// Python carbon-relay / graphite-web (collision bumping, DIVERSE_REPLICAS).
    #[default]
    Carbon,
    /// carbon-c-relay 3.x clusters (for migrating a c-relay setup).
    CarbonCRelay,
}

/// The hash of a consistent-hashing router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// md5 ring (carbon's default).
    #[default]
    CarbonCh,
    /// FNV-1a ring keyed by instance.
    Fnv1aCh,
    /// Jump consistent hash (carbon-c-relay only).
    JumpFnv1aCh,
}

impl HashType {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            HashType::CarbonCh => "carbon_ch",
            HashType::Fnv1aCh => "fnv1a_ch",
            HashType::JumpFnv1aCh => "jump_fnv1a_ch",
        }
    }
}

impl fmt::Display for HashType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "carbon_ch" => Ok(HashType::CarbonCh),
            "fnv1a_ch" => Ok(HashType::Fnv1aCh),
            "jump_fnv1a_ch" => Ok(HashType::JumpFnv1aCh),
            other => Err(Error::UnknownHashType(other.to_owned())),
        }
    }
}

/// Settings of a consistent-hashing router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashConfig {
    /// Whose placement to reproduce.
    pub flavor: RingFlavor,
    /// The ring hash.
    pub hash: HashType,
    /// REPLICATION_FACTOR (c-relay: `replication N`).
    pub replication_factor: usize,
    /// DIVERSE_REPLICAS (Python carbon only): replicas on distinct servers.
    pub diverse_replicas: bool,
}

impl Default for HashConfig {
    fn default() -> Self {
        HashConfig {
            flavor: RingFlavor::Carbon,
            hash: HashType::CarbonCh,
            replication_factor: 1,
            diverse_replicas: true,
        }
    }
}

/// A routing-key function (carbon's `setKeyFunction`): turns the metric name into the text hashed.
pub type KeyFunction = Arc<dyn for<'a> Fn(&'a str) -> Cow<'a, str> + Send + Sync>;

#[derive(Debug, Clone)]
enum Ring {
    Carbon(CarbonRing),
    CRelay(CRelayRing),
    Jump(JumpRing),
}

/// carbon's ConsistentHashingRouter (or a carbon-c-relay hash cluster): a precomputed ring
/// over the destinations.
#[derive(Clone)]
pub struct HashRouter {
    dests: Vec<Destination>,
    ring: Ring,
    config: HashConfig,
    /// Per destination, an id shared by destinations on the same server string.
    server_ids: Vec<u32>,
    /// Most distinct owners a lookup can produce; the walk stops there.
    max_owners: usize,
    key_fn: Option<KeyFunction>,
}

impl fmt::Debug for HashRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashRouter")
            .field("dests", &self.dests)
            .field("config", &self.config)
            .field("key_fn", &self.key_fn.is_some())
            .finish()
    }
}

impl HashRouter {
    /// Builds the ring. Python carbon rejects two destinations with the same (server, instance);
    /// c-relay flavours reject identical destinations.
    pub fn new(dests: Vec<Destination>, config: HashConfig) -> Result<Self> {
        if dests.is_empty() {
            return Err(Error::NoDestinations);
        }
        if config.replication_factor == 0 {
            return Err(Error::InvalidReplicationFactor);
        }
        let ring = match (config.flavor, config.hash) {
            (RingFlavor::Carbon, HashType::JumpFnv1aCh) => {
                return Err(Error::UnsupportedHashType("jump_fnv1a_ch"))
            }
            (RingFlavor::Carbon, h) => {
                let nodes = dests
                    .iter()
                    .map(|d| Node {
                        server: d.host.clone(),
                        instance: d.instance.clone(),
                    })
                    .collect();
                let hash = if h == HashType::CarbonCh {
                    CarbonHash::CarbonCh
                } else {
                    CarbonHash::Fnv1aCh
                };
                Ring::Carbon(CarbonRing::new(nodes, hash)?)
            }
            (RingFlavor::CarbonCRelay, h) => {
                if config.replication_factor > dests.len() {
                    return Err(Error::ReplicationExceedsServers {
                        replication: config.replication_factor,
                        servers: dests.len(),
                    });
                }
                // Servers whose replica keys coincide get identical ring positions; c-relay then
                // gives every such entry to one of them, and with replication > 1 its ring walk
                // never finds enough servers and spins forever. Refuse those configurations.
                for (i, d) in dests.iter().enumerate() {
                    let clash = dests[..i].iter().any(|e| {
                        e == d
                            || match h {
                                HashType::CarbonCh => e.host == d.host && e.instance == d.instance,
                                HashType::Fnv1aCh => {
                                    e.instance.is_some() && e.instance == d.instance
                                }
                                HashType::JumpFnv1aCh => false,
                            }
                    });
                    if clash {
                        return Err(Error::DuplicateDestination(d.to_string()));
                    }
                }
                match h {
                    HashType::CarbonCh => {
                        Ring::CRelay(CRelayRing::new(&dests, CRelayHash::CarbonCh))
                    }
                    HashType::Fnv1aCh => Ring::CRelay(CRelayRing::new(&dests, CRelayHash::Fnv1aCh)),
                    HashType::JumpFnv1aCh => Ring::Jump(JumpRing::new(&dests)),
                }
            }
        };
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let server_ids: Vec<u32> = dests
            .iter()
            .map(|d| {
                let next = ids.len() as u32;
                *ids.entry(d.host.as_str()).or_insert(next)
            })
            .collect();
        let distinct_servers = ids.len();
        let max_owners = match config.flavor {
            RingFlavor::Carbon if config.diverse_replicas => {
                config.replication_factor.min(distinct_servers)
            }
            _ => config.replication_factor.min(dests.len()),
        };
        Ok(HashRouter {
            dests,
            ring,
            config,
            server_ids,
            max_owners,
            key_fn: None,
        })
    }

    /// Installs a routing-key function (carbon's `ROUTER key function` hook).
    pub fn set_key_function(&mut self, f: KeyFunction) {
        self.key_fn = Some(f);
    }

    /// The settings this router was built with.
    pub fn config(&self) -> HashConfig {
        self.config
    }

    /// The Python carbon ring, when that is the flavour (for listing or the web role's owner lookups).
    pub fn carbon_ring(&self) -> Option<&CarbonRing> {
        match &self.ring {
            Ring::Carbon(r) => Some(r),
            _ => None,
        }
    }

    fn place(&self, key: &str, out: &mut Owners) {
        match &self.ring {
            Ring::Carbon(ring) => self.place_carbon(ring, key, out),
            Ring::CRelay(ring) => {
                ring.get_nodes_into(key.as_bytes(), self.config.replication_factor, out)
            }
            Ring::Jump(ring) => {
                ring.get_nodes_into(key.as_bytes(), self.config.replication_factor, out)
            }
        }
    }

    // ConsistentHashingRouter.getDestinations over ring.get_nodes().
    fn place_carbon(&self, ring: &CarbonRing, key: &str, out: &mut Owners) {
        let start = out.len();
        let rf = self.config.replication_factor;
        if self.config.diverse_replicas {
            for node in ring.get_nodes(key) {
                let server = self.server_ids[node];
                if out[start..].iter().any(|&o| self.server_ids[o] == server) {
                    continue;
                }
                out.push(node);
                if out.len() - start >= self.max_owners {
                    return;
                }
            }
        } else {
            // Not capped by max_owners: a one-node ring yields its node twice, and so does carbon.
            for node in ring.get_nodes(key).take(rf) {
                out.push(node);
            }
        }
    }
}

impl Router for HashRouter {
    fn destinations_into(&self, metric: &str, out: &mut Owners) {
        match &self.key_fn {
            Some(f) => self.place(&f(metric), out),
            None => self.place(metric, out),
        }
    }

    fn replication_factor(&self) -> usize {
        self.config.replication_factor
    }

    fn targets(&self) -> &[Destination] {
        &self.dests
    }
}

/// Any router the relay can be configured with.
#[derive(Debug, Clone)]
pub enum AnyRouter {
    /// carbon_ch / fnv1a_ch / jump_fnv1a_ch in either flavour.
    Hash(HashRouter),
    /// relay-rules.conf.
    Rules(RulesRouter),
    /// aggregated-consistent-hashing.
    Aggregated(AggregatedRouter),
}

impl Router for AnyRouter {
    fn destinations_into(&self, metric: &str, out: &mut Owners) {
        match self {
            AnyRouter::Hash(r) => r.destinations_into(metric, out),
            AnyRouter::Rules(r) => r.destinations_into(metric, out),
            AnyRouter::Aggregated(r) => r.destinations_into(metric, out),
        }
    }

    fn replication_factor(&self) -> usize {
        match self {
            AnyRouter::Hash(r) => r.replication_factor(),
            AnyRouter::Rules(r) => r.replication_factor(),
            AnyRouter::Aggregated(r) => r.replication_factor(),
        }
    }

    fn targets(&self) -> &[Destination] {
        match self {
            AnyRouter::Hash(r) => r.targets(),
            AnyRouter::Rules(r) => r.targets(),
            AnyRouter::Aggregated(r) => r.targets(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::parse_destinations;

    fn router(list: &str, rf: usize, diverse: bool) -> HashRouter {
        let cfg = HashConfig {
            replication_factor: rf,
            diverse_replicas: diverse,
            ..HashConfig::default()
        };
        HashRouter::new(parse_destinations(list).unwrap(), cfg).unwrap()
    }

    #[test]
    fn one_host_diverse_gives_one_copy() {
        let r = router("127.0.0.1:2004:a, 127.0.0.1:2104:b", 2, true);
        for m in ["a.b", "c.d", "e"] {
            assert_eq!(r.destinations(m).len(), 1);
        }
        let r = router("127.0.0.1:2004:a, 127.0.0.1:2104:b", 2, false);
        let o = r.destinations("a.b");
        assert_eq!(o.len(), 2);
        assert_ne!(o[0], o[1]);
    }

    #[test]
    fn single_node_quirk() {
        assert_eq!(&router("h:1:a", 2, false).destinations("x")[..], &[0, 0]);
        assert_eq!(&router("h:1:a", 2, true).destinations("x")[..], &[0]);
    }

    #[test]
    fn config_errors() {
        let d = parse_destinations("h:1:a, h:2:a").unwrap();
        assert!(matches!(
            HashRouter::new(d, HashConfig::default()),
            Err(Error::DuplicateDestination(_))
        ));
        assert!(matches!(
            HashRouter::new(vec![], HashConfig::default()),
            Err(Error::NoDestinations)
        ));
        let d = parse_destinations("h:1:a").unwrap();
        let cfg = HashConfig {
            replication_factor: 0,
            ..HashConfig::default()
        };
        assert!(matches!(
            HashRouter::new(d.clone(), cfg),
            Err(Error::InvalidReplicationFactor)
        ));
        let cfg = HashConfig {
            hash: HashType::JumpFnv1aCh,
            ..HashConfig::default()
        };
        assert!(matches!(
            HashRouter::new(d, cfg),
            Err(Error::UnsupportedHashType(_))
        ));
        assert!("md5".parse::<HashType>().is_err());
        assert_eq!(
            "jump_fnv1a_ch".parse::<HashType>().unwrap(),
            HashType::JumpFnv1aCh
        );
    }

    #[test]
    fn key_function_changes_the_hashed_text() {
        let mut r = router("10.0.0.1:2004:a, 10.0.0.2:2004:b, 10.0.0.3:2004:c", 1, true);
        let plain: Vec<_> = (0..50)
            .map(|i| r.destinations(&format!("m{i}.x"))[0])
            .collect();
        r.set_key_function(Arc::new(|m: &str| {
            Cow::Owned(m.split('.').next().unwrap_or(m).to_owned())
        }));
        let keyed: Vec<_> = (0..50)
            .map(|i| r.destinations(&format!("m{i}.x"))[0])
            .collect();
        let by_prefix: Vec<_> = (0..50)
            .map(|i| r.destinations(&format!("m{i}"))[0])
            .collect();
        assert_eq!(keyed, by_prefix);
        assert_ne!(plain, keyed);
    }
}
