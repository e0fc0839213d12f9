//! A display list: what a graph draws, independent of the output format, so PNG and SVG
//! show the same thing and tests can inspect it.

use crate::color::Rgba;

/// One path command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seg {
    /// Start a subpath.
    Move(f64, f64),
    /// Straight line to.
    Line(f64, f64),
    /// Close the subpath.
    Close,
}

/// A path: subpaths of straight segments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Path {
    /// The commands.
    pub segs: Vec<Seg>,
    has_point: bool,
}

impl Path {
    /// An empty path.
    pub fn new() -> Path {
        Path::default()
    }

    /// Starts a subpath at (x, y).
    pub fn move_to(&mut self, x: f64, y: f64) {
        self.segs.push(Seg::Move(x, y));
        self.has_point = true;
    }

    /// A line to (x, y); like cairo, with no current point it only moves there.
    pub fn line_to(&mut self, x: f64, y: f64) {
        if self.has_point {
            self.segs.push(Seg::Line(x, y));
        } else {
            self.move_to(x, y);
        }
    }

    /// Closes the current subpath.
    pub fn close(&mut self) {
        if self.has_point {
            self.segs.push(Seg::Close);
        }
    }

    /// Whether nothing was drawn.
    pub fn is_empty(&self) -> bool {
        !self.segs.iter().any(|s| matches!(s, Seg::Line(..)))
    }

    /// An axis-aligned rectangle.
    pub fn rect(x: f64, y: f64, w: f64, h: f64) -> Path {
        let mut p = Path::new();
        p.move_to(x, y);
        p.line_to(x + w, y);
        p.line_to(x + w, y + h);
        p.line_to(x, y + h);
        p.close();
        p
    }
}

/// Where drawing is allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clip {
    /// The whole image.
    None,
    /// A rectangle (x0, y0, x1, y1).
    Rect(f64, f64, f64, f64),
    /// A rectangle minus every area given to [`Op::Exclude`] so far (graphite's stacked-area clip).
    RectMinusExcluded(f64, f64, f64, f64),
}

/// Text placed with its baseline starting at (x, y), running at `rotate` degrees clockwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The string.
    pub text: String,
    /// Baseline start x.
    pub x: f64,
    /// Baseline start y.
    pub y: f64,
    /// Em size in pixels.
    pub size: f64,
    /// Bold face.
    pub bold: bool,
    /// Fill color.
    pub color: Rgba,
    /// Rotation in degrees (clockwise, y down).
    pub rotate: f64,
    /// Advance width (for SVG `textLength`, so browsers keep our layout).
    pub width: f64,
}

/// One drawing operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Fill a path (non-zero rule).
    Fill {
        /// Outline.
        path: Path,
        /// Paint.
        color: Rgba,
        /// Clip.
        clip: Clip,
    },
    /// Stroke a path with butt caps and miter joins.
    Stroke {
        /// Outline.
        path: Path,
        /// Paint.
        color: Rgba,
        /// Line width.
        width: f64,
        /// Dash length (on and off alike).
        dash: Option<f64>,
        /// Clip.
        clip: Clip,
    },
    /// Text.
    Text(Text),
    /// Remove an area from later [`Clip::RectMinusExcluded`] clips.
    Exclude(Path),
    /// Start a named group (graphite's SVG `<g class=...>` headers); PNG ignores it.
    Group(&'static str),
}

/// A complete picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The operations, in painting order.
    pub ops: Vec<Op>,
    /// graphite's SVG `metadata` object (JSON), for scripts that read it from the SVG.
    pub meta: Option<String>,
}

impl Scene {
    /// Every text drawn, in order.
    pub fn texts(&self) -> impl Iterator<Item = &Text> {
        self.ops.iter().filter_map(|o| match o {
            Op::Text(t) => Some(t),
            _ => None,
        })
    }
}
