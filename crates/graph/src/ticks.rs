//! Y-axis tick choice and labels as glyph.py does them: "nice" steps chosen by least slop,
//! unit prefixes (si, binary, none) and the label formats picked from the span.

use crate::error::GraphError;

const EPSILON: f64 = 0.0001;

/// Unit prefixes of a `yUnitSystem`, largest first.
pub fn unit_system(name: &str) -> &'static [(&'static str, f64)] {
    const SI: [(&str, f64); 5] = [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)];
    const BIN: [(&str, f64); 5] = [
        ("Pi", 1125899906842624.0),
        ("Ti", 1099511627776.0),
        ("Gi", 1073741824.0),
        ("Mi", 1048576.0),
        ("Ki", 1024.0),
    ];
    const SEC: [(&str, f64); 5] = [
        ("Y", 31536000.0),
        ("M", 2592000.0),
        ("D", 86400.0),
        ("H", 3600.0),
        ("m", 60.0),
    ];
    const MSEC: [(&str, f64); 6] = [
        ("Y", 31536000000.0),
        ("M", 2592000000.0),
        ("D", 86400000.0),
        ("H", 3600000.0),
        ("m", 60000.0),
        ("s", 1000.0),
    ];
    match name {
        "binary" => &BIN,
        "sec" => &SEC,
        "msec" => &MSEC,
        "none" => &[],
        _ => &SI,
    }
}

/// Whether `name` is a unit system graphite knows (others fall back to si).
pub fn is_unit_system(name: &str) -> bool {
    matches!(name, "si" | "binary" | "sec" | "msec" | "none")
}

/// glyph.py's `format_units`: the value scaled to the largest prefix it (and the step) reach.
pub fn format_units(v: f64, step: Option<f64>, system: &str) -> (f64, &'static str) {
    for (prefix, size) in unit_system(system) {
        if v.abs() >= *size && !matches!(step, Some(s) if s < *size) {
            let mut v2 = v / size;
            if v2 - v2.floor() < 0.00000000001 && v > 1.0 {
                v2 = v2.floor();
            }
            return (v2, prefix);
        }
    }
    let mut v = v;
    if v - v.floor() < 0.00000000001 && v > 1.0 {
        v = v.floor();
    }
    (v, "")
}

/// Python's `"%g" % v`.
pub fn py_g(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{:.5e}", v);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v))
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

fn check_finite(v: f64, what: &str) -> Result<f64, GraphError> {
    if v.is_nan() {
        Err(GraphError::Layout(format!("Encountered NaN {what}")))
    } else if v.is_infinite() {
        Err(GraphError::Layout(format!("Encountered infinite {what}")))
    } else {
        Ok(v)
    }
}

/// Where an axis limit came from (glyph.py's `*ValueSource`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Data,
    Min,
    Max,
    Limit,
    Extremum,
}

/// One y axis: its range, step and labels.
#[derive(Debug, Clone)]
pub struct Axis {
    min: f64,
    max: f64,
    min_src: Source,
    max_src: Source,
    limit: Option<f64>,
    unit_system: String,
    log_base: Option<f64>,
    /// Distance between labels (linear axes).
    pub step: Option<f64>,
    /// Lowest value shown.
    pub bottom: f64,
    /// Highest value shown.
    pub top: f64,
    /// top - bottom.
    pub span: f64,
}

/// User settings for one axis.
#[derive(Debug, Clone, Copy, Default)]
pub struct AxisSettings {
    /// yMin.
    pub min: Option<f64>,
    /// yMax (`None`), a number, or "max" (`max_is_extremum`).
    pub max: Option<f64>,
    /// yMax=max.
    pub max_is_extremum: bool,
    /// yLimit.
    pub limit: Option<f64>,
    /// yStep.
    pub step: Option<f64>,
}

impl Axis {
    /// An axis over data from `min` to `max`, with the user's settings applied.
    pub fn new(
        min: f64,
        max: f64,
        unit_system: &str,
        log_base: Option<f64>,
        set: &AxisSettings,
        divisors: &[i64],
    ) -> Result<Axis, GraphError> {
        if let Some(b) = log_base {
            if b <= 1.0 {
                return Err(GraphError::Layout(
                    "Logarithmic base must be greater than one".into(),
                ));
            }
        }
        let mut a = Axis {
            min: check_finite(min, "data value")?,
            max: check_finite(max, "data value")?,
            min_src: Source::Data,
            max_src: Source::Data,
            limit: None,
            unit_system: unit_system.to_string(),
            log_base,
            step: None,
            bottom: 0.0,
            top: 0.0,
            span: 0.0,
        };
        a.apply(set)?;
        if log_base.is_none() {
            match set.step {
                Some(s) => a.step = Some(check_finite(s, "axis step")?),
                None => a.choose_step(divisors, unit_system == "binary")?,
            }
        }
        a.choose_limits()?;
        Ok(a)
    }

    fn apply(&mut self, s: &AxisSettings) -> Result<(), GraphError> {
        if let Some(m) = s.min.filter(|m| !m.is_nan()) {
            self.min_src = Source::Min;
            self.min = check_finite(m, "axis min")?;
        }
        if s.max_is_extremum {
            self.max_src = Source::Extremum;
        } else if let Some(m) = s.max.filter(|m| !m.is_nan()) {
            self.max_src = Source::Max;
            self.max = check_finite(m, "axis max")?;
        }
        match s.limit.filter(|l| !l.is_nan()) {
            None => self.limit = None,
            Some(l) if l < self.max => {
                self.max = check_finite(l, "axis limit")?;
                self.max_src = Source::Limit;
                self.limit = None;
            }
            Some(l) if l.is_infinite() => self.limit = None,
            Some(l) => self.limit = Some(l),
        }
        if self.min < self.max {
            return Ok(());
        }
        let delta = |x: f64| if x.abs() < 1.0e-9 { 1.0 } else { 0.1 * x.abs() };
        let min_fixed = self.min_src == Source::Min;
        let max_fixed = matches!(self.max_src, Source::Max | Source::Limit);
        if min_fixed && max_fixed {
            let name = |s: Source| match s {
                Source::Min => "min",
                Source::Max => "max",
                Source::Limit => "limit",
                Source::Extremum => "extremum",
                Source::Data => "data",
            };
            return Err(GraphError::Layout(format!(
                "The {} must be less than the {}",
                name(self.min_src),
                name(self.max_src)
            )));
        } else if min_fixed {
            self.max = self.min + delta(self.min);
        } else if max_fixed {
            self.min = self.max - delta(self.max);
        } else {
            let d = delta(self.min.abs().max(self.max.abs()));
            let avg = (self.min + self.max) / 2.0;
            self.min = avg - d;
            self.max = avg + d;
        }
        Ok(())
    }

    fn slop(&self, step: f64, divisor: f64) -> Option<f64> {
        let bottom = step * (self.min / step + EPSILON).floor();
        let top = bottom + step * divisor;
        if top >= self.max - EPSILON * step {
            Some((top - self.max).max(self.min - bottom))
        } else {
            None
        }
    }

    fn choose_step(&mut self, divisors: &[i64], binary: bool) -> Result<(), GraphError> {
        let divisors: Vec<f64> = if divisors.is_empty() {
            vec![4.0, 5.0, 6.0]
        } else {
            divisors.iter().map(|d| *d as f64).collect()
        };
        if divisors.iter().any(|d| *d < 1.0) {
            return Err(GraphError::Layout(
                "Divisors must be greater than or equal to one".into(),
            ));
        }
        if self.min == self.max {
            if self.min == 0.0 {
                self.max = 1.0;
            } else if self.min < 0.0 {
                self.min *= 1.1;
                self.max *= 0.9;
            } else {
                self.min *= 0.9;
                self.max *= 1.1;
            }
        }
        let variance = self.max - self.min;
        let dmax = divisors.iter().cloned().fold(f64::MIN, f64::max);
        let dmin = divisors.iter().cloned().fold(f64::MAX, f64::min);
        let min_step = check_finite(variance / dmax, "value")?;
        let (base, mantissas): (f64, &[f64]) = if binary {
            (2.0, &[1.0])
        } else {
            (10.0, &[1.0, 2.0, 5.0])
        };
        let mut exponent = if binary {
            (min_step.log2() - EPSILON).floor()
        } else {
            (min_step.log10() - EPSILON).floor()
        };
        let mut best: Option<(f64, f64)> = None;
        // bounded: each exponent multiplies the step by the base, so the break comes quickly
        'outer: for _ in 0..400 {
            let mult = base.powf(exponent);
            for m in mantissas {
                let step = m * mult;
                if step < min_step * (1.0 - EPSILON) {
                    continue;
                }
                if let Some((bs, _)) = best {
                    if step * dmin >= 2.0 * bs + variance {
                        break 'outer;
                    }
                }
                for d in &divisors {
                    if let Some(s) = self.slop(step, *d) {
                        if !matches!(best, Some((bs, _)) if s >= bs) {
                            best = Some((s, step));
                        }
                    }
                }
            }
            exponent += 1.0;
        }
        self.step = best.map(|(_, s)| s);
        if self.step.is_none() {
            return Err(GraphError::Layout("no axis step fits".into()));
        }
        Ok(())
    }

    fn choose_limits(&mut self) -> Result<(), GraphError> {
        if let Some(base) = self.log_base {
            if self.min <= 0.0 {
                return Err(GraphError::Layout(
                    "Logarithmic scale specified with a dataset with a minimum value less than or equal to zero".into(),
                ));
            }
            self.bottom = base.powf(self.min.log(base).floor());
            self.top = base.powf(self.max.log(base).ceil());
            self.span = self.top - self.bottom;
            if self.span == 0.0 {
                self.top *= base;
                self.span = self.top - self.bottom;
            }
            return Ok(());
        }
        let step = self.step.unwrap_or(1.0);
        self.bottom = if self.min_src == Source::Data {
            step * (self.min / step + EPSILON).floor()
        } else {
            self.min
        };
        if self.max_src == Source::Data {
            self.top = step * (self.max / step - EPSILON).ceil();
            if let Some(l) = self.limit {
                if self.top > l + EPSILON * step {
                    self.top = l;
                }
            }
        } else {
            self.top = self.max;
        }
        self.span = self.top - self.bottom;
        if self.span == 0.0 {
            self.top += 1.0;
            self.span += 1.0;
        }
        Ok(())
    }

    /// The values that get a label (and a major grid line).
    pub fn label_values(&mut self) -> Result<Vec<f64>, GraphError> {
        let mut out = Vec::new();
        if let Some(base) = self.log_base {
            let mut v = base.powf((self.bottom.log(base) - EPSILON).ceil());
            while v < self.top * (1.0 + EPSILON) && out.len() < 1000 {
                out.push(v);
                v *= base;
            }
            return Ok(out);
        }
        let mut step = self.step.unwrap_or(0.0);
        if step <= 0.0 {
            return Err(GraphError::Layout("The step size must be positive".into()));
        }
        if self.span > 1000.0 * step {
            self.choose_step(&[], false)?;
            step = self.step.unwrap_or(1.0);
        }
        let start = step * (self.bottom / step - EPSILON).ceil();
        for i in 0..=1001 {
            let v = start + f64::from(i) * step;
            if v > self.top + EPSILON * step {
                break;
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The label for `value` (glyph.py's `makeLabel`, trailing space and all).
    pub fn label(&self, value: f64) -> String {
        let (v, prefix) = format_units(value, self.step, &self.unit_system);
        let (span, span_prefix) = format_units(self.span, self.step, &self.unit_system);
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix} ")
        };
        if v < 0.1 {
            format!("{} {prefix}", py_g(v))
        } else if v < 1.0 {
            format!("{v:.2} {prefix}")
        // graphite compares the bare span prefix with the value's prefix after it gained its
        // trailing space, so any prefixed value takes this branch
        } else if span > 10.0 || span_prefix != prefix || span > 3.0 {
            format!("{v:.1} {prefix}")
        } else if span > 0.1 {
            format!("{v:.2} {prefix}")
        } else {
            format!("{} {prefix}", py_g(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(min: f64, max: f64, sys: &str) -> Vec<String> {
        let mut a = Axis::new(min, max, sys, None, &AxisSettings::default(), &[4, 5, 6]).unwrap();
        a.label_values()
            .unwrap()
            .into_iter()
            .map(|v| a.label(v))
            .collect()
    }

    #[test]
    fn py_g_matches_python() {
        assert_eq!(py_g(0.0), "0");
        assert_eq!(py_g(0.05), "0.05");
        assert_eq!(py_g(-5.0), "-5");
        assert_eq!(py_g(1e-5), "1e-05");
        assert_eq!(py_g(1234567.0), "1.23457e+06");
        assert_eq!(py_g(0.30000000000000004), "0.3");
    }

    #[test]
    fn si_and_binary_prefixes() {
        assert_eq!(
            labels(0.0, 26.0, "si"),
            ["0 ", "5.0 ", "10.0 ", "15.0 ", "20.0 ", "25.0 ", "30.0 "]
        );
        assert_eq!(
            labels(0.0, 4000.0, "si"),
            ["0 ", "1.0 k ", "2.0 k ", "3.0 k ", "4.0 k "]
        );
        assert_eq!(
            labels(0.0, 4.0 * 1048576.0, "binary"),
            ["0 ", "1.0 Mi ", "2.0 Mi ", "3.0 Mi ", "4.0 Mi "]
        );
        assert_eq!(labels(0.0, 4000.0, "none")[1], "1000.0 ");
    }

    #[test]
    fn both_limits_fixed_and_crossed_is_an_error() {
        let set = AxisSettings {
            min: Some(5.0),
            max: Some(1.0),
            ..Default::default()
        };
        assert!(Axis::new(0.0, 10.0, "si", None, &set, &[4, 5, 6]).is_err());
    }
}
