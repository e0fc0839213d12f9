//! carbon's `aggregated-consistent-hashing` relay method: a metric goes where the aggregates it
//! feeds are computed, so each aggregator sees all inputs of its outputs.

use crate::aggregation::AggregationRule;
use crate::destination::Destination;
use crate::owners::Owners;
use crate::router::{HashRouter, Router};

/// Routes by the aggregate names a metric contributes to (the raw name when no rule matches),
/// sending to the union of their destinations.
#[derive(Debug, Clone)]
pub struct AggregatedRouter {
    hash: HashRouter,
    rules: Vec<AggregationRule>,
}

impl AggregatedRouter {
    /// Wraps a consistent-hashing router with the aggregation rules.
    pub fn new(hash: HashRouter, rules: Vec<AggregationRule>) -> Self {
        AggregatedRouter { hash, rules }
    }

    /// The aggregation rules in file order.
    pub fn rules(&self) -> &[AggregationRule] {
        &self.rules
    }
}

impl Router for AggregatedRouter {
    /// Destinations in first-seen order, without repeats (carbon yields them from a set,
    /// in no particular order).
    fn destinations_into(&self, metric: &str, out: &mut Owners) {
        let start = out.len();
        let mut scratch = Owners::new();
        let mut matched = false;
        let add = |scratch: &Owners, out: &mut Owners| {
            for &d in scratch {
                if !out[start..].contains(&d) {
                    out.push(d);
                }
            }
        };
        for rule in &self.rules {
            if let Some(name) = rule.matches(metric) {
                matched = true;
                scratch.clear();
                self.hash.destinations_into(&name, &mut scratch);
                add(&scratch, out);
            }
        }
        if !matched {
            self.hash.destinations_into(metric, &mut scratch);
            add(&scratch, out);
        }
    }

    fn replication_factor(&self) -> usize {
        self.hash.replication_factor()
    }

    fn targets(&self) -> &[Destination] {
        self.hash.targets()
    }
}
