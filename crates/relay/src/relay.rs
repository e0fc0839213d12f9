//! The relay: routes incoming points to destination queues, owns the senders, reloads and
//! shuts down without losing queued points.

use crate::dest::{spill_dir_name, Destination, Transport};
use crate::direct::{Director, RingDirector};
use crate::error::RelayError;
use crate::point::Point;
use crate::queue::{Offer, Queue, QueueLimits};
use crate::sender::{self, Mode, SenderConfig};
use crate::spill::Spill;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Placement: a ring or rules router; its `targets()` are the destinations.
pub type Route = Arc<dyn ring::Router + Send + Sync>;

/// Settings of the relay role that do not change on reload.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Sender behaviour (protocol, batch size, reconnects).
    pub sender: SenderConfig,
    /// In-memory bound per destination.
    pub queue: QueueLimits,
    /// Root of the per-destination spill directories; `None` disables spilling.
    pub spill_dir: Option<PathBuf>,
    /// Disk bound per destination.
    pub max_spill_bytes: u64,
    /// How long shutdown tries to send what is in memory before spilling it.
    pub shutdown_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            sender: SenderConfig::default(),
            queue: QueueLimits {
                max_points: 5_000_000,
                max_bytes: 512 << 20,
            },
            spill_dir: None,
            max_spill_bytes: 10 << 30,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// A snapshot of one destination's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestStats {
    /// The destination.
    pub addr: Destination,
    /// Points written to its socket since start.
    pub sent: u64,
    /// Points waiting in memory now.
    pub queued_mem: u64,
    /// Points waiting on disk now.
    pub queued_spill: u64,
    /// Points that went through the spill since start.
    pub spilled: u64,
    /// Points lost since start.
    pub dropped: u64,
    /// Connection failures since start.
    pub reconnects: u64,
    /// Points written again after a broken connection.
    pub resent: u64,
}

struct Dest {
    addr: Destination,
    queue: Arc<Queue>,
    mode: watch::Sender<Mode>,
    task: Mutex<Option<JoinHandle<Vec<Point>>>>,
}

struct Table {
    director: Arc<dyn Director>,
    dests: Vec<Arc<Dest>>,
}

struct Inner {
    cfg: RelayConfig,
    sender: Arc<SenderConfig>,
    table: RwLock<Arc<Table>>,
    unroutable: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

/// The relay role; cheap to clone, all clones share the same queues.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl Relay {
    /// Starts senders for `dests`; must be called inside a tokio runtime. Spills left by a
    /// previous run are opened and replayed first.
    pub fn start(cfg: RelayConfig, route: Route) -> Result<Relay, RelayError> {
        Self::start_directed(cfg, Arc::new(RingDirector::new(route)))
    }

    /// Like [`Relay::start`] with any [`Director`]; one whose `ticks()` is true is ticked every
    /// 250 ms and its points are queued like received ones.
    pub fn start_directed(
        cfg: RelayConfig,
        director: Arc<dyn Director>,
    ) -> Result<Relay, RelayError> {
        let dests = director.targets().to_vec();
        check_unique(&dests)?;
        let inner = Arc::new(Inner {
            sender: Arc::new(cfg.sender.clone()),
            cfg,
            table: RwLock::new(Arc::new(Table {
                director: director.clone(),
                dests: Vec::new(),
            })),
            unroutable: AtomicU64::new(0),
            closed: false.into(),
            ticker: Mutex::new(None),
        });
        let relay = Relay { inner };
        let mut list = Vec::with_capacity(dests.len());
        for (i, addr) in dests.into_iter().enumerate() {
            list.push(relay.new_dest(addr, director.transport(i))?);
        }
        *relay.write_table() = Arc::new(Table {
            director,
            dests: list,
        });
        // Weak, so that a relay dropped without shutdown does not live on in its ticker.
        let weak = Arc::downgrade(&relay.inner);
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let ticking = Relay { inner };
                let table = ticking.table();
                if !table.director.ticks() {
                    continue;
                }
                let mut out = Vec::new();
                table.director.tick(unix_now(), &mut out);
                if !out.is_empty() && ticking.enqueue(table, out, Vec::new()).await.is_err() {
                    return;
                }
            }
        });
        *relay.inner.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(ticker);
        Ok(relay)
    }

    fn write_table(&self) -> std::sync::RwLockWriteGuard<'_, Arc<Table>> {
        self.inner.table.write().unwrap_or_else(|e| e.into_inner())
    }

    fn table(&self) -> Arc<Table> {
        self.inner
            .table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn new_dest(
        &self,
        addr: Destination,
        transport: Option<Transport>,
    ) -> Result<Arc<Dest>, RelayError> {
        let spill = match &self.inner.cfg.spill_dir {
            Some(root) => Some(Spill::open(
                &root.join(spill_dir_name(&addr)),
                self.inner.cfg.max_spill_bytes,
            )?),
            None => None,
        };
        let queue = Arc::new(Queue::new(self.inner.cfg.queue, spill));
        let (mode, rx) = watch::channel(Mode::Run);
        let transport = transport.unwrap_or_else(|| self.inner.sender.transport.clone());
        let task = tokio::spawn(sender::run(
            addr.clone(),
            transport,
            queue.clone(),
            self.inner.sender.clone(),
            rx,
        ));
        Ok(Arc::new(Dest {
            addr,
            queue,
            mode,
            task: Mutex::new(Some(task)),
        }))
    }

    /// The destinations in placement order.
    pub fn destinations(&self) -> Vec<Destination> {
        self.table().dests.iter().map(|d| d.addr.clone()).collect()
    }

    /// Routes and queues `points`; waits (back-pressure) while a target's memory and spill
    /// are both full. Points whose route is empty are counted as dropped.
    pub async fn submit(&self, points: Vec<Point>) -> Result<(), RelayError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(RelayError::Closed);
        }
        let table = self.table();
        self.enqueue(table, Vec::new(), points).await
    }

    /// Queues `routed` (already placed on `table`) and routes then queues `todo`.
    async fn enqueue(
        &self,
        mut table: Arc<Table>,
        mut routed: Vec<(usize, Point)>,
        mut todo: Vec<Point>,
    ) -> Result<(), RelayError> {
        loop {
            if self.inner.closed.load(Ordering::Acquire) {
                return Err(RelayError::Closed);
            }
            let n = table.dests.len();
            let mut per: Vec<VecDeque<Point>> = (0..n).map(|_| VecDeque::new()).collect();
            let mut out = Vec::with_capacity(4);
            for p in todo.drain(..) {
                out.clear();
                table.director.direct(p, &mut out);
                if out.is_empty() {
                    self.inner.unroutable.fetch_add(1, Ordering::Relaxed);
                }
                for (i, p) in out.drain(..) {
                    if let Some(q) = per.get_mut(i) {
                        q.push_back(p);
                    }
                }
            }
            for (i, p) in routed.drain(..) {
                if let Some(q) = per.get_mut(i) {
                    q.push_back(p);
                }
            }
            for (dest, mut pts) in table.dests.iter().zip(per) {
                loop {
                    if pts.is_empty() {
                        break;
                    }
                    let space = dest.queue.space.notified();
                    tokio::pin!(space);
                    space.as_mut().enable();
                    match dest.queue.offer(&mut pts) {
                        Offer::Done => break,
                        Offer::Full => {
                            if self.inner.closed.load(Ordering::Acquire) {
                                return Err(RelayError::Closed);
                            }
                            tokio::select! {
                                _ = space => {}
                                // Covers a wake-up raced away by another producer.
                                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                            }
                        }
                        Offer::Closed => {
                            // Removed by a reload meanwhile: route these again on the new table.
                            todo.extend(pts.drain(..));
                        }
                    }
                }
            }
            if todo.is_empty() {
                return Ok(());
            }
            table = self.table();
        }
    }

    /// Replaces destinations and placement (SIGHUP). Destinations that stay keep their queues;
    /// points queued for removed ones are routed again with the new placement.
    pub async fn reload(&self, route: Route) -> Result<(), RelayError> {
        self.reload_directed(Arc::new(RingDirector::new(route)))
            .await
    }

    /// Like [`Relay::reload`] with any [`Director`] (its held-back state starts empty).
    pub async fn reload_directed(&self, director: Arc<dyn Director>) -> Result<(), RelayError> {
        let dests = director.targets().to_vec();
        check_unique(&dests)?;
        let old = self.table();
        let mut keep: HashMap<&Destination, &Arc<Dest>> =
            old.dests.iter().map(|d| (&d.addr, d)).collect();
        let mut list = Vec::with_capacity(dests.len());
        // A kept destination keeps its connection (and transport) until the next start.
        for (i, addr) in dests.iter().enumerate() {
            match keep.remove(addr) {
                Some(d) => list.push(d.clone()),
                None => list.push(self.new_dest(addr.clone(), director.transport(i))?),
            }
        }
        let removed: Vec<Arc<Dest>> = keep.into_values().cloned().collect();
        *self.write_table() = Arc::new(Table {
            director,
            dests: list,
        });
        for d in removed {
            tracing::info!(
                "relay: destination {} removed, re-routing its queue",
                d.addr
            );
            let _ = d.mode.send(Mode::Remove);
            let handle = d.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            let mut back = match handle {
                Some(h) => h.await.unwrap_or_default(),
                None => Vec::new(),
            };
            back.extend(d.queue.close());
            self.submit(back).await?;
            loop {
                let mut chunk = Vec::new();
                if d.queue.drain_spill(10_000, &mut chunk) == 0 {
                    break;
                }
                self.submit(chunk).await?;
            }
            if let Some(root) = &self.inner.cfg.spill_dir {
                let _ = std::fs::remove_dir_all(root.join(spill_dir_name(&d.addr)));
            }
        }
        Ok(())
    }

    /// Stops accepting points, sends what is in memory until `shutdown_timeout`, and spills
    /// the rest (kept for the next start). Returns the points lost (no spill configured).
    pub async fn shutdown(&self) -> u64 {
        let ticker = self
            .inner
            .ticker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = ticker {
            t.abort();
            let _ = t.await;
        }
        let table = self.table();
        let mut held = Vec::new();
        table.director.flush(unix_now(), &mut held);
        if !held.is_empty() {
            let _ = self.enqueue(table.clone(), held, Vec::new()).await;
        }
        self.inner.closed.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + self.inner.cfg.shutdown_timeout;
        for d in &table.dests {
            let _ = d.mode.send(Mode::Flush(deadline));
            d.queue.data.notify_one();
        }
        let mut lost = 0;
        for d in &table.dests {
            let handle = d.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            let back = match handle {
                Some(h) => h.await.unwrap_or_default(),
                None => Vec::new(),
            };
            lost += d.queue.keep_unsent(back) as u64;
        }
        lost
    }

    /// Counters of every destination.
    pub fn stats(&self) -> Vec<DestStats> {
        self.table()
            .dests
            .iter()
            .map(|d| {
                let c = &d.queue.counters;
                let (mem, spill) = d.queue.depth();
                DestStats {
                    addr: d.addr.clone(),
                    sent: c.sent.load(Ordering::Relaxed),
                    queued_mem: mem,
                    queued_spill: spill,
                    spilled: c.spilled.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    reconnects: c.reconnects.load(Ordering::Relaxed),
                    resent: c.resent.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Points the director dropped on purpose (blackhole, filters) since start.
    pub fn discarded(&self) -> u64 {
        self.table().director.discarded()
    }

    /// The director's own counters (aggregation), cumulative since start.
    pub fn director_counters(&self) -> Vec<(&'static str, u64)> {
        self.table().director.counters()
    }

    /// Points dropped because placement gave no destination.
    pub fn unroutable(&self) -> u64 {
        self.inner.unroutable.load(Ordering::Relaxed)
    }

    /// Bytes held in memory queues, summed over destinations.
    pub fn mem_bytes(&self) -> usize {
        self.table().dests.iter().map(|d| d.queue.mem_bytes()).sum()
    }

    /// Waits until every memory queue and spill is empty or `timeout` passes; true if empty.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if self
                .stats()
                .iter()
                .all(|s| s.queued_mem == 0 && s.queued_spill == 0)
            {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Seconds since the epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn check_unique(dests: &[Destination]) -> Result<(), RelayError> {
    let mut seen = std::collections::HashSet::new();
    for d in dests {
        if !seen.insert(d) {
            return Err(RelayError::Config(format!("destination {d} listed twice")));
        }
    }
    Ok(())
}

impl ingest::Sink for Relay {
    async fn send(&self, batch: Vec<Point>) -> Result<(), ingest::SinkClosed> {
        self.submit(batch).await.map_err(|_| ingest::SinkClosed)
    }
}
