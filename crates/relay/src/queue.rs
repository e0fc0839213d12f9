//! The per-destination queue shared by producers and that destination's sender: memory first,
//! then the disk spill, in arrival order, bounded by points and bytes.

use crate::point::{mem_size, Point};
use crate::spill::{record_len, Spill};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Limits of the in-memory part of a queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most points held in memory.
    pub max_points: usize,
    /// Most bytes (see [`crate::point::mem_size`]) held in memory.
    pub max_bytes: usize,
}

/// Cumulative counters of one destination.
#[derive(Debug, Default)]
pub struct Counters {
    /// Points written to the destination's socket.
    pub sent: AtomicU64,
    /// Points that went to the disk spill.
    pub spilled: AtomicU64,
    /// Points lost (spill I/O failure, or no spill at shutdown).
    pub dropped: AtomicU64,
    /// Connection failures and re-established connections.
    pub reconnects: AtomicU64,
    /// Points sent again after a connection broke (possible duplicates).
    pub resent: AtomicU64,
}

pub(crate) struct State {
    mem: VecDeque<Point>,
    mem_bytes: usize,
    spill: Option<Spill>,
    /// Set when the destination is removed: producers must route elsewhere.
    closed: bool,
}

/// Result of offering points to a queue.
pub(crate) enum Offer {
    /// Everything was queued.
    Done,
    /// Queue and spill are full: wait for space and offer the rest again.
    Full,
    /// The destination is gone: route the rest again.
    Closed,
}

/// A destination's queue.
pub struct Queue {
    state: Mutex<State>,
    limits: QueueLimits,
    /// Wakes the sender when points arrive.
    pub(crate) data: Notify,
    /// Wakes producers when room appears.
    pub(crate) space: Notify,
    /// Counters for self-metrics.
    pub counters: Counters,
}

impl Queue {
    /// A queue with an optional spill behind it.
    pub fn new(limits: QueueLimits, spill: Option<Spill>) -> Queue {
        Queue {
            state: Mutex::new(State {
                mem: VecDeque::new(),
                mem_bytes: 0,
                spill,
                closed: false,
            }),
            limits,
            data: Notify::new(),
            space: Notify::new(),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data (plain pushes/pops).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Points in memory and on disk.
    pub fn depth(&self) -> (u64, u64) {
        let st = self.lock();
        (
            st.mem.len() as u64,
            st.spill.as_ref().map_or(0, |s| s.points()),
        )
    }

    /// Bytes held in memory.
    pub fn mem_bytes(&self) -> usize {
        self.lock().mem_bytes
    }

    /// Queues points from the front of `points`, removing those taken.
    pub(crate) fn offer(&self, points: &mut VecDeque<Point>) -> Offer {
        let mut st = self.lock();
        if st.closed {
            return Offer::Closed;
        }
        let mut queued = false;
        let mut result = Offer::Done;
        while let Some(p) = points.front() {
            let spill_empty = st.spill.as_ref().is_none_or(|s| s.is_empty());
            let size = mem_size(p);
            if spill_empty
                && st.mem.len() < self.limits.max_points
                && st.mem_bytes + size <= self.limits.max_bytes
            {
                st.mem_bytes += size;
                if let Some(p) = points.pop_front() {
                    st.mem.push_back(p);
                }
                queued = true;
                continue;
            }
            let Some(spill) = st.spill.as_mut() else {
                result = Offer::Full;
                break;
            };
            if !spill.has_room(record_len(p)) {
                result = Offer::Full;
                break;
            }
            match spill.push(p) {
                Ok(()) => {
                    self.counters.spilled.fetch_add(1, Ordering::Relaxed);
                    queued = true;
                }
                Err(e) => {
                    tracing::error!("{e}; point dropped");
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            points.pop_front();
        }
        drop(st);
        if queued {
            self.data.notify_one();
        }
        result
    }

    /// Takes the oldest points (memory before spill) into `out`, at most `max_points` and
    /// about `max_bytes` encoded (`len` gives a point's encoded size); `from_spill` false
    /// leaves the spill alone (shutdown keeps it for the next start).
    pub(crate) fn take(
        &self,
        max_points: usize,
        max_bytes: usize,
        len: impl Fn(&Point) -> usize,
        from_spill: bool,
        out: &mut Vec<Point>,
    ) {
        let mut st = self.lock();
        let mut bytes = 0;
        while out.len() < max_points {
            let Some(p) = st.mem.front() else { break };
            let l = len(p);
            if !out.is_empty() && bytes + l > max_bytes {
                break;
            }
            bytes += l;
            st.mem_bytes -= mem_size(p);
            if let Some(p) = st.mem.pop_front() {
                out.push(p);
            }
        }
        if out.is_empty() && from_spill {
            if let Some(spill) = st.spill.as_mut() {
                // Spill records are read a bounded number at a time; byte cap is approximate.
                let avg = 64;
                let n = max_points.min((max_bytes / avg).max(1));
                if let Err(e) = spill.pop_batch(n, out) {
                    tracing::error!("{e}");
                }
            }
        }
        drop(st);
        if !out.is_empty() {
            self.space.notify_waiters();
        }
    }

    /// Puts points older than everything queued back in front (unsent at shutdown).
    /// Returns the points that could not be kept (no spill, or spill I/O failure).
    pub(crate) fn keep_unsent(&self, points: Vec<Point>) -> usize {
        let mut st = self.lock();
        let mut lost = 0;
        let mut all: Vec<Point> = points;
        all.extend(st.mem.drain(..));
        st.mem_bytes = 0;
        match st.spill.as_mut() {
            Some(spill) => {
                if let Err(e) = spill.prepend(&all) {
                    tracing::error!("{e}; {} points lost", all.len());
                    lost = all.len();
                } else {
                    self.counters
                        .spilled
                        .fetch_add(all.len() as u64, Ordering::Relaxed);
                }
                if let Err(e) = spill.close() {
                    tracing::error!("{e}");
                }
            }
            None => lost = all.len(),
        }
        self.counters
            .dropped
            .fetch_add(lost as u64, Ordering::Relaxed);
        lost
    }

    /// Marks the queue removed and hands back everything in memory; spilled points are read
    /// out with [`Queue::drain_spill`].
    pub(crate) fn close(&self) -> Vec<Point> {
        let mut st = self.lock();
        st.closed = true;
        st.mem_bytes = 0;
        let out = st.mem.drain(..).collect();
        drop(st);
        self.space.notify_waiters();
        out
    }

    /// Reads up to `max` spilled points of a closed queue.
    pub(crate) fn drain_spill(&self, max: usize, out: &mut Vec<Point>) -> usize {
        let mut st = self.lock();
        match st.spill.as_mut() {
            Some(s) => s.pop_batch(max, out).unwrap_or_else(|e| {
                tracing::error!("{e}");
                0
            }),
            None => 0,
        }
    }

    /// True when nothing waits in memory.
    pub(crate) fn mem_is_empty(&self) -> bool {
        self.lock().mem.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(max_points: usize, spill: Option<Spill>) -> Queue {
        Queue::new(
            QueueLimits {
                max_points,
                max_bytes: usize::MAX,
            },
            spill,
        )
    }

    fn batch(r: std::ops::Range<u32>) -> VecDeque<Point> {
        r.map(|i| Point::new(format!("m{i}"), i as f64, 0.0))
            .collect()
    }

    #[test]
    fn memory_then_spill_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let queue = q(10, Some(Spill::open(dir.path(), 1 << 20).unwrap()));
        let mut b = batch(0..25);
        assert!(matches!(queue.offer(&mut b), Offer::Done));
        assert_eq!(queue.depth(), (10, 15));
        let mut out = Vec::new();
        queue.take(4, usize::MAX, |_| 1, true, &mut out);
        // Memory has room again but the spill is not empty: new points queue behind it.
        let mut b = batch(25..30);
        assert!(matches!(queue.offer(&mut b), Offer::Done));
        assert_eq!(queue.depth(), (6, 20));
        loop {
            let mut b = Vec::new();
            queue.take(7, usize::MAX, |_| 1, true, &mut b);
            if b.is_empty() {
                break;
            }
            out.extend(b);
        }
        let got: Vec<&str> = out.iter().map(|p| p.metric.as_str()).collect();
        let want: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn full_without_spill_pushes_back() {
        let queue = q(3, None);
        let mut b = batch(0..5);
        assert!(matches!(queue.offer(&mut b), Offer::Full));
        assert_eq!(b.len(), 2);
        assert_eq!(queue.close().len(), 3);
        assert!(matches!(queue.offer(&mut b), Offer::Closed));
    }
}
