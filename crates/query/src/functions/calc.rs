//! Calculate group and bootstrapping functions (moving windows, summarize, timeShift, ...).

use crate::attime::parse_time_offset;
use crate::context::RequestContext;
use crate::error::{eval_err, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::agg::{py_round, py_sum, safe_avg, xff_ok};
use crate::functions::util::agg_func;
use crate::functions::Impl;
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("movingWindow", |e, c, a| moving(e, c, a, None)),
    ("movingAverage", |e, c, a| moving(e, c, a, Some("average"))),
    ("movingSum", |e, c, a| moving(e, c, a, Some("sum"))),
    ("movingMin", |e, c, a| moving(e, c, a, Some("min"))),
    ("movingMax", |e, c, a| moving(e, c, a, Some("max"))),
    ("movingMedian", |e, c, a| moving(e, c, a, Some("median"))),
    ("exponentialMovingAverage", ema),
    ("summarize", summarize),
    ("smartSummarize", smart_summarize),
    ("hitcount", hitcount),
    ("timeShift", time_shift),
    ("timeSlice", time_slice),
    ("timeStack", time_stack),
];

/// Re-evaluates the call's first argument over another range (graphite's bootstrapping).
fn bootstrap(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &Args<'_>,
    from: i64,
    until: i64,
) -> Result<Vec<Series>> {
    let Some(first) = a.raw.first() else {
        return Ok(Vec::new());
    };
    let c2 = ctx.with_range(from, until);
    ev.eval_series(&c2, first, a.repl)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
        None => String::new(),
    }
}

fn moving(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &Args<'_>,
    fixed: Option<&str>,
) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let func = match fixed {
        Some(f) => f.to_string(),
        None => a.str_or("func", "average")?,
    };
    let f = agg_func(&func)?;
    let window = a.get("windowSize").cloned().unwrap_or(Value::None);
    let xff = a.opt_f64("xFilesFactor")?;
    let (preview, is_str) = match &window {
        Value::Str(w) => (parse_time_offset(w)?.abs(), true),
        v => {
            let n = v.as_f64().ok_or_else(|| {
                crate::error::QueryError::InvalidParameter(
                    "windowSize must be an int or interval".into(),
                )
            })?;
            (
                list.iter().map(|s| s.step).max().unwrap_or(1) * n.trunc() as i64,
                false,
            )
        }
    };
    let tag = format!("moving{}", capitalize(&func));
    let previews = bootstrap(ev, ctx, a, ctx.from - preview, ctx.until)?;
    Ok(previews
        .into_iter()
        .map(|mut s| {
            let (name, wp) = if is_str {
                (
                    format!("{}({},\"{}\")", tag, s.name, window.py_str()),
                    (preview / s.step.max(1)) as usize,
                )
            } else {
                (
                    format!("{}({},{})", tag, s.name, window.py_str()),
                    window.as_f64().unwrap_or(0.0).trunc().max(0.0) as usize,
                )
            };
            s.set_tag(&tag, window.py_str());
            let eff = xff.unwrap_or(s.x_files_factor);
            let vals: Vec<Option<f64>> = (wp..s.values.len().max(wp))
                .map(|i| {
                    // graphite-web 1.1.10 windows end at and include point i (1.1.8 ended just before it).
                    let win = &s.values[i + 1 - wp.min(i + 1)..(i + 1).min(s.values.len())];
                    let nn = win.iter().flatten().count();
                    if nn > 0 && xff_ok(nn, wp, eff) {
                        let nonnull: Vec<Option<f64>> =
                            win.iter().filter(|v| v.is_some()).copied().collect();
                        f.apply(&nonnull)
                    } else {
                        None
                    }
                })
                .collect();
            let mut out = s.derive(name, vals);
            out.start = s.start + preview;
            out
        })
        .collect())
}

fn ema(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let window = a.get("windowSize").cloned().unwrap_or(Value::None);
    let (preview, constant, is_str) = match &window {
        Value::Str(w) => {
            let p = parse_time_offset(w)?.abs();
            (p, 2.0 / (p as f64 + 1.0), true)
        }
        v => {
            let n = v.as_f64().unwrap_or(1.0).trunc();
            (
                list.iter().map(|s| s.step).max().unwrap_or(1) * n as i64,
                2.0 / (n + 1.0),
                false,
            )
        }
    };
    let previews = bootstrap(ev, ctx, a, ctx.from - preview, ctx.until)?;
    Ok(previews
        .into_iter()
        .map(|mut s| {
            let (name, wp) = if is_str {
                (
                    format!(
                        "exponentialMovingAverage({},\"{}\")",
                        s.name,
                        window.py_str()
                    ),
                    (preview / s.step.max(1)) as usize,
                )
            } else {
                (
                    format!("exponentialMovingAverage({},{})", s.name, window.py_str()),
                    window.as_f64().unwrap_or(0.0).max(0.0) as usize,
                )
            };
            s.set_tag("exponentialMovingAverage", window.py_str());
            let head = &s.values[..wp.min(s.values.len())];
            let mut e = safe_avg(head).filter(|x| *x != 0.0).unwrap_or(0.0);
            let mut vals = vec![Some(py_round(e, 6))];
            for v in s.values.iter().skip(wp) {
                match v {
                    Some(x) => {
                        e = constant * x + (1.0 - constant) * e;
                        vals.push(Some(py_round(e, 6)));
                    }
                    None => vals.push(None),
                }
            }
            let mut out = s.derive(name, vals);
            out.start = s.start + preview;
            out
        })
        .collect())
}

/// graphite's _summarizeValues; returns (values, aligned end).
fn summarize_values(
    s: &Series,
    func: &str,
    interval: i64,
    new_start: i64,
    new_end: i64,
) -> Result<(Vec<Option<f64>>, i64)> {
    let f = agg_func(func)?;
    if interval <= 0 {
        return eval_err("summarize interval must be positive");
    }
    let step = s.step.max(1);
    let n_ts = ((s.end - s.start).max(0) + step - 1) / step;
    let num = (n_ts as usize).min(s.values.len());
    let interval_points = interval as f64 / step as f64;
    let mut out = Vec::new();
    let mut i = 0usize;
    let mut t = new_start;
    while t < new_end {
        let mut lo = i;
        let mut nn = 0usize;
        while i < num && s.start + i as i64 * step < t + interval {
            let ts = s.start + i as i64 * step;
            if ts <= t {
                lo = i;
            }
            if ts >= t && s.values[i].is_some() {
                nn += 1;
            }
            i += 1;
        }
        let ok = nn > 0 && nn as f64 / interval_points >= s.x_files_factor;
        out.push(if ok { f.apply(&s.values[lo..i]) } else { None });
        t += interval;
    }
    Ok((out, t))
}

fn summarize(_: &mut Evaluator<'_>, _: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    let istr = a.str("intervalString")?;
    let func = a.str_or("func", "sum")?;
    let align = a.bool_or("alignToFrom", false);
    let interval = parse_time_offset(&istr)?;
    let mut out = Vec::new();
    for mut s in list {
        if interval <= 0 {
            return eval_err("integer division or modulo by zero");
        }
        let (ns, ne) = if align {
            (s.start, s.end)
        } else {
            (
                s.start - s.start.rem_euclid(interval),
                s.end - s.end.rem_euclid(interval) + interval,
            )
        };
        let (vals, aligned_end) = summarize_values(&s, &func, interval, ns, ne)?;
        s.set_tag("summarize", istr.clone());
        s.set_tag("summarizeFunction", func.clone());
        let name = format!(
            "summarize({}, \"{}\", \"{}\"{})",
            s.name,
            istr,
            func,
            if align { ", true" } else { "" }
        );
        let mut n = s.derive(name, vals);
        n.start = ns;
        n.end = if align { aligned_end } else { ne };
        n.step = interval;
        out.push(n);
    }
    Ok(out)
}

fn smart_summarize(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.series("seriesList")?;
    let istr = a.str("intervalString")?;
    let func = a.str_or("func", "sum")?;
    if let Some(Value::Str(unit)) = a.opt("alignTo") {
        let secs = crate::attime::unit_seconds(unit).ok_or_else(|| {
            crate::error::QueryError::Evaluation(format!("Invalid offset unit '{unit}'"))
        })?;
        let from = align_start(ctx, secs, unit);
        list = bootstrap(ev, ctx, a, from, ctx.until)?;
    }
    let interval = parse_time_offset(&istr)?;
    let mut out = Vec::new();
    for mut s in list {
        let (vals, end) = summarize_values(&s, &func, interval, s.start, s.end)?;
        s.set_tag("smartSummarize", istr.clone());
        s.set_tag("smartSummarizeFunction", func.clone());
        let name = format!("smartSummarize({}, \"{}\", \"{}\")", s.name, istr, func);
        let mut n = s.derive(name, vals);
        n.end = end;
        n.step = interval;
        out.push(n);
    }
    Ok(out)
}

/// Truncates the request start to a calendar unit in the request's time zone.
fn align_start(ctx: &RequestContext, unit_secs: i64, unit: &str) -> i64 {
    use chrono::{Datelike, TimeZone, Timelike};
    let Some(d) = ctx.tz.timestamp_opt(ctx.from, 0).earliest() else {
        return ctx.from;
    };
    let naive = d.naive_local();
    let date = naive.date();
    let t = match unit_secs {
        31536000 => {
            chrono::NaiveDate::from_ymd_opt(date.year(), 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0))
        }
        2592000 => chrono::NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        604800 => {
            let want = unit
                .chars()
                .last()
                .and_then(|c| c.to_digit(10))
                .unwrap_or(1) as i64;
            let mut back = date.weekday().number_from_monday() as i64 - want;
            if back < 0 {
                back += 7;
            }
            (date - chrono::Duration::days(back)).and_hms_opt(0, 0, 0)
        }
        86400 => date.and_hms_opt(0, 0, 0),
        3600 => date.and_hms_opt(naive.hour(), 0, 0),
        60 => date.and_hms_opt(naive.hour(), naive.minute(), 0),
        _ => Some(naive),
    };
    t.and_then(|n| ctx.tz.from_local_datetime(&n).earliest())
        .map_or(ctx.from, |d| d.timestamp())
}

fn hitcount(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.series("seriesList")?;
    let istr = a.str("intervalString")?;
    let align = a.bool_or("alignToInterval", false);
    let interval = parse_time_offset(&istr)?;
    if interval <= 0 {
        return eval_err("integer division or modulo by zero");
    }
    if align {
        let unit = if interval >= 86400 {
            86400
        } else if interval >= 3600 {
            3600
        } else if interval >= 60 {
            60
        } else {
            1
        };
        let from = if unit == 1 {
            ctx.from
        } else {
            align_start(ctx, unit, "")
        };
        list = bootstrap(ev, ctx, a, from, ctx.until)?;
        for s in &mut list {
            let count = (s.end - s.start).div_euclid(interval);
            s.end = s.start + count * interval + interval;
        }
    }
    let mut out = Vec::new();
    for mut s in list {
        let step = s.step;
        let bucket_count = ((s.end - s.start) as f64 / interval as f64).ceil().max(0.0) as usize;
        let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); bucket_count];
        let new_start = s.end - bucket_count as i64 * interval;
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let st = s.start + i as i64 * step;
            let (sb, sm) = (
                (st - new_start).div_euclid(interval),
                (st - new_start).rem_euclid(interval),
            );
            let et = st + step;
            let (mut eb, mut em) = (
                (et - new_start).div_euclid(interval),
                (et - new_start).rem_euclid(interval),
            );
            if eb >= bucket_count as i64 {
                eb = bucket_count as i64 - 1;
                em = interval;
            }
            let mut put = |b: i64, x: f64| {
                if b >= 0 {
                    if let Some(bk) = buckets.get_mut(b as usize) {
                        bk.push(x);
                    }
                }
            };
            if sb == eb {
                put(sb, v * (em - sm) as f64);
            } else {
                put(sb, v * (interval - sm) as f64);
                for j in sb + 1..eb {
                    put(j, v * interval as f64);
                }
                if em > 0 {
                    put(eb, v * em as f64);
                }
            }
        }
        let vals = buckets
            .iter()
            .map(|b| {
                if b.is_empty() {
                    None
                } else {
                    Some(py_sum(b.iter().copied()))
                }
            })
            .collect();
        s.set_tag("hitcount", istr.clone());
        let name = format!(
            "hitcount({}, \"{}\"{})",
            s.name,
            istr,
            if align { ", true" } else { "" }
        );
        let mut n = s.derive(name, vals);
        n.start = new_start;
        n.step = interval;
        out.push(n);
    }
    Ok(out)
}

fn time_shift(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    let mut shift = a.str("timeShift")?;
    let reset_end = a.bool_or("resetEnd", true);
    if shift.chars().next().map_or(false, |c| c.is_ascii_digit()) {
        shift = format!("-{shift}");
    }
    let delta = parse_time_offset(&shift)?;
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (fs, fe) = (first.start, first.end);
    let shifted = bootstrap(ev, ctx, a, ctx.from + delta, ctx.until + delta)?;
    Ok(shifted
        .into_iter()
        .map(|mut s| {
            s.set_tag("timeShift", shift.clone());
            s.name = format!("timeShift({}, \"{}\")", s.name, shift);
            s.end = if reset_end { fe } else { s.end - s.start + fs };
            s.start = fs;
            s
        })
        .collect())
}

fn time_slice(_: &mut Evaluator<'_>, ctx: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    let start = crate::attime::parse_at_time(&a.str("startSliceAt")?, ctx.tz, ctx.now)?;
    let end = crate::attime::parse_at_time(&a.str_or("endSliceAt", "now")?, ctx.tz, ctx.now)?;
    Ok(list
        .into_iter()
        .map(|mut s| {
            s.set_tag("timeSliceStart", start.to_string());
            s.set_tag("timeSliceEnd", end.to_string());
            s.name = format!("timeSlice({}, {}, {})", s.name, start, end);
            let mut cur = ctx.from;
            let step = s.step;
            for v in s.values.iter_mut() {
                if cur < start || cur > end {
                    *v = None;
                }
                cur += step;
            }
            s
        })
        .collect())
}

fn time_stack(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &Args<'_>) -> Result<Vec<Series>> {
    let list = a.series("seriesList")?;
    let mut unit = a.str_or("timeShiftUnit", "1d")?;
    if unit.chars().next().map_or(false, |c| c.is_ascii_digit()) {
        unit = format!("-{unit}");
    }
    let delta = parse_time_offset(&unit)?;
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (fs, fe) = (first.start, first.end);
    let (a0, a1) = (a.i64_or("timeShiftStart", 0)?, a.i64_or("timeShiftEnd", 7)?);
    let mut out = Vec::new();
    for shft in a0..a1 {
        for mut s in bootstrap(
            ev,
            ctx,
            a,
            ctx.from + delta * shft,
            ctx.until + delta * shft,
        )? {
            s.set_tag("timeShiftUnit", unit.clone());
            s.set_tag("timeShift", shft.to_string());
            s.name = format!("timeShift({}, {}, {})", s.name, unit, shft);
            s.path_expression = s.name.clone();
            s.start = fs;
            s.end = fe;
            out.push(s);
        }
    }
    Ok(out)
}
