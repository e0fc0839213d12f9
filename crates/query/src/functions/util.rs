//! Helpers shared by the function modules: normalize, grouping keys, name parsing.

use crate::error::{param_err, Result};
use crate::eval::Value;
use crate::functions::agg::AggFunc;
use crate::parser::{parse_target, Expr};
use crate::series::Series;

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Least common multiple of two steps.
pub fn lcm(a: i64, b: i64) -> i64 {
    if a == b || a == 0 || b == 0 {
        return a.max(b);
    }
    let (a, b) = if a < b { (b, a) } else { (a, b) };
    // Python's ints do not overflow; an absurd step pair saturates instead of wrapping.
    (a / gcd(a, b)).saturating_mul(b)
}

/// graphite's normalize(): consolidates every series to the LCM step; returns (start, end, step).
pub fn normalize(list: &mut [Series]) -> Option<(i64, i64, i64)> {
    if list.is_empty() {
        return None;
    }
    let step = list.iter().map(|s| s.step).fold(list[0].step, lcm).max(1);
    for s in list.iter_mut() {
        if s.step > 0 && step / s.step > 1 {
            s.consolidate_in_place((step / s.step) as usize);
            s.step = step;
        }
    }
    let start = list.iter().map(|s| s.start).min()?;
    let mut end = list.iter().map(|s| s.end).max()?;
    end -= end.saturating_sub(start).rem_euclid(step);
    Some((start, end, step))
}

/// Rows of zip_longest over the series' values.
pub fn rows(list: &[Series]) -> Vec<Vec<Option<f64>>> {
    let n = list.iter().map(|s| s.values.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            list.iter()
                .map(|s| s.values.get(i).copied().flatten())
                .collect()
        })
        .collect()
}

/// Applies `f` to every zip_longest row, reusing one row buffer (no matrix is materialised).
pub fn map_rows<T>(list: &[Series], mut f: impl FnMut(usize, &[Option<f64>]) -> T) -> Vec<T> {
    let n = list.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let mut row = Vec::with_capacity(list.len());
    (0..n)
        .map(|i| {
            row.clear();
            row.extend(list.iter().map(|s| s.values.get(i).copied().flatten()));
            f(i, &row)
        })
        .collect()
}

/// Comma-joined unique path expressions in order of appearance.
pub fn format_path_expressions(list: &[Series]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in list {
        if !seen.contains(&s.path_expression.as_str()) {
            seen.push(&s.path_expression);
        }
    }
    seen.join(",")
}

/// Resolves an aggregation name, stripping a `Series` suffix.
pub fn agg_func(name: &str) -> Result<AggFunc> {
    let stripped = name.strip_suffix("Series").unwrap_or(name);
    match AggFunc::parse(stripped) {
        Some(f) => Ok(f),
        None => param_err(format!("Unsupported aggregation function: {name}")),
    }
}

/// The first path expression inside a function-wrapped name (`scale(a.b.c,2)` -> `a.b.c`).
pub fn first_path_expression(name: &str) -> Option<String> {
    let mut e = parse_target(name).ok()?;
    loop {
        match e {
            Expr::Path(p) => return Some(p),
            Expr::Call(c) => e = c.args.into_iter().next()?,
            Expr::Template(t) => e = t.inner,
            _ => return None,
        }
    }
}

/// graphite's getNodeOrTag for one node spec.
pub fn node_or_tag(s: &Series, n: &Value, path: Option<&str>) -> String {
    let idx = match n {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    };
    if let Some(i) = idx {
        let base = path.unwrap_or(&s.name);
        let metric = base.split(';').next().unwrap_or("");
        let parts: Vec<&str> = metric.split('.').collect();
        let len = parts.len() as i64;
        let j = if i < 0 { i + len } else { i };
        if (0..len).contains(&j) {
            return parts[j as usize].to_string();
        }
    }
    s.tags.get(&n.py_str()).cloned().unwrap_or_default()
}

/// graphite's aggKey: node values joined by '.', using the first path expression of wrapped names.
pub fn agg_key(s: &Series, nodes: &[Value]) -> String {
    let path = if s.name.ends_with(')') {
        first_path_expression(&s.name)
    } else {
        None
    };
    nodes
        .iter()
        .map(|n| node_or_tag(s, n, path.as_deref()))
        .collect::<Vec<_>>()
        .join(".")
}

/// Groups series by key preserving first-appearance order.
pub fn group_by<F: Fn(&Series) -> String>(list: Vec<Series>, key: F) -> Vec<(String, Vec<Series>)> {
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(String, Vec<Series>)> = Vec::new();
    for s in list {
        let k = key(&s);
        match index.get(&k) {
            Some(&i) => groups[i].1.push(s),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![s]));
            }
        }
    }
    groups
}
