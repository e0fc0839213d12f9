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
