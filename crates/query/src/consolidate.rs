//! maxDataPoints consolidation of rendered series (graphite-web's JSON renderer, render-api §5).

use crate::series::Series;

/// Consolidates every series so none has more than `max_points` points, exactly as graphite-web's
/// JSON renderer does: values are merged with the series' consolidation function (honouring its
/// xFilesFactor), `values_per_point` records the factor and `step` stays the raw step, so
/// timestamps are `start + i * step * values_per_point`. `max_points == 0` is left to the caller
/// (graphite divides by zero and answers 500).
pub fn consolidate_max_data_points(list: &mut [Series], max_points: usize) {
    if list.is_empty() || max_points == 0 {
        return;
    }
    let start = list.iter().map(|s| s.start).min().unwrap_or(0);
    let end = list.iter().map(|s| s.end).max().unwrap_or(0);
    let time_range = (end - start) as f64;
    for s in list.iter_mut() {
        let step = s.step.max(1);
        if max_points == 1 {
            let vpp = s.values.len();
            if vpp > 0 {
                s.consolidate_in_place(vpp);
                s.values_per_point = vpp;
            }
            continue;
        }
        let points = time_range / step as f64;
        if (max_points as f64) < points {
            let vpp = (points / max_points as f64).ceil() as usize;
            let spp = vpp as i64 * step;
            // Nudge the start so consolidation buckets line up across refreshes.
            let nudge = spp + s.start.rem_euclid(step) - s.start.rem_euclid(spp);
            s.start += nudge;
            let to_lose = (nudge / step).max(0) as usize;
            // graphite deletes `range(1, valuesToLose)`: one value fewer than the nudge implies.
            let drop = to_lose.saturating_sub(1).min(s.values.len());
            s.values.drain(..drop);
            if let Some(m) = s.int_values.as_mut() {
                m.drain(..drop.min(m.len()));
            }
            s.consolidate_in_place(vpp);
            s.values_per_point = vpp;
        }
    }
}

/// graphite-web's JSON renderer emits nothing at all when every series is empty
/// (`if any(data)`); otherwise every series, empty ones included.
pub fn all_empty(list: &[Series]) -> bool {
    list.iter().all(|s| s.values.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_series() {
        let mut l = vec![Series::new(
            "a",
            60,
            600,
            60,
            (0..9).map(|i| Some(i as f64)).collect(),
        )];
        consolidate_max_data_points(&mut l, 1);
        assert_eq!(l[0].datapoints(), vec![(Some(4.0), 60)]);
    }

    #[test]
    fn nudged_buckets() {
        let mut l = vec![Series::new(
            "a",
            60,
            660,
            60,
            (0..10).map(|i| Some(i as f64)).collect(),
        )];
        l[0].consolidation_func = "sum".into();
        consolidate_max_data_points(&mut l, 4);
        // 10 points over 600 s into <= 4: 3 per bucket, start nudged by 120 s to 180 but only one
        // value dropped (graphite's `range(1, valuesToLose)`), so buckets start at value 1.
        assert_eq!(l[0].start, 180);
        assert_eq!(l[0].values, vec![Some(6.0), Some(15.0), Some(24.0)]);
    }
}
