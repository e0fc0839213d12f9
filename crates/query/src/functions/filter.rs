//! Filter Series and Sorting groups.

use std::cmp::Ordering;

use regex::Regex;

use crate::context::RequestContext;
use crate::error::{param_err, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::agg::{safe_avg, safe_max, safe_min, xff_ok, AggFunc};
use crate::functions::combine::percentile;
use crate::functions::util::agg_func;
use crate::functions::Impl;
use crate::pyfmt::fmt_g;
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("filterSeries", filter_series),
    ("maximumAbove", |e, c, a| filter_named(e, c, a, "max", ">")),
    ("minimumAbove", |e, c, a| filter_named(e, c, a, "min", ">")),
    ("maximumBelow", |e, c, a| filter_named(e, c, a, "max", "<=")),
    ("minimumBelow", |e, c, a| filter_named(e, c, a, "min", "<=")),
    ("currentAbove", |e, c, a| filter_named(e, c, a, "last", ">")),
    ("currentBelow", |e, c, a| {
        filter_named(e, c, a, "last", "<=")
    }),
    ("averageAbove", |e, c, a| {
        filter_named(e, c, a, "average", ">")
    }),
    ("averageBelow", |e, c, a| {
        filter_named(e, c, a, "average", "<=")
    }),
    ("highest", highest),
    ("lowest", lowest),
    ("highestCurrent", |e, c, a| ranked(e, c, a, "current", true)),
    ("highestMax", |e, c, a| ranked(e, c, a, "max", true)),
    ("highestAverage", |e, c, a| ranked(e, c, a, "average", true)),
    ("lowestCurrent", |e, c, a| ranked(e, c, a, "current", false)),
    ("lowestAverage", |e, c, a| ranked(e, c, a, "average", false)),
    ("nPercentile", n_percentile),
    ("averageOutsidePercentile", average_outside_percentile),
    ("removeBetweenPercentile", remove_between_percentile),
    ("removeAbovePercentile", |e, c, a| {
        remove_percentile(e, c, a, true)
    }),
    ("removeBelowPercentile", |e, c, a| {
        remove_percentile(e, c, a, false)
    }),
    ("removeAboveValue", |e, c, a| remove_value(e, c, a, true)),
    ("removeBelowValue", |e, c, a| remove_value(e, c, a, false)),
    ("limit", limit),
    ("sortBy", sort_by),
    ("sortByName", sort_by_name),
    ("sortByTotal", |e, c, a| {
        sort_generic(e, c, a, AggFunc::Sum, true)
    }),
    ("sortByMaxima", |e, c, a| {
        sort_generic(e, c, a, AggFunc::Max, true)
    }),
    ("sortByMinima", sort_by_minima),
    ("useSeriesAbove", use_series_above),
    ("fallbackSeries", fallback_series),
    ("mostDeviant", most_deviant),
    ("stdev", stdev),
    ("exclude", |e, c, a| grep_impl(e, c, a, false)),
    ("grep", |e, c, a| grep_impl(e, c, a, true)),
    ("removeEmptySeries", remove_empty_series),
    ("unique", unique),
];

fn op_matches(op: &str, val: Option<f64>, t: f64) -> bool {
    match op {
        "=" => val == Some(t),
        "!=" => val != Some(t),
        ">" => val.is_some_and(|v| v > t),
        ">=" => val.is_some_and(|v| v >= t),
        "<" => val.map_or(true, |v| v < t),
        _ => val.map_or(true, |v| v <= t),
    }
}

fn filter_impl(list: Vec<Series>, func: &str, op: &str, t: f64) -> Result<Vec<Series>> {
    let f = AggFunc::parse(func).map_or_else(
        || param_err(format!("Unsupported aggregation function: {func}")),
        Ok,
    )?;
    if !["=", "!=", ">", ">=", "<", "<="].contains(&op) {
        return param_err(format!("Unsupported operator: {op}"));
    }
    Ok(list
        .into_iter()
        .filter(|s| op_matches(op, f.apply(&s.values), t))
        .collect())
}

fn filter_series(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    filter_impl(
        a.take_series("seriesList")?,
        &a.str("func")?,
        &a.str("operator")?,
        a.f64("threshold")?,
    )
}

fn filter_named(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
    op: &str,
) -> Result<Vec<Series>> {
    filter_impl(a.take_series("seriesList")?, func, op, a.f64("n")?)
}

fn key(f: AggFunc, s: &Series) -> f64 {
    f.apply(&s.values).unwrap_or(f64::NEG_INFINITY)
}

fn sort_list(list: &mut [Series], f: AggFunc, reverse: bool) {
    list.sort_by(|a, b| {
        let o = key(f, a).partial_cmp(&key(f, b)).unwrap_or(Ordering::Equal);
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
}

fn rank_impl(mut list: Vec<Series>, n: i64, func: &str, high: bool) -> Result<Vec<Series>> {
    let f = agg_func(func)?;
    sort_list(&mut list, f, high);
    list.truncate(n.max(0) as usize);
    Ok(list)
}

fn highest(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    rank_impl(
        a.take_series("seriesList")?,
        a.i64_or("n", 1)?,
        &a.str_or("func", "average")?,
        true,
    )
}

fn lowest(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    rank_impl(
        a.take_series("seriesList")?,
        a.i64_or("n", 1)?,
        &a.str_or("func", "average")?,
        false,
    )
}

fn ranked(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
    high: bool,
) -> Result<Vec<Series>> {
    // These wrappers take `n` without a default in graphite (TypeError when it is missing).
    let n = a.f64("n")?;
    rank_impl(a.take_series("seriesList")?, n.trunc() as i64, func, high)
}

fn n_percentile_of(s: &Series, n: f64) -> Option<Series> {
    let mut sorted: Vec<Option<f64>> = s.values.iter().flatten().map(|v| Some(*v)).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    let p = percentile(&sorted, n, false)?;
    let count = ((s.end - s.start) as f64 / s.step as f64).trunc().max(0.0) as usize;
    let mut out = s.derive(
        format!("nPercentile({}, {})", s.name, fmt_g(n)),
        vec![Some(p); count],
    );
    out.set_tag("nPercentile", Value::Float(n).py_str());
    Some(out)
}

fn n_percentile(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let nv = a.get("n").cloned().unwrap_or(Value::Int(0));
    let n = nv.as_f64().unwrap_or(0.0);
    if n == 0.0 {
        return crate::error::eval_err("The requested percent is required to be greater than 0");
    }
    Ok(list
        .iter()
        .filter_map(|s| {
            let mut o = n_percentile_of(s, n)?;
            o.set_tag("nPercentile", nv.py_str());
            Some(o)
        })
        .collect())
}

fn average_outside_percentile(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let mut n = a.f64("n")?;
    let avgs: Vec<Option<f64>> = list.iter().map(|s| safe_avg(&s.values)).collect();
    if n < 50.0 {
        n = 100.0 - n;
    }
    let lo = percentile(&avgs, 100.0 - n, false);
    let hi = percentile(&avgs, n, false);
    Ok(list
        .into_iter()
        .zip(avgs)
        .filter(|(_, avg)| !(lo < *avg && *avg < hi))
        .map(|(s, _)| s)
        .collect())
}

fn remove_between_percentile(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let mut n = a.f64("n")?;
    if n < 50.0 {
        n = 100.0 - n;
    }
    let len = list.iter().map(|s| s.len()).min().unwrap_or(0);
    let cols: Vec<Vec<Option<f64>>> = (0..len)
        .map(|i| list.iter().map(|s| s.values[i]).collect())
        .collect();
    let lows: Vec<Option<f64>> = cols
        .iter()
        .map(|c| percentile(c, 100.0 - n, false))
        .collect();
    let highs: Vec<Option<f64>> = cols.iter().map(|c| percentile(c, n, false)).collect();
    let mut out = Vec::new();
    for s in list {
        let mut keep = false;
        for (i, v) in s.values.iter().enumerate() {
            // Python compares every value with its column's bounds: a None anywhere is a
            // TypeError and a series longer than the shortest one an IndexError.
            let (Some(lo), Some(hi)) = (lows.get(i).copied(), highs.get(i).copied()) else {
                return crate::error::eval_err("IndexError: list index out of range");
            };
            let (Some(lo), Some(v), Some(hi)) = (lo, *v, hi) else {
                return crate::error::eval_err(
                    "TypeError: '<' not supported between instances of 'float' and 'NoneType'",
                );
            };
            keep |= !(lo < v && v < hi);
        }
        if keep {
            out.push(s);
        }
    }
    Ok(out)
}

fn remove_percentile(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    above: bool,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let n = a.f64("n")?;
    let fname = if above {
        "removeAbovePercentile"
    } else {
        "removeBelowPercentile"
    };
    for s in &mut list {
        s.name = format!("{}({}, {})", fname, s.name, fmt_g(n));
        s.path_expression = s.name.clone();
        let Some(p) = n_percentile_of(s, n).and_then(|ps| ps.values.first().copied().flatten())
        else {
            continue;
        };
        // graphite's nPercentile shares the tags dict with the series it copies.
        s.set_tag("nPercentile", Value::Float(n).py_str());
        for v in s.values.iter_mut() {
            let drop = match *v {
                Some(x) => {
                    if above {
                        x > p
                    } else {
                        x < p
                    }
                }
                None => !above,
            };
            if drop {
                *v = None;
            }
        }
    }
    Ok(list)
}

fn remove_value(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    above: bool,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let n = a.f64("n")?;
    let fname = if above {
        "removeAboveValue"
    } else {
        "removeBelowValue"
    };
    for s in &mut list {
        s.name = format!("{}({}, {})", fname, s.name, fmt_g(n));
        s.path_expression = s.name.clone();
        for v in s.values.iter_mut() {
            let drop = match *v {
                Some(x) => {
                    if above {
                        x > n
                    } else {
                        x < n
                    }
                }
                None => !above,
            };
            if drop {
                *v = None;
            }
        }
    }
    Ok(list)
}

fn limit(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let n = a.i64_or("n", 0)?;
    let len = list.len() as i64;
    let k = if n < 0 { (len + n).max(0) } else { n.min(len) };
    list.truncate(k as usize);
    Ok(list)
}

fn sort_by(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let f = agg_func(&a.str_or("func", "average")?)?;
    sort_list(&mut list, f, a.bool_or("reverse", false));
    Ok(list)
}

fn sort_generic(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    f: AggFunc,
    reverse: bool,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    sort_list(&mut list, f, reverse);
    Ok(list)
}

fn nat_key(name: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            let trimmed = digits.trim_start_matches('0');
            let t = if trimmed.is_empty() { "0" } else { trimmed };
            out.push_str(&format!("{:0>10}", t));
            digits.clear();
        }
        if c != '\u{0}' {
            out.push(c);
        }
    }
    out
}

fn sort_by_name(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let natural = a.bool_or("natural", false);
    let reverse = a.bool_or("reverse", false);
    list.sort_by(|x, y| {
        let o = if natural {
            nat_key(&x.name).cmp(&nat_key(&y.name))
        } else {
            x.name.cmp(&y.name)
        };
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
    Ok(list)
}

fn sort_by_minima(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list: Vec<Series> = a
        .series("seriesList")?
        .into_iter()
        .filter(|s| safe_max(&s.values).unwrap_or(0.0) > 0.0)
        .collect();
    list.sort_by(|x, y| {
        let kx = safe_min(&x.values).unwrap_or(f64::NEG_INFINITY);
        let ky = safe_min(&y.values).unwrap_or(f64::NEG_INFINITY);
        kx.partial_cmp(&ky).unwrap_or(Ordering::Equal)
    });
    Ok(list)
}

fn use_series_above(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let value = a.f64("value")?;
    let re = Regex::new(&a.str("search")?)
        .map_err(|e| crate::error::QueryError::InvalidParameter(e.to_string()))?;
    let replace = py_replacement(&a.str("replace")?);
    let mut names = Vec::new();
    for s in &list {
        if s.values.iter().any(|v| v.is_none()) {
            return crate::error::eval_err(
                "'>' not supported between instances of 'NoneType' and 'float'",
            );
        }
        if safe_max(&s.values).is_some_and(|m| m > value) {
            names.push(re.replace_all(&s.name, replace.as_str()).into_owned());
        }
    }
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let res = ev.evaluate_target(ctx, &format!("group({})", names.join(",")))?;
    Ok(res.into_iter().filter(|s| !s.is_empty()).collect())
}

fn fallback_series(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    if !list.is_empty() {
        return Ok(list);
    }
    a.take_series("fallback")
}

fn most_deviant(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let n = a.i64_or("n", 0)?;
    let mut dev: Vec<(f64, Series)> = Vec::new();
    for s in list {
        let Some(mean) = safe_avg(&s.values) else {
            continue;
        };
        let sq =
            crate::functions::agg::py_sum(s.values.iter().flatten().map(|v| (v - mean).powi(2)));
        let cnt = s.values.iter().flatten().count();
        if cnt == 0 {
            continue;
        }
        dev.push((sq / cnt as f64, s));
    }
    dev.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(Ordering::Equal));
    let len = dev.len() as i64;
    let k = if n < 0 { (len + n).max(0) } else { n.min(len) };
    Ok(dev.into_iter().take(k as usize).map(|(_, s)| s).collect())
}

fn stdev(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let pv = a.get("points").cloned().unwrap_or(Value::Int(1));
    let points = pv.as_f64().unwrap_or(1.0);
    let tol = a.f64_or("windowTolerance", 0.1)?;
    let pts = points.trunc() as i64;
    Ok(list
        .into_iter()
        .map(|mut s| {
            s.set_tag("stdev", pv.py_str());
            let mut valid = 0i64;
            let (mut sum, mut sumsq) = (0.0f64, 0.0f64);
            let mut out = Vec::with_capacity(s.len());
            for (i, nv) in s.values.iter().enumerate() {
                let dropped = if (i as f64) < points {
                    None
                } else {
                    s.values
                        .get(i.wrapping_sub(pts as usize))
                        .copied()
                        .flatten()
                };
                if let Some(d) = dropped {
                    valid -= 1;
                    sum -= d;
                    sumsq -= d * d;
                }
                if let Some(x) = nv {
                    valid += 1;
                    sum += x;
                    sumsq += x * x;
                }
                if valid > 0 && valid as f64 / points >= tol {
                    let inner = valid as f64 * sumsq - sum * sum;
                    out.push(if inner < 0.0 {
                        None
                    } else {
                        Some(inner.sqrt() / valid as f64)
                    });
                } else {
                    out.push(None);
                }
            }
            let name = format!("stdev({},{})", s.name, pts);
            s.derive(name, out)
        })
        .collect())
}

fn grep_impl(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    keep: bool,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let re = Regex::new(&a.str("pattern")?)
        .map_err(|e| crate::error::QueryError::InvalidParameter(e.to_string()))?;
    Ok(list
        .into_iter()
        .filter(|s| re.is_match(&s.name) == keep)
        .collect())
}

fn remove_empty_series(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let x = a.f64_or("xFilesFactor", 0.0)?;
    Ok(list
        .into_iter()
        .filter(|s| xff_ok(s.values.iter().flatten().count(), s.len(), x))
        .collect())
}

fn unique(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Series> = Vec::new();
    for v in a.rest("seriesLists") {
        if let Value::Series(list) = v {
            for s in list {
                if seen.insert(s.name.clone()) {
                    out.push(s);
                }
            }
        }
    }
    Ok(out)
}

/// Turns a Python re.sub replacement (`\1`, `\g<1>`) into the regex crate's syntax (`${1}`).
pub(crate) fn py_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut it = r.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match it.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(d) = it.peek().copied().filter(|d| d.is_ascii_digit()) {
                        num.push(d);
                        it.next();
                        if num.len() == 2 {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    it.next();
                    if it.peek() == Some(&'<') {
                        it.next();
                        let name: String = it.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    it.next();
                    out.push('\n');
                }
                Some('t') => {
                    it.next();
                    out.push('\t');
                }
                Some('\\') => {
                    it.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}
