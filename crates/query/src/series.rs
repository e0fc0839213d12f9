//! The series model shared by the evaluator, the functions and the encoders.

use std::collections::BTreeMap;

/// Graph options that drawing functions set; data functions leave them alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOptions {
    /// `color()`.
    pub color: Option<String>,
    /// `lineWidth()`.
    pub line_width: Option<f64>,
    /// `dashed()`: dash length.
    pub dashed: Option<f64>,
    /// `stacked()`: stack name.
    pub stacked: Option<String>,
    /// `secondYAxis()`.
    pub second_y_axis: bool,
    /// `drawAsInfinite()`.
    pub draw_as_infinite: bool,
    /// `alpha()`.
    pub alpha: Option<f64>,
    /// `areaBetween()`.
    pub area_between: bool,
    /// Hidden from the graph (holtWintersConfidenceArea's helper lines).
    pub invisible: bool,
}

/// One time series: `values[i]` is the value at `start + i*step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Display name (`target` in JSON).
    pub name: String,
    /// The path expression this series came from.
    pub path_expression: String,
    /// First timestamp, epoch seconds.
    pub start: i64,
    /// End of the range, epoch seconds.
    pub end: i64,
    /// Seconds between points.
    pub step: i64,
    /// Values; `None` is a gap.
    pub values: Vec<Option<f64>>,
    /// Tags (`name` always present).
    pub tags: BTreeMap<String, String>,
    /// How points are merged when consolidated (`average`, `sum`, `min`, `max`, `first`, `last`, `avg_zero`).
    pub consolidation_func: String,
    /// Minimum ratio of non-null points a consolidated point needs.
    pub x_files_factor: f64,
    /// Points merged per output point by maxDataPoints consolidation (1 = none).
    pub values_per_point: usize,
    /// Which values graphite holds as Python ints (JSON `2`, not `2.0`): counts, isNonNull,
    /// changed, transformNull's default 0, ... `None` means every value is a float.
    pub int_values: Option<Vec<bool>>,
    /// Graph options.
    pub options: RenderOptions,
}

/// Tags graphite derives from a series name: `a.b;k=v` gives {name: a.b, k: v}; other names {name}.
pub fn tags_from_name(name: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    if name.contains(';') && !looks_like_call(name) {
        let mut parts = name.split(';');
        let metric = parts.next().unwrap_or("");
        let mut ok = !metric.is_empty();
        let mut extra = BTreeMap::new();
        for p in parts {
            match p.split_once('=') {
                Some((k, v)) if !k.is_empty() && !v.is_empty() && !v.starts_with('~') => {
                    extra.insert(k.to_string(), v.to_string());
                }
                _ => ok = false,
            }
        }
        if ok {
            tags = extra;
            tags.insert("name".into(), metric.to_string());
            return tags;
        }
    }
    tags.insert("name".into(), name.to_string());
    tags
}

fn looks_like_call(name: &str) -> bool {
    // graphite: re.match('^[a-z]+[(].+[)]$', name, re.I)
    let letters = name.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    letters > 0
        && name[letters..].starts_with('(')
        && name.len() > letters + 2
        && name.ends_with(')')
}

impl Series {
    /// A new series with graphite's defaults (tags from the name, average consolidation, xff 0).
    pub fn new(
        name: impl Into<String>,
        start: i64,
        end: i64,
        step: i64,
        values: Vec<Option<f64>>,
    ) -> Series {
        let name = name.into();
        Series {
            tags: tags_from_name(&name),
            path_expression: name.clone(),
            name,
            start,
            end,
            step,
            values,
            consolidation_func: "average".into(),
            x_files_factor: 0.0,
            values_per_point: 1,
            int_values: None,
            options: RenderOptions::default(),
        }
    }

    /// Same series with new name/values, keeping everything else (graphite's `TimeSeries.copy`),
    /// path expression reset to the new name.
    pub fn derive(&self, name: impl Into<String>, values: Vec<Option<f64>>) -> Series {
        let name = name.into();
        // Field by field so the old values (often the bulk of the series) are never copied.
        Series {
            path_expression: name.clone(),
            name,
            start: self.start,
            end: self.end,
            step: self.step,
            values,
            tags: self.tags.clone(),
            consolidation_func: self.consolidation_func.clone(),
            x_files_factor: self.x_files_factor,
            values_per_point: self.values_per_point,
            int_values: self.int_values.clone(),
            options: self.options.clone(),
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Timestamp of point `i` (taking values_per_point into account).
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step * self.values_per_point.max(1) as i64
    }

    /// `[value, timestamp]` pairs as graphite's `datapoints()` yields them (zip stops at the shorter).
    pub fn datapoints(&self) -> Vec<(Option<f64>, i64)> {
        let stride = (self.step * self.values_per_point.max(1) as i64).max(1);
        let n_ts = if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / stride + 1) as usize
        };
        self.values
            .iter()
            .take(n_ts)
            .enumerate()
            .map(|(i, v)| (*v, self.start + i as i64 * stride))
            .collect()
    }

    /// True when value `i` is a Python int in graphite (render it without a decimal point).
    pub fn is_int(&self, i: usize) -> bool {
        self.int_values
            .as_ref()
            .and_then(|m| m.get(i).copied())
            .unwrap_or(false)
            && self
                .values
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|v| v.fract() == 0.0)
    }

    /// Marks every non-None value as an int.
    pub fn mark_all_int(&mut self) {
        self.int_values = Some(self.values.iter().map(|v| v.is_some()).collect());
    }

    /// Sets a tag (values are strings, as graphite's Tags does).
    pub fn set_tag(&mut self, key: &str, value: impl Into<String>) {
        self.tags.insert(key.to_string(), value.into());
    }

    /// Merges runs of `n` points with this series' consolidation function, honouring xff.
    pub fn consolidated_values(&self, n: usize) -> Vec<Option<f64>> {
        consolidate_values(
            &self.values,
            n,
            &self.consolidation_func,
            self.x_files_factor,
        )
    }

    /// Consolidates in place (values and int flags): sum/min/max/first/last of ints stay ints,
    /// averages become floats, as in Python.
    pub fn consolidate_in_place(&mut self, n: usize) {
        if n <= 1 {
            return;
        }
        let keeps_ints = matches!(
            self.consolidation_func.as_str(),
            "sum" | "max" | "min" | "first" | "last"
        );
        let mask = match (&self.int_values, keeps_ints) {
            (Some(m), true) => Some(
                self.values
                    .chunks(n)
                    .enumerate()
                    .map(|(c, chunk)| {
                        chunk
                            .iter()
                            .enumerate()
                            .all(|(k, v)| v.is_none() || m.get(c * n + k).copied().unwrap_or(false))
                    })
                    .collect(),
            ),
            _ => None,
        };
        self.values = self.consolidated_values(n);
        self.int_values = mask;
    }
}

/// graphite's TimeSeries consolidating iterator (trailing partial chunk included).
pub fn consolidate_values(
    values: &[Option<f64>],
    n: usize,
    func: &str,
    xff: f64,
) -> Vec<Option<f64>> {
    if n <= 1 {
        return values.to_vec();
    }
    values
        .chunks(n)
        .map(|chunk| {
            let mut usable: Vec<f64> = Vec::with_capacity(chunk.len());
            let mut non_null = 0usize;
            for v in chunk {
                match v {
                    Some(x) => {
                        usable.push(*x);
                        non_null += 1;
                    }
                    None if func == "avg_zero" => usable.push(0.0),
                    None => {}
                }
            }
            if non_null == 0 || (non_null as f64 / n as f64) < xff {
                return None;
            }
            match func {
                "sum" => Some(usable.iter().sum()),
                "max" => usable.iter().copied().reduce(f64::max),
                "min" => usable.iter().copied().reduce(f64::min),
                "first" => usable.first().copied(),
                "last" => usable.last().copied(),
                _ => Some(usable.iter().sum::<f64>() / usable.len() as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_from_tagged_name() {
        let t = tags_from_name("disk.used;dc=a;rack=b");
        assert_eq!(t.get("name").map(String::as_str), Some("disk.used"));
        assert_eq!(t.get("rack").map(String::as_str), Some("b"));
        assert_eq!(tags_from_name("sumSeries(a;b=c)").len(), 1);
    }

    #[test]
    fn consolidation_keeps_partial_chunk() {
        let v = vec![Some(1.0), None, Some(3.0), Some(5.0), None];
        assert_eq!(
            consolidate_values(&v, 2, "sum", 0.0),
            vec![Some(1.0), Some(8.0), None]
        );
        assert_eq!(
            consolidate_values(&v, 2, "average", 0.6),
            vec![None, Some(4.0), None]
        );
    }
}
