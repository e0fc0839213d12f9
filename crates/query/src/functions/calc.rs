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
    ("holtWintersForecast", holt_winters_forecast),
    ("holtWintersConfidenceBands", holt_winters_confidence_bands),
    ("holtWintersConfidenceArea", holt_winters_confidence_area),
    ("holtWintersAberration", holt_winters_aberration),
    ("linearRegression", linear_regression),
];

/// Re-evaluates the call's first argument over another range (graphite's bootstrapping).
fn bootstrap(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
    from: i64,
    until: i64,
) -> Result<Vec<Series>> {
    // Python datetimes span years 1..9999; graphite fails (OverflowError) outside that.
    const MIN_EPOCH: i64 = -62_135_596_800;
    const MAX_EPOCH: i64 = 253_402_300_799;
    if !(MIN_EPOCH..=MAX_EPOCH).contains(&from) || !(MIN_EPOCH..=MAX_EPOCH).contains(&until) {
        return eval_err("OverflowError: date value out of range");
    }
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
    a: &mut Args<'_>,
    fixed: Option<&str>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
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
                list.iter()
                    .map(|s| s.step)
                    .max()
                    .unwrap_or(1)
                    .saturating_mul(n.trunc() as i64),
                false,
            )
        }
    };
    let tag = format!("moving{}", capitalize(&func));
    let previews = bootstrap(ev, ctx, a, ctx.from.saturating_sub(preview), ctx.until)?;
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
            let track_ints = f == crate::functions::agg::AggFunc::Count || s.int_values.is_some();
            let mut ints = Vec::new();
            // graphite aggregates only the window's non-None values; every function but these two
            // already skips gaps, so the others run on the window slice itself (no copy per point).
            let gaps_matter = matches!(
                f,
                crate::functions::agg::AggFunc::AvgZero | crate::functions::agg::AggFunc::Multiply
            );
            // Float sums and averages (the common case) take a fused single-pass path.
            let sum_only = match f {
                _ if track_ints => None,
                crate::functions::agg::AggFunc::Average => Some(true),
                crate::functions::agg::AggFunc::Sum => Some(false),
                _ => None,
            };
            let vals: Vec<Option<f64>> = (wp..s.values.len().max(wp))
                .map(|i| {
                    // graphite-web 1.1.10 windows end at and include point i (1.1.8 ended just before it).
                    let lo = i + 1 - wp.min(i + 1);
                    let win = &s.values[lo..(i + 1).min(s.values.len())];
                    if let Some(avg) = sum_only {
                        // One pass, summing left to right from 0.0 like Python's sum().
                        let (mut sum, mut nn) = (0.0, 0usize);
                        for x in win.iter().flatten() {
                            sum += x;
                            nn += 1;
                        }
                        return (nn > 0 && xff_ok(nn, wp, eff)).then(|| {
                            if avg {
                                sum / nn as f64
                            } else {
                                sum
                            }
                        });
                    }
                    let nn = win.iter().flatten().count();
                    let v = if nn > 0 && xff_ok(nn, wp, eff) {
                        if gaps_matter {
                            let nonnull: Vec<Option<f64>> =
                                win.iter().filter(|v| v.is_some()).copied().collect();
                            f.apply(&nonnull)
                        } else {
                            f.apply(win)
                        }
                    } else {
                        None
                    };
                    if track_ints {
                        let flags: Vec<bool> = (lo..lo + win.len()).map(|k| s.is_int(k)).collect();
                        ints.push(
                            v.is_some() && crate::functions::agg::result_is_int(f, win, &flags),
                        );
                    }
                    v
                })
                .collect();
            let mut out = s.derive(name, vals);
            out.start = s.start + preview;
            out.int_values = track_ints.then_some(ints);
            out
        })
        .collect())
}

fn ema(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
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
                list.iter()
                    .map(|s| s.step)
                    .max()
                    .unwrap_or(1)
                    .saturating_mul(n as i64),
                2.0 / (n + 1.0),
                false,
            )
        }
    };
    let previews = bootstrap(ev, ctx, a, ctx.from.saturating_sub(preview), ctx.until)?;
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

/// Bucket values, their int flags (when tracked) and the aligned end.
pub(crate) type Summarized = (Vec<Option<f64>>, Option<Vec<bool>>, i64);

/// graphite's _summarizeValues.
pub(crate) fn summarize_values(
    s: &Series,
    func: &str,
    interval: i64,
    new_start: i64,
    new_end: i64,
) -> Result<Summarized> {
    let f = agg_func(func)?;
    let track_ints = f == crate::functions::agg::AggFunc::Count || s.int_values.is_some();
    let mut ints = Vec::new();
    if interval <= 0 {
        return eval_err("summarize interval must be positive");
    }
    let step = s.step.max(1);
    let n_ts = ((s.end - s.start).max(0) + step - 1) / step;
    let num = (n_ts as usize).min(s.values.len());
    let interval_points = interval as f64 / step as f64;
    let mut out = Vec::new();
    let mut i = 0usize;
    crate::context::check_series_points((new_end.saturating_sub(new_start)) / interval)?;
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
        if track_ints {
            let flags: Vec<bool> = (lo..i).map(|k| s.is_int(k)).collect();
            ints.push(ok && crate::functions::agg::result_is_int(f, &s.values[lo..i], &flags));
        }
        t += interval;
    }
    Ok((out, track_ints.then_some(ints), t))
}

fn summarize(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
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
        let (vals, ints, aligned_end) = summarize_values(&s, &func, interval, ns, ne)?;
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
        n.int_values = ints;
        out.push(n);
    }
    Ok(out)
}

fn smart_summarize(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
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
        let (vals, ints, end) = summarize_values(&s, &func, interval, s.start, s.end)?;
        s.set_tag("smartSummarize", istr.clone());
        s.set_tag("smartSummarizeFunction", func.clone());
        let name = format!("smartSummarize({}, \"{}\", \"{}\")", s.name, istr, func);
        let mut n = s.derive(name, vals);
        n.end = end;
        n.step = interval;
        n.int_values = ints;
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

fn hitcount(ev: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
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
        let bucket_count_f = ((s.end - s.start) as f64 / interval as f64).ceil().max(0.0);
        crate::context::check_series_points(bucket_count_f.min(i64::MAX as f64) as i64)?;
        let bucket_count = bucket_count_f as usize;
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

fn time_shift(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let mut shift = a.str("timeShift")?;
    let reset_end = a.bool_or("resetEnd", true);
    if shift.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        shift = format!("-{shift}");
    }
    let delta = parse_time_offset(&shift)?;
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (fs, fe) = (first.start, first.end);
    let shifted = bootstrap(
        ev,
        ctx,
        a,
        ctx.from.saturating_add(delta),
        ctx.until.saturating_add(delta),
    )?;
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

fn time_slice(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let start = crate::attime::parse_at_time(&a.str("startSliceAt")?, ctx.server_tz, ctx.now)?;
    let end =
        crate::attime::parse_at_time(&a.str_or("endSliceAt", "now")?, ctx.server_tz, ctx.now)?;
    Ok(list
        .into_iter()
        .map(|mut s| {
            s.set_tag("timeSliceStart", start.to_string());
            s.set_tag("timeSliceEnd", end.to_string());
            s.name = format!("timeSlice({}, {}, {})", s.name, start, end);
            // graphite walks from mktime(startTime.timetuple()): shifted when the request's zone
            // differs from the server's.
            let mut cur = ctx.mktime_local(ctx.from);
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

fn time_stack(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let mut unit = a.str_or("timeShiftUnit", "1d")?;
    if unit.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        unit = format!("-{unit}");
    }
    let delta = parse_time_offset(&unit)?;
    let Some(first) = list.first() else {
        return Ok(Vec::new());
    };
    let (fs, fe) = (first.start, first.end);
    let (a0, a1) = (a.i64_or("timeShiftStart", 0)?, a.i64_or("timeShiftEnd", 7)?);
    if a1.saturating_sub(a0) > crate::context::MAX_TIME_STACK_SHIFTS {
        return Err(crate::error::QueryError::Limit {
            what: "timeStack shifts",
            got: usize::try_from(a1.saturating_sub(a0)).unwrap_or(usize::MAX),
            max: crate::context::MAX_TIME_STACK_SHIFTS as usize,
        });
    }
    let mut out = Vec::new();
    for shft in a0..a1 {
        let d = delta.saturating_mul(shft);
        for mut s in bootstrap(
            ev,
            ctx,
            a,
            ctx.from.saturating_add(d),
            ctx.until.saturating_add(d),
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

/// Output of graphite's holtWintersAnalysis: predictions and deviations, point by point.
struct HoltWinters {
    predictions: Vec<Option<f64>>,
    deviations: Vec<Option<f64>>,
}

fn holt_winters_analysis(
    values: &[Option<f64>],
    step: i64,
    seasonality: &str,
) -> Result<HoltWinters> {
    let (alpha, gamma, beta) = (0.1, 0.1, 0.0035);
    let season = parse_time_offset(seasonality)?;
    let season_len = season.div_euclid(step.max(1));
    let n = values.len();
    let mut intercepts: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut slopes: Vec<f64> = Vec::with_capacity(n);
    let mut seasonals: Vec<f64> = Vec::with_capacity(n);
    let mut predictions: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut deviations: Vec<Option<f64>> = Vec::with_capacity(n);
    // The same deviations as plain numbers, for the season lookups.
    let mut dev_vals: Vec<f64> = Vec::with_capacity(n);
    let last = |v: &Vec<f64>, i: i64| -> f64 {
        let j = i - season_len;
        if j >= 0 {
            v.get(j as usize).copied().unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let mut next_pred: Option<f64> = None;
    for (i, actual) in values.iter().enumerate() {
        let Some(actual) = *actual else {
            intercepts.push(None);
            slopes.push(0.0);
            seasonals.push(0.0);
            predictions.push(next_pred);
            deviations.push(Some(0.0));
            dev_vals.push(0.0);
            next_pred = None;
            continue;
        };
        let (last_intercept, last_slope, prediction) = if i == 0 {
            (actual, 0.0, Some(actual))
        } else {
            (
                intercepts.last().copied().flatten().unwrap_or(actual),
                slopes.last().copied().unwrap_or(0.0),
                next_pred,
            )
        };
        let ii = i as i64;
        let last_seasonal = last(&seasonals, ii);
        let next_last_seasonal = last(&seasonals, ii + 1);
        let last_dev = last(&dev_vals, ii);
        let intercept =
            alpha * (actual - last_seasonal) + (1.0 - alpha) * (last_intercept + last_slope);
        let slope = beta * (intercept - last_intercept) + (1.0 - beta) * last_slope;
        let seasonal = gamma * (actual - intercept) + (1.0 - gamma) * last_seasonal;
        next_pred = Some(intercept + slope + next_last_seasonal);
        let deviation =
            gamma * (actual - prediction.unwrap_or(0.0)).abs() + (1.0 - gamma) * last_dev;
        intercepts.push(Some(intercept));
        slopes.push(slope);
        seasonals.push(seasonal);
        predictions.push(prediction);
        deviations.push(Some(deviation));
        dev_vals.push(deviation);
    }
    Ok(HoltWinters {
        predictions,
        deviations,
    })
}

fn hw_args(a: &mut Args<'_>) -> Result<(i64, String)> {
    let boot = parse_time_offset(&a.str_or("bootstrapInterval", "7d")?)?;
    Ok((boot, a.str_or("seasonality", "1d")?))
}

/// A bootstrapped series with its forecast and deviation, both cut to the requested range.
type HwBands = (Series, Vec<Option<f64>>, Vec<Option<f64>>);

/// Bootstrapped series with their forecast and deviation (both cut to the requested range).
fn hw_bands(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<HwBands>> {
    let (boot, seasonality) = hw_args(a)?;
    let previews = bootstrap(ev, ctx, a, ctx.from.saturating_sub(boot), ctx.until)?;
    let mut out = Vec::new();
    for mut s in previews {
        let hw = holt_winters_analysis(&s.values, s.step, &seasonality)?;
        // graphite's analysis writes both tags into the series' own (shared) tag dict.
        s.set_tag("holtWintersForecast", "1");
        s.set_tag("holtWintersDeviation", "1");
        let wp = (boot / s.step.max(1)).max(0) as usize;
        let cut = |v: Vec<Option<f64>>| v.into_iter().skip(wp).collect::<Vec<_>>();
        out.push((s, cut(hw.predictions), cut(hw.deviations)));
    }
    Ok(out)
}

fn holt_winters_forecast(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let (boot, _) = hw_args(a)?;
    Ok(hw_bands(ev, ctx, a)?
        .into_iter()
        .map(|(s, pred, _)| {
            let mut r = s.derive(format!("holtWintersForecast({})", s.name), pred);
            r.start = s.start + boot;
            r
        })
        .collect())
}

fn confidence_bands(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let (boot, _) = hw_args(a)?;
    let delta = a.f64_or("delta", 3.0)?;
    let mut out = Vec::new();
    for (mut s, pred, dev) in hw_bands(ev, ctx, a)? {
        let (mut upper, mut lower) = (
            Vec::with_capacity(pred.len()),
            Vec::with_capacity(pred.len()),
        );
        for (p, d) in pred.iter().zip(dev.iter().chain(std::iter::repeat(&None))) {
            match (p, d) {
                (Some(p), Some(d)) => {
                    upper.push(Some(p + delta * d));
                    lower.push(Some(p - delta * d));
                }
                _ => {
                    upper.push(None);
                    lower.push(None);
                }
            }
        }
        s.set_tag("holtWintersConfidenceUpper", "1");
        s.set_tag("holtWintersConfidenceLower", "1");
        let mk = |name: String, vals: Vec<Option<f64>>| {
            let mut r = Series::new(name, s.start + boot, s.end, s.step, vals);
            r.tags = s.tags.clone();
            r.x_files_factor = s.x_files_factor;
            r.path_expression = s.path_expression.clone();
            r
        };
        out.push(mk(format!("holtWintersConfidenceLower({})", s.name), lower));
        out.push(mk(format!("holtWintersConfidenceUpper({})", s.name), upper));
    }
    Ok(out)
}

fn holt_winters_confidence_bands(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    confidence_bands(ev, ctx, a)
}

fn holt_winters_confidence_area(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut bands = confidence_bands(ev, ctx, a)?;
    if bands.len() != 2 {
        return eval_err("areaBetween series argument must reference *exactly* 2 series");
    }
    let name = format!("holtWintersConfidenceArea({})", bands[1].path_expression);
    bands[0].options.stacked = Some("__DEFAULT__".into());
    bands[0].options.invisible = true;
    bands[1].options.stacked = Some("__DEFAULT__".into());
    for b in bands.iter_mut() {
        b.set_tag("holtWintersConfidenceArea", "1");
        b.name = name.clone();
        b.path_expression = name.clone();
    }
    let upper_tags = bands[1].tags.clone();
    bands[0].tags = upper_tags;
    Ok(bands)
}

fn holt_winters_aberration(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let bands = confidence_bands(ev, ctx, a)?;
    let mut out = Vec::new();
    for mut s in list {
        let find = |n: String| bands.iter().find(|b| b.name == n);
        let (Some(lo), Some(up)) = (
            find(format!("holtWintersConfidenceLower({})", s.name)),
            find(format!("holtWintersConfidenceUpper({})", s.name)),
        ) else {
            return eval_err(format!(
                "KeyError: 'holtWintersConfidenceLower({})'",
                s.name
            ));
        };
        let mut ab = Vec::with_capacity(s.len());
        for (i, v) in s.values.iter().enumerate() {
            let (u, l) = (up.values.get(i).copied(), lo.values.get(i).copied());
            let Some(x) = v else {
                ab.push(Some(0.0));
                continue;
            };
            if u.is_none() || l.is_none() {
                // graphite indexes the bands by position and fails when they are shorter.
                return eval_err("IndexError: list index out of range");
            }
            ab.push(Some(match (u.flatten(), l.flatten()) {
                (Some(u), _) if *x > u => x - u,
                (_, Some(l)) if *x < l => x - l,
                _ => 0.0,
            }));
        }
        s.set_tag("holtWintersAberration", "1");
        let mut r = Series::new(
            format!("holtWintersAberration({})", s.name),
            s.start,
            s.end,
            s.step,
            ab,
        );
        r.tags = s.tags.clone();
        r.x_files_factor = s.x_files_factor;
        out.push(r);
    }
    Ok(out)
}

fn linear_regression(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let from = match a.opt_str("startSourceAt")? {
        Some(s) => crate::attime::parse_at_time(&s, ctx.server_tz, ctx.now)?,
        None => ctx.from,
    };
    let until = match a.opt_str("endSourceAt")? {
        Some(s) => crate::attime::parse_at_time(&s, ctx.server_tz, ctx.now)?,
        None => ctx.until,
    };
    let sources = bootstrap(ev, ctx, a, from, until)?;
    let mut out = Vec::new();
    for (src, mut s) in sources.iter().zip(list) {
        s.set_tag("linearRegressions", format!("{from}, {until}"));
        let name = format!("linearRegression({}, {}, {})", s.name, from, until);
        let (mut n, mut si, mut sii) = (0i64, 0i64, 0i64);
        let (mut sv, mut siv) = (0.0f64, 0.0f64);
        for (i, v) in src.values.iter().enumerate() {
            if let Some(v) = v {
                let i = i as i64;
                n += 1;
                si += i;
                sii += i * i;
                sv += v;
                siv += i as f64 * v;
            }
        }
        let denom = (n as f64) * (sii as f64) - (si as f64) * (si as f64);
        if denom == 0.0 {
            continue;
        }
        let factor = ((n as f64) * siv - (si as f64) * sv) / denom / src.step as f64;
        let offset = ((sii as f64) * sv - siv * (si as f64)) / denom - factor * src.start as f64;
        let vals = (0..s.len())
            .map(|i| Some(offset + (s.start + i as i64 * s.step) as f64 * factor))
            .collect();
        out.push(s.derive(name, vals));
    }
    Ok(out)
}
