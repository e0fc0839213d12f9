//! The line graph (glyph.py's `LineGraph`): legend, y axes, x axis by time range, grid,
//! lines in slope/staircase/connected modes, and filled areas (first, all, stacked).

use crate::color::{self, Rgba};
use crate::error::GraphError;
use crate::frame::{Align, Frame, LegendItem, VAlign};
use crate::params::{Params, Value};
use crate::scene::{Clip, Op, Path, Scene};
use crate::ticks::{self, Axis, AxisSettings};
use crate::xaxis::{self, Clock};
use chrono_tz::Tz;
use query::series::{consolidate_values, Series};

/// A series as the drawing code holds it.
struct DS {
    name: String,
    color: Rgba,
    raw: Vec<Option<f64>>,
    start: i64,
    end: i64,
    step: i64,
    cf: String,
    xff: f64,
    vpp: usize,
    vals: Vec<Option<f64>>,
    x_step: f64,
    stacked: bool,
    second: bool,
    infinite: bool,
    invisible: bool,
    alpha: Option<f64>,
    width: Option<f64>,
    dash: Option<f64>,
}

impl DS {
    fn consolidate(&mut self, n: usize) {
        self.vpp = n.max(1);
        self.vals = consolidate_values(&self.raw, self.vpp, &self.cf, self.xff);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Only,
    Left,
    Right,
}

struct YAxis {
    axis: Axis,
    values: Vec<f64>,
    labels: Vec<String>,
    label_width: f64,
}

struct LineGraph<'p> {
    f: Frame,
    p: &'p Params,
    data: Vec<DS>,
    line_width: f64,
    line_mode: String,
    area_mode: String,
    connected_limit: f64,
    log_base: Option<f64>,
    unit_system: String,
    y_axis_right: bool,
    start: i64,
    end: i64,
    time_range: f64,
    graph_width: f64,
    y: Option<YAxis>,
    yl: Option<YAxis>,
    yr: Option<YAxis>,
    /// Stacked areas not yet emitted (see `flush_areas`).
    pending: Vec<(Path, Rgba, Clip)>,
}

fn mode(p: &Params, name: &str, default: &str, valid: &[&str]) -> Result<String, GraphError> {
    let m = p
        .text(name)
        .unwrap_or_else(|| default.to_string())
        .to_lowercase();
    if valid.contains(&m.as_str()) {
        Ok(m)
    } else {
        Err(GraphError::BadParam(format!(
            "Invalid {name} {m:?}, must be one of {}",
            valid.join(", ")
        )))
    }
}

fn series_color(spec: &str, alpha: Option<f64>) -> Result<Rgba, GraphError> {
    let c = color::parse(spec)?;
    Ok(if c.a < 1.0 {
        c
    } else {
        c.with_alpha(alpha.unwrap_or(1.0))
    })
}

/// Draws `series` as a line graph of `width` x `height` in time zone `tz`.
pub fn draw(
    series: &[Series],
    params: &Params,
    width: u32,
    height: u32,
    tz: Tz,
) -> Result<Scene, GraphError> {
    let mut p = params.clone();
    let mut f = Frame::new(&p, width, height)?;
    let start = series.iter().map(|s| s.start).min();
    let end = series.iter().map(|s| s.end).max();
    let (Some(start), Some(end)) = (start, end) else {
        f.no_data();
        return Ok(f.finish());
    };
    if end - start == 0 {
        f.no_data();
        return Ok(f.finish());
    }
    if p.flag("graphOnly", false) {
        for k in ["hideLegend", "hideGrid", "hideAxes"] {
            p.set(k, Value::Bool(true));
        }
        p.set("hideXAxis", Value::Bool(false));
        p.set("hideYAxis", Value::Bool(false));
        p.set("yAxisSide", Value::Str("left".into()));
        p.set("title", Value::Str(String::new()));
        p.set("vtitle", Value::Str(String::new()));
        f.margin = 0.0;
        f.area.xmin = 0.0;
        f.area.xmax = f.width;
        f.area.ymin = 0.0;
        f.area.ymax = f.height;
    }
    if !p.has("yMin") {
        if let Some(v) = p.get("min").cloned() {
            p.set("yMin", v);
        }
    }
    if !p.has("yMax") {
        if let Some(v) = p.get("max").cloned() {
            p.set("yMax", v);
        }
    }
    if !p.has("lineWidth") {
        if let Some(v) = p.get("thickness").cloned() {
            p.set("lineWidth", v);
        }
    }
    let mut unit_system = p
        .text("yUnitSystem")
        .unwrap_or_else(|| "si".into())
        .to_lowercase();
    if !ticks::is_unit_system(&unit_system) {
        unit_system = "si".into();
    }
    let second_y_axis = series.iter().any(|s| s.options.second_y_axis);
    let mut y_axis_right = p.text("yAxisSide").is_some_and(|s| s == "right");
    if second_y_axis {
        y_axis_right = false;
    }
    if y_axis_right {
        // graphite measures right-side positions from the margin, which it sets to the width
        f.margin = f.width;
    }
    f.second_y_axis = second_y_axis;
    let line_width = p.num_or("lineWidth", 1.2)?;
    if !(0.0..=100.0).contains(&line_width) {
        return Err(GraphError::BadParam(
            "lineWidth must be within 0..100".into(),
        ));
    }
    let mut line_mode = mode(
        &p,
        "lineMode",
        "slope",
        &["staircase", "slope", "connected"],
    )?;
    let area_mode = mode(&p, "areaMode", "none", &["none", "first", "all", "stacked"])?;
    mode(&p, "pieMode", "maximum", &["maximum", "minimum", "average"])?;
    let connected_limit = p.num_or("connectedLimit", f64::INFINITY)?;
    let log_base = match p.get("logBase") {
        None => None,
        Some(Value::Str(s)) if s == "e" => Some(std::f64::consts::E),
        Some(_) => p.num("logBase")?.filter(|b| *b >= 1.0),
    };
    if line_mode == "slope" && series.iter().any(|s| s.values.len() == 1) {
        line_mode = "staircase".into();
    }
    let mut data = Vec::with_capacity(series.len());
    for s in series {
        let o = &s.options;
        let mut width = o.line_width;
        let mut dash = o.dashed;
        let mut color_spec = o.color.clone();
        if second_y_axis {
            let side = if o.second_y_axis { "right" } else { "left" };
            if let Some(w) = p.num(&format!("{side}Width"))? {
                width = Some(w);
            }
            if let Some(d) = p.num(&format!("{side}Dashed"))? {
                dash = Some(d);
            }
            if let Some(c) = p.text(&format!("{side}Color")) {
                color_spec = Some(c);
            }
        }
        let color = match &color_spec {
            Some(c) => series_color(c, o.alpha)?,
            None => f.next_color().with_alpha(o.alpha.unwrap_or(1.0)),
        };
        let color = if o.invisible {
            color.with_alpha(0.0)
        } else {
            color
        };
        data.push(DS {
            name: s.name.clone(),
            color,
            raw: s.values.clone(),
            start: s.start,
            end: s.end,
            step: s.step.max(1),
            cf: s.consolidation_func.clone(),
            xff: s.x_files_factor,
            vpp: 1,
            vals: s.values.clone(),
            x_step: 0.0,
            stacked: o.stacked.is_some(),
            second: o.second_y_axis,
            infinite: o.draw_as_infinite,
            invisible: o.invisible,
            alpha: o.alpha,
            width,
            dash,
        });
    }
    let mut g = LineGraph {
        f,
        p: &p,
        data,
        line_width,
        line_mode,
        area_mode,
        connected_limit,
        log_base,
        unit_system,
        y_axis_right,
        start,
        end,
        time_range: 0.0,
        graph_width: 0.0,
        y: None,
        yl: None,
        yr: None,
        pending: Vec::new(),
    };
    g.layout(tz)?;
    let meta = g.metadata();
    let mut scene = g.f.finish();
    scene.meta = Some(meta);
    Ok(scene)
}

impl LineGraph<'_> {
    fn layout(&mut self, tz: Tz) -> Result<(), GraphError> {
        let p = self.p;
        let fs = self.f.font_size;
        self.f.cur_size = fs + fs.ln().floor();
        if let Some(t) = p.text("title").filter(|t| !t.is_empty()) {
            self.f.title(&t, self.y_axis_right);
        }
        if let Some(t) = p.text("vtitle").filter(|t| !t.is_empty()) {
            self.vtitle(&t, false);
        }
        if self.f.second_y_axis {
            if let Some(t) = p.text("vtitleRight").filter(|t| !t.is_empty()) {
                self.vtitle(&t, true);
            }
        }
        self.f.cur_size = fs;
        if !p.flag("hideLegend", self.data.len() > 10) {
            let hide_null = p.flag("hideNullFromLegend", false);
            let items: Vec<LegendItem> = self
                .data
                .iter()
                .filter(|s| !s.name.is_empty())
                .filter(|s| !(hide_null && s.raw.iter().all(Option::is_none)))
                .map(|s| (s.name.clone(), s.color, s.second))
                .collect();
            if !items.is_empty() {
                self.f.legend(&items, p.flag("uniqueLegend", false));
            }
        }
        if !p.flag("hideAxes", false) && !p.flag("hideXAxis", false) {
            self.f.area.ymax -= self.f.extents().ascent * 2.0;
        }
        self.end = if self.line_mode == "staircase" {
            self.data.iter().map(|s| s.end).max().unwrap_or(self.end)
        } else {
            self.data
                .iter()
                .map(|s| s.end - s.step)
                .max()
                .unwrap_or(self.end)
        };
        self.time_range = ((self.end - self.start) as f64).max(1.0);
        self.consolidate()?;
        self.f.group("axes");
        let (mut xmin, mut xmax) = (self.f.area.xmin, self.f.area.xmax);
        self.setup_y()?;
        let mut rounds = 0;
        while (xmin != self.f.area.xmin || xmax != self.f.area.xmax) && rounds < 20 {
            self.consolidate()?;
            xmin = self.f.area.xmin;
            xmax = self.f.area.xmax;
            self.setup_y()?;
            rounds += 1;
        }
        let clock = Clock::new(self.start, tz);
        let conf = xaxis::choose(self.time_range, self.graph_width);
        if !p.flag("hideAxes", false) {
            self.labels(&clock, &conf);
            if !p.flag("hideGrid", false) {
                self.f.group("grid");
                self.grid(&clock, &conf);
            }
        }
        self.f.group("lines");
        self.lines()
    }

    fn vtitle(&mut self, text: &str, right: bool) {
        let lh = self.f.extents().height;
        let fg = self.f.fg;
        if right {
            self.f.group("vtitleRight");
            let mut x = self.f.area.xmax - lh;
            let y = self.f.height / 2.0;
            for line in text.split('\n') {
                self.f
                    .text(line, x, y, fg, Align::Center, VAlign::Baseline, 90.0);
                x -= lh;
            }
            self.f.area.xmax = x - self.f.margin - lh;
        } else {
            self.f.group("vtitle");
            let mut x = self.f.area.xmin + lh;
            let y = self.f.height / 2.0;
            for line in text.split('\n') {
                self.f
                    .text(line, x, y, fg, Align::Center, VAlign::Baseline, 270.0);
                x += lh;
            }
            self.f.area.xmin = x + self.f.margin + lh;
        }
    }

    fn consolidate(&mut self) -> Result<(), GraphError> {
        let pixels = self.f.area.xmax - self.f.area.xmin - (self.line_width + 1.0);
        if pixels < 1.0 {
            return Err(GraphError::Layout(
                "no room left to draw the graph (too small for its title, legend and labels)"
                    .into(),
            ));
        }
        self.graph_width = pixels;
        let min_x_step = self.p.num_or("minXStep", 1.0)?.max(0.001);
        for s in &mut self.data {
            let points = self.time_range / s.step as f64;
            let best = pixels / points;
            if best < min_x_step {
                let drawable = (pixels / min_x_step).trunc().max(1.0);
                let ppp = (points / drawable).ceil().max(1.0);
                s.consolidate(ppp as usize);
                s.x_step = pixels * ppp / points;
            } else {
                s.x_step = best;
            }
        }
        Ok(())
    }

    fn settings(&self, suffix: &str) -> Result<AxisSettings, GraphError> {
        let p = self.p;
        let max_name = format!("yMax{suffix}");
        Ok(AxisSettings {
            min: p.num(&format!("yMin{suffix}"))?,
            max_is_extremum: p.text(&max_name).is_some_and(|m| m == "max"),
            max: if p.text(&max_name).is_some_and(|m| m == "max") {
                None
            } else {
                p.num(&max_name)?
            },
            limit: p.num(&format!("yLimit{suffix}"))?,
            step: p.num(&format!("yStep{suffix}"))?,
        })
    }

    fn divisors(&self) -> Result<Vec<i64>, GraphError> {
        match self.p.text("yDivisors") {
            None => Ok(vec![4, 5, 6]),
            Some(t) => t
                .split(',')
                .map(|d| {
                    d.trim()
                        .parse::<i64>()
                        .ok()
                        .filter(|d| (1..=1000).contains(d))
                        .ok_or_else(|| GraphError::BadParam(format!("invalid yDivisors {t:?}")))
                })
                .collect(),
        }
    }

    fn make_axis(&self, side: Side) -> Result<YAxis, GraphError> {
        let stacked = self.area_mode == "stacked";
        let dnz = self.p.flag("drawNullAsZero", false);
        let pick: Vec<&DS> = self
            .data
            .iter()
            .filter(|s| match side {
                Side::Only => true,
                Side::Left => !s.second,
                Side::Right => s.second,
            })
            .collect();
        let (lo, hi) = data_limits(&pick, dnz, stacked);
        let suffix = match side {
            Side::Only => "",
            Side::Left => "Left",
            Side::Right => "Right",
        };
        let mut axis = Axis::new(
            lo,
            hi,
            &self.unit_system,
            self.log_base,
            &self.settings(suffix)?,
            &self.divisors()?,
        )?;
        let hide_axes = self.p.flag("hideAxes", false) && side == Side::Only;
        if hide_axes {
            return Ok(YAxis {
                axis,
                values: Vec::new(),
                labels: Vec::new(),
                label_width: 0.0,
            });
        }
        let values = axis.label_values()?;
        let labels: Vec<String> = values.iter().map(|v| axis.label(*v)).collect();
        let label_width = labels
            .iter()
            .map(|l| self.f.text_width(l))
            .fold(0.0, f64::max);
        Ok(YAxis {
            axis,
            values,
            labels,
            label_width,
        })
    }

    fn setup_y(&mut self) -> Result<(), GraphError> {
        if self.f.second_y_axis {
            let l = self.make_axis(Side::Left)?;
            let r = self.make_axis(Side::Right)?;
            let x_min = self.f.margin + l.label_width * 1.02;
            if self.f.area.xmin < x_min {
                self.f.area.xmin = x_min;
            }
            let x_max = self.f.width - r.label_width * 1.02;
            if self.f.area.xmax >= x_max {
                self.f.area.xmax = x_max;
            }
            self.yl = Some(l);
            self.yr = Some(r);
        } else {
            let y = self.make_axis(Side::Only)?;
            if !self.p.flag("hideAxes", false) && !self.p.flag("hideYAxis", false) {
                if !self.y_axis_right {
                    let x_min = self.f.margin + y.label_width * 1.02;
                    if self.f.area.xmin < x_min {
                        self.f.area.xmin = x_min;
                    }
                } else {
                    let x_max = self.f.margin - y.label_width * 1.02;
                    if self.f.area.xmax >= x_max {
                        self.f.area.xmax = x_max;
                    }
                }
            }
            self.y = Some(y);
        }
        Ok(())
    }

    fn y_coord(&self, value: f64, side: Side) -> Option<f64> {
        let ax = match side {
            Side::Only => self.y.as_ref(),
            Side::Left => self.yl.as_ref(),
            Side::Right => self.yr.as_ref(),
        }?;
        let (hi, lo) = if ax.values.is_empty() {
            (ax.axis.top, ax.axis.bottom)
        } else {
            (
                ax.values.iter().cloned().fold(f64::MIN, f64::max),
                ax.values.iter().cloned().fold(f64::MAX, f64::min),
            )
        };
        let pixels = self.f.area.ymax - self.f.area.ymin;
        let (rel, range) = match self.log_base {
            Some(b) => {
                if value <= 0.0 {
                    return None;
                }
                (value.log(b) - lo.log(b), hi.log(b) - lo.log(b))
            }
            None => (value - lo, hi - lo),
        };
        if range == 0.0 || !range.is_finite() {
            return Some(self.f.area.ymax);
        }
        Some(self.f.area.ymax - pixels / range * rel)
    }

    fn side_of(&self, s: &DS) -> Side {
        if !self.f.second_y_axis {
            Side::Only
        } else if s.second {
            Side::Right
        } else {
            Side::Left
        }
    }

    fn labels(&mut self, clock: &Clock, conf: &xaxis::XConf) {
        let fg = self.f.fg;
        if !self.p.flag("hideYAxis", false) {
            let mut todo: Vec<(String, f64, f64, Align)> = Vec::new();
            if !self.f.second_y_axis {
                if let Some(y) = &self.y {
                    for (v, l) in y.values.iter().zip(&y.labels) {
                        let x = if self.y_axis_right {
                            self.f.area.xmax + y.label_width * 0.02
                        } else {
                            self.f.area.xmin - y.label_width * 0.02
                        };
                        if let Some(yc) = self.y_coord(*v, Side::Only) {
                            let al = if self.y_axis_right {
                                Align::Left
                            } else {
                                Align::Right
                            };
                            todo.push((l.clone(), x, yc.max(0.0), al));
                        }
                    }
                }
            } else {
                if let Some(y) = &self.yl {
                    for (v, l) in y.values.iter().zip(&y.labels) {
                        if let Some(yc) = self.y_coord(*v, Side::Left) {
                            todo.push((
                                l.clone(),
                                self.f.area.xmin - y.label_width * 0.02,
                                yc.max(0.0),
                                Align::Right,
                            ));
                        }
                    }
                }
                if let Some(y) = &self.yr {
                    for (v, l) in y.values.iter().zip(&y.labels) {
                        if let Some(yc) = self.y_coord(*v, Side::Right) {
                            todo.push((
                                l.clone(),
                                self.f.area.xmax + y.label_width * 0.02 + 3.0,
                                yc.max(0.0),
                                Align::Left,
                            ));
                        }
                    }
                }
            }
            for (l, x, y, al) in todo {
                self.f.text(&l, x, y, fg, al, VAlign::Middle, 0.0);
            }
        }
        if !self.p.flag("hideXAxis", false) {
            let fmt = self
                .p
                .text("xFormat")
                .unwrap_or_else(|| conf.format.to_string());
            let scale = self.graph_width / self.time_range;
            let y = self.f.area.ymax + self.f.extents().ascent;
            for (secs, dt) in clock.ticks(conf.label.0, conf.label.1, self.end) {
                let label = xaxis::format(&dt, &fmt);
                let x = self.f.area.xmin + secs * scale;
                self.f
                    .text(&label, x, y, fg, Align::Center, VAlign::Top, 0.0);
            }
        }
    }

    fn grid(&mut self, clock: &Clock, conf: &xaxis::XConf) {
        let (left, right) = (self.f.area.xmin, self.f.area.xmax);
        let side = if self.f.second_y_axis {
            Side::Left
        } else {
            Side::Only
        };
        let ax = if self.f.second_y_axis {
            &self.yl
        } else {
            &self.y
        };
        let (values, top) = match ax {
            Some(a) => (a.values.clone(), a.axis.top),
            None => (Vec::new(), 0.0),
        };
        let minor_y = self
            .p
            .num_or("minorY", 1.0)
            .unwrap_or(1.0)
            .clamp(0.0, 100.0) as usize;
        let (major_c, minor_c) = (self.f.major, self.f.minor);
        for (i, v) in values.iter().enumerate() {
            if let Some(y) = self.y_coord(*v, side).filter(|y| *y >= 0.0) {
                let mut path = Path::new();
                path.move_to(left, y);
                path.line_to(right, y);
                self.f.stroke(path, major_c, 0.4, None, Clip::None);
            }
            if minor_y >= 1 && i + 1 < values.len() {
                let (lo, hi) = if *v <= values[i + 1] {
                    (*v, values[i + 1])
                } else {
                    (values[i + 1], *v)
                };
                let dist = (hi - lo) / (1.0 + minor_y as f64);
                let factor = self.log_base.map_or(1.0, |b| b * b);
                for m in 0..minor_y {
                    let value = lo + (1.0 + m as f64) * dist;
                    if value >= factor * top {
                        continue;
                    }
                    if let Some(y) = self.y_coord(value, side).filter(|y| *y >= 0.0) {
                        let mut path = Path::new();
                        path.move_to(left, y);
                        path.line_to(right, y);
                        self.f.stroke(path, minor_c, 0.3, None, Clip::None);
                    }
                }
            }
        }
        let (top, bottom) = (self.f.area.ymin, self.f.area.ymax);
        let scale = self.graph_width / self.time_range;
        for (unit, width, color) in [(conf.minor, 0.25, minor_c), (conf.major, 0.33, major_c)] {
            let mut path = Path::new();
            for (secs, _) in clock.ticks(unit.0, unit.1, self.end) {
                let x = left + secs * scale;
                if x < right {
                    path.move_to(x, bottom);
                    path.line_to(x, top);
                }
            }
            self.f.stroke(path, color, width, None, Clip::None);
        }
        let mut path = Path::new();
        path.move_to(right, bottom);
        path.line_to(right, top);
        path.move_to(left, bottom);
        path.line_to(left, top);
        self.f.stroke(path, major_c, 0.5, None, Clip::None);
    }

    fn lines(&mut self) -> Result<(), GraphError> {
        if self.data.iter().any(|s| s.stacked) {
            let (mut st, rest): (Vec<DS>, Vec<DS>) = std::mem::take(&mut self.data)
                .into_iter()
                .partition(|s| s.stacked);
            st.extend(rest);
            self.data = st;
        }
        if self.area_mode == "stacked" && !self.f.second_y_axis {
            let mut total: Vec<f64> = Vec::new();
            for s in self.data.iter_mut().filter(|s| !s.infinite) {
                s.stacked = true;
                for (i, v) in s.raw.iter_mut().enumerate() {
                    if total.len() <= i {
                        total.push(0.0);
                    }
                    if let Some(x) = v {
                        let orig = *x;
                        *x += total[i];
                        total[i] += orig;
                    }
                }
                let n = s.vpp;
                s.consolidate(n);
            }
        } else if self.area_mode == "first" {
            if let Some(s) = self.data.first_mut() {
                s.stacked = true;
            }
        } else if self.area_mode == "all" {
            for s in self.data.iter_mut().filter(|s| !s.infinite) {
                s.stacked = true;
            }
        }
        if let Some(a) = self.p.get("areaAlpha").filter(|v| v.truthy()) {
            let alpha = match a {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.5,
            };
            let mut strokes = Vec::new();
            for s in self.data.iter_mut().filter(|s| s.stacked) {
                s.alpha = Some(alpha);
                s.color = s.color.with_alpha(1.0);
                s.color.a = alpha.clamp(0.0, 1.0);
                strokes.push(DS {
                    name: s.name.clone(),
                    color: s
                        .color
                        .with_alpha(1.0 / s.color.a.max(1e-9))
                        .with_alpha(1.0),
                    raw: s.vals.clone(),
                    start: s.start,
                    end: s.end,
                    step: s.step * s.vpp as i64,
                    cf: s.cf.clone(),
                    xff: s.xff,
                    vpp: 1,
                    vals: s.vals.clone(),
                    x_step: s.x_step,
                    stacked: false,
                    second: s.second,
                    infinite: false,
                    invisible: false,
                    alpha: None,
                    width: None,
                    dash: None,
                });
            }
            for st in &mut strokes {
                st.color.a = 1.0;
            }
            self.data.extend(strokes);
        }
        let area = self.f.area;
        let rect = Clip::Rect(area.xmin, area.ymin, area.xmax, area.ymax);
        let masked = Clip::RectMinusExcluded(area.xmin, area.ymin, area.xmax, area.ymax);
        let dnz = self.p.flag("drawNullAsZero", false);
        let mut restored = false;
        let data = std::mem::take(&mut self.data);
        for s in &data {
            if !s.stacked {
                restored = true;
            }
            let clip = if restored { rect } else { masked };
            let width = s.width.unwrap_or(self.line_width);
            let dash = s.dash;
            let side = self.side_of(s);
            let zero = self.y_coord(0.0, side);
            let missing = (s.start - self.start) as f64 / s.step as f64;
            let mut x = area.xmin + s.x_step * (missing / s.vpp as f64) + self.line_width / 2.0;
            let mut y = area.ymin;
            let mut start_x = x;
            let color = if s.invisible {
                s.color.with_alpha(0.0)
            } else {
                s.color
            };
            let mut path = Path::new();
            let mut nones = 0usize;
            for (index, v) in s.vals.iter().enumerate() {
                let mut value = v.filter(|x| !x.is_nan());
                if value.is_none() && dnz {
                    value = Some(0.0);
                }
                let yc = value.and_then(|v| self.y_coord(v, side));
                let (Some(value), Some(yc)) = (value, yc) else {
                    if nones == 0 {
                        path.line_to(x, y);
                        if s.stacked {
                            self.fill_area(&mut path, x, start_x, zero, color, clip);
                        }
                    }
                    x += s.x_step;
                    nones += 1;
                    continue;
                };
                y = yc.max(0.0);
                if s.infinite && value > 0.0 {
                    let mut p = Path::new();
                    p.move_to(x, area.ymax);
                    p.line_to(x, area.ymin);
                    self.flush_areas();
                    self.f.stroke(p, color, width, dash, clip);
                    x += s.x_step;
                    continue;
                }
                if nones > 0 {
                    start_x = x;
                }
                match self.line_mode.as_str() {
                    "staircase" => {
                        if nones > 0 {
                            path.move_to(x, y);
                        } else {
                            path.line_to(x, y);
                        }
                        x += s.x_step;
                        path.line_to(x, y);
                    }
                    "slope" => {
                        if nones > 0 {
                            path.move_to(x, y);
                        }
                        path.line_to(x, y);
                        x += s.x_step;
                    }
                    _ => {
                        if nones as f64 > self.connected_limit || nones == index {
                            path.move_to(x, y);
                        }
                        path.line_to(x, y);
                        x += s.x_step;
                    }
                }
                nones = 0;
            }
            if s.stacked {
                let x_pos = if self.line_mode == "staircase" {
                    x
                } else {
                    x - s.x_step
                };
                self.fill_area(&mut path, x_pos, start_x, zero, color, clip);
            } else {
                self.flush_areas();
                self.f.stroke(path, color, width, dash, clip);
            }
        }
        self.flush_areas();
        self.data = data;
        Ok(())
    }

    /// Fills from the current line down to the zero line and removes that area from where
    /// later stacked areas may paint (glyph.py's `fillAreaAndClip`).
    fn fill_area(
        &mut self,
        path: &mut Path,
        x: f64,
        start_x: f64,
        zero: Option<f64>,
        color: Rgba,
        clip: Clip,
    ) {
        let start_x = if start_x == 0.0 {
            self.f.area.xmin
        } else {
            start_x
        };
        let base = zero.filter(|z| *z != 0.0).unwrap_or(self.f.area.ymax);
        let mut p = std::mem::take(path);
        if p.segs.is_empty() {
            return;
        }
        p.line_to(x, base);
        p.line_to(start_x, base);
        p.close();
        if matches!(clip, Clip::RectMinusExcluded(..)) {
            self.pending.push((p, color, clip));
        } else {
            self.f.fill(p.clone(), color, clip);
            self.f.ops.push(Op::Exclude(p));
        }
    }

    /// The `metadata` graphite-web appends to its SVG (without the data points).
    fn metadata(&self) -> String {
        let a = self.f.area;
        let series: Vec<serde_json::Value> = self
            .data
            .iter()
            .filter(|s| !s.stacked)
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "start": s.start, "end": s.end, "step": s.step,
                    "valuesPerPoint": s.vpp, "color": s.color.hex(),
                })
            })
            .collect();
        let mut m = serde_json::json!({
            "x": { "start": self.start, "end": self.end },
            "options": { "lineWidth": self.line_width },
            "font": { "name": "Sans", "size": self.f.font_size, "bold": self.f.bold, "italic": false },
            "area": { "xmin": a.xmin, "xmax": a.xmax, "ymin": a.ymin, "ymax": a.ymax },
            "series": series,
        });
        if let (Some(y), false) = (&self.y, self.f.second_y_axis) {
            m["y"] = serde_json::json!({
                "top": y.axis.top, "bottom": y.axis.bottom, "step": y.axis.step,
                "labels": y.labels, "labelValues": y.values,
            });
        }
        m.to_string()
    }

    /// Emits the stacked areas held back by [`fill_area`](Self::fill_area). graphite clips
    /// each area out of the ones drawn after it, so the first area wins where they overlap;
    /// when every area is opaque, painting them in reverse order shows exactly that without
    /// clip masks (cheaper to draw, and simpler SVG).
    fn flush_areas(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if pending.iter().all(|(_, c, _)| c.a >= 1.0) {
            for (p, c, clip) in pending.into_iter().rev() {
                let rect = match clip {
                    Clip::RectMinusExcluded(a, b, x, y) => Clip::Rect(a, b, x, y),
                    other => other,
                };
                self.f.fill(p, c, rect);
            }
        } else {
            for (p, c, clip) in pending {
                self.f.fill(p.clone(), c, clip);
                self.f.ops.push(Op::Exclude(p));
            }
        }
    }
}

fn safe(v: &Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// glyph.py's `dataLimits` over the series drawn against one axis.
fn data_limits(data: &[&DS], draw_null_as_zero: bool, stacked: bool) -> (f64, f64) {
    let missing = data.iter().any(|s| s.raw.iter().any(Option::is_none));
    let finite: Vec<&&DS> = data.iter().filter(|s| !s.infinite).collect();
    let mut lo = finite
        .iter()
        .filter_map(|s| s.vals.iter().filter_map(safe).reduce(f64::min))
        .reduce(f64::min);
    let Some(mut min) = lo.take() else {
        return (0.0, 1.0);
    };
    if min > 0.0 && draw_null_as_zero && missing {
        min = 0.0;
    }
    let mut max = if stacked {
        let len = finite.iter().map(|s| s.raw.len()).min().unwrap_or(0);
        (0..len)
            .map(|i| {
                finite
                    .iter()
                    .filter_map(|s| s.raw.get(i).and_then(safe))
                    .sum::<f64>()
            })
            .reduce(f64::max)
            .unwrap_or(min)
    } else {
        finite
            .iter()
            .filter_map(|s| s.vals.iter().filter_map(safe).reduce(f64::max))
            .reduce(f64::max)
            .unwrap_or(min)
    };
    if max < 0.0 && draw_null_as_zero && missing {
        max = 0.0;
    }
    (min, max)
}
