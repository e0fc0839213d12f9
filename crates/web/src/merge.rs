//! graphite-web's merge rules: carbonlink (cache) points into whisper data (render-api.md §7)
//! and several answers for the same series name (§6, `_merge_results`).

/// The merge could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A coarse archive was read for a file whose aggregation graphite-web cannot apply to cached points.
    #[error("Invalid consolidation function: '{0}'")]
    InvalidConsolidation(String),
}

fn consolidate(func: &str, vals: &[f64]) -> Result<Option<f64>, MergeError> {
    if vals.is_empty() {
        return Ok(None);
    }
    let n = vals.len() as f64;
    Ok(Some(match func {
        "avg_zero" | "average" => vals.iter().sum::<f64>() / n,
        "sum" => vals.iter().sum(),
        "max" => vals.iter().copied().fold(f64::NEG_INFINITY, python_max),
        "min" => vals.iter().copied().fold(f64::INFINITY, python_min),
        "last" => vals[vals.len() - 1],
        other => return Err(MergeError::InvalidConsolidation(other.to_string())),
    }))
}

// Python's max/min keep the first of equal or NaN-compared items; fold from +-inf keeps the spirit.
fn python_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}
fn python_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// Python's float `%` (result has the sign of the divisor).
fn py_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

/// Groups `(key, value)` pairs by key in first-seen order, as a Python dict would.
fn group_in_order(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, Vec<f64>)> {
    let mut out: Vec<(f64, Vec<f64>)> = Vec::new();
    let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for (k, v) in points {
        let key = if k == 0.0 {
            0.0f64.to_bits()
        } else {
            k.to_bits()
        };
        match index.get(&key) {
            Some(&i) => {
                if let Some(slot) = out.get_mut(i) {
                    slot.1.push(v);
                }
            }
            None => {
                index.insert(key, out.len());
                out.push((k, vec![v]));
            }
        }
    }
    out
}

/// Merges cached `(timestamp, value)` points into whisper-fetched `values` (starting at `start`,
/// spaced `step`), exactly as graphite-web's `merge_with_cache`: cached points win.
/// `func` is the file's aggregation method, `raw_step` its finest archive's step.
pub fn merge_with_cache(
    cached: &[(f64, f64)],
    start: i64,
    step: i64,
    values: &mut [Option<f64>],
    func: Option<&str>,
    raw_step: Option<i64>,
) -> Result<(), MergeError> {
    if step <= 0 || cached.is_empty() {
        return Ok(());
    }
    let mut points: Vec<(f64, f64)> = cached.to_vec();
    if let Some(rs) = raw_step.filter(|rs| *rs > 1) {
        // last cached point per raw interval wins, keeping first-seen order of intervals
        points = group_in_order(
            points
                .into_iter()
                .map(|(t, v)| (t - py_mod(t, rs as f64), v)),
        )
        .into_iter()
        .filter_map(|(k, vs)| vs.last().map(|v| (k, *v)))
        .collect();
    }
    let consolidated: Vec<(f64, Option<f64>)> = match func {
        Some(f) if Some(step) != raw_step => {
            let groups = group_in_order(
                points
                    .into_iter()
                    .map(|(t, v)| (t - py_mod(t, step as f64), v)),
            );
            let mut out = Vec::with_capacity(groups.len());
            for (k, vs) in groups {
                out.push((k, consolidate(f, &vs)?));
            }
            out
        }
        _ => points.into_iter().map(|(t, v)| (t, Some(v))).collect(),
    };
    for (interval, value) in consolidated {
        // int() truncates toward zero, then floor division: a point just before `start` lands in slot 0
        let diff = interval - start as f64;
        if !diff.is_finite() {
            continue;
        }
        let i = (diff.trunc() as i64).div_euclid(step);
        if i < 0 {
            continue;
        }
        if let Some(slot) = values.get_mut(i as usize) {
            *slot = value;
        }
    }
    Ok(())
}

/// One answer for a series name, as the merge of several sources sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Series name.
    pub name: String,
    /// First timestamp.
    pub start: i64,
    /// End timestamp (exclusive).
    pub end: i64,
    /// Seconds between points.
    pub step: i64,
    /// Values, `None` for missing.
    pub values: Vec<Option<f64>>,
}

/// Merges answers that share a name, in arrival order, following `_merge_results` with
/// `REMOTE_STORE_MERGE_RESULTS = True`; the result is sorted by name.
pub fn merge_answers(answers: Vec<Answer>) -> Vec<Answer> {
    let mut kept: Vec<Answer> = Vec::new();
    let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for a in answers {
        match by_name.get(&a.name) {
            None => {
                by_name.insert(a.name.clone(), kept.len());
                kept.push(a);
            }
            Some(&i) => {
                let Some(k) = kept.get_mut(i) else { continue };
                if !k.values.iter().any(Option::is_none) || a.values.is_empty() {
                    continue;
                }
                if k.values.len() == a.values.len() {
                    for (slot, v) in k.values.iter_mut().zip(a.values) {
                        if slot.is_none() {
                            *slot = v;
                        }
                    }
                } else {
                    *k = a;
                }
            }
        }
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_points_overwrite_disk_values() {
        let mut v = vec![Some(1.0), None, Some(3.0)];
        merge_with_cache(
            &[(180.0, 9.0), (120.5, 7.0), (400.0, 1.0), (10.0, 5.0)],
            120,
            60,
            &mut v,
            Some("average"),
            Some(60),
        )
        .unwrap();
        assert_eq!(v, vec![Some(7.0), Some(9.0), Some(3.0)]);
    }

    #[test]
    fn raw_step_keeps_last_point_per_interval() {
        let mut v = vec![None, None];
        merge_with_cache(
            &[(120.0, 1.0), (130.0, 2.0), (185.0, 4.0)],
            120,
            60,
            &mut v,
            Some("average"),
            Some(60),
        )
        .unwrap();
        assert_eq!(v, vec![Some(2.0), Some(4.0)]);
    }

    #[test]
    fn coarse_archive_aggregates_with_file_method() {
        let mut v = vec![None, None];
        let pts = [(0.0, 1.0), (10.0, 2.0), (20.0, 6.0), (60.0, 5.0)];
        merge_with_cache(&pts, 0, 60, &mut v, Some("sum"), Some(10)).unwrap();
        assert_eq!(v, vec![Some(9.0), Some(5.0)]);
        let mut v = vec![None, None];
        merge_with_cache(&pts, 0, 60, &mut v, Some("average"), Some(10)).unwrap();
        assert_eq!(v, vec![Some(3.0), Some(5.0)]);
        let mut v = vec![None];
        assert_eq!(
            merge_with_cache(&pts, 0, 60, &mut v, Some("absmax"), Some(10)),
            Err(MergeError::InvalidConsolidation("absmax".into()))
        );
    }

    #[test]
    fn point_just_before_start_lands_in_first_slot() {
        let mut v = vec![None, None];
        merge_with_cache(&[(99.5, 3.0)], 100, 60, &mut v, None, Some(1)).unwrap();
        assert_eq!(v, vec![Some(3.0), None]);
    }

    fn ans(name: &str, values: Vec<Option<f64>>) -> Answer {
        Answer {
            name: name.into(),
            start: 0,
            end: 60 * values.len() as i64,
            step: 60,
            values,
        }
    }

    #[test]
    fn answers_merge_like_graphite_web() {
        let out = merge_answers(vec![
            ans("b", vec![Some(1.0), None, Some(3.0)]),
            ans("a", vec![Some(1.0)]),
            ans("b", vec![None, Some(2.0), Some(9.0)]),
            ans("a", vec![None, None]),
        ]);
        assert_eq!(out[0].values, vec![Some(1.0)], "complete series is kept");
        assert_eq!(out[1].values, vec![Some(1.0), Some(2.0), Some(3.0)]);
        let out = merge_answers(vec![
            ans("x", vec![Some(1.0), None, Some(3.0)]),
            ans("x", vec![None; 4]),
        ]);
        assert_eq!(out[0].values, vec![None; 4], "different length replaces");
    }
}
