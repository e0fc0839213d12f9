//! Carbonado side of bench/whisper.sh: the same workloads as whisper_py.py, printing
//! `<workload> <ops/s> <user CPU us/op> <system CPU us/op>` lines.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use whisper::{create, Access, AggregationMethod, ArchiveSpec, CreateOptions, Whisper};

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

/// This process's (user, system) CPU seconds, from getrusage (microsecond resolution; the
/// clock ticks of /proc/self/stat are too coarse for microsecond operations).
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
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

/// Files for the fetch workloads: a full day of 1-minute points in each (xFilesFactor 0, so the
/// points also propagate to the 10m archive), written once and read by both sides. Fetching from
/// the empty files of the update workloads would time whisper's shortcut for an archive that was
/// never written, not a read.
fn filled(dir: &Path, n: usize) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let opts = CreateOptions {
        sparse: true,
        fallocate: false,
    };
    let day: Vec<(i64, f64)> = (0..1440)
        .map(|k| (NOW - 86_340 + 60 * k, k as f64))
        .collect();
    (0..n)
        .map(|i| {
            let p = dir.join(format!("m{i:05}.wsp"));
            if !p.exists() {
                create(&p, &schema(), 0.0, AggregationMethod::Average, opts)
                    .with_context(|| p.display().to_string())?;
                Whisper::open_rw(&p)?.update_many(&day, NOW)?;
            }
            Ok(p)
        })
        .collect()
}

/// Runs `op` on every handle, split over `threads` threads (1: this thread).
fn each<T: Send>(
    handles: &mut [T],
    threads: usize,
    op: impl Fn(usize, &mut T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    if threads <= 1 {
        for (i, h) in handles.iter_mut().enumerate() {
            op(i, h)?;
        }
        return Ok(());
    }
    let chunk = handles.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let op = &op;
        let workers: Vec<_> = handles
            .chunks_mut(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || -> anyhow::Result<()> {
                    for (j, h) in part.iter_mut().enumerate() {
                        op(c * chunk + j, h)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("worker panicked"))?)
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `bench_whisper prepare DIR`: only write the fetch workloads' files (DIR/fill).
    if let [verb, dir] = args.as_slice() {
        if verb == "prepare" {
            filled(&PathBuf::from(dir).join("fill"), 10_000)?;
            return Ok(());
        }
    }
    let base = PathBuf::from(args.first().context("usage: bench_whisper [prepare] DIR")?);
    let full = filled(&base.join("fill"), 10_000)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let many = make(&base.join("a"), 10_000)?;
    let few = make(&base.join("b"), 1000)?;
    let pts: Vec<(i64, f64)> = (0..60).map(|k| (NOW - 590 + 10 * k, k as f64)).collect();

    // Cold: every operation opens and closes its file, as python's path-taking calls do.
    let t = Timer::start();
    for (i, p) in many.iter().enumerate() {
        Whisper::open_rw(p)?.update_many(&[(NOW, i as f64)], NOW)?;
    }
    t.report("update_many_1pt_x10000@cold", 10_000.0);

    let t = Timer::start();
    for p in &few {
        Whisper::open_rw(p)?.update_many(&pts, NOW)?;
    }
    t.report("update_many_60pt_x1000@cold", 1000.0);

    let t = Timer::start();
    let mut n = 0usize;
    for p in &full {
        let f = Whisper::open(p)?
            .fetch(NOW - 86_400, NOW, NOW)?
            .context("no data")?;
        n += f.values.len();
    }
    t.report("fetch_1day_x10000@cold", 10_000.0);
    anyhow::ensure!(n == 10_000 * 1440, "unexpected fetch size {n}");

    // Warm: handles opened and used once before the clock starts, as a persister or reader keeps them
    // (python's side keeps file objects open and calls file_update_many / file_fetch).
    let variants: [(&str, Access, usize); 3] = [
        ("warm-fd", Access::ReadWrite, 1),
        ("warm-mmap", Access::MappedReadWrite, 1),
        ("warm-mmap-all-cores", Access::MappedReadWrite, cores),
    ];
    for (variant, access, threads) in variants {
        let open = |paths: &[PathBuf]| -> anyhow::Result<Vec<Whisper>> {
            paths
                .iter()
                .map(|p| Whisper::open_with(p, access).with_context(|| p.display().to_string()))
                .collect()
        };
        let mut hs = open(&many)?;
        // One untimed pass first: a kept handle has been used before (its pages are mapped and
        // its bases cached), as in a persister that updates the same files every interval.
        each(&mut hs, threads, |i, h| {
            Ok(h.update_many(&[(NOW, i as f64)], NOW)?)
        })?;
        let t = Timer::start();
        each(&mut hs, threads, |i, h| {
            Ok(h.update_many(&[(NOW, i as f64)], NOW)?)
        })?;
        t.report(&format!("update_many_1pt_x10000@{variant}"), 10_000.0);

        let mut fs = open(&few)?;
        each(&mut fs, threads, |_, h| Ok(h.update_many(&pts, NOW)?))?;
        let t = Timer::start();
        each(&mut fs, threads, |_, h| Ok(h.update_many(&pts, NOW)?))?;
        t.report(&format!("update_many_60pt_x1000@{variant}"), 1000.0);
        drop(fs);

        drop(hs);
        let read = match access {
            Access::MappedReadWrite => Access::MappedRead,
            _ => Access::Read,
        };
        let mut rs: Vec<Whisper> = full
            .iter()
            .map(|p| Whisper::open_with(p, read).with_context(|| p.display().to_string()))
            .collect::<anyhow::Result<_>>()?;
        let total = std::sync::atomic::AtomicUsize::new(0);
        each(&mut rs, threads, |_, h| {
            Ok(h.fetch(NOW - 86_400, NOW, NOW).map(drop)?)
        })?;
        let t = Timer::start();
        each(&mut rs, threads, |_, h| {
            let f = h.fetch(NOW - 86_400, NOW, NOW)?.context("no data")?;
            total.fetch_add(f.values.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })?;
        t.report(&format!("fetch_1day_x10000@{variant}"), 10_000.0);
        let n = total.into_inner();
        anyhow::ensure!(n == 10_000 * 1440, "unexpected fetch size {n}");
    }
    Ok(())
}
