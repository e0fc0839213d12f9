//! Persister threads: drain metrics from the cache into the backend under the rate limits.
//!
//! `max_updates_per_second` limits `update` calls, not points: when the limit bites, metrics accumulate
//! more points and each call writes more of them (go-carbon's behaviour). `max_creates_per_minute` limits
//! new files; a metric waiting for its create stays cached (and queryable) and is retried next cycle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Backend, Cache, CacheStats, TokenBucket, Written};

/// Settings of the persister.
#[derive(Debug, Clone)]
pub struct PersisterConfig {
    /// Writer threads.
    pub workers: usize,
    /// `update` calls per second across all workers (`None`: unlimited).
    pub max_updates_per_second: Option<u64>,
    /// File creations per minute (`None`: unlimited).
    pub max_creates_per_minute: Option<u64>,
}

impl Default for PersisterConfig {
    fn default() -> Self {
        PersisterConfig {
            workers: 2,
            max_updates_per_second: None,
            max_creates_per_minute: None,
        }
    }
}

struct Shared {
    cache: Arc<Cache>,
    backend: Arc<dyn Backend>,
    updates: TokenBucket,
    creates: TokenBucket,
    stop: AtomicBool,
}

/// Running persister threads; stop them with [`Persister::stop`].
pub struct Persister {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Persister {
    /// Starts `cfg.workers` threads writing `cache` through `backend`.
    pub fn start(
        cache: Arc<Cache>,
        backend: Arc<dyn Backend>,
        cfg: &PersisterConfig,
    ) -> std::io::Result<Persister> {
        let shared = Arc::new(Shared {
            cache,
            backend,
            updates: TokenBucket::new(cfg.max_updates_per_second, Duration::from_secs(1)),
            creates: TokenBucket::new(cfg.max_creates_per_minute, Duration::from_secs(60)),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let s = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("persister-{i}"))
                    .spawn(move || work(&s))?,
            );
        }
        Ok(Persister { shared, threads })
    }

    /// Asks the threads to finish their current write and waits for them.
    pub fn stop(self) {
        self.shared.stop.store(true, Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// Writes every cached point, held ones included, until the cache is empty or `timeout`
    /// passes; true if it emptied.
    pub fn drain(&self, timeout: Duration) -> bool {
        self.shared.cache.flush_all();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.shared.cache.size() == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.cache.size() == 0
    }
}

/// Lowers the calling thread's CPU priority: when cores are scarce, receivers (which must keep sockets
/// drained) run first, and the persister catches up with larger, cheaper batches.
fn lower_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; on Linux PRIO_PROCESS with who = 0
    // applies to the calling thread only. Failure (e.g. not permitted) just leaves the priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Descriptors asked for when the process may raise its hard limit (root): enough to keep every file of
/// a large tree open between writes.
const WANTED_FDS: u64 = 262_144;

/// Raises the open-file limit (to [`WANTED_FDS`] if permitted, else to the hard limit) and returns the
/// soft limit now in force (for sizing the handle pool).
pub fn raise_fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r and want are valid rlimit values for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_max < WANTED_FDS {
            let want = libc::rlimit {
                rlim_cur: WANTED_FDS as _,
                rlim_max: WANTED_FDS as _,
            };
            // Fails without CAP_SYS_RESOURCE (or above fs.nr_open): then the hard limit is what we get.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return WANTED_FDS;
            }
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    r.rlim_cur
}

/// First and longest sleep of a persister thread that found nothing to write.
const IDLE_MIN: Duration = Duration::from_millis(10);
const IDLE_MAX: Duration = Duration::from_millis(100);

fn work(s: &Shared) {
    lower_priority();
    let cache = &s.cache;
    let stats = &cache.stats;
    // An idle persister polls less and less often (10 ms up to 100 ms, as carbon's writer sleeps
    // 0.1 s on an empty cache): wake-ups are most of what an idle or point-holding cache costs.
    let mut idle = IDLE_MIN;
    // Metrics taken from the cache's queue a batch at a time, and the WAL segments of the points
    // written since the log was last told (both spare a shared lock per write).
    let mut batch = VecDeque::new();
    let mut logged = Vec::new();
    while !s.stop.load(Relaxed) {
        if batch.is_empty() {
            cache.release_logged(&mut logged);
            let mut stalled = false;
            cache.next_batch(&mut stalled, &mut batch, BATCH);
            if batch.is_empty() {
                std::thread::sleep(idle);
                idle = (idle * 2).min(IDLE_MAX);
                continue;
            }
            idle = IDLE_MIN;
            if stalled {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let Some(name) = batch.pop_front() else {
            continue;
        };
        let Some((points, n)) = cache.begin_write(&name) else {
            continue;
        };
        s.updates.take_blocking();
        let t0 = Instant::now();
        // Existing files are written at once; a missing one is created first (the update's
        // failed open is the existence check, so a write costs no separate `stat`).
        let mut written = s.backend.update(&name, &points);
        if written == Ok(Written::NoFile) {
            if !create(s, &name) {
                s.updates.give_back();
                cache.finish_write_into(&name, 0, &mut logged);
                continue;
            }
            written = s.backend.update(&name, &points);
        }
        match written {
            Ok(Written::Done) => {
                CacheStats::add(&stats.update_operations, 1);
                CacheStats::add(&stats.committed_points, points.len() as u64);
                CacheStats::add(&stats.update_micros, t0.elapsed().as_micros() as u64);
            }
            Ok(Written::NoFile) | Err(_) => {
                let e = written
                    .err()
                    .unwrap_or_else(|| "no file after its create".into());
                // Retrying a corrupt or unwritable file forever would fill the cache: count and move on.
                tracing::error!(metric = %name, error = %e, "update failed; points dropped");
                CacheStats::add(&stats.errors, 1);
                CacheStats::add(&stats.dropped_points, n as u64);
            }
        }
        cache.finish_write_into(&name, n, &mut logged);
    }
    cache.release_logged(&mut logged);
}

/// Metrics a writer thread takes from the queue at a time.
const BATCH: usize = 64;

/// Creates the metric's file; false when the create must wait for a token (points stay cached).
fn create(s: &Shared, name: &str) -> bool {
    let stats = &s.cache.stats;
    if !s.creates.try_take() {
        CacheStats::add(&stats.deferred_creates, 1);
        return false;
    }
    match s.backend.create(name) {
        Ok(()) => CacheStats::add(&stats.creates, 1),
        Err(e) => {
            // The update that follows fails too and drops the points, counted there.
            tracing::error!(metric = %name, error = %e, "create failed");
            CacheStats::add(&stats.errors, 1);
        }
    }
    true
}
