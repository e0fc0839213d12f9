//! Per-output-metric interval buffers and carbon's emission schedule (carbon/aggregator/buffers.py).
//!
//! carbon's behaviour, reproduced on purpose:
//! * each output metric gets its own periodic compute, first due `compute_every` seconds after the
//!   point that created the buffer; a late clock fires it once, not once per missed period;
//! * a compute emits every interval that received points since the previous compute, using *all*
//!   values the interval holds, so an interval that keeps receiving points is emitted again with
//!   the running aggregate (the last write wins downstream);
//! * intervals older than `MAX_AGGREGATION_INTERVALS * frequency` before the current interval are
//!   dropped after being emitted; a point for a dropped interval opens it again, so a late point is
//!   emitted on its own rather than merged with what was emitted before;
//! * when the last interval of a metric goes, the metric buffer goes, and the next point for it
//!   starts a new schedule;
//! * a point contributing to an output metric goes into its buffer once per matching rule, and the
//!   first rule that created the buffer fixes its frequency and method.

use std::collections::HashMap;

use ring::{AggregationMethod, AggregationRule};

/// Aggregator settings, named after their carbon.conf counterparts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// MAX_AGGREGATION_INTERVALS: how many intervals before the current one are kept.
    pub max_aggregation_intervals: u32,
    /// WRITE_BACK_FREQUENCY: compute at least this often (seconds) when set.
    pub write_back_frequency: Option<u32>,
    /// FORWARD_ALL: pass input metrics through besides aggregating them.
    pub forward_all: bool,
    /// Cap on open interval buffers across all metrics; points that would open more are dropped.
    pub max_open_intervals: usize,
    /// Cap on values held across all intervals (carbon keeps every value for percentiles);
    /// points beyond it are dropped.
    pub max_buffered_values: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_aggregation_intervals: 5,
            write_back_frequency: None,
            forward_all: true,
            max_open_intervals: 1_000_000,
            max_buffered_values: 10_000_000,
        }
    }
}

/// One emitted aggregate datapoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Output metric name.
    pub metric: String,
    /// Start of the interval (seconds).
    pub timestamp: i64,
    /// Aggregated value.
    pub value: f64,
}

/// What became of one input point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// Number of rules the metric matched.
    pub matched: usize,
    /// Whether the raw point should be passed on (FORWARD_ALL and not itself an output name).
    pub forward: bool,
    /// Whether the point was dropped because the open-interval cap was reached.
    pub dropped: bool,
}

/// Counters of the aggregator's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Points given to [`Aggregator::input`].
    pub received: u64,
    /// Aggregates emitted.
    pub sent: u64,
    /// Buffer inputs refused because of the open-interval cap.
    pub dropped: u64,
}

#[derive(Debug)]
struct IntervalBuffer {
    interval: i64,
    values: Vec<f64>,
    active: bool,
}

#[derive(Debug)]
struct MetricBuffer {
    frequency: i64,
    method: AggregationMethod,
    started: i64,
    every: i64,
    next_due: i64,
    // Insertion order, as carbon iterates its dict; few entries, so a Vec beats a map.
    intervals: Vec<IntervalBuffer>,
}

/// carbon-aggregator's buffering, driven by explicit `now` values (whole seconds).
#[derive(Debug)]
pub struct Aggregator {
    rules: Vec<AggregationRule>,
    settings: Settings,
    buffers: HashMap<String, MetricBuffer>,
    open_intervals: usize,
    buffered_values: usize,
    stats: Stats,
}

impl Aggregator {
    /// An aggregator for these rules (in file order).
    pub fn new(rules: Vec<AggregationRule>, settings: Settings) -> Self {
        Aggregator {
            rules,
            settings,
            buffers: HashMap::new(),
            open_intervals: 0,
            buffered_values: 0,
            stats: Stats::default(),
        }
    }

    /// The rules in use.
    pub fn rules(&self) -> &[AggregationRule] {
        &self.rules
    }

    /// Replaces the rules; like carbon on a rules reload, all buffers are discarded unsent.
    pub fn set_rules(&mut self, rules: Vec<AggregationRule>) {
        self.rules = rules;
        self.buffers.clear();
        self.open_intervals = 0;
        self.buffered_values = 0;
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of open interval buffers.
    pub fn open_intervals(&self) -> usize {
        self.open_intervals
    }

    /// Number of values held for open intervals.
    pub fn buffered_values(&self) -> usize {
        self.buffered_values
    }

    /// Earliest time a [`tick`](Self::tick) has work to do, if any buffer exists.
    pub fn next_due(&self) -> Option<i64> {
        self.buffers.values().map(|b| b.next_due).min()
    }

    /// Feeds one point that arrived at `now`.
    pub fn input(&mut self, now: i64, metric: &str, timestamp: f64, value: f64) -> Input {
        self.stats.received += 1;
        let mut result = Input {
            matched: 0,
            forward: self.settings.forward_all,
            dropped: false,
        };
        for i in 0..self.rules.len() {
            let Some(rule) = self.rules.get(i) else { break };
            let Some(output) = rule.matches(metric) else {
                continue;
            };
            result.matched += 1;
            if output == metric {
                result.forward = false;
            }
            let (frequency, method) = (i64::from(rule.frequency.max(1)), rule.method);
            if !self.add(now, output, frequency, method, timestamp, value) {
                result.dropped = true;
                self.stats.dropped += 1;
            }
        }
        result
    }

    fn add(
        &mut self,
        now: i64,
        output: String,
        frequency: i64,
        method: AggregationMethod,
        ts: f64,
        value: f64,
    ) -> bool {
        if !ts.is_finite() || self.buffered_values >= self.settings.max_buffered_values {
            return false;
        }
        let interval = ((ts / frequency as f64).floor() as i64).saturating_mul(frequency);
        let at_cap = self.open_intervals >= self.settings.max_open_intervals;
        if let Some(buf) = self.buffers.get_mut(&output) {
            if let Some(ib) = buf.intervals.iter_mut().find(|b| b.interval == interval) {
                ib.values.push(value);
                ib.active = true;
                self.buffered_values += 1;
                return true;
            }
            if at_cap {
                return false;
            }
            buf.intervals.push(IntervalBuffer {
                interval,
                values: vec![value],
                active: true,
            });
            self.open_intervals += 1;
            self.buffered_values += 1;
            return true;
        }
        if at_cap {
            return false;
        }
        let every = match self.settings.write_back_frequency {
            Some(w) => i64::from(w.max(1)).min(frequency),
            None => frequency,
        };
        let buf = MetricBuffer {
            frequency,
            method,
            started: now,
            every,
            next_due: now.saturating_add(every),
            intervals: vec![IntervalBuffer {
                interval,
                values: vec![value],
                active: true,
            }],
        };
        self.buffers.insert(output, buf);
        self.open_intervals += 1;
        self.buffered_values += 1;
        true
    }

    /// Runs every compute due at or before `now`, appending the aggregates to `out`.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Aggregate>) {
        let max_intervals = i64::from(self.settings.max_aggregation_intervals);
        let mut emptied = Vec::new();
        for (metric, buf) in self.buffers.iter_mut() {
            if buf.next_due > now {
                continue;
            }
            let periods = now.saturating_sub(buf.started) / buf.every + 1;
            buf.next_due = buf
                .started
                .saturating_add(periods.saturating_mul(buf.every));
            let current = now - now.rem_euclid(buf.frequency);
            let threshold = current.saturating_sub(max_intervals * buf.frequency);
            let before = buf.intervals.len();
            let expired_values: usize = buf
                .intervals
                .iter()
                .filter(|b| b.interval < threshold)
                .map(|b| b.values.len())
                .sum();
            for ib in buf.intervals.iter_mut().filter(|b| b.active) {
                if let Some(value) = buf.method.apply(&ib.values) {
                    out.push(Aggregate {
                        metric: metric.clone(),
                        timestamp: ib.interval,
                        value,
                    });
                    self.stats.sent += 1;
                }
                ib.active = false;
            }
            buf.intervals.retain(|b| b.interval >= threshold);
            self.open_intervals -= before - buf.intervals.len();
            self.buffered_values -= expired_values;
            if buf.intervals.is_empty() {
                emptied.push(metric.clone());
            }
        }
        for metric in emptied {
            self.buffers.remove(&metric);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(rules: &str, settings: Settings) -> Aggregator {
        Aggregator::new(ring::parse_aggregation_rules(rules).unwrap(), settings)
    }

    #[test]
    fn running_interval_is_reemitted_with_all_values() {
        let mut a = agg("o (10) = sum i.*", Settings::default());
        a.input(100, "i.a", 101.0, 1.0);
        let mut out = Vec::new();
        a.tick(110, &mut out);
        a.input(111, "i.b", 105.0, 2.0);
        a.tick(120, &mut out);
        let got: Vec<_> = out.iter().map(|x| (x.timestamp, x.value)).collect();
        assert_eq!(got, vec![(100, 1.0), (100, 3.0)]);
    }

    #[test]
    fn cap_drops_and_counts() {
        let s = Settings {
            max_open_intervals: 2,
            ..Settings::default()
        };
        let mut a = agg("o (10) = sum i.*", s);
        assert!(!a.input(0, "i.a", 10.0, 1.0).dropped);
        assert!(!a.input(0, "i.a", 20.0, 1.0).dropped);
        assert!(a.input(0, "i.a", 30.0, 1.0).dropped);
        assert!(!a.input(0, "i.a", 20.0, 1.0).dropped);
        assert_eq!(a.stats().dropped, 1);
        assert_eq!(a.open_intervals(), 2);
    }

    #[test]
    fn value_cap_drops_and_frees_on_expiry() {
        let s = Settings {
            max_buffered_values: 3,
            max_aggregation_intervals: 0,
            ..Settings::default()
        };
        let mut a = agg("o (10) = p90 i.*", s);
        for _ in 0..3 {
            assert!(!a.input(0, "i.a", 1.0, 1.0).dropped);
        }
        assert!(a.input(0, "i.a", 1.0, 1.0).dropped);
        assert_eq!(a.buffered_values(), 3);
        let mut out = Vec::new();
        a.tick(10, &mut out);
        assert_eq!(
            (out.len(), a.buffered_values(), a.open_intervals()),
            (1, 0, 0)
        );
        assert!(!a.input(11, "i.a", 11.0, 1.0).dropped);
    }

    #[test]
    fn output_name_is_not_forwarded_and_nan_time_is_refused() {
        let mut a = agg("i.x (10) = sum i.*", Settings::default());
        assert!(!a.input(0, "i.x", 1.0, 1.0).forward);
        assert!(a.input(0, "i.y", f64::NAN, 1.0).dropped);
        assert!(a.input(0, "other", 1.0, 1.0).forward);
    }

    #[test]
    fn emptied_buffer_restarts_its_schedule() {
        let s = Settings {
            max_aggregation_intervals: 1,
            ..Settings::default()
        };
        let mut a = agg("o (10) = sum i.*", s);
        a.input(3, "i.a", 3.0, 1.0);
        let mut out = Vec::new();
        for t in 4..40 {
            a.tick(t, &mut out);
        }
        assert_eq!(a.next_due(), None);
        a.input(45, "i.a", 45.0, 2.0);
        assert_eq!(a.next_due(), Some(55));
    }
}
