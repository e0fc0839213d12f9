//! The unit the relay moves: the receivers' datapoint type, so batches pass through unchanged.

pub use ingest::Point;

/// Approximate heap + inline footprint of a point, used for the byte bound of queues.
pub fn mem_size(p: &Point) -> usize {
    std::mem::size_of::<Point>() + p.metric.len()
}
