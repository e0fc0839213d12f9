//! carbon-aggregator in front of any placement: points go through the aggregation pipeline
//! (white/blacklist, rewrite-rules.conf, aggregation-rules.conf) and what it passes on or
//! produces is placed by the wrapped [`Director`], as carbon-aggregator hands its output to its
//! relay step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aggregator::Pipeline;

use crate::dest::Destination;
use crate::direct::Director;
use crate::point::Point;
use crate::relay::unix_now;

/// An aggregation pipeline feeding a placement.
pub struct AggregatingDirector {
    pipeline: Mutex<Pipeline>,
    inner: Arc<dyn Director>,
    discarded: AtomicU64,
}

impl AggregatingDirector {
    /// Aggregates with `pipeline`, places with `inner`.
    pub fn new(pipeline: Pipeline, inner: Arc<dyn Director>) -> Self {
        AggregatingDirector {
            pipeline: Mutex::new(pipeline),
            inner,
            discarded: AtomicU64::new(0),
        }
    }

    /// The aggregator's counters (received, emitted, dropped ...).
    pub fn stats(&self) -> aggregator::Stats {
        self.lock().aggregator.stats()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pipeline> {
        self.pipeline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn place(&self, produced: Vec<aggregator::Aggregate>, out: &mut Vec<(usize, Point)>) {
        for a in produced {
            self.inner
                .direct(Point::new(a.metric, a.timestamp as f64, a.value), out);
        }
    }
}

impl Director for AggregatingDirector {
    fn targets(&self) -> &[Destination] {
        self.inner.targets()
    }

    fn transport(&self, index: usize) -> Option<crate::Transport> {
        self.inner.transport(index)
    }

    fn direct(&self, p: Point, out: &mut Vec<(usize, Point)>) {
        let passed = self
            .lock()
            .process(unix_now(), &p.metric, p.timestamp, p.value);
        match passed {
            Some(name) => self
                .inner
                .direct(Point::new(name, p.timestamp, p.value), out),
            None => {
                self.discarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn ticks(&self) -> bool {
        true
    }

    fn tick(&self, now: i64, out: &mut Vec<(usize, Point)>) {
        let mut produced = Vec::new();
        self.lock().tick(now, &mut produced);
        self.place(produced, out);
        self.inner.tick(now, out);
    }

    fn flush(&self, now: i64, out: &mut Vec<(usize, Point)>) {
        // carbon-aggregator loses its open buckets on stop; emitting what has been computed so
        // far is the lesser surprise for a relay that is being restarted.
        let mut produced = Vec::new();
        let far = now.saturating_add(1 << 30);
        self.lock().tick(far, &mut produced);
        self.place(produced, out);
        self.inner.flush(now, out);
    }

    fn discarded(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed) + self.inner.discarded()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let st = self.stats();
        let mut c = vec![
            ("aggregateDatapointsReceived", st.received),
            ("aggregateDatapointsSent", st.sent),
            ("aggregateDatapointsDropped", st.dropped),
        ];
        c.extend(self.inner.counters());
        c
    }
}
