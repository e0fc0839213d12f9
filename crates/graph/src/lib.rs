//! Graphs for `/render?format=png|svg`, in graphite-web's look (layout, ticks, unit prefixes,
//! legend, colors, parameters) without cairo: a display list drawn by tiny-skia for PNG or
//! written as SVG, with a bundled DejaVu Sans (the face graphite's "Sans" resolves to).
//!
//! ```
//! use graph::{render_line, Format, Params};
//! use query::series::Series;
//! let s = Series::new("a.b".to_string(), 0, 600, 60, (0..10).map(|i| Some(i as f64)).collect());
//! let params = Params::from_pairs(&[("width", "200"), ("height", "100"), ("title", "demo")]);
//! let png = render_line(&[s], &params, Format::Png, chrono_tz::UTC).unwrap();
//! assert_eq!(&png[1..4], b"PNG");
//! ```

pub mod color;
pub mod error;
pub mod font;
pub mod frame;
pub mod line;
pub mod params;
pub mod pie;
pub mod png;
pub mod scene;
pub mod svg;
pub mod ticks;
pub mod xaxis;

pub use error::GraphError;
pub use params::Params;
pub use pie::{pie_value, Slice};
pub use scene::Scene;

use query::series::Series;

/// Output format of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG image.
    Png,
    /// SVG document.
    Svg,
}

impl Format {
    /// From the `format` parameter (`png`, `svg`); anything else is not a graph format.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
        }
    }
}

/// Bounds on one graph request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest width or height in pixels.
    pub max_side: u32,
    /// Largest width*height.
    pub max_pixels: u64,
    /// Most series drawn.
    pub max_series: usize,
    /// Most data points over all series.
    pub max_points: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side: 8192,
            max_pixels: 16_000_000,
            max_series: 20_000,
            max_points: 20_000_000,
        }
    }
}

/// Width and height from the parameters (graphite's defaults 330x250), checked against `lim`.
pub fn size(p: &Params, lim: &Limits) -> Result<(u32, u32), GraphError> {
    let dim = |name: &str, default: f64| -> Result<u32, GraphError> {
        let v = p.num_or(name, default)?.trunc();
        if !(1.0..=f64::from(lim.max_side)).contains(&v) {
            return Err(GraphError::BadParam(format!(
                "{name} must be between 1 and {}",
                lim.max_side
            )));
        }
        Ok(v as u32)
    };
    let (w, h) = (dim("width", 330.0)?, dim("height", 250.0)?);
    if u64::from(w) * u64::from(h) > lim.max_pixels {
        return Err(GraphError::TooLarge(format!(
            "{w}x{h} is more than {} pixels",
            lim.max_pixels
        )));
    }
    Ok((w, h))
}

fn encode(scene: &Scene, format: Format) -> Result<Vec<u8>, GraphError> {
    match format {
        Format::Png => png::encode(scene),
        Format::Svg => Ok(svg::encode(scene)),
    }
}

/// Lays out a line graph without encoding it (tests inspect the display list).
pub fn line_scene(
    series: &[Series],
    p: &Params,
    tz: chrono_tz::Tz,
    lim: &Limits,
) -> Result<Scene, GraphError> {
    let (w, h) = size(p, lim)?;
    if series.len() > lim.max_series {
        return Err(GraphError::TooLarge(format!(
            "{} series, at most {}",
            series.len(),
            lim.max_series
        )));
    }
    let points: usize = series.iter().map(|s| s.values.len()).sum();
    if points > lim.max_points {
        return Err(GraphError::TooLarge(format!(
            "{points} points, at most {}",
            lim.max_points
        )));
    }
    line::draw(series, p, w, h, tz)
}

/// Renders `series` as a line graph (`graphType=line`).
pub fn render_line(
    series: &[Series],
    p: &Params,
    format: Format,
    tz: chrono_tz::Tz,
) -> Result<Vec<u8>, GraphError> {
    encode(&line_scene(series, p, tz, &Limits::default())?, format)
}

/// Renders a line graph under explicit limits.
pub fn render_line_limited(
    series: &[Series],
    p: &Params,
    format: Format,
    tz: chrono_tz::Tz,
    lim: &Limits,
) -> Result<Vec<u8>, GraphError> {
    encode(&line_scene(series, p, tz, lim)?, format)
}

/// Lays out a pie graph without encoding it.
pub fn pie_scene(slices: &[Slice], p: &Params, lim: &Limits) -> Result<Scene, GraphError> {
    let (w, h) = size(p, lim)?;
    if slices.len() > lim.max_series {
        return Err(GraphError::TooLarge(format!(
            "{} slices, at most {}",
            slices.len(),
            lim.max_series
        )));
    }
    pie::draw(slices, p, w, h)
}

/// Renders `slices` as a pie (`graphType=pie`).
pub fn render_pie(slices: &[Slice], p: &Params, format: Format) -> Result<Vec<u8>, GraphError> {
    encode(&pie_scene(slices, p, &Limits::default())?, format)
}

/// An image that shows `message` in red (for errors found after the request was accepted,
/// where an `<img>` tag would otherwise show a broken image).
pub fn error_image(message: &str, width: u32, height: u32, format: Format) -> Vec<u8> {
    let w = width.clamp(50, 2000);
    let h = height.clamp(30, 2000);
    let mut f = match frame::Frame::new(&Params::default(), w, h) {
        Ok(f) => f,
        Err(_) => return Vec::new(),
    };
    let red = color::Rgba::rgb8(200, 0, 50);
    let mut y = 10.0;
    for line in message.lines().take(10) {
        f.text(
            line,
            10.0,
            y,
            red,
            frame::Align::Left,
            frame::VAlign::Top,
            0.0,
        );
        y += f.extents().height;
    }
    encode(&f.finish(), format).unwrap_or_default()
}
