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

/// `f` over every zip_longest row with graphite's xff check, computed column-wise: each series'
/// slice is folded into per-timestamp accumulators, visiting series in list order so every row
/// sees its values left to right exactly as Python's `sum()`/`min()`/... would. `None` for the
/// functions that need a whole row at once (median, stddev): use [`map_rows`] for those.
pub fn aggregate_columns(list: &[Series], f: AggFunc, xff: f64) -> Option<Vec<Option<f64>>> {
    if matches!(f, AggFunc::Median | AggFunc::Stddev) {
        return None;
    }
    let n = list.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let total = list.len();
    // Non-None count per row; the primary accumulator (sum, product, min, last, ...) and, for
    // rangeOf, the running max next to the running min.
    let mut nn = vec![0usize; n];
    let init = if f == AggFunc::Multiply { 1.0 } else { 0.0 };
    let mut acc = vec![init; n];
    let mut acc2 = if f == AggFunc::Range {
        vec![0.0; n]
    } else {
        Vec::new()
    };
    for s in list {
        let it = s.values.iter().zip(nn.iter_mut()).zip(acc.iter_mut());
        match f {
            AggFunc::Sum | AggFunc::Average | AggFunc::AvgZero => {
                // avg_zero's zeros for gaps never change a sum that starts at +0.0.
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        *a += x;
                        *c += 1;
                    }
                }
            }
            AggFunc::Count => {
                for ((v, c), _) in it {
                    *c += usize::from(v.is_some());
                }
            }
            AggFunc::Multiply => {
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        *a *= x;
                        *c += 1;
                    }
                }
            }
            AggFunc::Diff => {
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        *a += if *c == 0 { *x } else { -x };
                        *c += 1;
                    }
                }
            }
            AggFunc::Min => {
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        if *c == 0 || *x < *a {
                            *a = *x;
                        }
                        *c += 1;
                    }
                }
            }
            AggFunc::Max => {
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        if *c == 0 || *x > *a {
                            *a = *x;
                        }
                        *c += 1;
                    }
                }
            }
            AggFunc::Range => {
                for (((v, c), a), m) in it.zip(acc2.iter_mut()) {
                    if let Some(x) = v {
                        if *c == 0 || *x < *a {
                            *a = *x;
                        }
                        if *c == 0 || *x > *m {
                            *m = *x;
                        }
                        *c += 1;
                    }
                }
            }
            AggFunc::Last => {
                for ((v, c), a) in it {
                    if let Some(x) = v {
                        *a = *x;
                        *c += 1;
                    }
                }
            }
            AggFunc::Median | AggFunc::Stddev => return None,
        }
    }
    Some(
        (0..n)
            .map(|i| {
                let (c, a) = (nn[i], acc[i]);
                if !crate::functions::agg::xff_ok(c, total, xff) {
                    return None;
                }
                match f {
                    AggFunc::Average => Some(a / c as f64),
                    AggFunc::AvgZero => Some(a / total as f64),
                    AggFunc::Count => Some(c as f64),
                    AggFunc::Multiply => (c == total).then_some(a),
                    AggFunc::Range => acc2.get(i).map(|m| m - a),
                    _ => Some(a),
                }
            })
            .collect(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The column-wise fold must give bit-for-bit what the row-wise graphite formula gives,
    /// gaps, uneven lengths, signed zeros, NaN and xff included.
    #[test]
    fn columns_match_rows_exactly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let specials = [0.0, -0.0, f64::NAN, f64::INFINITY, 1e300, -1e-300];
        let funcs = [
            "sum", "average", "avg_zero", "min", "max", "diff", "count", "range", "multiply",
            "last",
        ];
        for round in 0..200 {
            let list: Vec<Series> = (0..rng.gen_range(1..6))
                .map(|k| {
                    let values = (0..rng.gen_range(0..40))
                        .map(|_| match rng.gen_range(0..10) {
                            0..=2 => None,
                            3 => Some(specials[rng.gen_range(0..specials.len())]),
                            _ => Some(rng.gen_range(-1e6..1e6) / 7.0),
                        })
                        .collect();
                    Series::new(format!("s{k}"), 0, 400, 10, values)
                })
                .collect();
            let xff = [0.0, 0.5, 1.0][round % 3];
            for name in funcs {
                let f = AggFunc::parse(name).unwrap();
                let cols = aggregate_columns(&list, f, xff).unwrap();
                let rows = map_rows(&list, |_, row| {
                    let nn = row.iter().flatten().count();
                    crate::functions::agg::xff_ok(nn, row.len(), xff)
                        .then(|| f.apply(row))
                        .flatten()
                });
                // A NaN's sign and payload are unspecified in Rust (and invisible in every
                // output format), so all NaNs compare equal; every other value bit for bit.
                let bits = |v: &[Option<f64>]| -> Vec<Option<u64>> {
                    v.iter()
                        .map(|x| x.map(|y| if y.is_nan() { u64::MAX } else { y.to_bits() }))
                        .collect()
                };
                assert_eq!(bits(&cols), bits(&rows), "{name} xff={xff} round {round}");
            }
        }
        let median = AggFunc::parse("median").unwrap();
        assert!(aggregate_columns(&[], median, 0.0).is_none());
    }
}
