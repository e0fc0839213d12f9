//! Carbonado side of bench/whisper.sh: the same workloads as whisper_py.py, printing
//! `<workload> <ops/s> <user CPU us/op> <system CPU us/op>` lines.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use whisper::{create, AggregationMethod, ArchiveSpec, CreateOptions, Whisper};

const NOW: i64 = 1_700_000_000;

fn schema() -> [ArchiveSpec; 3] {
    // 10s:6h,1m:7d,10m:5y, the default schema.
    [
        ArchiveSpec {
            seconds_per_point: 10,
            points: 2160,
        },
        ArchiveSpec {
            seconds_per_point: 60,
            points: 10080,
        },
        ArchiveSpec {
            seconds_per_point: 600,
            points: 262_800,
        },
    ]
}

/// This process's (user, system) CPU seconds, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let field = |i: usize| {
        f.get(i - 3)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let tick = 100.0;
    (field(14) / tick, field(15) / tick)
}

/// Wall time plus CPU time of one workload.
struct Timer(Instant, (f64, f64));

impl Timer {
    fn start() -> Self {
        Timer(Instant::now(), cpu_times())
    }

    fn report(&self, name: &str, ops: f64) {
        let wall = self.0.elapsed().as_secs_f64();
        let (u, s) = cpu_times();
        let (user, sys) = ((u - self.1 .0) / ops * 1e6, (s - self.1 .1) / ops * 1e6);
        println!("{name} {} {user} {sys}", ops / wall);
    }
}

fn make(dir: &Path, n: usize) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let opts = CreateOptions {
        sparse: true,
        fallocate: false,
    };
    (0..n)
        .map(|i| {
            let p = dir.join(format!("m{i:05}.wsp"));
            if !p.exists() {
                create(&p, &schema(), 0.5, AggregationMethod::Average, opts)
                    .with_context(|| p.display().to_string())?;
            }
            Ok(p)
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let base = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: bench_whisper DIR")?,
    );

    let many = make(&base.join("a"), 10_000)?;
    let t = Timer::start();
    for (i, p) in many.iter().enumerate() {
        Whisper::open_rw(p)?.update_many(&[(NOW, i as f64)], NOW)?;
    }
    t.report("update_many_1pt_x10000", 10_000.0);

    let few = make(&base.join("b"), 1000)?;
    let pts: Vec<(i64, f64)> = (0..60).map(|k| (NOW - 590 + 10 * k, k as f64)).collect();
    let t = Timer::start();
    for p in &few {
        Whisper::open_rw(p)?.update_many(&pts, NOW)?;
    }
    t.report("update_many_60pt_x1000", 1000.0);

    let t = Timer::start();
    let mut n = 0usize;
    for p in &many {
        let f = Whisper::open(p)?
            .fetch(NOW - 86_400, NOW, NOW)?
            .context("no data")?;
        n += f.values.len();
    }
    t.report("fetch_1day_x10000", 10_000.0);
    anyhow::ensure!(n == 10_000 * 1440, "unexpected fetch size {n}");
    Ok(())
}
