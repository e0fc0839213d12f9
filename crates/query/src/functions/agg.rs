//! Aggregation functions over rows of optional values (graphite's `safe*` helpers and aggFuncs).

/// A named aggregation (`sum`, `average`, `median`, ...), as graphite's getAggFunc resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// safeAvg.
    Average,
    /// safeAvgZero.
    AvgZero,
    /// safeMedian.
    Median,
    /// safeSum.
    Sum,
    /// safeMin.
    Min,
    /// safeMax.
    Max,
    /// safeDiff.
    Diff,
    /// safeStdDev.
    Stddev,
    /// safeLen.
    Count,
    /// max - min.
    Range,
    /// safeMul (None if any None).
    Multiply,
    /// safeLast.
    Last,
}

impl AggFunc {
    /// Resolves a name or alias (`avg`, `total`, `rangeOf`, `current`).
    pub fn parse(name: &str) -> Option<AggFunc> {
        Some(match name {
            "average" | "avg" => AggFunc::Average,
            "avg_zero" => AggFunc::AvgZero,
            "median" => AggFunc::Median,
            "sum" | "total" => AggFunc::Sum,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "diff" => AggFunc::Diff,
            "stddev" => AggFunc::Stddev,
            "count" => AggFunc::Count,
            "range" | "rangeOf" => AggFunc::Range,
            "multiply" => AggFunc::Multiply,
            "last" | "current" => AggFunc::Last,
            _ => return None,
        })
    }

    /// Applies the function to a row.
    pub fn apply(self, row: &[Option<f64>]) -> Option<f64> {
        match self {
            AggFunc::Average => safe_avg(row),
            AggFunc::AvgZero => {
                if row.is_empty() {
                    None
                } else {
                    Some(py_sum(row.iter().map(|v| v.unwrap_or(0.0))) / row.len() as f64)
                }
            }
            AggFunc::Median => safe_median(row),
            AggFunc::Sum => safe_sum(row),
            AggFunc::Min => safe_min(row),
            AggFunc::Max => safe_max(row),
            AggFunc::Diff => {
                let mut it = row.iter().flatten();
                let first = *it.next()?;
                let rest: Vec<f64> = it.map(|x| -x).collect();
                Some(py_sum(std::iter::once(first).chain(rest)))
            }
            AggFunc::Stddev => safe_stddev(row),
            AggFunc::Count => Some(row.iter().flatten().count() as f64),
            AggFunc::Range => Some(safe_max(row)? - safe_min(row)?),
            AggFunc::Multiply => {
                if row.iter().any(|v| v.is_none()) || row.is_empty() {
                    None
                } else {
                    row.iter().flatten().copied().reduce(|a, b| a * b)
                }
            }
            AggFunc::Last => row.iter().rev().flatten().next().copied(),
        }
    }
}

/// Whether Python's result of `f` over `row` is an int, given which row values are ints
/// (counts always; sums, extremes, last and diff of ints; the middle element of an odd median).
pub fn result_is_int(f: AggFunc, row: &[Option<f64>], ints: &[bool]) -> bool {
    let all_int = row
        .iter()
        .enumerate()
        .all(|(i, v)| v.is_none() || ints.get(i).copied().unwrap_or(false));
    match f {
        AggFunc::Count => true,
        AggFunc::Sum | AggFunc::Min | AggFunc::Max | AggFunc::Last | AggFunc::Diff => all_int,
        AggFunc::Median => all_int && row.iter().flatten().count() % 2 == 1,
        _ => false,
    }
}

/// Python's `sum()` over floats (left to right, starting at 0).
pub fn py_sum(it: impl IntoIterator<Item = f64>) -> f64 {
    it.into_iter().fold(0.0, |a, b| a + b)
}

/// Sum of non-None values, None if all are None.
pub fn safe_sum(row: &[Option<f64>]) -> Option<f64> {
    let mut any = false;
    let s = py_sum(row.iter().flatten().map(|v| {
        any = true;
        *v
    }));
    any.then_some(s)
}

/// Mean of non-None values.
pub fn safe_avg(row: &[Option<f64>]) -> Option<f64> {
    let n = row.iter().flatten().count();
    if n == 0 {
        return None;
    }
    Some(py_sum(row.iter().flatten().copied()) / n as f64)
}

/// Median of non-None values (mean of the two middle ones for even counts).
pub fn safe_median(row: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = row.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        Some((v[mid - 1] + v[mid]) / 2.0)
    } else {
        Some(v[mid])
    }
}

/// Min of non-None values.
pub fn safe_min(row: &[Option<f64>]) -> Option<f64> {
    row.iter()
        .flatten()
        .copied()
        .reduce(|a, b| if b < a { b } else { a })
}

/// Max of non-None values.
pub fn safe_max(row: &[Option<f64>]) -> Option<f64> {
    row.iter()
        .flatten()
        .copied()
        .reduce(|a, b| if b > a { b } else { a })
}

/// Population standard deviation of non-None values.
pub fn safe_stddev(row: &[Option<f64>]) -> Option<f64> {
    let avg = safe_avg(row)?;
    let n = row.iter().flatten().count() as f64;
    let s = py_sum(row.iter().flatten().map(|v| (v - avg) * (v - avg)));
    Some((s / n).sqrt())
}

/// Last non-None value.
pub fn safe_last(row: &[Option<f64>]) -> Option<f64> {
    row.iter().rev().flatten().next().copied()
}

/// Division that yields None for a None operand or a zero divisor.
pub fn safe_div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// graphite's xff(): at least one non-null and nonNull/total >= xff.
pub fn xff_ok(non_null: usize, total: usize, xff: f64) -> bool {
    non_null > 0 && total > 0 && non_null as f64 / total as f64 >= xff
}

/// Python's round(x, n) (round-half-even on the decimal representation, close enough via
/// string formatting which rounds the exact binary value like CPython does).
pub fn py_round(x: f64, ndigits: i64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Beyond f64's precision rounding changes nothing; far left of it everything rounds to 0.
    if ndigits > 40 {
        return x;
    }
    if ndigits < -400 {
        return 0.0 * x.signum();
    }
    if ndigits >= 0 {
        let s = format!("{:.*}", ndigits as usize, x);
        s.parse().unwrap_or(x)
    } else {
        let p = 10f64.powi((-ndigits) as i32);
        let y = x / p;
        let r = y.round();
        let r = if (y - y.trunc()).abs() == 0.5 {
            2.0 * (y / 2.0).round()
        } else {
            r
        };
        r * p
    }
}
