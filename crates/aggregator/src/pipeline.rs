//! carbon-aggregator's pipeline: receiver filters, `rewrite:pre`, `aggregate`, `rewrite:post`.
//!
//! As in carbon 1.1.x, generated aggregates bypass `rewrite:post` (they only go to the relay
//! step), while passed-through input metrics get it.

use crate::buffers::{Aggregate, Aggregator};
use crate::lists::RegexList;
use crate::rewrite::RewriteRules;

/// Filters, rewrites and aggregation chained in carbon's order.
#[derive(Debug)]
pub struct Pipeline {
    /// Non-empty: only metrics found in it are accepted (USE_WHITELIST).
    pub whitelist: RegexList,
    /// Metrics found in it are dropped.
    pub blacklist: RegexList,
    /// rewrite-rules.conf.
    pub rewrite: RewriteRules,
    /// The buffering state machine.
    pub aggregator: Aggregator,
}

impl Pipeline {
    /// Processes one received point; returns the name to pass on unaggregated, if any.
    pub fn process(
        &mut self,
        now: i64,
        metric: &str,
        timestamp: f64,
        value: f64,
    ) -> Option<String> {
        if (!self.whitelist.is_empty() && !self.whitelist.contains(metric))
            || self.blacklist.contains(metric)
        {
            return None;
        }
        let name = self.rewrite.apply_pre(metric);
        let input = self.aggregator.input(now, &name, timestamp, value);
        input.forward.then(|| self.rewrite.apply_post(&name))
    }

    /// Emits the aggregates due at `now`.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Aggregate>) {
        self.aggregator.tick(now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    #[test]
    fn carbon_order_of_steps() {
        let rules = ring::parse_aggregation_rules("total.<a> (10) = sum in.<a>.*").unwrap();
        let mut p = Pipeline {
            whitelist: RegexList::parse("^raw\\.\n^in\\.").unwrap(),
            blacklist: RegexList::parse("secret").unwrap(),
            rewrite: RewriteRules::parse("[pre]\n^raw\\. = in.\n[post]\n^in\\. = out.\n").unwrap(),
            aggregator: Aggregator::new(rules, Settings::default()),
        };
        // Pre-rewrite feeds the aggregation, post-rewrite names the pass-through.
        assert_eq!(
            p.process(0, "raw.x.y", 1.0, 2.0).as_deref(),
            Some("out.x.y")
        );
        assert_eq!(p.process(0, "other.z", 1.0, 2.0), None);
        assert_eq!(p.process(0, "in.secret.y", 1.0, 2.0), None);
        let mut out = Vec::new();
        p.tick(10, &mut out);
        // Aggregates skip [post], as in carbon 1.1.
        assert_eq!(
            out,
            vec![Aggregate {
                metric: "total.x".into(),
                timestamp: 0,
                value: 2.0
            }]
        );
    }
}
