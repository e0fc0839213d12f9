//! Renderer time of Carbonado's graph crate on the workloads of bench/graph.sh (the same data
//! bench/graph_py.py gives graphite-web's glyph.py): one line per workload with seconds per
//! render, as `workload wall_seconds cpu_seconds`.
//!
//! Usage: bench_graph [repetitions]

use anyhow::{Context, Result};
use graph::{render_line, Format, Params};
use query::series::Series;
use std::time::Instant;

const START: i64 = 1_700_000_000;

/// `n` series of `points` minutely values, each with its own phase (same formula as graph_py.py).
fn data(n: usize, points: usize) -> Vec<Series> {
    (0..n)
        .map(|k| {
            let values = (0..points)
                .map(|i| {
                    if (i + k) % 97 == 0 {
                        None
                    } else {
                        Some(((i * (k % 7 + 1) + k * 13) % 101) as f64 + k as f64 * 0.5)
                    }
                })
                .collect();
            Series::new(
                format!("servers.host{k:04}.cpu.user"),
                START,
                START + 60 * points as i64,
                60,
                values,
            )
        })
        .collect()
}

/// CPU time of this (single-threaded) process so far: the first field of the main thread's
/// schedstat, in nanoseconds, which stays meaningful when other work shares the machine.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}

fn time(
    label: &str,
    reps: usize,
    series: &[Series],
    pairs: &[(&str, &str)],
    fmt: Format,
) -> Result<()> {
    let p = Params::from_pairs(pairs);
    // one warm-up render (font parsing, allocations), which also sizes the repetitions so
    // that quick workloads run long enough for the CPU clock's resolution
    let w = Instant::now();
    render_line(series, &p, fmt, chrono_tz::UTC).with_context(|| label.to_string())?;
    let reps = reps
        .max((0.5 / w.elapsed().as_secs_f64().max(1e-6)) as usize)
        .min(10_000);
    let t = Instant::now();
    let c = cpu_seconds();
    let mut bytes = 0;
    for _ in 0..reps {
        bytes += render_line(series, &p, fmt, chrono_tz::UTC)?.len();
    }
    let secs = t.elapsed().as_secs_f64() / reps as f64;
    let cpu = (cpu_seconds() - c) / reps as f64;
    println!("{label} {secs:.6} {cpu:.6}");
    eprintln!(
        "{label}: {:.1} ms/render, {} bytes",
        secs * 1000.0,
        bytes / reps.max(1)
    );
    Ok(())
}

fn main() -> Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let many = data(1000, 360);
    let stacked = data(20, 360);
    let size = [("width", "800"), ("height", "600")];
    let mut st = size.to_vec();
    st.push(("areaMode", "stacked"));
    time("lines_1000_png", reps, &many, &size, Format::Png)?;
    time("lines_1000_svg", reps, &many, &size, Format::Svg)?;
    time("stacked_20_png", reps, &stacked, &st, Format::Png)?;
    time("stacked_20_svg", reps, &stacked, &st, Format::Svg)?;
    Ok(())
}
