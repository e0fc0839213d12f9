//! The cache role's own metrics, named like carbon-cache's `carbon.agents.<host>-<instance>.*`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use cache::Cache;
use ingest::IngestStats;

/// The host name as carbon uses it: `socket.gethostname()` with dots replaced by underscores.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace('.', "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `<prefix>.agents.<host>[-<instance>]`.
pub fn agent_prefix(prefix: &str, instance: &str) -> String {
    let host = hostname();
    if instance.is_empty() {
        format!("{prefix}.agents.{host}")
    } else {
        format!("{prefix}.agents.{host}-{instance}")
    }
}

/// Cumulative counters read at one moment, by carbon metric name.
fn counters(ingest: &IngestStats, cache: &Cache) -> Vec<(&'static str, u64)> {
    let i = ingest.snapshot();
    let c = &cache.stats;
    vec![
        ("metricsReceived", i.metrics_received),
        ("committedPoints", c.committed_points.load(Relaxed)),
        ("updateOperations", c.update_operations.load(Relaxed)),
        ("creates", c.creates.load(Relaxed)),
        ("deferredCreates", c.deferred_creates.load(Relaxed)),
        ("errors", c.errors.load(Relaxed)),
        ("droppedPoints", c.dropped_points.load(Relaxed)),
        ("cache.queries", c.queries.load(Relaxed)),
        ("cache.bulk_queries", c.bulk_queries.load(Relaxed)),
        ("cache.fullWaits", c.full_waits.load(Relaxed)),
        ("rejected.invalidLines", i.invalid_lines),
        ("rejected.longLines", i.long_lines),
        ("rejected.invalidNames", i.invalid_names),
        ("rejected.nanValues", i.nan_values),
        ("rejected.invalidPickleFrames", i.invalid_frames),
        ("rejected.invalidPickleEntries", i.invalid_pickle_entries),
        ("rejected.brokenStreams", i.broken_streams),
        ("rejected.carbonlinkRequests", c.bad_queries.load(Relaxed)),
        ("updateMicros", c.update_micros.load(Relaxed)),
    ]
}

fn gauges(ingest: &IngestStats, cache: &Cache) -> Vec<(&'static str, f64)> {
    let mut g = vec![
        ("cache.size", cache.size() as f64),
        ("cache.queues", cache.metric_count() as f64),
        ("cache.bytes", cache.bytes() as f64),
        (
            "activeConnections",
            ingest.active_connections.load(Relaxed) as f64,
        ),
        ("memUsage", rss_bytes() as f64),
    ];
    if let Some(w) = cache.wal() {
        g.push(("wal.segments", w.segment_count() as f64));
        g.push(("wal.tornRecords", w.torn_records.load(Relaxed) as f64));
    }
    g
}

/// Resident set size of this process, from /proc (0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// CPU seconds (user + system) used by this process so far.
pub fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Turns the cumulative counters into carbon's per-interval values.
pub struct Reporter {
    prefix: String,
    ingest: Arc<IngestStats>,
    cache: Arc<Cache>,
    last: Vec<(&'static str, u64)>,
    last_cpu: f64,
    last_time: std::time::Instant,
}

impl Reporter {
    /// A reporter naming metrics under `prefix` (see [`agent_prefix`]).
    pub fn new(prefix: String, ingest: Arc<IngestStats>, cache: Arc<Cache>) -> Self {
        let last = counters(&ingest, &cache);
        Reporter {
            prefix,
            ingest,
            cache,
            last,
            last_cpu: cpu_seconds(),
            last_time: std::time::Instant::now(),
        }
    }

    /// Values for the interval since the previous call, as `(full name, value)`.
    pub fn interval(&mut self) -> Vec<(String, f64)> {
        let now = counters(&self.ingest, &self.cache);
        let mut out = Vec::new();
        let delta = |name: &str| {
            let a = now.iter().find(|c| c.0 == name).map_or(0, |c| c.1);
            let b = self.last.iter().find(|c| c.0 == name).map_or(0, |c| c.1);
            a.saturating_sub(b)
        };
        let updates = delta("updateOperations");
        let committed = delta("committedPoints");
        let micros = delta("updateMicros");
        for (name, _) in &now {
            if *name != "updateMicros" {
                out.push((format!("{}.{name}", self.prefix), delta(name) as f64));
            }
        }
        if updates > 0 {
            out.push((
                format!("{}.pointsPerUpdate", self.prefix),
                committed as f64 / updates as f64,
            ));
            out.push((
                format!("{}.avgUpdateTime", self.prefix),
                micros as f64 / 1e6 / updates as f64,
            ));
        }
        for (name, v) in gauges(&self.ingest, &self.cache) {
            out.push((format!("{}.{name}", self.prefix), v));
        }
        let cpu = cpu_seconds();
        let wall = self.last_time.elapsed().as_secs_f64();
        if wall > 0.0 {
            out.push((
                format!("{}.cpuUsage", self.prefix),
                (cpu - self.last_cpu) / wall,
            ));
        }
        self.last_cpu = cpu;
        self.last_time = std::time::Instant::now();
        self.last = now;
        out
    }

    /// Cumulative counters and current gauges as `name value` lines (the HTTP `/metrics` body).
    pub fn text(prefix: &str, ingest: &IngestStats, cache: &Cache) -> String {
        let mut s = String::new();
        for (name, v) in counters(ingest, cache) {
            s.push_str(&format!("{prefix}.{name} {v}\n"));
        }
        for (name, v) in gauges(ingest, cache) {
            s.push_str(&format!("{prefix}.{name} {v}\n"));
        }
        s
    }
}
