//! carbon-c-relay's `aggregate` computation as a state machine with the clock passed in.
//!
//! Semantics follow c-relay 3.7's aggregator.c: every compute of a rule keeps, per output name
//! (an "invocation"), `ceil(expire / interval) + 2` buckets aligned to the interval. The first
//! bucket starts at `floor((now - expire) / interval) * interval` when the invocation is created
//! (wall clock, not the point's timestamp). A point whose integer timestamp falls before the
//! first bucket or past the last one is dropped. A bucket is emitted once
//! `start + expire + splay < now` (splay: the interval when it is 10 seconds or less, else
//! usually 10), then recycled at the end; an invocation whose buckets are all empty is freed.
//! Values are printed with `%f` (six decimals) by c-relay, so results are rounded the same way.
//! Percentiles use the nearest-rank method on values sorted with c-relay's comparator, which
//! truncates the difference of two values to an integer; the sort is glibc's merge sort so
//! that ties broken by that comparator come out in the same order.

use std::collections::HashMap;

use crate::config::{Aggregate as AggregateRule, Compute, TimestampAt};

/// Limits on what the aggregator keeps in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Output metrics (invocations) alive at once, over all rules; new ones past this are dropped.
    pub max_invocations: usize,
    /// Values kept per bucket for median/percentile/variance/stddev.
    pub max_values_per_bucket: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_invocations: 1_000_000,
            max_values_per_bucket: 1_000_000,
        }
    }
}

/// An aggregate produced by a bucket that expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Index of the `aggregate` rule in [`crate::Config::rules`].
    pub rule: usize,
    /// Output metric name.
    pub metric: String,
    /// Bucket timestamp (start, middle or end, as the rule says).
    pub timestamp: i64,
    /// The computed value, rounded to six decimals as c-relay prints it.
    pub value: f64,
}

/// Counters of one rule, as c-relay's aggregator statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Points fed to the rule.
    pub received: u64,
    /// Aggregates emitted.
    pub sent: u64,
    /// Points refused (too old, too far in the future, or past the memory limits).
    pub dropped: u64,
}

#[derive(Debug, Clone)]
struct Bucket {
    start: i64,
    cnt: u64,
    sum: f64,
    max: f64,
    min: f64,
    values: Vec<f64>,
}

impl Bucket {
    fn new(start: i64) -> Self {
        Bucket {
            start,
            cnt: 0,
            sum: 0.0,
            max: 0.0,
            min: 0.0,
            values: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Invocation {
    expire: i64,
    buckets: Vec<Bucket>,
}

#[derive(Debug)]
struct ComputeState {
    kind: Compute,
    store: bool,
    invocations: HashMap<String, Invocation>,
}

#[derive(Debug)]
struct RuleState {
    rule: usize,
    interval: i64,
    expire: i64,
    ts: TimestampAt,
    bucketcnt: usize,
    computes: Vec<ComputeState>,
    stats: RuleStats,
}

/// Every `aggregate` rule's buckets.
#[derive(Debug)]
pub struct Aggregates {
    rules: Vec<RuleState>,
    by_rule: HashMap<usize, usize>,
    limits: Limits,
    invocations: usize,
    rng: u64,
}

impl Aggregates {
    /// State for the `aggregate` rules of a configuration.
    pub fn new(config: &crate::Config, limits: Limits) -> Self {
        let mut rules = Vec::new();
        let mut by_rule = HashMap::new();
        for (idx, r) in config.rules.iter().enumerate() {
            if let crate::Rule::Aggregate(a) = r {
                by_rule.insert(idx, rules.len());
                rules.push(RuleState::new(idx, a));
            }
        }
        Aggregates {
            rules,
            by_rule,
            limits,
            invocations: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Whether the configuration has any aggregate rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Output metrics alive now.
    pub fn invocations(&self) -> usize {
        self.invocations
    }

    /// Counters of the rule at index `rule` of the configuration.
    pub fn stats(&self, rule: usize) -> Option<RuleStats> {
        let i = *self.by_rule.get(&rule)?;
        self.rules.get(i).map(|r| r.stats)
    }

    fn splay(&mut self, interval: i64) -> i64 {
        // xorshift: only the spread of expiry matters, as with c-relay's rand().
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let r = (x >> 33) as i64 % interval.max(1);
        if r < 10 {
            interval
        } else {
            10
        }
    }

    /// Feeds one point to rule `rule` (an index into the configuration's rules) under the output
    /// names of its computes, in compute order; `now` is the wall clock in seconds.
    pub fn feed(
        &mut self,
        now: i64,
        rule: usize,
        outputs: &[(Compute, String)],
        value: f64,
        timestamp: f64,
    ) {
        let Some(&ri) = self.by_rule.get(&rule) else {
            return;
        };
        // c-relay reads the timestamp with atoll.
        let epoch = if timestamp.is_finite() {
            timestamp.trunc() as i64
        } else {
            return;
        };
        let (interval, expire, bucketcnt) = match self.rules.get(ri) {
            Some(r) => (r.interval, r.expire, r.bucketcnt),
            None => return,
        };
        let mut received = 0;
        if let Some(r) = self.rules.get_mut(ri) {
            r.stats.received += 1;
            received = r.computes.len();
        }
        for (ci, (_, name)) in outputs.iter().enumerate().take(received) {
            let exists = self
                .rules
                .get(ri)
                .and_then(|r| r.computes.get(ci))
                .is_some_and(|c| c.invocations.contains_key(name));
            if !exists {
                if self.invocations >= self.limits.max_invocations {
                    if let Some(r) = self.rules.get_mut(ri) {
                        r.stats.dropped += 1;
                    }
                    continue;
                }
                let first = (now - expire).div_euclid(interval) * interval;
                let inv = Invocation {
                    expire: expire + self.splay(interval),
                    buckets: (0..bucketcnt)
                        .map(|i| Bucket::new(first + i as i64 * interval))
                        .collect(),
                };
                if let Some(c) = self.rules.get_mut(ri).and_then(|r| r.computes.get_mut(ci)) {
                    c.invocations.insert(name.clone(), inv);
                    self.invocations += 1;
                }
            }
            let max_values = self.limits.max_values_per_bucket;
            let Some(r) = self.rules.get_mut(ri) else {
                return;
            };
            let Some(c) = r.computes.get_mut(ci) else {
                continue;
            };
            let store = c.store;
            let Some(inv) = c.invocations.get_mut(name) else {
                continue;
            };
            let Some(first) = inv.buckets.first().map(|b| b.start) else {
                continue;
            };
            let itime = epoch.saturating_sub(first);
            if itime < 0 || itime >= bucketcnt as i64 * interval {
                r.stats.dropped += 1;
                continue;
            }
            let Some(b) = inv.buckets.get_mut((itime / interval) as usize) else {
                r.stats.dropped += 1;
                continue;
            };
            if b.cnt == 0 {
                b.sum = value;
                b.max = value;
                b.min = value;
            } else {
                b.sum += value;
                if b.max < value {
                    b.max = value;
                }
                if b.min > value {
                    b.min = value;
                }
            }
            if store {
                if b.values.len() >= max_values {
                    r.stats.dropped += 1;
                    continue;
                }
                b.values.push(value);
            }
            b.cnt += 1;
        }
    }

    /// Emits the buckets that expired by `now` and frees idle output metrics.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Output>) {
        self.expire(now, false, out);
    }

    /// At shutdown: emits every bucket that has completed by `now`, without waiting for expiry
    /// (c-relay moves its clock forward by `expire - interval` when stopping).
    pub fn flush(&mut self, now: i64, out: &mut Vec<Output>) {
        self.expire(now, true, out);
    }

    fn expire(&mut self, now: i64, stopping: bool, out: &mut Vec<Output>) {
        let mut freed = 0;
        for r in &mut self.rules {
            let clock = if stopping {
                now + r.expire - r.interval
            } else {
                now
            };
            for c in &mut r.computes {
                c.invocations.retain(|name, inv| {
                    let wait = if stopping { r.expire } else { inv.expire };
                    let mut n = 0;
                    while n < inv.buckets.len() {
                        let Some(b) = inv.buckets.get_mut(n) else {
                            break;
                        };
                        if b.start + wait >= clock {
                            break;
                        }
                        if b.cnt > 0 {
                            out.push(Output {
                                rule: r.rule,
                                metric: name.clone(),
                                timestamp: match r.ts {
                                    TimestampAt::Start => b.start,
                                    TimestampAt::Middle => b.start + r.interval / 2,
                                    TimestampAt::End => b.start + r.interval,
                                },
                                value: printed(compute(c.kind, b)),
                            });
                            r.stats.sent += 1;
                        }
                        n += 1;
                    }
                    // Expired buckets move to the end, empty, continuing the sequence.
                    for _ in 0..n {
                        let last = inv.buckets.last().map_or(0, |b| b.start);
                        let mut b = inv.buckets.remove(0);
                        b.start = last + r.interval;
                        b.cnt = 0;
                        b.values.clear();
                        inv.buckets.push(b);
                    }
                    let keep = inv.buckets.iter().any(|b| b.cnt > 0);
                    if !keep {
                        freed += 1;
                    }
                    keep
                });
            }
        }
        self.invocations = self.invocations.saturating_sub(freed);
    }
}

impl RuleState {
    fn new(rule: usize, a: &AggregateRule) -> Self {
        let interval = i64::from(a.interval.max(1));
        let expire = i64::from(a.expire);
        RuleState {
            rule,
            interval,
            expire,
            ts: a.timestamp,
            bucketcnt: ((expire + interval - 1) / interval + 2).max(1) as usize,
            computes: a
                .computes
                .iter()
                .map(|(kind, _)| ComputeState {
                    kind: *kind,
                    store: matches!(
                        kind,
                        Compute::Median
                            | Compute::Percentile(_)
                            | Compute::Variance
                            | Compute::Stddev
                    ),
                    invocations: HashMap::new(),
                })
                .collect(),
            stats: RuleStats::default(),
        }
    }
}

/// The value as c-relay prints it with `%f` and reads it back.
fn printed(v: f64) -> f64 {
    format!("{v:.6}").parse().unwrap_or(v)
}

fn compute(kind: Compute, b: &mut Bucket) -> f64 {
    let cnt = b.cnt as f64;
    match kind {
        Compute::Sum => b.sum,
        Compute::Count => cnt,
        Compute::Max => b.max,
        Compute::Min => b.min,
        Compute::Average => b.sum / cnt,
        Compute::Median | Compute::Percentile(_) => {
            let p = match kind {
                Compute::Percentile(p) => f64::from(p),
                _ => 50.0,
            };
            glibc_msort(&mut b.values);
            // Nearest rank, computed as c-relay does (+0.9 instead of a ceiling).
            let k = ((p / 100.0 * b.values.len() as f64) + 0.9) as usize;
            b.values
                .get(k.max(1) - 1)
                .or(b.values.last())
                .copied()
                .unwrap_or(0.0)
        }
        Compute::Variance | Compute::Stddev => {
            let n = b.values.len().max(1) as f64;
            let avg = b.sum / cnt;
            let var = b.values.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / n;
            if kind == Compute::Variance {
                var
            } else {
                var.sqrt()
            }
        }
    }
}

/// c-relay's comparator: the difference truncated to an int (x86 gives INT_MIN when it does not fit).
fn cmp_entry(l: f64, r: f64) -> i32 {
    let d = l - r;
    if d.is_nan() || d >= 2_147_483_648.0 || d <= -2_147_483_649.0 {
        i32::MIN
    } else {
        d as i32
    }
}

/// glibc's qsort (a top-down merge sort) driven by [`cmp_entry`].
fn glibc_msort(v: &mut [f64]) {
    let mut tmp = vec![0.0; v.len()];
    msort(v, &mut tmp);
}

fn msort(b: &mut [f64], tmp: &mut [f64]) {
    let n = b.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (lo, hi) = b.split_at_mut(n1);
        msort(lo, tmp);
        msort(hi, tmp);
    }
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        let (Some(&x), Some(&y)) = (b.get(i), b.get(j)) else {
            break;
        };
        if let Some(t) = tmp.get_mut(k) {
            if cmp_entry(x, y) <= 0 {
                *t = x;
                i += 1;
            } else {
                *t = y;
                j += 1;
            }
        }
        k += 1;
    }
    // What is left of the first half goes after the merged part; the second half's rest is in place.
    while i < n1 {
        if let (Some(t), Some(&x)) = (tmp.get_mut(k), b.get(i)) {
            *t = x;
        }
        i += 1;
        k += 1;
    }
    for (dst, src) in b.iter_mut().zip(tmp.iter()).take(k) {
        *dst = *src;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> crate::Config {
        crate::parse_str(text, Path::new("t"), Path::new(".")).unwrap()
    }

    fn outputs(a: &crate::Config) -> Vec<(Compute, String)> {
        match &a.rules[0] {
            crate::Rule::Aggregate(r) => r.computes.clone(),
            _ => panic!(),
        }
    }

    #[test]
    fn buckets_aligned_and_emitted_after_expiry() {
        let c = cfg(
            "cluster c forward 127.0.0.1:1; aggregate ^a every 10 seconds expire after 25 seconds \
             compute sum write to s compute count write to n compute percentile50 write to p \
             compute stddev write to d;",
        );
        let outs = outputs(&c);
        let mut a = Aggregates::new(&c, Limits::default());
        // Created at 1000: buckets from floor((1000-25)/10)*10 = 970, 5 of them.
        for (ts, v) in [
            (995.0, 1.0),
            (991.0, 3.0),
            (1002.0, 7.0),
            (969.0, 100.0),
            (1020.0, 9.0),
        ] {
            a.feed(1000, 0, &outs, v, ts);
        }
        assert_eq!(a.stats(0).unwrap().dropped, 2 * 4);
        let mut out = Vec::new();
        // Bucket 990 expires when 990 + 25 + 10 < now.
        a.tick(1025, &mut out);
        assert!(out.is_empty());
        a.tick(1026, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|o| (o.metric.as_str(), o.timestamp, o.value))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s", 1000, 4.0),
                ("n", 1000, 2.0),
                ("p", 1000, 1.0),
                ("d", 1000, 1.0)
            ]
        );
        out.clear();
        a.flush(1026, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(a.invocations(), 0);
    }

    #[test]
    fn truncating_comparator_keeps_close_values_in_arrival_order() {
        let mut v = vec![3.5, 3.2, 1.0, 3.9];
        glibc_msort(&mut v);
        assert_eq!(v, vec![1.0, 3.5, 3.2, 3.9]);
    }
}
