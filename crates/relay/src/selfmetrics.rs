//! carbon-relay style self-metrics: `<prefix>.relays.<host>.destinations.<dest>.<stat>`.

use crate::point::Point;
use crate::relay::{DestStats, Relay};
use std::collections::HashMap;
use std::time::Duration;

/// Turns cumulative destination counters into per-interval points, as carbon reports them.
pub struct SelfMetrics {
    base: String,
    last: HashMap<String, DestStats>,
    /// Previous values of the director's counters (reported per interval too).
    last_director: HashMap<&'static str, u64>,
}

impl SelfMetrics {
    /// `base` is e.g. `carbon.relays.myhost` or `carbon.relays.myhost-a`.
    pub fn new(base: impl Into<String>) -> Self {
        SelfMetrics {
            base: base.into(),
            last: HashMap::new(),
            last_director: HashMap::new(),
        }
    }

    /// Points for the interval since the previous call, stamped `now`.
    pub fn collect(&mut self, stats: &[DestStats], now: f64) -> Vec<Point> {
        let mut out = Vec::new();
        for s in stats {
            let key = s.addr.metric_key();
            let zero = DestStats {
                sent: 0,
                spilled: 0,
                dropped: 0,
                reconnects: 0,
                resent: 0,
                ..s.clone()
            };
            let prev = self.last.get(&key).unwrap_or(&zero);
            let prefix = format!("{}.destinations.{}", self.base, key);
            let delta = |a: u64, b: u64| a.saturating_sub(b) as f64;
            for (name, v) in [
                ("sent", delta(s.sent, prev.sent)),
                ("spilled", delta(s.spilled, prev.spilled)),
                ("dropped", delta(s.dropped, prev.dropped)),
                ("fullQueueDrops", delta(s.dropped, prev.dropped)),
                ("reconnects", delta(s.reconnects, prev.reconnects)),
                ("resent", delta(s.resent, prev.resent)),
                ("queued", (s.queued_mem + s.queued_spill) as f64),
                ("relayMaxQueueLength", s.queued_mem as f64),
            ] {
                out.push(Point::new(format!("{prefix}.{name}"), now, v));
            }
            self.last.insert(key, s.clone());
        }
        out
    }

    /// Points for the director's counters (aggregation) over the interval since the previous
    /// call, `<base>.<name>` as carbon-aggregator reports them; gauges named `...Invocations`
    /// are reported as they are.
    pub fn collect_director(&mut self, counters: &[(&'static str, u64)], now: f64) -> Vec<Point> {
        counters
            .iter()
            .map(|&(name, v)| {
                let prev = self.last_director.insert(name, v).unwrap_or(0);
                let value = if name.ends_with("Invocations") {
                    v as f64
                } else {
                    v.saturating_sub(prev) as f64
                };
                Point::new(format!("{}.{name}", self.base), now, value)
            })
            .collect()
    }

    /// Feeds the relay's own counters back into it every `interval`, routed like any metric.
    pub fn spawn(mut self, relay: Relay, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()) as f64;
                let mut pts = self.collect(&relay.stats(), now);
                pts.extend(self.collect_director(&relay.director_counters(), now));
                if relay.submit(pts).await.is_err() {
                    break;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(sent: u64, queued: u64) -> DestStats {
        DestStats {
            addr: ring::Destination::parse("127.0.0.1:2004:a").unwrap(),
            sent,
            queued_mem: queued,
            queued_spill: 0,
            spilled: 0,
            dropped: 0,
            reconnects: 0,
            resent: 0,
        }
    }

    #[test]
    fn counters_are_per_interval_and_named_like_carbon() {
        let mut m = SelfMetrics::new("carbon.relays.host");
        let first = m.collect(&[stats(10, 3)], 100.0);
        let second = m.collect(&[stats(25, 0)], 160.0);
        let get = |pts: &[Point], name: &str| {
            pts.iter()
                .find(|p| {
                    p.metric == format!("carbon.relays.host.destinations.127_0_0_1:2004:a.{name}")
                })
                .map(|p| (p.timestamp, p.value))
        };
        assert_eq!(get(&first, "sent"), Some((100.0, 10.0)));
        assert_eq!(get(&second, "sent"), Some((160.0, 15.0)));
        assert_eq!(get(&first, "queued"), Some((100.0, 3.0)));
        assert_eq!(get(&second, "queued"), Some((160.0, 0.0)));
    }

    #[test]
    fn director_counters_are_per_interval_and_invocations_as_they_are() {
        let mut m = SelfMetrics::new("carbon.relays.host");
        let first = m.collect_director(
            &[
                ("aggregateDatapointsSent", 10),
                ("aggregatorInvocations", 3),
            ],
            60.0,
        );
        let second = m.collect_director(
            &[
                ("aggregateDatapointsSent", 25),
                ("aggregatorInvocations", 2),
            ],
            120.0,
        );
        let v = |pts: &[Point], name: &str| {
            pts.iter()
                .find(|p| p.metric == format!("carbon.relays.host.{name}"))
                .map(|p| p.value)
        };
        assert_eq!(v(&first, "aggregateDatapointsSent"), Some(10.0));
        assert_eq!(v(&second, "aggregateDatapointsSent"), Some(15.0));
        assert_eq!(v(&second, "aggregatorInvocations"), Some(2.0));
    }
}
