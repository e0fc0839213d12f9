//! Operations on whole files that whisper's maintenance scripts perform.

use std::path::Path;

use crate::create::{check_xff, create, CreateOptions};
use crate::file::check_time;
use crate::{AggregationMethod, ArchiveSpec, Error, Header, Result, Whisper};

/// Sets the aggregation method (and optionally xFilesFactor); returns the old method and xff.
pub fn set_aggregation(
    path: impl AsRef<Path>,
    method: Option<AggregationMethod>,
    xff: Option<f64>,
) -> Result<(AggregationMethod, f32)> {
    let mut w = Whisper::open_rw(path)?;
    let old = w.header().clone();
    let mut new = old.clone();
    if let Some(m) = method {
        new.aggregation_method = m;
    }
    if let Some(x) = xff {
        new.x_files_factor = check_xff(x)?;
    }
    w.write_metadata(new)?;
    Ok((old.aggregation_method, old.x_files_factor))
}

/// Sets the aggregation method; returns the old one (whisper's `setAggregationMethod`).
pub fn set_aggregation_method(
    path: impl AsRef<Path>,
    method: AggregationMethod,
    xff: Option<f64>,
) -> Result<AggregationMethod> {
    set_aggregation(path, Some(method), xff).map(|(m, _)| m)
}

/// Sets xFilesFactor; returns the old value (whisper's `setXFilesFactor`).
pub fn set_x_files_factor(path: impl AsRef<Path>, xff: f64) -> Result<f32> {
    set_aggregation(path, None, Some(xff)).map(|(_, x)| x)
}

fn same_archives(a: &Whisper, b: &Whisper, verb: &'static str) -> Result<()> {
    if a.header().archives != b.header().archives {
        return Err(Error::ArchivesDiffer(
            a.path().display().to_string(),
            b.path().display().to_string(),
            verb,
        ));
    }
    Ok(())
}

/// Copies every known point of `from` into `to` between two times (whisper's `merge`).
pub fn merge(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
    time_from: Option<i64>,
    time_to: Option<i64>,
    now: i64,
) -> Result<()> {
    check_time(now)?;
    let src = Whisper::open(from)?;
    let mut dst = Whisper::open_rw(to)?;
    same_archives(&src, &dst, "merging")?;
    let until = time_to.unwrap_or(now);
    let start = time_from.unwrap_or(0);
    if until < start {
        return Err(Error::InvalidMergeRange);
    }
    for idx in by_retention(src.header()) {
        let a = src.header().archives[idx];
        let oldest = now - a.retention();
        if until < oldest {
            continue;
        }
        let fetched = src.fetch_archive(idx, start.max(oldest), until)?;
        let points: Vec<(i64, f64)> = fetched.points().collect();
        if !points.is_empty() {
            dst.archive_update_many_pub(idx, &points)?;
        }
    }
    Ok(())
}

/// Archive indexes ordered by retention, as whisper's tools iterate them.
fn by_retention(h: &Header) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..h.archives.len()).collect();
    idx.sort_by_key(|&i| h.archives[i].retention());
    idx
}

/// The differences found in one archive by [`diff`].
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveDiff {
    /// Position of the archive in retention order.
    pub archive: usize,
    /// `(timestamp, value in a, value in b)` where they differ.
    pub points: Vec<(i64, Option<f64>, Option<f64>)>,
    /// How many points were compared.
    pub total: usize,
}

/// Compares two files archive by archive (whisper's `diff`).
pub fn diff(
    a: impl AsRef<Path>,
    b: impl AsRef<Path>,
    ignore_empty: bool,
    until_time: Option<i64>,
    now: i64,
) -> Result<Vec<ArchiveDiff>> {
    check_time(now)?;
    let wa = Whisper::open(a)?;
    let wb = Whisper::open(b)?;
    same_archives(&wa, &wb, "diffing")?;
    let mut until = until_time.filter(|&u| u != 0).unwrap_or(now);
    let mut out = Vec::new();
    for (n, idx) in by_retention(wa.header()).into_iter().enumerate() {
        let start_time = now - wa.header().archives[idx].retention();
        let fa = wa.fetch_archive(idx, start_time, until)?;
        let fb = wb.fetch_archive(idx, start_time, until)?;
        let start = fa.from.min(fb.from);
        let end = fa.until.max(fb.until);
        let step = fa.step.min(fb.step);
        let count = (end - start).div_euclid(step).max(0) as usize;
        let mut compared = Vec::new();
        for s in 0..count {
            let (va, vb) = (
                fa.values.get(s).copied().flatten(),
                fb.values.get(s).copied().flatten(),
            );
            let keep = if ignore_empty {
                va.is_some() && vb.is_some()
            } else {
                va.is_some() || vb.is_some()
            };
            if keep {
                compared.push((start + s as i64 * step, va, vb));
            }
        }
        let total = compared.len();
        let points = compared.into_iter().filter(|p| p.1 != p.2).collect();
        out.push(ArchiveDiff {
            archive: n,
            points,
            total,
        });
        until = until.min(start_time);
    }
    Ok(out)
}

/// Copies into `dst` the points missing there that `src` has (whisper-fill's algorithm:
/// gaps are runs of empty or zero values in `dst`, filled from `src`'s finest covering archive).
pub fn fill(src: impl AsRef<Path>, dst: impl AsRef<Path>, now: i64) -> Result<()> {
    check_time(now)?;
    let src = Whisper::open(src)?;
    let mut dst = Whisper::open_rw(dst)?;
    let mut start_from = now;
    let dst_header = dst.header().clone();
    for idx in by_retention(&dst_header) {
        let a = dst_header.archives[idx];
        let from_time = now - a.retention();
        if from_time >= start_from {
            continue;
        }
        let Some(f) = dst.fetch(from_time, start_from, now)? else {
            start_from = from_time;
            continue;
        };
        let (mut start, end, step) = (f.from, f.until, f.step);
        let mut gap_start: Option<i64> = None;
        for v in &f.values {
            // whisper-fill treats a stored 0.0 as missing too.
            let present = matches!(v, Some(x) if *x != 0.0);
            match gap_start {
                None if !present => gap_start = Some(start),
                Some(g) if present => {
                    if start - g > i64::from(a.seconds_per_point) {
                        fill_range(&src, &mut dst, g - step, start, now)?;
                    }
                    gap_start = None;
                }
                Some(g) if start == end - step => fill_range(&src, &mut dst, g - step, start, now)?,
                _ => {}
            }
            start += step;
        }
        start_from = from_time;
    }
    Ok(())
}

fn fill_range(
    src: &Whisper,
    dst: &mut Whisper,
    tstart: i64,
    mut tstop: i64,
    now: i64,
) -> Result<()> {
    let src_time = now - i64::from(src.header().max_retention);
    if tstart < src_time && tstop < src_time {
        return Ok(());
    }
    for idx in by_retention(src.header()) {
        let rtime = now - src.header().archives[idx].retention();
        if tstop <= rtime {
            continue;
        }
        let from_time = if rtime > tstart { rtime } else { tstart };
        if let Some(f) = src.fetch(from_time, tstop, now)? {
            let mut points: Vec<(i64, f64)> = f.points().collect();
            points.reverse();
            dst.update_many(&points, now)?;
        }
        tstop = from_time;
        if tstart == tstop {
            return Ok(());
        }
    }
    Ok(())
}

/// What [`resize`] did, for the messages whisper-resize prints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResizeReport {
    /// The new file's header.
    pub header: Option<Header>,
    /// With aggregation: the timestamps of all old points, oldest first.
    pub old_timestamps: Vec<i64>,
    /// With aggregation: per new archive, (from, until, step) of the windows computed.
    pub windows: Vec<(i64, i64, i64)>,
}

/// Parameters of a [`resize`].
#[derive(Debug, Clone)]
pub struct ResizeOptions {
    /// New xFilesFactor (default: keep).
    pub xff: Option<f64>,
    /// New aggregation method (default: keep).
    pub method: Option<AggregationMethod>,
    /// Aggregate old points into the new resolution instead of copying them.
    pub aggregate: bool,
    /// The clock.
    pub now: i64,
}

/// Writes a new file `dst` with archives `archives`, holding the data of `src`
/// (whisper-resize's migration, without its renames).
pub fn resize(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    archives: &[ArchiveSpec],
    opts: &ResizeOptions,
) -> Result<ResizeReport> {
    let now = check_time(opts.now)?;
    let old = Whisper::open(src)?;
    let oh = old.header().clone();
    let xff = opts.xff.unwrap_or(oh.xff());
    let method = opts.method.unwrap_or(oh.aggregation_method);
    // Coarsest archive first, as whisper-resize sorts them.
    let mut old_idx: Vec<usize> = (0..oh.archives.len()).collect();
    old_idx.sort_by_key(|&i| std::cmp::Reverse(oh.archives[i].seconds_per_point));
    let mut data = Vec::with_capacity(old_idx.len());
    for &i in &old_idx {
        let a = oh.archives[i];
        let from = now - a.retention() + i64::from(a.seconds_per_point);
        data.push((a.seconds_per_point, old.fetch(from, now, now)?));
    }
    let header = create(
        dst.as_ref(),
        archives,
        xff,
        method,
        CreateOptions::default(),
    )?;
    let mut new = Whisper::open_rw(dst.as_ref())?;
    let mut report = ResizeReport {
        header: Some(header.clone()),
        ..Default::default()
    };
    if !opts.aggregate {
        for (_, f) in &data {
            if let Some(f) = f {
                let points: Vec<(i64, f64)> = f.points().collect();
                new.update_many(&points, now)?;
            }
        }
        return Ok(report);
    }
    // Finest archive first; each coarser one contributes only what is older than what we have.
    let mut all: Vec<(i64, Option<f64>)> = Vec::new();
    let mut fine_first: Vec<&(u32, Option<crate::Fetched>)> = data.iter().collect();
    fine_first.sort_by_key(|(spp, _)| *spp);
    for (_, f) in fine_first {
        let Some(f) = f else { continue };
        let mut pts: Vec<(i64, Option<f64>)> = f
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (f.from + i as i64 * f.step, *v))
            .take_while(|(t, _)| *t < f.until)
            .collect();
        pts.reverse();
        if let Some(&(last, _)) = all.last() {
            let cut = pts.iter().position(|(t, _)| *t < last).unwrap_or(0);
            all.extend_from_slice(&pts[cut..]);
        } else {
            all.extend(pts);
        }
    }
    all.reverse();
    report.old_timestamps = all.iter().map(|p| p.0).collect();
    let old_values: Vec<Option<f64>> = all.iter().map(|p| p.1).collect();
    for a in &header.archives {
        let step = i64::from(a.seconds_per_point);
        let from = now - a.retention() + now.rem_euclid(step);
        let until = now + now.rem_euclid(step) + step;
        report.windows.push((from, until, step));
        let mut points = Vec::new();
        let mut t = from;
        while t + step < until {
            let (lo, hi) = (t, t + step);
            let l = bisect_left(&report.old_timestamps, lo, 0);
            let r = bisect_left(&report.old_timestamps, hi, l);
            let window = &old_values[l..r];
            let known: Vec<f64> = window.iter().flatten().copied().collect();
            if !known.is_empty() && known.len() as f64 / window.len() as f64 >= xff {
                if let Some(v) = method.aggregate(&known, window) {
                    points.push((lo, v));
                }
            }
            t += step;
        }
        new.update_many(&points, now)?;
    }
    Ok(report)
}

/// Python's `bisect.bisect_left`, step for step, so unsorted input gives the same answer too.
fn bisect_left(a: &[i64], x: i64, lo: usize) -> usize {
    let (mut lo, mut hi) = (lo, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if a[mid] < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
