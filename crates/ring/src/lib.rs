//! Metric placement for Carbonado: which destinations a metric goes to.
//!
//! Reproduces, bit for bit, Python carbon's consistent-hashing (carbon_ch, fnv1a_ch, with
//! REPLICATION_FACTOR and DIVERSE_REPLICAS), carbon-c-relay's carbon_ch / fnv1a_ch /
//! jump_fnv1a_ch clusters, relay-rules.conf routing, and the aggregation-rules.conf rule
//! grammar. Pure library: rings are precomputed, lookups do not allocate for up to four owners.
//!
//! ```
//! use ring::{parse_destinations, HashConfig, HashRouter, Router};
//! let dests = parse_destinations("10.0.0.1:2004:a, 10.0.0.2:2004:b").unwrap();
//! let router = HashRouter::new(dests, HashConfig::default()).unwrap();
//! let owners = router.destinations("servers.web01.cpu.user");
//! assert_eq!(owners.len(), 1);
//! println!("goes to {}", router.targets()[owners[0]]);
//! ```

#![warn(missing_docs)]

pub mod aggregated;
pub mod aggregation;
pub mod carbon_ring;
pub mod crelay;
pub mod destination;
pub mod error;
pub mod hash;
pub mod ini;
pub mod owners;
pub mod router;
pub mod rules;
pub mod spec;

pub use aggregated::AggregatedRouter;
pub use aggregation::{parse_aggregation_rules, AggregationMethod, AggregationRule};
pub use carbon_ring::{CarbonHash, CarbonRing, Node};
pub use crelay::{CRelayHash, CRelayRing, JumpRing};
pub use destination::{parse_destinations, Destination};
pub use error::{Error, Result};
pub use owners::Owners;
pub use router::{AnyRouter, HashConfig, HashRouter, HashType, KeyFunction, RingFlavor, Router};
pub use rules::{parse_relay_rules, RelayRule, RulesRouter};
pub use spec::{carbonlink_router, RelayMethod, RouterSpec};
