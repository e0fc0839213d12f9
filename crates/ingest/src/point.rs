//! The unit every receiver produces and the trait of whatever consumes it.

use std::future::Future;

/// One datapoint, in carbon's `(metric, (timestamp, value))` shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name after tag normalisation (the cache key).
    pub metric: String,
    /// Seconds since the epoch; carbon keeps the float it parsed.
    pub timestamp: f64,
    /// The value (never NaN: carbon drops those at the receiver).
    pub value: f64,
}

impl Point {
    /// Builds a point.
    pub fn new(metric: impl Into<String>, timestamp: f64, value: f64) -> Self {
        Point {
            metric: metric.into(),
            timestamp,
            value,
        }
    }
}

/// The sink went away (process shutting down); the listener stops.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("sink closed")]
pub struct SinkClosed;

/// Where listeners deliver batches. `send` waits while the sink is full: that wait is the back-pressure.
pub trait Sink: Send + Sync + 'static {
    /// Takes ownership of one batch, waiting for capacity if needed.
    fn send(&self, batch: Vec<Point>) -> impl Future<Output = Result<(), SinkClosed>> + Send;
}
