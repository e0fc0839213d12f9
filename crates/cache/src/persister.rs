//! Persister threads: drain metrics from the cache into the backend under the rate limits.
//!
//! `max_updates_per_second` limits `update` calls, not points: when the limit bites, metrics accumulate
//! more points and each call writes more of them (go-carbon's behaviour). `max_creates_per_minute` limits
//! new files; a metric waiting for its create stays cached (and queryable) and is retried next cycle.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Backend, Cache, CacheStats, TokenBucket};

/// Settings of the persister.
#[derive(Debug, Clone)]
pub struct PersisterConfig {
    /// Writer threads.
    pub workers: usize,
    /// `update` calls per second across all workers (`None`: unlimited).
    pub max_updates_per_second: Option<u64>,
    /// File creations per minute (`None`: unlimited).
    pub max_creates_per_minute: Option<u64>,
    /// Names remembered as existing on disk, sparing a `stat` per write.
    pub known_files_limit: usize,
}

impl Default for PersisterConfig {
    fn default() -> Self {
        PersisterConfig {
            workers: 2,
            max_updates_per_second: None,
            max_creates_per_minute: None,
            known_files_limit: 10_000_000,
        }
    }
}

struct Shared {
    cache: Arc<Cache>,
    backend: Arc<dyn Backend>,
    updates: TokenBucket,
    creates: TokenBucket,
    known: Mutex<HashSet<String>>,
    known_limit: usize,
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
            known: Mutex::new(HashSet::new()),
            known_limit: cfg.known_files_limit,
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
    while !s.stop.load(Relaxed) {
        let mut stalled = false;
        let Some(name) = cache.next_to_write(&mut stalled) else {
            std::thread::sleep(idle);
            idle = (idle * 2).min(IDLE_MAX);
            continue;
        };
        idle = IDLE_MIN;
        if stalled {
            std::thread::sleep(Duration::from_millis(20));
        }
        let Some((points, n)) = cache.begin_write(&name) else {
            continue;
        };
        if !ensure_file(s, &name) {
            cache.finish_write(&name, 0);
            continue;
        }
        s.updates.take_blocking();
        let t0 = Instant::now();
        match s.backend.update(&name, &points) {
            Ok(()) => {
                CacheStats::add(&stats.update_operations, 1);
                CacheStats::add(&stats.committed_points, points.len() as u64);
                CacheStats::add(&stats.update_micros, t0.elapsed().as_micros() as u64);
            }
            Err(e) => {
                // Retrying a corrupt or unwritable file forever would fill the cache: count and move on.
                tracing::error!(metric = %name, error = %e, "update failed; points dropped");
                CacheStats::add(&stats.errors, 1);
                CacheStats::add(&stats.dropped_points, n as u64);
                forget_known(s, &name);
            }
        }
        cache.finish_write(&name, n);
    }
}

fn forget_known(s: &Shared, name: &str) {
    s.known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(name);
}

/// Makes sure the metric has a file; false when its create must wait for a token (points stay cached).
fn ensure_file(s: &Shared, name: &str) -> bool {
    if s.known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(name)
    {
        return true;
    }
    let stats = &s.cache.stats;
    if !s.backend.exists(name) {
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
                return true;
            }
        }
    }
    let mut known = s.known.lock().unwrap_or_else(|p| p.into_inner());
    if known.len() < s.known_limit {
        known.insert(name.to_owned());
    }
    true
}
