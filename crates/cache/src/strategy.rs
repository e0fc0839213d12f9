//! The order in which the persister drains metrics.

use std::str::FromStr;

/// Write strategies of carbon/go-carbon (`cache_write_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteStrategy {
    /// Metrics with the most cached points first (largest writes, best throughput).
    #[default]
    Max,
    /// Metrics whose oldest cached point is oldest first (go-carbon's `sorted`): bounded staleness.
    Sorted,
    /// No ordering (go-carbon's `noop`): the cheapest walk, in shard order.
    Noop,
}

/// Unknown strategy name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown cache_write_strategy {0:?} (expected max, sorted, timesorted, noop or naive)")]
pub struct UnknownStrategy(pub String);

impl FromStr for WriteStrategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "max" => Ok(WriteStrategy::Max),
            // carbon's `timesorted` is go-carbon's `sorted`, and carbon's `naive` takes metrics
            // in the cache's own order, as `noop` does.
            "sorted" | "timesorted" => Ok(WriteStrategy::Sorted),
            "noop" | "naive" => Ok(WriteStrategy::Noop),
            other => Err(UnknownStrategy(other.to_owned())),
        }
    }
}

impl WriteStrategy {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteStrategy::Max => "max",
            WriteStrategy::Sorted => "sorted",
            WriteStrategy::Noop => "noop",
        }
    }

    /// Orders a snapshot of `(metric, cached points, oldest timestamp)` into the next write-out queue.
    pub fn order(self, snap: &mut [(String, usize, f64)]) {
        match self {
            WriteStrategy::Max => snap.sort_unstable_by_key(|s| std::cmp::Reverse(s.1)),
            WriteStrategy::Sorted => snap.sort_unstable_by(|a, b| a.2.total_cmp(&b.2)),
            WriteStrategy::Noop => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders() {
        let mut v = vec![
            ("a".into(), 1, 30.0),
            ("b".into(), 5, 20.0),
            ("c".into(), 3, 10.0),
        ];
        WriteStrategy::Max.order(&mut v);
        assert_eq!(v.iter().map(|x| x.0.as_str()).collect::<String>(), "bca");
        WriteStrategy::Sorted.order(&mut v);
        assert_eq!(v.iter().map(|x| x.0.as_str()).collect::<String>(), "cba");
        assert!("random".parse::<WriteStrategy>().is_err());
        assert_eq!(
            "noop".parse::<WriteStrategy>().ok(),
            Some(WriteStrategy::Noop)
        );
        assert_eq!(
            "timesorted".parse::<WriteStrategy>().ok(),
            Some(WriteStrategy::Sorted)
        );
    }
}
