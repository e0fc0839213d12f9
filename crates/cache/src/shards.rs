//! The in-memory cache: metrics sharded by name hash, each shard a short-held lock over a map.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ingest::{Point, Sink, SinkClosed};
use tokio::sync::Semaphore;

use crate::wal::{SegmentId, Wal};
use crate::{CacheStats, WriteStrategy};

/// FNV-1a: fast on short keys and good enough for a map whose keys the operator's collectors choose.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Map = HashMap<String, Entry, BuildHasherDefault<Fnv>>;

#[derive(Debug, Clone, Copy)]
struct Pt {
    ts: f64,
    value: f64,
    seg: SegmentId,
}

#[derive(Debug, Default)]
struct Entry {
    points: Vec<Pt>,
    /// The smallest timestamp in `points`, kept so a scan of the cache never reads the points.
    oldest: f64,
    writing: bool,
}

/// Bytes charged per cached point besides its name: the point, Vec growth slack and map overhead.
const POINT_COST: u64 = 112;

/// Memory charged for one point of `metric` (an upper bound, so the byte limit holds).
pub fn point_cost(metric: &str) -> u64 {
    POINT_COST + metric.len() as u64
}

/// Limits of the cache.
#[derive(Debug, Clone)]
pub struct CacheLimits {
    /// Most points held (`max_cache_size`).
    pub max_points: u64,
    /// Most bytes charged (`max_cache_memory`).
    pub max_bytes: u64,
    /// Number of shards (a power of two is best).
    pub shards: usize,
    /// Drain order.
    pub strategy: WriteStrategy,
    /// carbon's `MIN_TIMESTAMP_LAG`: a metric is written once its oldest cached point is at least
    /// this old (by its timestamp), so each write carries several points. Zero writes at once.
    /// Ignored while the cache is more than half full and during shutdown: holding points is a
    /// saving, never a reason for back-pressure.
    pub min_lag: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_points: 10_000_000,
            max_bytes: 2 << 30,
            shards: 64,
            strategy: WriteStrategy::Max,
            min_lag: Duration::ZERO,
        }
    }
}

/// The cache shared by receivers (insert), the persister (drain) and carbonlink (query).
pub struct Cache {
    shards: Box<[Mutex<Map>]>,
    limits: CacheLimits,
    points: AtomicU64,
    bytes: AtomicU64,
    metrics: AtomicU64,
    point_permits: Semaphore,
    byte_permits: Semaphore,
    wal: Option<Arc<Wal>>,
    queue: Mutex<VecDeque<String>>,
    cycle_progress: AtomicBool,
    /// Set at shutdown: write everything regardless of `min_lag`.
    flushing: AtomicBool,
    /// While points are held: when the cache was last scanned for due metrics, and whether that
    /// scan was worth its cost (found enough due metrics to justify another scan at once).
    last_scan: Mutex<Option<(Instant, bool)>>,
    /// A point that is due at once (older than `min_lag`, e.g. backfill) arrived since the last scan.
    due_arrived: AtomicBool,
    /// Counters of this cache and its persister.
    pub stats: CacheStats,
}

fn lock(m: &Mutex<Map>) -> MutexGuard<'_, Map> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cache {
    /// An empty cache; with a WAL, every batch sent through [`Sink`] is logged before it is cached.
    pub fn new(limits: CacheLimits, wal: Option<Arc<Wal>>) -> Cache {
        let n = limits.shards.clamp(1, 4096);
        // Semaphore permits are bounded; no real configuration comes near.
        let max_points = limits.max_points.clamp(1, 1 << 40);
        let max_bytes = limits.max_bytes.clamp(1 << 16, 1 << 50);
        Cache {
            shards: (0..n).map(|_| Mutex::new(Map::default())).collect(),
            limits: CacheLimits {
                max_points,
                max_bytes,
                ..limits
            },
            points: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            metrics: AtomicU64::new(0),
            point_permits: Semaphore::new(max_points as usize),
            byte_permits: Semaphore::new(max_bytes as usize),
            wal,
            queue: Mutex::new(VecDeque::new()),
            cycle_progress: AtomicBool::new(true),
            flushing: AtomicBool::new(false),
            last_scan: Mutex::new(None),
            due_arrived: AtomicBool::new(false),
            stats: CacheStats::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &CacheLimits {
        &self.limits
    }

    /// The WAL, if any.
    pub fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.as_ref()
    }

    fn shard_of(&self, metric: &str) -> usize {
        let mut h = Fnv::default();
        h.write(metric.as_bytes());
        // Use high bits: the map inside the shard uses the same hash's low bits.
        ((h.finish() >> 32) as usize) % self.shards.len()
    }

    /// Points cached.
    pub fn size(&self) -> u64 {
        self.points.load(Relaxed)
    }

    /// Bytes charged.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// Metrics cached.
    pub fn metric_count(&self) -> u64 {
        self.metrics.load(Relaxed)
    }

    /// Waits until `points` points costing `bytes` fit. Each must be at most half the limits.
    async fn admit(&self, points: u64, bytes: u64) -> Result<(), SinkClosed> {
        let fast = self.point_permits.try_acquire_many(points as u32);
        let p = match fast {
            Ok(p) => p,
            Err(_) => {
                CacheStats::add(&self.stats.full_waits, 1);
                self.point_permits
                    .acquire_many(points as u32)
                    .await
                    .map_err(|_| SinkClosed)?
            }
        };
        let b = self
            .byte_permits
            .acquire_many(bytes as u32)
            .await
            .map_err(|_| SinkClosed)?;
        p.forget();
        b.forget();
        Ok(())
    }

    fn release(&self, points: u64, bytes: u64) {
        self.points.fetch_sub(points, Relaxed);
        self.bytes.fetch_sub(bytes, Relaxed);
        self.point_permits.add_permits(points as usize);
        self.byte_permits.add_permits(bytes as usize);
    }

    /// Puts already-admitted points into the shards.
    fn insert(&self, batch: Vec<Point>, seg: SegmentId) {
        let count = batch.len() as u64;
        // Order by shard so each shard is locked once per batch (stable: arrival order per metric kept).
        let mut keyed: Vec<(usize, Point)> = batch
            .into_iter()
            .map(|p| (self.shard_of(&p.metric), p))
            .collect();
        keyed.sort_by_key(|k| k.0);
        let bytes: u64 = keyed.iter().map(|(_, p)| point_cost(&p.metric)).sum();
        if !self.limits.min_lag.is_zero() {
            let due_before = unix_now() - self.limits.min_lag.as_secs_f64();
            if keyed.iter().any(|(_, p)| p.timestamp <= due_before) {
                self.due_arrived.store(true, Relaxed);
            }
        }
        self.points.fetch_add(count, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        let mut it = keyed.into_iter().peekable();
        while let Some(&(shard, _)) = it.peek() {
            let mut m = lock(&self.shards[shard]);
            // Counted while the shard lock is held, so a concurrent finish_write that removes
            // this metric can never decrement the counter before it was incremented.
            let mut new_metrics = 0;
            while let Some((_, p)) = it.next_if(|(s, _)| *s == shard) {
                let pt = Pt {
                    ts: p.timestamp,
                    value: p.value,
                    seg,
                };
                match m.get_mut(p.metric.as_str()) {
                    Some(e) => {
                        e.oldest = e.oldest.min(pt.ts);
                        e.points.push(pt);
                    }
                    None => {
                        new_metrics += 1;
                        m.insert(
                            p.metric,
                            Entry {
                                points: vec![pt],
                                oldest: pt.ts,
                                writing: false,
                            },
                        );
                    }
                }
            }
            self.metrics.fetch_add(new_metrics, Relaxed);
        }
    }

    /// Admits (waiting for room), logs and caches a batch of any size.
    pub async fn put(&self, batch: Vec<Point>) -> Result<(), SinkClosed> {
        self.put_logged(batch, None).await
    }

    /// Like [`Cache::put`] for points replayed from WAL segment `seg` (not logged again).
    pub async fn put_replayed(&self, batch: Vec<Point>, seg: SegmentId) -> Result<(), SinkClosed> {
        self.put_logged(batch, Some(seg)).await
    }

    async fn put_logged(
        &self,
        mut batch: Vec<Point>,
        replayed: Option<SegmentId>,
    ) -> Result<(), SinkClosed> {
        // Chunks of at most half of each limit, so a permit request can always be met eventually.
        let (pmax, bmax) = (
            self.limits.max_points / 2,
            (self.limits.max_bytes / 2).min(u32::MAX as u64),
        );
        while !batch.is_empty() {
            let mut n = 0;
            let mut bytes = 0;
            for p in &batch {
                let c = point_cost(&p.metric);
                if n > 0 && (n + 1 > pmax || bytes + c > bmax || n >= u32::MAX as u64 / 2) {
                    break;
                }
                n += 1;
                bytes += c;
            }
            let rest = batch.split_off(n as usize);
            self.admit(n, bytes).await?;
            let seg = match (replayed, &self.wal) {
                (Some(seg), _) => seg,
                (None, Some(wal)) => match wal.append(&batch) {
                    Ok(seg) => seg,
                    Err(e) => {
                        // Without a log the points are still cached; losing durability is logged loudly.
                        tracing::error!(error = %e, "WAL append failed");
                        CacheStats::add(&self.stats.errors, 1);
                        0
                    }
                },
                (None, None) => 0,
            };
            self.insert(batch, seg);
            batch = rest;
        }
        Ok(())
    }

    /// The cached `(timestamp, value)` points of `metric`, one per timestamp (last received wins).
    pub fn query(&self, metric: &str) -> Vec<(f64, f64)> {
        let pts: Vec<(f64, f64)> = {
            let m = lock(&self.shards[self.shard_of(metric)]);
            match m.get(metric) {
                Some(e) => e.points.iter().map(|p| (p.ts, p.value)).collect(),
                None => return Vec::new(),
            }
        };
        dedup_last(pts)
    }

    /// Claims `metric` for writing: returns its points (a copy; they stay queryable) and how many there are.
    pub fn begin_write(&self, metric: &str) -> Option<(Vec<(i64, f64)>, usize)> {
        let mut m = lock(&self.shards[self.shard_of(metric)]);
        let e = m.get_mut(metric)?;
        if e.writing || e.points.is_empty() {
            return None;
        }
        e.writing = true;
        let n = e.points.len();
        let pts: Vec<(f64, f64)> = e.points.iter().map(|p| (p.ts, p.value)).collect();
        drop(m);
        // Whisper stores whole seconds; carbon's int() truncates toward zero.
        let whole: Vec<(i64, f64)> = dedup_last(pts)
            .into_iter()
            .map(|(t, v)| (t.trunc() as i64, v))
            .collect();
        Some((dedup_last_i(whole), n))
    }

    /// Ends a write started by [`Cache::begin_write`]: the first `written` points leave the cache.
    pub fn finish_write(&self, metric: &str, written: usize) {
        let mut segs = Vec::new();
        self.finish_write_into(metric, written, &mut segs);
        self.release_logged(&mut segs);
    }

    /// Like [`Cache::finish_write`], but the WAL is told later, by
    /// [`Cache::release_logged`]: `segs` collects how many points of each log segment left the
    /// cache (the log's lock is then taken once per batch of writes, not once per write).
    pub fn finish_write_into(
        &self,
        metric: &str,
        written: usize,
        segs: &mut Vec<(SegmentId, u64)>,
    ) {
        let (drained, removed_metric) = {
            let mut m = lock(&self.shards[self.shard_of(metric)]);
            let Some(e) = m.get_mut(metric) else { return };
            e.writing = false;
            let k = written.min(e.points.len());
            for p in e.points.drain(..k) {
                match segs.last_mut() {
                    Some((s, c)) if *s == p.seg => *c += 1,
                    _ => segs.push((p.seg, 1)),
                }
            }
            e.oldest = e.points.iter().map(|p| p.ts).fold(f64::INFINITY, f64::min);
            let removed = e.points.is_empty();
            if removed {
                m.remove(metric);
            } else if e.points.capacity() > 64 && e.points.capacity() > 4 * e.points.len() {
                e.points.shrink_to_fit();
            }
            (k as u64, removed)
        };
        if removed_metric {
            self.metrics.fetch_sub(1, Relaxed);
        }
        let k = drained;
        if k > 0 {
            self.release(k, k * point_cost(metric));
            self.cycle_progress.store(true, Relaxed);
        }
    }

    /// Tells the WAL that the points counted in `segs` are on disk, and empties `segs`.
    pub fn release_logged(&self, segs: &mut Vec<(SegmentId, u64)>) {
        if let Some(wal) = &self.wal {
            segs.sort_unstable_by_key(|s| s.0);
            let mut i = 0;
            while i < segs.len() {
                let seg = segs[i].0;
                let mut n = 0;
                while i < segs.len() && segs[i].0 == seg {
                    n += segs[i].1;
                    i += 1;
                }
                wal.release(seg, n);
            }
        }
        segs.clear();
    }

    /// The next metric to write according to the strategy; `None` when nothing is waiting.
    ///
    /// `stalled` is set when a whole write-out cycle freed nothing (e.g. every metric waits for a create
    /// token): the caller should sleep instead of spinning.
    pub fn next_to_write(&self, stalled: &mut bool) -> Option<String> {
        let mut one = VecDeque::new();
        self.next_batch(stalled, &mut one, 1);
        one.pop_front()
    }

    /// Moves up to `max` metrics to write, in the strategy's order, into `out` (several at a
    /// time, so writer threads take the queue's lock once per batch); leaves `out` as it was
    /// when nothing is waiting. `stalled` as for [`Cache::next_to_write`].
    pub fn next_batch(&self, stalled: &mut bool, out: &mut VecDeque<String>, max: usize) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            self.refill(&mut q, stalled);
        }
        let n = max.min(q.len());
        out.extend(q.drain(..n));
    }

    /// Scans the cache for metrics to write and queues them in the strategy's order.
    fn refill(&self, q: &mut VecDeque<String>, stalled: &mut bool) {
        // While points are held for `min_lag`, most metrics are not due and a scan of the whole
        // cache mostly finds nothing: scan again at once only after a scan that found enough to
        // pay for itself or when due points arrived, else after a tenth of the lag (a due
        // metric waits at most that much longer).
        let holding = self.holding();
        if holding {
            let gap = (self.limits.min_lag / 10)
                .clamp(Duration::from_millis(100), Duration::from_secs(5));
            let last = *self.last_scan.lock().unwrap_or_else(|p| p.into_inner());
            let due = self.due_arrived.swap(false, Relaxed);
            if let Some((at, fruitful)) = last {
                if !fruitful && !due && at.elapsed() < gap {
                    return;
                }
            }
        }
        *stalled = !self.cycle_progress.swap(false, Relaxed);
        // The counter is a hint: cap the pre-allocation so a stale value cannot abort.
        let hint = self.metrics.load(Relaxed).min(1 << 24) as usize;
        let mut snap = Vec::with_capacity(hint);
        // Points with a timestamp after this are held (when holding).
        let due_before = unix_now() - self.limits.min_lag.as_secs_f64();
        for s in self.shards.iter() {
            let m = lock(s);
            for (k, e) in m.iter() {
                if e.writing || e.points.is_empty() {
                    continue;
                }
                if holding && e.oldest > due_before {
                    continue;
                }
                snap.push((k.clone(), e.points.len(), e.oldest));
            }
        }
        if holding {
            // A scan costs about as much per cached metric as a write per 500 of them.
            let scanned = self.metrics.load(Relaxed) as usize;
            let fruitful = !snap.is_empty() && snap.len() * 500 >= scanned;
            *self.last_scan.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((Instant::now(), fruitful));
        }
        self.limits.strategy.order(&mut snap);
        q.extend(snap.into_iter().map(|s| s.0));
    }

    /// Whether points are being held for `min_lag` now.
    fn holding(&self) -> bool {
        !self.limits.min_lag.is_zero()
            && !self.flushing.load(Relaxed)
            && self.size() < self.limits.max_points / 2
            && self.bytes() < self.limits.max_bytes / 2
    }

    /// From now on every cached point is due at once (shutdown: `min_lag` no longer applies).
    pub fn flush_all(&self) {
        self.flushing.store(true, Relaxed);
    }

    /// Names of every cached metric (for diagnostics and tests).
    pub fn metric_names(&self) -> Vec<String> {
        self.shards
            .iter()
            .flat_map(|s| lock(s).keys().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Wakes receivers waiting for room with an error: used at shutdown.
    pub fn close(&self) {
        self.point_permits.close();
        self.byte_permits.close();
    }
}

/// Seconds since the epoch (the clock the cache, the persister and whisper `now` share).
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One point per timestamp, the last received winning, sorted by timestamp.
fn dedup_last(mut pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if pts.windows(2).all(|w| w[0].0 < w[1].0) {
        return pts;
    }
    // A stable sort keeps arrival order among equal timestamps; keep the last of each run.
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for p in pts {
        match out.last_mut() {
            Some(l) if l.0 == p.0 => *l = p,
            _ => out.push(p),
        }
    }
    out
}

fn dedup_last_i(pts: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    if pts.windows(2).all(|w| w[0].0 < w[1].0) {
        return pts;
    }
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(pts.len());
    for p in pts {
        match out.last_mut() {
            Some(l) if l.0 == p.0 => *l = p,
            _ => out.push(p),
        }
    }
    out
}

impl Sink for Cache {
    async fn send(&self, batch: Vec<Point>) -> Result<(), SinkClosed> {
        self.put(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(m: &str, ts: f64, v: f64) -> Point {
        Point::new(m, ts, v)
    }

    #[tokio::test]
    async fn last_value_per_timestamp_wins_and_writes_release_room() {
        let c = Cache::new(CacheLimits::default(), None);
        c.put(vec![
            p("a", 20.0, 1.0),
            p("a", 10.0, 2.0),
            p("a", 20.0, 3.0),
            p("b", 5.0, 4.0),
        ])
        .await
        .unwrap();
        assert_eq!(c.size(), 4);
        assert_eq!(c.metric_count(), 2);
        assert_eq!(c.query("a"), vec![(10.0, 2.0), (20.0, 3.0)]);
        let (pts, n) = c.begin_write("a").unwrap();
        assert_eq!((pts, n), (vec![(10, 2.0), (20, 3.0)], 3));
        assert!(c.begin_write("a").is_none(), "one writer per metric");
        c.put(vec![p("a", 30.0, 5.0)]).await.unwrap();
        c.finish_write("a", n);
        assert_eq!(c.query("a"), vec![(30.0, 5.0)]);
        assert_eq!(c.size(), 2);
        assert_eq!(c.bytes(), point_cost("a") + point_cost("b"));
    }

    #[tokio::test]
    async fn full_cache_makes_senders_wait_until_persisted() {
        let limits = CacheLimits {
            max_points: 10,
            ..CacheLimits::default()
        };
        let c = Arc::new(Cache::new(limits, None));
        c.put((0..10).map(|i| p("m", i as f64, 0.0)).collect())
            .await
            .unwrap();
        let c2 = c.clone();
        let waiter = tokio::spawn(async move { c2.put(vec![p("m", 99.0, 1.0)]).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(c.stats.full_waits.load(Relaxed) >= 1);
        let (_, n) = c.begin_write("m").unwrap();
        c.finish_write("m", n);
        waiter.await.unwrap().unwrap();
        assert_eq!(c.query("m"), vec![(99.0, 1.0)]);
    }

    #[tokio::test]
    async fn points_younger_than_the_lag_are_held_until_shutdown() {
        let c = Cache::new(
            CacheLimits {
                min_lag: Duration::from_secs(60),
                ..CacheLimits::default()
            },
            None,
        );
        let now = unix_now().floor();
        c.put(vec![
            p("recent", now - 5.0, 1.0),
            p("backfill", now - 600.0, 2.0),
        ])
        .await
        .unwrap();
        let mut stalled = false;
        assert_eq!(c.next_to_write(&mut stalled).as_deref(), Some("backfill"));
        let (_, n) = c.begin_write("backfill").unwrap();
        c.finish_write("backfill", n);
        assert_eq!(c.next_to_write(&mut stalled), None, "recent is held");
        assert_eq!(
            c.next_to_write(&mut stalled),
            None,
            "no rescan before the gap"
        );
        assert_eq!(
            c.query("recent"),
            vec![(now - 5.0, 1.0)],
            "held points are queryable"
        );
        c.flush_all();
        assert_eq!(c.next_to_write(&mut stalled).as_deref(), Some("recent"));
    }

    #[tokio::test]
    async fn a_cache_half_full_writes_held_points() {
        let c = Cache::new(
            CacheLimits {
                min_lag: Duration::from_secs(60),
                max_points: 10,
                ..CacheLimits::default()
            },
            None,
        );
        let now = unix_now().floor();
        c.put((0..5).map(|i| p("recent", now - i as f64, 0.0)).collect())
            .await
            .unwrap();
        let mut stalled = false;
        assert_eq!(c.next_to_write(&mut stalled).as_deref(), Some("recent"));
    }

    #[tokio::test]
    async fn strategies_pick_the_expected_metric_first() {
        for (s, first) in [(WriteStrategy::Max, "big"), (WriteStrategy::Sorted, "old")] {
            let c = Cache::new(
                CacheLimits {
                    strategy: s,
                    ..CacheLimits::default()
                },
                None,
            );
            c.put(vec![
                p("big", 50.0, 0.0),
                p("big", 51.0, 0.0),
                p("old", 1.0, 0.0),
            ])
            .await
            .unwrap();
            let mut stalled = false;
            assert_eq!(c.next_to_write(&mut stalled).as_deref(), Some(first));
        }
    }
}
