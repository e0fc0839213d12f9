//! The pie graph (glyph.py's `PieGraph`): slices from 12 o'clock clockwise, legend, and
//! value labels as percent (`%12.50`, graphite's own format) or numbers.

use crate::color::Rgba;
use crate::error::GraphError;
use crate::frame::{Align, Frame, VAlign};
use crate::params::Params;
use crate::scene::{Clip, Path, Scene};
use query::series::Series;
use std::f64::consts::PI;

/// One slice: a name and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Legend name.
    pub name: String,
    /// Value (a series reduced by pieMode, or a literal `name:value` target).
    pub value: f64,
}

/// How a series becomes one slice value (`pieMode`, default `average` in the render view).
pub fn pie_value(s: &Series, mode: &str) -> Result<f64, GraphError> {
    let vals = s.values.iter().filter_map(|v| *v);
    let v = match mode {
        "average" => {
            let (sum, n) = vals.fold((0.0, 0usize), |(a, n), v| (a + v, n + 1));
            if n == 0 {
                None
            } else {
                Some(sum / n as f64)
            }
        }
        "maximum" => vals.reduce(f64::max),
        "minimum" => vals.reduce(f64::min),
        m => return Err(GraphError::BadParam(format!("Function \"{m}\" not found"))),
    };
    // graphite uses `func(...) or 0`
    Ok(v.filter(|x| !x.is_nan()).unwrap_or(0.0))
}

/// Draws `slices` as a pie of `width` x `height`.
pub fn draw(slices: &[Slice], p: &Params, width: u32, height: u32) -> Result<Scene, GraphError> {
    let mut f = Frame::new(p, width, height)?;
    if slices.is_empty() {
        f.no_data();
        return Ok(f.finish());
    }
    let total: f64 = slices.iter().map(|s| s.value).sum();
    let alpha = match p.get("areaAlpha").filter(|v| v.truthy()) {
        Some(_) => p.num("areaAlpha").ok().flatten().unwrap_or(1.0),
        None => 1.0,
    };
    let mut items: Vec<(String, f64, f64, Rgba)> = Vec::new();
    for s in slices {
        let pct = if total != 0.0 { s.value / total } else { 0.0 };
        let c = f.next_color().with_alpha(alpha);
        items.push((s.name.clone(), s.value, pct, c));
    }
    let fs = f.font_size;
    f.cur_size = fs + fs.ln().floor();
    if let Some(t) = p.text("title").filter(|t| !t.is_empty()) {
        f.title(&t, false);
    }
    f.cur_size = fs;
    if !p.flag("hideLegend", false) {
        let legend: Vec<_> = items
            .iter()
            .map(|(n, _, _, c)| (n.clone(), *c, false))
            .collect();
        f.legend(&legend, false);
    }
    f.group("slices");
    let a = f.area;
    let (hx, hy) = ((a.xmax - a.xmin) / 2.0, (a.ymax - a.ymin) / 2.0);
    let (x0, y0) = (a.xmin + hx, a.ymin + hy);
    let radius = hx.min(hy) * 0.95;
    let mut theta = 1.5 * PI;
    let mut mids = Vec::new();
    for (_, _, pct, c) in &items {
        let phi = theta + 2.0 * PI * pct;
        let mut path = Path::new();
        path.move_to(x0, y0);
        let n = ((phi - theta).abs() / (PI / 90.0)).ceil().clamp(1.0, 720.0) as usize;
        for k in 0..=n {
            let t = theta + (phi - theta) * k as f64 / n as f64;
            path.line_to(x0 + radius * t.cos(), y0 + radius * t.sin());
        }
        path.line_to(x0, y0);
        path.close();
        if radius > 0.0 {
            f.fill(path, *c, Clip::None);
        }
        mids.push(((theta + phi) / 2.0).rem_euclid(2.0 * PI));
        theta = phi;
    }
    let label_color = p.color("valueLabelsColor")?.unwrap_or(Rgba::rgb8(0, 0, 0));
    let min = p.num_or("valueLabelsMin", 5.0)?;
    let kind = p.text("valueLabels").unwrap_or_else(|| "percent".into());
    if !["none", "number", "percent"].contains(&kind.as_str()) {
        return Err(GraphError::BadParam(format!(
            "valueLabels={kind} must be one of ('none', 'number', 'percent')"
        )));
    }
    let rotated = p.text("pieLabels").is_some_and(|l| l == "rotated");
    if kind != "none" {
        f.group("labels");
        for ((_, value, pct, _), mid) in items.iter().zip(mids) {
            let label = if kind == "percent" {
                if pct * 100.0 < min {
                    continue;
                }
                format!("%{:.2}", pct * 100.0)
            } else {
                if *value < min {
                    continue;
                }
                if *value < 10.0 && *value != value.trunc() {
                    format!("{value:.2}")
                } else {
                    format!("{}", value.trunc() as i64)
                }
            };
            let x = x0 + radius / 2.0 * mid.cos();
            let y = y0 + radius / 2.0 * mid.sin();
            let mut rot = 0.0;
            if rotated {
                let mut t = mid;
                if t > PI / 2.0 && t <= 1.5 * PI {
                    t -= PI;
                }
                rot = t.to_degrees();
            }
            f.text(
                &label,
                x,
                y,
                label_color,
                Align::Center,
                VAlign::Middle,
                rot,
            );
        }
    }
    Ok(f.finish())
}
