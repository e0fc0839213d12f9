//! What the file system allows at all, for the two ingest figures that are bounded by it: no
//! whisper code, no network, no cache, only the system calls a whisper writer cannot avoid.
//!
//! (a) creates: CREATES files of a whisper file's size (10s:2h, 8,680 bytes, as bench_ingest's
//!     schema), one directory per 1,000 as bench_ingest names them, by 1 and by 2 threads, each
//!     file `open(O_CREAT|O_EXCL)` + one write + `close` (what carbon's whisper.create does, less
//!     python) and `O_TMPFILE` + write + `linkat` (what Carbonado does);
//! (b) steady state: METRICS such files, one 12-byte point written into each every 10 s for
//!     STEADY seconds after WARMUP unmeasured, (i) by `pwrite` through descriptors kept up to
//!     the budget Carbonado's persister has (the open-file limit less a quarter), the rest
//!     opened, header read, written and closed each time; (ii) through shared mappings of every
//!     file (as `whisper_mmap = true`): CPU of this process, % of one core.
//!
//! Usage: bench_fs_floor <work dir> [creates 100000] [metrics 50000] [steady_secs 60] [warmup_secs 30]
//! (metrics 0: creates only; bench_ingest runs it so, right after both servers, on the same file
//! system in the same state).

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILE_SIZE: usize = 40 + 720 * 12;

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).context("path with a NUL byte")
}

fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let r = unsafe {
        let mut r: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut r);
        r
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

/// Creates files `range` (whisper-sized) below `root` with `threads` threads; seconds taken.
fn creates(
    root: &Path,
    range: std::ops::Range<usize>,
    threads: usize,
    tmpfile: bool,
) -> Result<f64> {
    std::fs::create_dir_all(root)?;
    for d in 0..1000.min(range.end) {
        std::fs::create_dir_all(root.join(format!("h{d:03}")))?;
    }
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<()> {
                    let buf = vec![0u8; FILE_SIZE];
                    for i in (range.start + t..range.end).step_by(threads) {
                        let dir = root.join(format!("h{:03}", i % 1000));
                        let path = cstr(&dir.join(format!("n{i:07}.wsp")))?;
                        // SAFETY: plain system calls on NUL-terminated paths and a live buffer.
                        unsafe {
                            if tmpfile {
                                let d = cstr(&dir)?;
                                let fd =
                                    libc::open(d.as_ptr(), libc::O_TMPFILE | libc::O_RDWR, 0o644);
                                if fd < 0 {
                                    bail!("O_TMPFILE: {}", std::io::Error::last_os_error());
                                }
                                libc::pwrite(fd, buf.as_ptr().cast(), FILE_SIZE, 0);
                                let src = CString::new(format!("/proc/self/fd/{fd}"))?;
                                let rc = libc::linkat(
                                    libc::AT_FDCWD,
                                    src.as_ptr(),
                                    libc::AT_FDCWD,
                                    path.as_ptr(),
                                    libc::AT_SYMLINK_FOLLOW,
                                );
                                libc::close(fd);
                                if rc != 0 {
                                    bail!("linkat: {}", std::io::Error::last_os_error());
                                }
                            } else {
                                let fd = libc::open(
                                    path.as_ptr(),
                                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY,
                                    0o644,
                                );
                                if fd < 0 {
                                    bail!("open: {}", std::io::Error::last_os_error());
                                }
                                libc::write(fd, buf.as_ptr().cast(), FILE_SIZE);
                                libc::close(fd);
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("create thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(t0.elapsed().as_secs_f64())
}

/// The descriptor budget Carbonado's persister uses: the open-file limit less a quarter (at
/// least 2048 kept back), at least half of it.
fn descriptor_budget() -> usize {
    // SAFETY: getrlimit fills the struct it is given.
    let lim = unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_max.min(1 << 20) as usize
    };
    (lim - (lim / 4).max(2048).min(lim / 2)).clamp(64, 100_000)
}

/// One point every 10 s into each of `n` files; CPU % of one core over `secs` after `warm`.
fn steady(root: &Path, n: usize, mapped: bool, warm: u64, secs: u64) -> Result<f64> {
    std::fs::create_dir_all(root)?;
    let buf = vec![0u8; FILE_SIZE];
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let dir = root.join(format!("h{:03}", i % 500));
        if i < 500 {
            std::fs::create_dir_all(&dir)?;
        }
        let p = dir.join(format!("m{i:06}.wsp"));
        std::fs::write(&p, &buf)?;
        paths.push(cstr(&p)?);
    }
    let kept = if mapped {
        0
    } else {
        descriptor_budget().min(n)
    };
    let mut fds = vec![-1; n];
    let mut maps = vec![std::ptr::null_mut::<u8>(); n];
    // SAFETY: descriptors and mappings made here are used only within their bounds below and
    // released at the end; the files are ours and never truncated.
    unsafe {
        for i in 0..n {
            if mapped || i < kept {
                let fd = libc::open(paths[i].as_ptr(), libc::O_RDWR | libc::O_NOATIME);
                if fd < 0 {
                    bail!("open: {}", std::io::Error::last_os_error());
                }
                if mapped {
                    let m = libc::mmap(
                        std::ptr::null_mut(),
                        FILE_SIZE,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    );
                    libc::close(fd);
                    if m == libc::MAP_FAILED {
                        bail!("mmap: {}", std::io::Error::last_os_error());
                    }
                    maps[i] = m.cast();
                } else {
                    fds[i] = fd;
                }
            }
        }
        let t0 = Instant::now();
        let mut start = None;
        let mut head = [0u8; 128];
        let point = [1u8; 12];
        let mut tick = 0u64;
        while t0.elapsed() < Duration::from_secs(warm + secs) {
            if start.is_none() && t0.elapsed() >= Duration::from_secs(warm) {
                start = Some((cpu_secs(), Instant::now()));
            }
            let at = 40 + (tick as usize % 720) * 12;
            for i in 0..n {
                if mapped {
                    // The header is read before each write, as a writer must know the layout.
                    std::ptr::copy_nonoverlapping(maps[i], head.as_mut_ptr(), 16);
                    std::ptr::copy_nonoverlapping(point.as_ptr(), maps[i].add(at), 12);
                } else if fds[i] >= 0 {
                    libc::pwrite(fds[i], point.as_ptr().cast(), 12, at as i64);
                } else {
                    let fd = libc::open(paths[i].as_ptr(), libc::O_RDWR | libc::O_NOATIME);
                    libc::pread(fd, head.as_mut_ptr().cast(), head.len(), 0);
                    libc::pwrite(fd, point.as_ptr().cast(), 12, at as i64);
                    libc::close(fd);
                }
            }
            tick += 1;
            let next = t0 + Duration::from_secs(10 * tick);
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        let (c0, w0) = start.context("the measured window never started")?;
        let pct = 100.0 * (cpu_secs() - c0) / w0.elapsed().as_secs_f64();
        for i in 0..n {
            if mapped {
                libc::munmap(maps[i].cast(), FILE_SIZE);
            } else if fds[i] >= 0 {
                libc::close(fds[i]);
            }
        }
        Ok(pct)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(work) = args.get(1) else {
        bail!("usage: bench_fs_floor <work dir> [creates] [metrics] [steady_secs] [warmup_secs]");
    };
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (n_creates, metrics) = (arg(2, 100_000), arg(3, 50_000));
    let (secs, warm) = (arg(4, 60) as u64, arg(5, 30) as u64);
    let work = PathBuf::from(work);
    println!(
        "file system floor (no whisper, no network), {}",
        work.display()
    );
    // ext4 skips inodes freed in the last seconds when it allocates, so a run right after a large
    // delete is slower: the variants take turns, a tenth of their files at a time, and nothing is
    // deleted until all are done.
    let variants = [
        (false, 1, "open(O_EXCL)+write+close"),
        (false, 2, "open(O_EXCL)+write+close"),
        (true, 1, "O_TMPFILE+write+linkat"),
        (true, 2, "O_TMPFILE+write+linkat"),
    ];
    let mut took = [0.0; 4];
    let step = n_creates.div_ceil(10).max(1);
    for from in (0..n_creates).step_by(step) {
        for (v, &(tmpfile, threads, _)) in variants.iter().enumerate() {
            let root = work.join(format!("creates-{v}"));
            let range = from..(from + step).min(n_creates);
            took[v] += creates(&root, range, threads, tmpfile)?;
        }
    }
    for (v, &(_, threads, how)) in variants.iter().enumerate() {
        std::fs::remove_dir_all(work.join(format!("creates-{v}")))?;
        let rate = n_creates as f64 / took[v];
        println!("creates/s, {how}, {threads} thread(s): {rate:>12.0}");
    }
    if metrics == 0 {
        return Ok(());
    }
    for (mapped, how) in [
        (false, "pwrite, descriptors kept up to the budget"),
        (true, "shared mappings"),
    ] {
        let root = work.join(format!("steady-{mapped}"));
        let pct = steady(&root, metrics, mapped, warm, secs)?;
        std::fs::remove_dir_all(&root)?;
        println!("steady CPU % of a core, {metrics} files x 1 point / 10 s, {how}: {pct:.2}");
    }
    Ok(())
}
