//! maxDataPoints consolidation of rendered series (graphite-web's JSON renderer, render-api §5).

use crate::series::{consolidate_values, Series};

/// Consolidates every series so none has more than `max_points` points, as graphite-web does
/// before JSON output. `max_points == 0` is rejected by the caller (graphite divides by zero).
pub fn consolidate_max_data_points(list: &mut [Series], max_points: usize) {
    if list.is_empty() || max_points == 0 {
        return;
    }
    let start = list.iter().map(|s| s.start).min().unwrap_or(0);
    let end = list.iter().map(|s| s.end).max().unwrap_or(0);
    let time_range = end - start;
    for s in list.iter_mut() {
        let step = s.step.max(1);
        let num_points = time_range / step;
        if max_points == 1 {
            let vpp = s.values.len().max(1);
            s.values = consolidate_values(&s.values, vpp, &s.consolidation_func, s.x_files_factor);
            s.step *= vpp as i64;
            s.end = s.start + s.step;
        } else if num_points as usize > max_points {
            let vpp = (num_points as f64 / max_points as f64).ceil() as usize;
            let spp = vpp as i64 * step;
            let nudge = spp + s.start.rem_euclid(step) - s.start.rem_euclid(spp);
            s.start += nudge;
            let to_lose = (nudge / step) as usize;
            // graphite deletes `range(1, valuesToLose)`: one fewer than the nudge implies.
            for _ in 1..to_lose {
                if !s.values.is_empty() {
                    s.values.remove(0);
                }
            }
            s.values = consolidate_values(&s.values, vpp, &s.consolidation_func, s.x_files_factor);
            s.step = spp;
        }
    }
}
