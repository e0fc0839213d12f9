//! The unit the relay moves: one datapoint of one metric.

/// One datapoint, in carbon's `(metric, (timestamp, value))` shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Metric name exactly as received (placement hashes it verbatim).
    pub metric: String,
    /// Seconds since the epoch; carbon relays keep the float it parsed.
    pub timestamp: f64,
    /// The value.
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

    /// Approximate heap + inline footprint, used for the byte bound of queues.
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Point>() + self.metric.len()
    }
}
