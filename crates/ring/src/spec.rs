//! Building a router from configuration values (carbon.conf names or Carbonado's TOML names).

use std::fmt;
use std::str::FromStr;

use crate::aggregated::AggregatedRouter;
use crate::aggregation::parse_aggregation_rules;
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::router::{AnyRouter, HashConfig, HashRouter, HashType, RingFlavor};
use crate::rules::RulesRouter;

/// How a relay picks destinations (carbon's RELAY_METHOD, or a hash name directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMethod {
    /// relay-rules.conf (`rules`, carbon's default).
    Rules,
    /// A consistent-hashing ring (`consistent-hashing` = the hash from ROUTER_HASH_TYPE,
    /// or `carbon_ch` / `fnv1a_ch` / `jump_fnv1a_ch` directly).
    Hash(HashType),
    /// `aggregated-consistent-hashing`: hash by the aggregate names (aggregation-rules.conf).
    Aggregated(HashType),
}

impl FromStr for RelayMethod {
    type Err = Error;
    /// Accepts `rules`, `consistent-hashing` (carbon_ch), `aggregated-consistent-hashing`
    /// (carbon_ch), and the hash names `carbon_ch`, `fnv1a_ch`, `jump_fnv1a_ch`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "rules" => Ok(RelayMethod::Rules),
            "consistent-hashing" => Ok(RelayMethod::Hash(HashType::CarbonCh)),
            "aggregated-consistent-hashing" => Ok(RelayMethod::Aggregated(HashType::CarbonCh)),
            other => other.parse().map(RelayMethod::Hash),
        }
    }
}

impl fmt::Display for RelayMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayMethod::Rules => f.write_str("rules"),
            RelayMethod::Hash(h) => write!(f, "{h}"),
            RelayMethod::Aggregated(h) => write!(f, "aggregated-consistent-hashing ({h})"),
        }
    }
}

/// Everything needed to build any router.
#[derive(Debug, Clone)]
pub struct RouterSpec {
    /// The method.
    pub method: RelayMethod,
    /// Whose ring to reproduce (hash methods only).
    pub flavor: RingFlavor,
    /// REPLICATION_FACTOR.
    pub replication_factor: usize,
    /// DIVERSE_REPLICAS.
    pub diverse_replicas: bool,
    /// DESTINATIONS.
    pub destinations: Vec<Destination>,
    /// relay-rules.conf text (required for `rules`).
    pub relay_rules: Option<String>,
    /// aggregation-rules.conf text (for `aggregated-consistent-hashing`; absent = no rules).
    pub aggregation_rules: Option<String>,
}

impl RouterSpec {
    /// Builds the router, reporting configuration mistakes as typed errors.
    pub fn build(&self) -> Result<AnyRouter> {
        let hash_config = |hash| HashConfig {
            flavor: self.flavor,
            hash,
            replication_factor: self.replication_factor,
            diverse_replicas: self.diverse_replicas,
        };
        match self.method {
            RelayMethod::Rules => {
                let text = self.relay_rules.as_deref().ok_or_else(|| {
                    Error::RelayRules("relay method 'rules' needs relay-rules.conf".into())
                })?;
                Ok(AnyRouter::Rules(RulesRouter::from_text(
                    text,
                    self.destinations.clone(),
                )?))
            }
            RelayMethod::Hash(h) => Ok(AnyRouter::Hash(HashRouter::new(
                self.destinations.clone(),
                hash_config(h),
            )?)),
            RelayMethod::Aggregated(h) => {
                let rules = match &self.aggregation_rules {
                    Some(text) => parse_aggregation_rules(text)?,
                    None => Vec::new(),
                };
                let hash = HashRouter::new(self.destinations.clone(), hash_config(h))?;
                Ok(AnyRouter::Aggregated(AggregatedRouter::new(hash, rules)))
            }
        }
    }
}

/// The ring graphite-web uses for CARBONLINK_HOSTS: Python carbon's, replicas on distinct
/// servers, and (like CarbonLinkPool) an error when REPLICATION_FACTOR exceeds the servers.
pub fn carbonlink_router(
    hosts: Vec<Destination>,
    replication_factor: usize,
    hash: HashType,
) -> Result<HashRouter> {
    let mut servers: Vec<&str> = hosts.iter().map(|d| d.host.as_str()).collect();
    servers.sort_unstable();
    servers.dedup();
    if replication_factor > servers.len() {
        return Err(Error::ReplicationExceedsServers {
            replication: replication_factor,
            servers: servers.len(),
        });
    }
    let config = HashConfig {
        flavor: RingFlavor::Carbon,
        hash,
        replication_factor,
        diverse_replicas: true,
    };
    HashRouter::new(hosts, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::parse_destinations;
    use crate::router::Router;

    fn spec(method: &str) -> RouterSpec {
        RouterSpec {
            method: method.parse().unwrap(),
            flavor: RingFlavor::Carbon,
            replication_factor: 1,
            diverse_replicas: true,
            destinations: parse_destinations("10.0.0.1:2004:a, 10.0.0.2:2004:b").unwrap(),
            relay_rules: None,
            aggregation_rules: None,
        }
    }

    #[test]
    fn methods() {
        assert_eq!(
            "consistent-hashing".parse::<RelayMethod>().unwrap(),
            RelayMethod::Hash(HashType::CarbonCh)
        );
        assert_eq!(
            "fnv1a_ch".parse::<RelayMethod>().unwrap(),
            RelayMethod::Hash(HashType::Fnv1aCh)
        );
        assert!("fast-hashing".parse::<RelayMethod>().is_err());
        assert!(matches!(
            spec("carbon_ch").build().unwrap(),
            AnyRouter::Hash(_)
        ));
        assert!(spec("rules").build().is_err(), "rules without a file");
        let mut s = spec("rules");
        s.relay_rules = Some("[d]\ndefault = true\ndestinations = 10.0.0.2:2004:b\n".into());
        assert_eq!(&s.build().unwrap().destinations("x")[..], &[1]);
        let mut s = spec("aggregated-consistent-hashing");
        s.aggregation_rules = Some("all.<a> (60) = sum <a>.*\n".into());
        let r = s.build().unwrap();
        let plain = spec("carbon_ch").build().unwrap();
        assert_eq!(r.destinations("q.z"), plain.destinations("all.q"));
    }

    #[test]
    fn carbonlink_needs_enough_servers() {
        let hosts = parse_destinations("127.0.0.1:7002:a, 127.0.0.1:7102:b").unwrap();
        assert!(matches!(
            carbonlink_router(hosts.clone(), 2, HashType::CarbonCh),
            Err(Error::ReplicationExceedsServers {
                replication: 2,
                servers: 1
            })
        ));
        assert_eq!(
            carbonlink_router(hosts, 1, HashType::CarbonCh)
                .unwrap()
                .destinations("m")
                .len(),
            1
        );
    }
}
