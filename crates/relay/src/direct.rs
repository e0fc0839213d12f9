//! Placement generalised: a [`Director`] decides, per point, which destinations get it and under
//! which name, and may produce points of its own over time (aggregates).

use crate::dest::Destination;
use crate::point::Point;
use crate::relay::Route;

/// Decides where points go; implemented for hash rings and relay-rules (through [`RingDirector`]),
/// carbon-c-relay configurations and carbon-aggregator pipelines.
pub trait Director: Send + Sync {
    /// The destinations the indexes given to `out` refer to.
    fn targets(&self) -> &[Destination];

    /// How the connection to target `index` is wrapped; `None`: the relay's default
    /// ([`crate::SenderConfig::transport`]).
    fn transport(&self, _index: usize) -> Option<crate::Transport> {
        None
    }

    /// Appends `(destination index, point)` for every delivery of `p` (none: dropped).
    fn direct(&self, p: Point, out: &mut Vec<(usize, Point)>);

    /// Whether [`Director::tick`] ever produces points (the relay then calls it periodically).
    fn ticks(&self) -> bool {
        false
    }

    /// Appends the deliveries of points produced by `now` (seconds since the epoch).
    fn tick(&self, _now: i64, _out: &mut Vec<(usize, Point)>) {}

    /// At shutdown: appends the deliveries of everything still held back.
    fn flush(&self, _now: i64, _out: &mut Vec<(usize, Point)>) {}

    /// Points dropped on purpose (blackholed, filtered, unmatched) since start.
    fn discarded(&self) -> u64 {
        0
    }

    /// Cumulative counters of the director's own work since start, named as carbon names
    /// them (e.g. `aggregateDatapointsSent`); empty for plain placement.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// A hash ring or relay-rules router as a [`Director`]: one copy per destination it names.
pub struct RingDirector {
    route: Route,
}

impl RingDirector {
    /// Wraps a placement.
    pub fn new(route: Route) -> Self {
        RingDirector { route }
    }

    /// Destination indexes of `metric`, each once, primary first.
    pub fn place(&self, metric: &str, out: &mut Vec<usize>) {
        let mut idx = ring::Owners::new();
        self.route.destinations_into(metric, &mut idx);
        let n = self.route.targets().len();
        for &i in idx.iter() {
            // One copy per destination (a one-node ring can name it twice).
            if i < n && !out.contains(&i) {
                out.push(i);
            }
        }
    }
}

impl Director for RingDirector {
    fn targets(&self) -> &[Destination] {
        self.route.targets()
    }

    fn direct(&self, p: Point, out: &mut Vec<(usize, Point)>) {
        let mut targets: Vec<usize> = Vec::with_capacity(4);
        self.place(&p.metric, &mut targets);
        if let Some((&last, rest)) = targets.split_last() {
            for &i in rest {
                out.push((i, p.clone()));
            }
            out.push((last, p));
        }
    }
}
