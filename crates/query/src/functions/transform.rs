//! Transform group: point-wise value transforms.

use crate::context::RequestContext;
use crate::error::{param_err, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::agg::{py_round, safe_max, safe_min};
use crate::functions::util::rows;
use crate::functions::Impl;
use crate::pyfmt::fmt_g;
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("scale", scale),
    ("scaleToSeconds", scale_to_seconds),
    ("offset", offset),
    ("add", add),
    ("offsetToZero", offset_to_zero),
    ("absolute", |e, c, a| {
        map_simple(e, c, a, "absolute", |v| v.map(f64::abs))
    }),
    ("squareRoot", |e, c, a| {
        map_simple(e, c, a, "squareRoot", |v| safe_pow(v, 0.5))
    }),
    ("invert", |e, c, a| {
        map_simple(e, c, a, "invert", |v| safe_pow(v, -1.0))
    }),
    ("exp", exp),
    ("sigmoid", sigmoid),
    ("logit", logit),
    ("pow", pow),
    ("powSeries", pow_series),
    ("log", logarithm),
    ("derivative", derivative),
    ("nonNegativeDerivative", non_negative_derivative),
    ("perSecond", per_second),
    ("integral", integral),
    ("integralByInterval", integral_by_interval),
    ("delay", delay),
    ("transformNull", transform_null),
    ("isNonNull", is_non_null),
    ("keepLastValue", keep_last_value),
    ("changed", changed),
    ("interpolate", interpolate),
    ("round", round_fn),
    ("minMax", min_max),
    ("consolidateBy", consolidate_by),
    ("cumulative", cumulative),
    ("setXFilesFactor", set_xff),
    ("xFilesFactor", set_xff),
    ("compressPeriodicGaps", compress_periodic_gaps),
];

/// graphite-web 1.1.10's _compressPeriodicGaps: if values appear every k-th point only, re-step.
fn compress_gaps(s: Series) -> Result<Series> {
    let truthy = |v: &Option<f64>| v.is_some_and(|x| x != 0.0);
    let (mut first, mut second) = (0usize, 0usize);
    for (i, v) in s.values.iter().enumerate() {
        if truthy(v) {
            if first > 0 {
                second = i;
                break;
            }
            first = i;
        }
    }
    let guess = second as i64 - first as i64;
    let third = second as i64 + guess;
    let n = s.values.len() as i64;
    let mut interval = None;
    if guess > 1 && third <= n - 2 {
        let t = third as usize;
        if truthy(&s.values[t]) && s.values[t - 1].is_none() && s.values[t + 1].is_none() {
            interval = Some(guess * s.step);
        }
    }
    let Some(interval) = interval else {
        return Ok(s);
    };
    let new_start = s.start + first as i64 * s.step;
    let (vals, ints, _) =
        crate::functions::calc::summarize_values(&s, "last", interval, new_start, s.end)?;
    let new_end = new_start + interval * (vals.len() as i64 - 1);
    let mut out = s.clone();
    out.values = vals;
    out.int_values = ints;
    out.start = new_start;
    out.end = new_end;
    out.step = interval;
    Ok(out)
}

fn compress_periodic_gaps(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    list.into_iter()
        .map(|mut s| {
            let name = format!("compressPeriodicGaps({})", s.name);
            rename(&mut s, name);
            compress_gaps(s)
        })
        .collect()
}

/// graphite's safePow: None for None operands and for math domain/overflow errors.
pub(crate) fn safe_pow(v: Option<f64>, p: f64) -> Option<f64> {
    let x = v?;
    if x == 0.0 && p < 0.0 {
        return None;
    }
    let r = x.powf(p);
    if r.is_nan() || r.is_infinite() {
        None
    } else {
        Some(r)
    }
}

fn rename(s: &mut Series, name: String) {
    s.path_expression = name.clone();
    s.name = name;
}

fn map_simple(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
    f: fn(Option<f64>) -> Option<f64>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        s.set_tag(func, "1");
        rename(s, format!("{}({})", func, s.name));
        s.values.iter_mut().for_each(|v| *v = f(*v));
    }
    Ok(list)
}

fn num_arg(a: &mut Args<'_>, name: &str) -> Result<Value> {
    match a.opt(name) {
        Some(v @ (Value::Int(_) | Value::Float(_))) => Ok(v.clone()),
        Some(Value::Bool(b)) => Ok(Value::Int(*b as i64)),
        // An empty series list given where a number belongs: graphite only fails once it uses it.
        Some(Value::Series(_)) => Ok(Value::None),
        Some(Value::Str(s)) => match s.trim().parse::<f64>() {
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => Err(crate::error::QueryError::Evaluation(format!(
                "could not convert string to float: '{s}'"
            ))),
        },
        _ => param_err(format!(
            "Missing required parameter \"{}\" for function \"{}\"",
            name, a.func
        )),
    }
}

fn scale(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let fv = num_arg(a, "factor")?;
    let f = fv.as_f64().unwrap_or(0.0);
    for s in &mut list {
        s.set_tag("scale", fv.py_str());
        rename(s, format!("scale({},{})", s.name, fmt_g(f)));
        s.values.iter_mut().for_each(|v| *v = v.map(|x| x * f));
    }
    Ok(list)
}

fn scale_to_seconds(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let sv = num_arg(a, "seconds")?;
    let secs = sv.as_f64().unwrap_or(0.0);
    for s in &mut list {
        s.set_tag("scaleToSeconds", sv.py_str());
        rename(
            s,
            format!("scaleToSeconds({},{})", s.name, secs.trunc() as i64),
        );
        let factor = secs / s.step as f64;
        s.values
            .iter_mut()
            .for_each(|v| *v = v.map(|x| py_round(x * factor, 6)));
    }
    Ok(list)
}

fn offset(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let fv = num_arg(a, "factor")?;
    let f = fv.as_f64().unwrap_or(0.0);
    for s in &mut list {
        s.set_tag("offset", fv.py_str());
        rename(s, format!("offset({},{})", s.name, fmt_g(f)));
        s.values.iter_mut().for_each(|v| *v = v.map(|x| x + f));
    }
    Ok(list)
}

fn add(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let fv = num_arg(a, "constant")?;
    let f = fv.as_f64().unwrap_or(0.0);
    for s in &mut list {
        s.set_tag("add", fv.py_str());
        rename(s, format!("add({},{})", s.name, f.trunc() as i64));
        s.values.iter_mut().for_each(|v| *v = v.map(|x| x + f));
    }
    Ok(list)
}

fn offset_to_zero(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        let min = safe_min(&s.values);
        s.set_tag(
            "offsetToZero",
            min.map_or("None".into(), crate::pyfmt::repr_f64),
        );
        rename(s, format!("offsetToZero({})", s.name));
        if let Some(m) = min {
            s.values.iter_mut().for_each(|v| *v = v.map(|x| x - m));
        }
    }
    Ok(list)
}

fn exp(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        s.set_tag("exp", "e");
        rename(s, format!("exp({})", s.name));
        s.values
            .iter_mut()
            .for_each(|v| *v = v.map(f64::exp).filter(|x| x.is_finite()));
    }
    Ok(list)
}

fn sigmoid(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        s.set_tag("sigmoid", "sigmoid");
        rename(s, format!("sigmoid({})", s.name));
        s.values.iter_mut().for_each(|v| {
            *v = v.and_then(|x| {
                let e = (-x).exp();
                e.is_finite().then(|| 1.0 / (1.0 + e))
            })
        });
    }
    Ok(list)
}

fn logit(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        s.set_tag("logit", "logit");
        rename(s, format!("logit({})", s.name));
        s.values.iter_mut().for_each(|v| {
            *v = v.and_then(|x| {
                if x == 1.0 {
                    return None;
                }
                let r = x / (1.0 - x);
                (r > 0.0).then(|| r.ln())
            })
        });
    }
    Ok(list)
}

fn pow(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let fv = num_arg(a, "factor")?;
    let f = fv.as_f64().unwrap_or(0.0);
    for s in &mut list {
        s.set_tag("pow", fv.py_str());
        rename(s, format!("pow({},{})", s.name, fmt_g(f)));
        s.values.iter_mut().for_each(|v| *v = safe_pow(*v, f));
    }
    Ok(list)
}

fn pow_series(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = Vec::new();
    for v in a.rest("seriesList") {
        if let Value::Series(s) = v {
            list.extend(s);
        }
    }
    let Some((start, end, step)) = crate::functions::util::normalize(&mut list) else {
        return Ok(Vec::new());
    };
    let name = format!(
        "powSeries({})",
        list.iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let values = rows(&list)
        .iter()
        .map(|r| {
            let mut it = r.iter();
            let mut acc = *it.next()?;
            for e in it {
                acc = match (acc, e) {
                    (Some(x), Some(y)) => safe_pow(Some(x), *y),
                    _ => None,
                };
            }
            acc
        })
        .collect();
    let mut s = Series::new(name, start, end, step, values);
    s.x_files_factor = ctx.xff();
    Ok(vec![s])
}

fn logarithm(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let bv = a.opt("base").cloned().unwrap_or(Value::Int(10));
    let base = bv.as_f64().unwrap_or(10.0);
    Ok(list
        .into_iter()
        .map(|mut s| {
            s.set_tag("log", bv.py_str());
            let vals = s
                .values
                .iter()
                .map(|v| v.filter(|x| *x > 0.0).map(|x| x.ln() / base.ln()))
                .collect();
            let name = format!("log({}, {})", s.name, bv.py_str());
            s.derive(name, vals)
        })
        .collect())
}

fn derivative(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut prev: Option<f64> = None;
            let vals = s
                .values
                .iter()
                .map(|v| {
                    let out = match (prev, v) {
                        (Some(p), Some(x)) => Some(x - p),
                        _ => None,
                    };
                    prev = *v;
                    out
                })
                .collect();
            s.set_tag("derivative", "1");
            let name = format!("derivative({})", s.name);
            // int - int stays an int in Python.
            let ints = s.int_values.as_ref().map(|_| {
                (0..s.len())
                    .map(|i| i > 0 && s.is_int(i) && s.is_int(i - 1))
                    .collect()
            });
            let mut out = s.derive(name, vals);
            out.int_values = ints;
            out
        })
        .collect())
}

fn non_negative_delta(
    val: Option<f64>,
    prev: Option<f64>,
    max: Option<f64>,
    min: Option<f64>,
) -> Result<(Option<f64>, Option<f64>)> {
    if (max.is_some() || min.is_some()) && val.is_none() {
        // Python 3 cannot compare None with a float: graphite raises TypeError here.
        return crate::error::eval_err(
            "'>' not supported between instances of 'NoneType' and 'float'",
        );
    }
    if let (Some(m), Some(v)) = (max, val) {
        if v > m {
            return Ok((None, None));
        }
    }
    if let (Some(m), Some(v)) = (min, val) {
        if v < m {
            return Ok((None, None));
        }
    }
    let (Some(p), Some(v)) = (prev, val) else {
        return Ok((None, val));
    };
    if v >= p {
        return Ok((Some(v - p), val));
    }
    if let Some(m) = max {
        return Ok((Some(m + 1.0 + v - p - min.unwrap_or(0.0)), val));
    }
    if let Some(m) = min {
        return Ok((Some(v - m), val));
    }
    Ok((None, val))
}

fn non_negative_derivative(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let max = a.opt_f64("maxValue")?;
    let min = a.opt_f64("minValue")?;
    let mut out = Vec::new();
    for mut s in list {
        let mut prev = None;
        let mut vals = Vec::with_capacity(s.len());
        for v in &s.values {
            let (d, p) = non_negative_delta(*v, prev, max, min)?;
            prev = p;
            vals.push(d);
        }
        s.set_tag("nonNegativeDerivative", "1");
        let name = format!("nonNegativeDerivative({})", s.name);
        // A plain `val - prev` of two ints stays an int; wrap-around arithmetic uses the float bounds.
        let ints = (s.int_values.is_some() && max.is_none() && min.is_none()).then(|| {
            let mut last_int = false;
            s.values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let r = v.is_some() && s.is_int(i) && last_int;
                    if v.is_some() {
                        last_int = s.is_int(i);
                    }
                    r
                })
                .collect()
        });
        let mut d = s.derive(name, vals);
        d.int_values = ints;
        out.push(d);
    }
    Ok(out)
}

fn per_second(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let max = a.opt_f64("maxValue")?;
    let min = a.opt_f64("minValue")?;
    let mut out = Vec::new();
    for mut s in list {
        let mut prev = None;
        let mut vals = Vec::with_capacity(s.len());
        let step = s.step as f64;
        for v in &s.values {
            let (d, p) = non_negative_delta(*v, prev, max, min)?;
            prev = p;
            vals.push(d.map(|d| py_round(d / step, 6)));
        }
        s.set_tag("perSecond", "1");
        let name = format!("perSecond({})", s.name);
        out.push(s.derive(name, vals));
    }
    Ok(out)
}

fn integral(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut cur = 0.0;
            let vals = s
                .values
                .iter()
                .map(|v| {
                    v.map(|x| {
                        cur += x;
                        cur
                    })
                })
                .collect();
            s.set_tag("integral", "1");
            let name = format!("integral({})", s.name);
            s.derive(name, vals)
        })
        .collect())
}

fn integral_by_interval(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let unit = a.str("intervalUnit")?;
    let dur = crate::attime::parse_time_offset(&unit)?.abs();
    if dur == 0 {
        return crate::error::eval_err("integer division or modulo by zero");
    }
    let start_time = ctx.from;
    Ok(list
        .into_iter()
        .map(|mut s| {
            let mut t = s.start;
            let mut cur = 0.0;
            let step = s.step;
            let vals = s
                .values
                .iter()
                .map(|v| {
                    if (t - start_time).div_euclid(dur) != (t - start_time - step).div_euclid(dur) {
                        cur = 0.0;
                    }
                    if let Some(x) = v {
                        cur += x;
                    }
                    t += step;
                    Some(cur)
                })
                .collect();
            s.set_tag("integralByInterval", unit.clone());
            let name = format!("integralByInterval({},'{}')", s.name, unit);
            s.derive(name, vals)
        })
        .collect())
}

fn delay(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let steps = a.i64_or("steps", 0)?;
    Ok(list
        .into_iter()
        .map(|mut s| {
            let n = s.values.len();
            // Where each output value comes from (None: padding).
            let src: Vec<Option<usize>> = if steps < 0 {
                let k = usize::try_from(steps.unsigned_abs()).unwrap_or(usize::MAX);
                (k.min(n)..n)
                    .map(Some)
                    .chain(std::iter::repeat(None).take(k.min(n)))
                    .collect()
            } else {
                let k = usize::try_from(steps).unwrap_or(usize::MAX);
                // Python: series[:-0] is empty.
                let keep = if k == 0 { 0 } else { n.saturating_sub(k) };
                std::iter::repeat(None)
                    .take(k.min(n))
                    .chain((0..keep).map(Some))
                    .collect()
            };
            let vals = src.iter().map(|i| i.and_then(|i| s.values[i])).collect();
            let ints = s
                .int_values
                .as_ref()
                .map(|_| src.iter().map(|i| i.is_some_and(|i| s.is_int(i))).collect());
            s.set_tag("delay", steps.to_string());
            let name = format!("delay({},{})", s.name, steps);
            let mut out = s.derive(name, vals);
            out.int_values = ints;
            out
        })
        .collect())
}

fn transform_null(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let dv = a.opt("default").cloned().unwrap_or(Value::Int(0));
    let d = dv.as_f64().unwrap_or(0.0);
    let reference = a.opt_series("referenceSeries")?.filter(|r| !r.is_empty());
    let defaults: Option<Vec<Option<f64>>> = reference.as_ref().map(|r| {
        rows(r)
            .iter()
            .map(|row| row.iter().any(|v| v.is_some()).then_some(d))
            .collect()
    });
    for s in &mut list {
        s.set_tag("transformNull", dv.py_str());
        if reference.is_some() {
            s.set_tag("referenceSeries", "1");
            rename(
                s,
                format!("transformNull({},{},referenceSeries)", s.name, fmt_g(d)),
            );
        } else {
            rename(s, format!("transformNull({},{})", s.name, fmt_g(d)));
        }
        let n = s.values.len().max(defaults.as_ref().map_or(0, Vec::len));
        // The default stays a Python int only when it was not given (graphite converts given
        // floats-typed arguments to float).
        let int_default = matches!(dv, Value::Int(_));
        let mut ints = Vec::with_capacity(n);
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            let v = s.values.get(i).copied().flatten();
            let fill = match &defaults {
                Some(defs) => defs.get(i).copied().flatten(),
                None => Some(d),
            };
            match v {
                Some(x) => {
                    vals.push(Some(x));
                    ints.push(s.is_int(i));
                }
                None => {
                    vals.push(fill);
                    ints.push(fill.is_some() && int_default);
                }
            }
        }
        s.values = vals;
        s.int_values = ints.iter().any(|b| *b).then_some(ints);
    }
    Ok(list)
}

fn is_non_null(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        s.set_tag("isNonNull", "1");
        rename(s, format!("isNonNull({})", s.name));
        s.values
            .iter_mut()
            .for_each(|v| *v = Some(if v.is_some() { 1.0 } else { 0.0 }));
        s.mark_all_int();
    }
    Ok(list)
}

fn keep_last_value(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let limit = a.f64_or("limit", f64::INFINITY)?;
    for s in &mut list {
        rename(s, format!("keepLastValue({})", s.name));
        let mut nones = 0usize;
        let mut last: Option<(f64, bool)> = None;
        let n = s.values.len();
        let mut ints: Vec<bool> = (0..n).map(|i| s.is_int(i)).collect();
        for i in 0..=n {
            match s.values.get(i).copied() {
                Some(None) => nones += 1,
                other => {
                    if nones > 0 && (nones as f64) <= limit {
                        if let Some((l, li)) = last {
                            s.values[i - nones..i].iter_mut().for_each(|x| *x = Some(l));
                            ints[i - nones..i].iter_mut().for_each(|x| *x = li);
                        }
                    }
                    nones = 0;
                    if let Some(Some(v)) = other {
                        last = Some((v, ints[i]));
                    }
                }
            }
        }
        if s.int_values.is_some() {
            s.int_values = Some(ints);
        }
    }
    Ok(list)
}

fn changed(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        rename(s, format!("changed({})", s.name));
        let mut prev: Option<f64> = None;
        for v in s.values.iter_mut() {
            let cur = *v;
            if prev.is_none() {
                prev = cur;
                *v = Some(0.0);
            } else if cur.is_some() && prev != cur {
                *v = Some(1.0);
                prev = cur;
            } else {
                *v = Some(0.0);
            }
        }
        s.mark_all_int();
    }
    Ok(list)
}

fn interpolate(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let limit = a.f64_or("limit", f64::INFINITY)?;
    for s in &mut list {
        rename(s, format!("interpolate({})", s.name));
        let mut nones = 0usize;
        for i in 1..s.values.len() {
            match s.values[i] {
                None => nones += 1,
                Some(v) => {
                    if nones == 0 {
                        continue;
                    }
                    let base_i = i - nones - 1;
                    if let Some(b) = s.values[base_i].filter(|_| (nones as f64) <= limit) {
                        for idx in i - nones..i {
                            s.values[idx] =
                                Some(b + (idx - base_i) as f64 * (v - b) / (nones + 1) as f64);
                        }
                    }
                    nones = 0;
                }
            }
        }
    }
    Ok(list)
}

fn round_fn(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let prec = a.opt_f64("precision")?.map(|p| p as i64);
    for s in &mut list {
        s.set_tag("round", prec.unwrap_or(0).to_string());
        match prec {
            None => rename(s, format!("round({})", s.name)),
            Some(p) => rename(s, format!("round({},{})", s.name, p)),
        }
        let p = prec.unwrap_or(0);
        s.values
            .iter_mut()
            .for_each(|v| *v = v.map(|x| py_round(x, p)));
    }
    Ok(list)
}

fn min_max(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in &mut list {
        rename(s, format!("minMax({})", s.name));
        let lo = safe_min(&s.values).unwrap_or(0.0);
        let hi = safe_max(&s.values).unwrap_or(0.0);
        s.values.iter_mut().for_each(|v| {
            *v = v.map(|x| {
                if hi - lo == 0.0 {
                    0.0
                } else {
                    (x - lo) / (hi - lo)
                }
            })
        });
    }
    Ok(list)
}

fn set_consolidation(mut list: Vec<Series>, func: &str) -> Vec<Series> {
    for s in &mut list {
        s.consolidation_func = func.to_string();
        s.set_tag("consolidateBy", func);
        rename(s, format!("consolidateBy({},\"{}\")", s.name, func));
    }
    list
}

fn consolidate_by(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let func = a.str("consolidationFunc")?;
    if ![
        "sum", "average", "avg", "avg_zero", "min", "max", "first", "last",
    ]
    .contains(&func.as_str())
    {
        return param_err(format!("Invalid option specified for function \"consolidateBy\" parameter \"consolidationFunc\": '{func}'"));
    }
    Ok(set_consolidation(a.take_series("seriesList")?, &func))
}

fn cumulative(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    Ok(set_consolidation(a.take_series("seriesList")?, "sum"))
}

fn set_xff(_: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let xv = num_arg(a, "xFilesFactor")?;
    let x = xv.as_f64().unwrap_or(0.0);
    // graphite stores it in the shared request context as well.
    ctx.xff_override.set(Some(x));
    for s in &mut list {
        s.x_files_factor = x;
        s.set_tag("xFilesFactor", xv.py_str());
    }
    Ok(list)
}
