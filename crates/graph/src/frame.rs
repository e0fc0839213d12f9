//! What both graph types share (glyph.py's `Graph`): the canvas, fonts, colors, the drawing
//! area that title and legend shrink, text placement, title and legend.

use crate::color::{self, Rgba};
use crate::error::GraphError;
use crate::font;
use crate::params::Params;
use crate::scene::{Clip, Op, Path, Scene, Text};

/// Horizontal text alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Align {
    /// Start at x.
    Left,
    /// Centered on x.
    Center,
    /// End at x.
    Right,
}

/// Vertical text alignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VAlign {
    /// Top of the ascent at y.
    Top,
    /// Middle at y.
    Middle,
    /// Baseline at y.
    Baseline,
}

/// The drawing area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// Left.
    pub xmin: f64,
    /// Right.
    pub xmax: f64,
    /// Top.
    pub ymin: f64,
    /// Bottom.
    pub ymax: f64,
}

/// One legend entry: name, color, drawn on the right side.
pub type LegendItem = (String, Rgba, bool);

/// Canvas plus the settings every graph type reads.
pub struct Frame {
    /// Image width.
    pub width: f64,
    /// Image height.
    pub height: f64,
    /// Margin.
    pub margin: f64,
    /// Where the plot goes.
    pub area: Area,
    /// Default font size.
    pub font_size: f64,
    /// Bold text.
    pub bold: bool,
    /// Current font size.
    pub cur_size: f64,
    /// Foreground.
    pub fg: Rgba,
    /// Background.
    pub bg: Rgba,
    /// Major grid lines.
    pub major: Rgba,
    /// Minor grid lines.
    pub minor: Rgba,
    /// Series colors, cycled.
    pub colors: Vec<Rgba>,
    next_color: usize,
    /// Whether the graph has a right axis (legend layout depends on it).
    pub second_y_axis: bool,
    /// The display list.
    pub ops: Vec<Op>,
}

/// graphite's default template (glyph.py's `defaultGraphOptions`).
const DEFAULT_COLORS: &str = "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose";

impl Frame {
    /// The canvas for `p`, background painted.
    pub fn new(p: &Params, width: u32, height: u32) -> Result<Frame, GraphError> {
        let mut margin = p.num_or("margin", 10.0)?.trunc();
        if margin < 0.0 {
            margin = 10.0;
        }
        let (w, h) = (f64::from(width), f64::from(height));
        let font_size = p.num_or("fontSize", 10.0)?.trunc();
        if !(1.0..=200.0).contains(&font_size) {
            return Err(GraphError::BadParam(format!(
                "fontSize {font_size} out of 1..200"
            )));
        }
        let colors = match p.text("colorList") {
            Some(list) => list
                .split(',')
                .map(|c| color::parse(c.trim()))
                .collect::<Result<Vec<_>, _>>()?,
            None => DEFAULT_COLORS
                .split(',')
                .map(color::parse)
                .collect::<Result<Vec<_>, _>>()?,
        };
        if colors.is_empty() {
            return Err(GraphError::BadParam("colorList is empty".into()));
        }
        let bg = p.color("bgcolor")?.unwrap_or(Rgba::rgb8(255, 255, 255));
        let mut f = Frame {
            width: w,
            height: h,
            margin,
            area: Area {
                xmin: margin + 10.0,
                xmax: w - margin,
                ymin: margin,
                ymax: h - margin,
            },
            font_size,
            bold: p.flag("fontBold", false),
            cur_size: font_size,
            fg: p.color("fgcolor")?.unwrap_or(Rgba::rgb8(0, 0, 0)),
            bg,
            major: p
                .color("majorGridLineColor")?
                .unwrap_or(Rgba::rgb8(200, 150, 200)),
            minor: p
                .color("minorGridLineColor")?
                .unwrap_or(Rgba::rgb8(175, 175, 175)),
            colors,
            next_color: 0,
            second_y_axis: false,
            ops: Vec::new(),
        };
        f.fill(Path::rect(0.0, 0.0, w, h), bg, Clip::None);
        Ok(f)
    }

    /// The next color of the cycle.
    pub fn next_color(&mut self) -> Rgba {
        let c = self.colors[self.next_color % self.colors.len()];
        self.next_color += 1;
        c
    }

    /// Font extents at the current size.
    pub fn extents(&self) -> font::Extents {
        font::extents(self.cur_size, self.bold)
    }

    /// Width of `text` at the current size.
    pub fn text_width(&self, text: &str) -> f64 {
        font::width(text, self.cur_size, self.bold)
    }

    /// Fills a path.
    pub fn fill(&mut self, path: Path, color: Rgba, clip: Clip) {
        self.ops.push(Op::Fill { path, color, clip });
    }

    /// Strokes a path.
    pub fn stroke(&mut self, path: Path, color: Rgba, width: f64, dash: Option<f64>, clip: Clip) {
        self.ops.push(Op::Stroke {
            path,
            color,
            width,
            dash,
            clip,
        });
    }

    /// Starts a named SVG section.
    pub fn group(&mut self, name: &'static str) {
        self.ops.push(Op::Group(name));
    }

    /// Places text like glyph.py's `drawText`.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        text: &str,
        x: f64,
        y: f64,
        color: Rgba,
        align: Align,
        valign: VAlign,
        rotate: f64,
    ) {
        let e = self.extents();
        let w = self.text_width(text);
        let h = match align {
            Align::Left => 0.0,
            Align::Center => w / 2.0,
            Align::Right => w,
        };
        let v = match valign {
            VAlign::Top => e.ascent,
            VAlign::Middle => e.height / 2.0 - e.descent,
            VAlign::Baseline => 0.0,
        };
        let (s, c) = rotate.to_radians().sin_cos();
        let bx = x - s * v - c * h;
        let by = y + c * v - s * h;
        self.ops.push(Op::Text(Text {
            text: text.to_string(),
            x: bx,
            y: by,
            size: self.cur_size,
            bold: self.bold,
            color,
            rotate,
            width: w,
        }));
    }

    /// The title, centered on top; moves the area's top down.
    pub fn title(&mut self, text: &str, y_axis_right: bool) {
        self.group("title");
        let mut y = self.area.ymin;
        let x = self.width / 2.0;
        let lh = self.extents().height;
        for line in text.split('\n') {
            self.text(line, x, y, self.fg, Align::Center, VAlign::Top, 0.0);
            y += lh;
        }
        self.area.ymin = if y_axis_right { y } else { y + self.margin };
    }

    /// The legend under the area, in as many columns as fit; moves the area's bottom up.
    pub fn legend(&mut self, items: &[LegendItem], unique: bool) {
        self.group("legend");
        let mut elements: Vec<LegendItem> = Vec::new();
        for it in items {
            if !unique || !elements.iter().any(|e| e.0 == it.0) {
                elements.push(it.clone());
            }
        }
        let Some(longest) = longest_name(&elements) else {
            return;
        };
        let padding = 5.0;
        let dark = Rgba::rgb8(111, 111, 111);
        let e = self.extents();
        let test_w =
            self.text_width(&format!("{longest} {longest}")) + 2.0 * (e.height - 1.0 + padding);
        let right_side_labels = test_w + 50.0 < self.width;
        let box_size = e.height - 1.0;
        let line_h = e.height + 1.0;
        let label_w = self.text_width(&longest) + 2.0 * (box_size + padding);
        let boxed = |f: &mut Frame, x: f64, y: f64, c: Rgba| {
            f.fill(Path::rect(x, y, box_size, box_size), c, Clip::None);
            let o = 0.5;
            f.stroke(
                Path::rect(x + o, y + o, box_size - o, box_size - o),
                dark,
                1.0,
                None,
                Clip::None,
            );
        };
        if self.second_y_axis && right_side_labels {
            let mut columns = ((self.width - self.area.xmin) / label_w).floor().max(1.0);
            let n_right = elements.iter().filter(|e| e.2).count() as f64;
            let lines = (elements.len() as f64 - n_right).max(n_right);
            columns = (columns / 2.0).floor().max(1.0);
            let legend_h = (lines / columns).max(1.0) * line_h + padding;
            self.area.ymax -= legend_h;
            let (mut x, mut y) = (self.area.xmin, self.area.ymax + 2.0 * padding);
            let mut x_right = self.area.xmax - self.area.xmin;
            let mut y_right = y;
            let (mut n, mut nr) = (0.0, 0.0);
            for (name, c, right) in &elements {
                if *right {
                    nr += 1.0;
                    boxed(self, x_right - padding, y_right, *c);
                    self.text(
                        name,
                        x_right - box_size,
                        y_right,
                        self.fg,
                        Align::Right,
                        VAlign::Top,
                        0.0,
                    );
                    x_right -= label_w;
                    if nr % columns == 0.0 {
                        x_right = self.area.xmax - self.area.xmin;
                        y_right += line_h;
                    }
                } else {
                    n += 1.0;
                    boxed(self, x, y, *c);
                    self.text(
                        name,
                        x + box_size + padding,
                        y,
                        self.fg,
                        Align::Left,
                        VAlign::Top,
                        0.0,
                    );
                    x += label_w;
                    if n % columns == 0.0 {
                        x = self.area.xmin;
                        y += line_h;
                    }
                }
            }
        } else {
            let columns = (self.width / label_w).floor().max(1.0);
            let lines = (elements.len() as f64 / columns).ceil();
            let legend_h = lines * line_h + padding;
            self.area.ymax -= legend_h;
            let (mut x, mut y) = (self.area.xmin, self.area.ymax + 2.0 * padding);
            for (i, (name, c, right)) in elements.iter().enumerate() {
                if *right {
                    boxed(self, x + label_w + padding, y, *c);
                    self.text(
                        name,
                        x + label_w,
                        y,
                        self.fg,
                        Align::Right,
                        VAlign::Top,
                        0.0,
                    );
                } else {
                    boxed(self, x, y, *c);
                    self.text(
                        name,
                        x + box_size + padding,
                        y,
                        self.fg,
                        Align::Left,
                        VAlign::Top,
                        0.0,
                    );
                }
                x += label_w;
                if (i as f64 + 1.0) % columns == 0.0 {
                    x = self.area.xmin;
                    y += line_h;
                }
            }
        }
    }

    /// glyph.py's "No Data" in red, sized by the image.
    pub fn no_data(&mut self) {
        self.cur_size = (self.width * self.height).ln();
        let red = Rgba::rgb8(200, 0, 50);
        self.text(
            "No Data",
            self.width / 2.0,
            self.height / 2.0,
            red,
            Align::Center,
            VAlign::Top,
            0.0,
        );
        self.cur_size = self.font_size;
    }

    /// The finished picture.
    pub fn finish(self) -> Scene {
        Scene {
            width: self.width as u32,
            height: self.height as u32,
            ops: self.ops,
            meta: None,
        }
    }
}

/// The longest name (by characters; the last of equals, like Python's stable sort).
fn longest_name(items: &[LegendItem]) -> Option<String> {
    let mut best: Option<&String> = None;
    for (n, _, _) in items {
        if !matches!(best, Some(b) if n.chars().count() < b.chars().count()) {
            best = Some(n);
        }
    }
    best.cloned()
}
