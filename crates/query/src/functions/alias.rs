//! Alias group: renaming series.

use regex::Regex;

use crate::context::RequestContext;
use crate::error::{eval_err, param_err, QueryError, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::agg::{safe_last, safe_max, safe_min};
use crate::functions::filter::py_replacement;
use crate::functions::util::{agg_func, agg_key};
use crate::functions::Impl;
use crate::pyfmt::repr_f64;
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("alias", alias),
    ("aliasByNode", alias_by_node),
    ("aliasByTags", alias_by_tags),
    ("aliasByMetric", alias_by_metric),
    ("aliasSub", alias_sub),
    ("aliasQuery", alias_query),
    ("legendValue", legend_value),
    ("cactiStyle", cacti_style),
    ("substr", substr_fn),
    ("upper", |e, c, a| change_case(e, c, a, true)),
    ("lower", |e, c, a| change_case(e, c, a, false)),
];

fn change_case(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
    upper: bool,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let pos: Vec<i64> = a
        .rest("pos")
        .iter()
        .filter_map(|v| v.as_f64())
        .map(|f| f as i64)
        .collect();
    let conv = |c: char| -> String {
        if upper {
            c.to_uppercase().collect()
        } else {
            c.to_lowercase().collect()
        }
    };
    for s in list.iter_mut() {
        if pos.is_empty() {
            s.name = if upper {
                s.name.to_uppercase()
            } else {
                s.name.to_lowercase()
            };
            continue;
        }
        let mut chars: Vec<String> = s.name.chars().map(String::from).collect();
        let len = chars.len() as i64;
        for &p in &pos {
            let i = if p < 0 { p + len } else { p };
            if (0..len).contains(&i) {
                let c = chars[i as usize].chars().next().unwrap_or(' ');
                chars[i as usize] = conv(c);
            }
        }
        s.name = chars.concat();
    }
    Ok(list)
}

fn alias(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let n = a.str("newName")?;
    list.iter_mut().for_each(|s| s.name = n.clone());
    Ok(list)
}

fn alias_by_node(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let nodes = a.rest("nodes");
    list.iter_mut().for_each(|s| s.name = agg_key(s, &nodes));
    Ok(list)
}

fn alias_by_tags(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let nodes = a.rest("tags");
    list.iter_mut().for_each(|s| s.name = agg_key(s, &nodes));
    Ok(list)
}

fn substr(list: &mut [Series], start: i64, stop: i64) {
    for s in list {
        let left = s.name.rfind('(').map_or(0, |i| i + 1);
        let right = s.name.find(')').unwrap_or(s.name.len());
        let clean = if left <= right {
            &s.name[left..right]
        } else {
            ""
        };
        let parts: Vec<&str> = clean.split('.').collect();
        let len = parts.len() as i64;
        let norm =
            |i: i64| -> usize { (if i < 0 { (len + i).max(0) } else { i.min(len) }) as usize };
        let (b, e) = (
            norm(start),
            if stop == 0 { len as usize } else { norm(stop) },
        );
        let joined = if b < e {
            parts[b..e].join(".")
        } else {
            String::new()
        };
        s.name = match joined.find(',') {
            Some(i) => joined[..i].to_string(),
            None => joined,
        };
    }
}

fn alias_by_metric(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    substr(&mut list, -1, 0);
    Ok(list)
}

fn substr_fn(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    substr(&mut list, a.i64_or("start", 0)?, a.i64_or("stop", 0)?);
    Ok(list)
}

fn regex(p: &str) -> Result<Regex> {
    Regex::new(p).map_err(|e| QueryError::InvalidParameter(format!("invalid regex {p:?}: {e}")))
}

fn alias_sub(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let re = regex(&a.str("search")?)?;
    let rep = py_replacement(&a.str("replace")?);
    list.iter_mut()
        .for_each(|s| s.name = re.replace_all(&s.name, rep.as_str()).into_owned());
    Ok(list)
}

fn alias_query(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let re = regex(&a.str("search")?)?;
    let rep = py_replacement(&a.str("replace")?);
    let new_name = a.str("newName")?;
    for s in &mut list {
        let q = re.replace_all(&s.name, rep.as_str()).into_owned();
        let res = ev.evaluate_target(ctx, &q)?;
        let Some(first) = res.first() else {
            return param_err(format!("No series found with query: {q}"));
        };
        let Some(cur) = safe_last(&first.values) else {
            return param_err(format!("Cannot get last value of series: {}", first.name));
        };
        s.name = percent_format(&new_name, cur)?;
    }
    Ok(list)
}

/// Python `fmt % value` with one float argument (flags `-0+ `, width, precision; d i f F e E g G s r).
fn percent_format(fmt: &str, v: f64) -> Result<String> {
    let b = fmt.as_bytes();
    let mut out = String::new();
    let mut used = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            let ch = fmt[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = b.get(i) {
            match f {
                b'-' => left = true,
                b'0' => zero = true,
                b'+' => plus = true,
                b' ' | b'#' => {}
                _ => break,
            }
            i += 1;
        }
        let ws = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        let width: usize = fmt[ws..i].parse().unwrap_or(0);
        let mut prec: Option<usize> = None;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let ps = i;
            while b.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            prec = Some(fmt[ps..i].parse().unwrap_or(0));
        }
        let Some(&t) = b.get(i) else {
            return param_err("incomplete format");
        };
        i += 1;
        used += 1;
        if used > 1 {
            return eval_err("TypeError: not enough arguments for format string");
        }
        let mut body = match t {
            b'd' | b'i' | b'u' => format!("{}", v.trunc() as i64),
            b'f' | b'F' => format!("{:.*}", prec.unwrap_or(6), v),
            b'e' | b'E' => {
                let s = python_exp(v, prec.unwrap_or(6));
                if t == b'E' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            b'g' | b'G' => crate::pyfmt::fmt_g(v),
            b's' | b'r' => repr_f64(v),
            _ => {
                return eval_err(format!(
                    "ValueError: unsupported format character '{}'",
                    t as char
                ))
            }
        };
        if plus && v >= 0.0 && !matches!(t, b's' | b'r') {
            body.insert(0, '+');
        }
        if body.len() < width {
            let pad = width - body.len();
            if left {
                body.push_str(&" ".repeat(pad));
            } else if zero && !matches!(t, b's' | b'r') {
                let sign = body.starts_with(['-', '+']);
                body.insert_str(usize::from(sign), &"0".repeat(pad));
            } else {
                body.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    if used == 0 {
        return eval_err("TypeError: not all arguments converted during string formatting");
    }
    Ok(out)
}

/// Python's `%.Ne` (exponent with sign and at least two digits).
fn python_exp(v: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, v);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// graphite's glyph.format_units (no step).
pub(crate) fn format_units(v: f64, system: &str, units: Option<&str>) -> (f64, String) {
    let table: &[(&str, f64)] = match system {
        "binary" => &[
            ("Pi", 1125899906842624.0),
            ("Ti", 1099511627776.0),
            ("Gi", 1073741824.0),
            ("Mi", 1048576.0),
            ("Ki", 1024.0),
        ],
        "si" => &[("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)],
        "sec" => &[
            ("Y", 31536000.0),
            ("M", 2592000.0),
            ("D", 86400.0),
            ("H", 3600.0),
            ("m", 60.0),
        ],
        "msec" => &[
            ("Y", 31536000000.0),
            ("M", 2592000000.0),
            ("D", 86400000.0),
            ("H", 3600000.0),
            ("m", 60000.0),
            ("s", 1000.0),
        ],
        _ => &[],
    };
    for (prefix, size) in table {
        if v.abs() >= *size {
            let mut v2 = v / size;
            if v2 - v2.floor() < 1e-11 && v > 1.0 {
                v2 = v2.floor();
            }
            let p = match units {
                Some(u) => format!("{prefix}{u}"),
                None => prefix.to_string(),
            };
            return (v2, p);
        }
    }
    let v = if v - v.floor() < 1e-11 && v > 1.0 {
        v.floor()
    } else {
        v
    };
    (v, units.unwrap_or("").to_string())
}

fn legend_value(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let mut types: Vec<String> = a.rest("valuesTypes").iter().map(|v| v.py_str()).collect();
    let mut system = None;
    if let Some(last) = types.last() {
        if last == "si" || last == "binary" {
            system = Some(last.clone());
            types.pop();
        }
    }
    for t in &types {
        let f = agg_func(t)
            .ok()
            .filter(|_| crate::functions::agg::AggFunc::parse(t).is_some());
        for s in list.iter_mut() {
            let val = f.map(|f| f.apply(&s.values));
            match &system {
                None => {
                    let txt = match val {
                        None => "(?)".to_string(),
                        Some(None) => "None".to_string(),
                        Some(Some(x)) if t == "count" => format!("{}", x as i64),
                        Some(Some(x)) => repr_f64(x),
                    };
                    s.name = format!("{} ({}: {})", s.name, t, txt);
                }
                Some(sys) => {
                    let formatted = match val {
                        None => "(?)".to_string(),
                        Some(None) => "None".to_string(),
                        Some(Some(x)) => {
                            let (v, p) = format_units(x, sys, None);
                            format!("{v:.2}{p}")
                        }
                    };
                    s.name = format!("{:<20}{:<5}{:<10}", s.name, t, formatted);
                }
            }
        }
    }
    Ok(list)
}

fn cacti_style(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    if list.is_empty() {
        return Ok(list);
    }
    let system = a.opt_str("system")?.filter(|s| !s.is_empty());
    let units = a.opt_str("units")?.filter(|s| !s.is_empty());
    if let Some(sys) = &system {
        if !["si", "binary", "sec", "msec", "none"].contains(&sys.as_str()) {
            return eval_err(format!("KeyError: '{sys}'"));
        }
    }
    let fmt = |x: f64| -> String {
        match (&system, &units) {
            (Some(sys), Some(u)) => {
                let (v, p) = format_units(x, sys, Some(u));
                format!("{v:.2} {p}")
            }
            (Some(sys), None) => {
                let (v, p) = format_units(x, sys, None);
                format!("{v:.2}{p}")
            }
            (None, Some(u)) => format!("{x:.2} {u}"),
            (None, None) => format!("{x:.2}"),
        }
    };
    let or3 = |v: Option<f64>| -> f64 {
        match v {
            Some(x) if x != 0.0 => x.trunc(),
            _ => 3.0,
        }
    };
    let name_len = list
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let last_len = list
        .iter()
        .map(|s| fmt(or3(safe_last(&s.values))).len())
        .max()
        .unwrap_or(0)
        + 3;
    let max_len = list
        .iter()
        .map(|s| fmt(or3(safe_max(&s.values))).len())
        .max()
        .unwrap_or(0)
        + 3;
    let min_len = list
        .iter()
        .map(|s| fmt(or3(safe_min(&s.values))).len())
        .max()
        .unwrap_or(0)
        + 3;
    for s in list.iter_mut() {
        let show = |v: Option<f64>| v.map_or("nan".to_string(), fmt);
        let (l, mx, mn) = (
            show(safe_last(&s.values)),
            show(safe_max(&s.values)),
            show(safe_min(&s.values)),
        );
        s.name = format!(
            "{:<nw$} Current:{:<lw$} Max:{:<mw$} Min:{:<nnw$} ",
            s.name,
            l,
            mx,
            mn,
            nw = name_len,
            lw = last_len,
            mw = max_len,
            nnw = min_len
        );
    }
    Ok(list)
}

#[allow(dead_code)]
fn _unused(_: Value) {}
