//! Rasterizes a [`Scene`] with tiny-skia and encodes it as PNG.

use crate::color::Rgba;
use crate::error::GraphError;
use crate::font::{self, Curve};
use crate::scene::{Clip, Op, Path, Scene, Seg, Text};
use tiny_skia::{
    FillRule, LineCap, LineJoin, Mask, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform,
};

fn sk_path(p: &Path) -> Option<tiny_skia::Path> {
    let mut b = PathBuilder::new();
    for s in &p.segs {
        match *s {
            Seg::Move(x, y) => b.move_to(x as f32, y as f32),
            Seg::Line(x, y) => b.line_to(x as f32, y as f32),
            Seg::Close => b.close(),
        }
    }
    b.finish()
}

fn paint(c: Rgba) -> Paint<'static> {
    let mut p = Paint::default();
    let [r, g, b, a] = c.to_u8();
    p.set_color_rgba8(r, g, b, a);
    p.anti_alias = true;
    p
}

fn text_path(t: &Text) -> Option<tiny_skia::Path> {
    let (s, c) = t.rotate.to_radians().sin_cos();
    let tr = |(x, y): (f64, f64)| ((t.x + x * c - y * s) as f32, (t.y + x * s + y * c) as f32);
    let mut b = PathBuilder::new();
    let mut last: Option<(f32, f32)> = None;
    for curve in font::outlines(&t.text, t.size, t.bold) {
        let start = match curve {
            Curve::Line([a, _]) | Curve::Quad([a, _, _]) | Curve::Cubic([a, _, _, _]) => tr(a),
        };
        if last != Some(start) {
            if last.is_some() {
                b.close();
            }
            b.move_to(start.0, start.1);
        }
        let end = match curve {
            Curve::Line([_, p]) => {
                let p = tr(p);
                b.line_to(p.0, p.1);
                p
            }
            Curve::Quad([_, c1, p]) => {
                let (c1, p) = (tr(c1), tr(p));
                b.quad_to(c1.0, c1.1, p.0, p.1);
                p
            }
            Curve::Cubic([_, c1, c2, p]) => {
                let (c1, c2, p) = (tr(c1), tr(c2), tr(p));
                b.cubic_to(c1.0, c1.1, c2.0, c2.1, p.0, p.1);
                p
            }
        };
        last = Some(end);
    }
    if last.is_some() {
        b.close();
    }
    b.finish()
}

/// Widest line drawn by [`thin_stroke`]; wider ones get tiny-skia's joins.
const THIN: f64 = 3.0;

/// A premultiplied RGBA8 pixel as a little-endian `u32` (r in the low byte).
type Px = u32;

/// `c * k / 256` on all four channels at once (two channels per 32-bit lane).
#[inline]
fn scale(c: Px, k: u32) -> Px {
    let rb = (((c & 0x00ff_00ff) * k) >> 8) & 0x00ff_00ff;
    let ag = (((c >> 8) & 0x00ff_00ff) * k) & 0xff00_ff00;
    rb | ag
}

/// Source-over of premultiplied `src` at coverage `cov` (0..=256) onto `dst`.
#[inline]
fn blend(dst: Px, src: Px, cov: u32) -> Px {
    let s = if cov >= 256 { src } else { scale(src, cov) };
    let inv = 256 - ((s >> 24) + ((s >> 24) >> 7));
    s.wrapping_add(scale(dst, inv))
}

/// Pixel bounds drawing may touch: x0, y0, x1, y1 (exclusive).
type Bounds = (i64, i64, i64, i64);

/// The pixel buffer seen as `u32`s, with its width.
struct Canvas<'a> {
    data: &'a mut [u8],
    stride: usize,
}

impl Canvas<'_> {
    #[inline]
    fn put(&mut self, x: i64, y: i64, src: Px, cov: u32) {
        let i = (y as usize * self.stride + x as usize) * 4;
        if let Some(b) = self.data.get_mut(i..i + 4) {
            let d = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            b.copy_from_slice(&blend(d, src, cov).to_le_bytes());
        }
    }
}

/// Covers `[lo, hi)` across one row (or column) with box-filtered coverage.
#[inline]
fn span(cv: &mut Canvas<'_>, fixed: i64, lo: f64, hi: f64, rows: bool, b: Bounds, src: Px) {
    let (min, max) = if rows { (b.0, b.2) } else { (b.1, b.3) };
    let first = lo.floor() as i64;
    let last = hi.ceil() as i64 - 1;
    for p in first.max(min)..=last.min(max - 1) {
        let cov = if first == last {
            hi - lo
        } else if p == first {
            (first + 1) as f64 - lo
        } else if p == last {
            hi - last as f64
        } else {
            1.0
        };
        let k = (cov * 256.0) as u32;
        if k == 0 {
            continue;
        }
        if rows {
            cv.put(p, fixed, src, k.min(256));
        } else {
            cv.put(fixed, p, src, k.min(256));
        }
    }
}

/// One segment of a thin line: scanned along its major axis, each row (or column) gets the
/// span the line's width covers there. Cost is proportional to the segment's length, where a
/// general scanline filler pays per span and per row of the whole line's bounds; a graph of
/// 1,000 zig-zag series is mostly such segments.
fn thin_segment(
    cv: &mut Canvas<'_>,
    p0: (f64, f64),
    p1: (f64, f64),
    half: f64,
    b: Bounds,
    src: Px,
) {
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    if !(dx.is_finite() && dy.is_finite()) || (dx == 0.0 && dy == 0.0) {
        return;
    }
    let steep = dy.abs() >= dx.abs();
    // (major start, major end, minor at start, slope) with the major axis increasing
    let (ma, mb, na, slope) = if steep {
        let (a, c) = if p0.1 <= p1.1 { (p0, p1) } else { (p1, p0) };
        (a.1, c.1, a.0, (c.0 - a.0) / (c.1 - a.1))
    } else {
        let (a, c) = if p0.0 <= p1.0 { (p0, p1) } else { (p1, p0) };
        (a.0, c.0, a.1, (c.1 - a.1) / (c.0 - a.0))
    };
    let hw = half * (1.0 + slope * slope).sqrt();
    let (lo_b, hi_b) = if steep { (b.1, b.3) } else { (b.0, b.2) };
    // pixel centres in [ma, mb): consecutive segments share no row
    let first = ((ma - 0.5).ceil() as i64).max(lo_b);
    let last = ((mb - 0.5).ceil() as i64).min(hi_b);
    for m in first..last {
        let c = na + (m as f64 + 0.5 - ma) * slope;
        span(cv, m, c - hw, c + hw, steep, b, src);
    }
}

/// One segment waiting to be drawn.
struct ThinSeg {
    p0: (f64, f64),
    p1: (f64, f64),
    half: f64,
    bounds: Bounds,
    src: Px,
}

/// Rows drawn together: a band of a 800-pixel-wide image stays in the first-level cache.
const BAND: i64 = 32;

/// Thin strokes collected until something else is painted, then drawn band by band, in order,
/// so the pixels a band's segments touch stay in cache (a thousand lines over one image
/// otherwise miss it on almost every pixel).
#[derive(Default)]
struct ThinBatch {
    segs: Vec<ThinSeg>,
}

impl ThinBatch {
    fn add(&mut self, path: &Path, color: Rgba, width: f64, bounds: Bounds) {
        let [r, g, b, a] = color.to_u8();
        let pre = |c: u8| ((u32::from(c) * u32::from(a) + 127) / 255) & 0xff;
        let src: Px = pre(r) | (pre(g) << 8) | (pre(b) << 16) | (u32::from(a) << 24);
        if a == 0 {
            return;
        }
        let half = width / 2.0;
        let mut cur: Option<(f64, f64)> = None;
        let mut start: Option<(f64, f64)> = None;
        let mut push = |p0, p1| {
            self.segs.push(ThinSeg {
                p0,
                p1,
                half,
                bounds,
                src,
            })
        };
        for s in &path.segs {
            match *s {
                Seg::Move(x, y) => {
                    cur = Some((x, y));
                    start = cur;
                }
                Seg::Line(x, y) => {
                    if let Some(p0) = cur {
                        push(p0, (x, y));
                    }
                    cur = Some((x, y));
                }
                Seg::Close => {
                    if let (Some(p0), Some(p1)) = (cur, start) {
                        push(p0, p1);
                    }
                    cur = start;
                }
            }
        }
    }

    fn flush(&mut self, pm: &mut Pixmap) {
        if self.segs.is_empty() {
            return;
        }
        let h = i64::from(pm.height());
        let nbands = ((h + BAND - 1) / BAND).max(1) as usize;
        let mut bands: Vec<Vec<u32>> = vec![Vec::new(); nbands];
        for (i, sg) in self.segs.iter().enumerate() {
            // a steep line's span can reach a little past its end points' rows
            let reach = sg.half * 2.0 + 2.0;
            let lo = (sg.p0.1.min(sg.p1.1) - reach).floor().max(0.0);
            let hi = (sg.p0.1.max(sg.p1.1) + reach).ceil();
            if !(lo.is_finite() && hi.is_finite()) {
                continue;
            }
            let b0 = (lo as i64 / BAND).clamp(0, nbands as i64 - 1) as usize;
            let b1 = (hi as i64 / BAND).clamp(0, nbands as i64 - 1) as usize;
            for band in bands.iter_mut().take(b1 + 1).skip(b0) {
                band.push(i as u32);
            }
        }
        let stride = pm.width() as usize;
        let mut cv = Canvas {
            data: pm.data_mut(),
            stride,
        };
        for (bi, idx) in bands.iter().enumerate() {
            let y0 = bi as i64 * BAND;
            let y1 = (y0 + BAND).min(h);
            for &i in idx {
                if let Some(sg) = self.segs.get(i as usize) {
                    let b = sg.bounds;
                    let bounds = (b.0, b.1.max(y0), b.2, b.3.min(y1));
                    if bounds.1 < bounds.3 {
                        thin_segment(&mut cv, sg.p0, sg.p1, sg.half, bounds, sg.src);
                    }
                }
            }
        }
        self.segs.clear();
    }
}

/// Clip masks, built once per distinct clip while the excluded area is unchanged.
struct Clips {
    w: u32,
    h: u32,
    excluded: Option<Mask>,
    cached: Option<(Clip, Mask)>,
}

impl Clips {
    fn rect_mask(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> Option<Mask> {
        let mut m = Mask::new(self.w, self.h)?;
        let p = sk_path(&Path::rect(x0, y0, x1 - x0, y1 - y0))?;
        m.fill_path(&p, FillRule::Winding, false, Transform::identity());
        Some(m)
    }

    fn get(&mut self, clip: Clip) -> Option<&Mask> {
        if matches!(clip, Clip::None) {
            return None;
        }
        if self.cached.as_ref().map(|(c, _)| *c) != Some(clip) {
            let m = match clip {
                Clip::None => return None,
                Clip::Rect(a, b, c, d) => self.rect_mask(a, b, c, d)?,
                Clip::RectMinusExcluded(a, b, c, d) => {
                    let mut m = self.rect_mask(a, b, c, d)?;
                    if let Some(ex) = &self.excluded {
                        for (o, e) in m.data_mut().iter_mut().zip(ex.data()) {
                            *o = ((u16::from(*o) * u16::from(255 - *e)) / 255) as u8;
                        }
                    }
                    m
                }
            };
            self.cached = Some((clip, m));
        }
        self.cached.as_ref().map(|(_, m)| m)
    }

    fn exclude(&mut self, p: &tiny_skia::Path) {
        if self.excluded.is_none() {
            self.excluded = Mask::new(self.w, self.h);
        }
        if let Some(m) = &mut self.excluded {
            m.fill_path(p, FillRule::Winding, true, Transform::identity());
        }
        if matches!(self.cached, Some((Clip::RectMinusExcluded(..), _))) {
            self.cached = None;
        }
    }
}

/// Paints `scene` into a pixmap (tests read pixels from it).
pub fn rasterize(scene: &Scene) -> Result<Pixmap, GraphError> {
    let mut pm = Pixmap::new(scene.width.max(1), scene.height.max(1))
        .ok_or_else(|| GraphError::TooLarge(format!("{}x{}", scene.width, scene.height)))?;
    let mut clips = Clips {
        w: pm.width(),
        h: pm.height(),
        excluded: None,
        cached: None,
    };
    let id = Transform::identity();
    let mut thin = ThinBatch::default();
    for op in &scene.ops {
        if !matches!(op, Op::Stroke { .. } | Op::Group(_)) {
            thin.flush(&mut pm);
        }
        match op {
            Op::Fill { path, color, clip } => {
                if let Some(p) = sk_path(path) {
                    // a rectangle clip that the shape stays inside needs no mask (masks are slow)
                    let b = p.bounds();
                    let inside = match *clip {
                        Clip::Rect(x0, y0, x1, y1) => {
                            f64::from(b.left()) >= x0
                                && f64::from(b.top()) >= y0
                                && f64::from(b.right()) <= x1
                                && f64::from(b.bottom()) <= y1
                        }
                        _ => false,
                    };
                    let mask = if inside { None } else { clips.get(*clip) };
                    pm.fill_path(&p, &paint(*color), FillRule::Winding, id, mask);
                }
            }
            Op::Stroke {
                path,
                color,
                width,
                dash,
                clip,
            } => {
                let mut st = Stroke {
                    width: *width as f32,
                    line_cap: LineCap::Butt,
                    line_join: LineJoin::Miter,
                    ..Stroke::default()
                };
                if let Some(d) = dash.filter(|d| *d > 0.0) {
                    st.dash = StrokeDash::new(vec![d as f32, d as f32], 1.0);
                }
                let (w, h) = (i64::from(pm.width()), i64::from(pm.height()));
                let bounds = match *clip {
                    Clip::None => Some((0, 0, w, h)),
                    Clip::Rect(a, b, c, d) => Some((
                        (a.floor() as i64).max(0),
                        (b.floor() as i64).max(0),
                        (c.ceil() as i64).min(w),
                        (d.ceil() as i64).min(h),
                    )),
                    Clip::RectMinusExcluded(..) => None,
                };
                match bounds {
                    Some(bd) if st.dash.is_none() && *width <= THIN => {
                        thin.add(path, *color, *width, bd)
                    }
                    _ => {
                        thin.flush(&mut pm);
                        if let Some(p) = sk_path(path) {
                            pm.stroke_path(&p, &paint(*color), &st, id, clips.get(*clip));
                        }
                    }
                }
            }
            Op::Text(t) => {
                if let Some(p) = text_path(t) {
                    pm.fill_path(&p, &paint(t.color), FillRule::Winding, id, None);
                }
            }
            Op::Exclude(path) => {
                if let Some(p) = sk_path(path) {
                    clips.exclude(&p);
                }
            }
            Op::Group(_) => {}
        }
    }
    thin.flush(&mut pm);
    Ok(pm)
}

/// Encodes `scene` as a PNG file: RGB when every pixel is opaque (the usual case, as the
/// background is painted first), adaptive row filters, so files stay close to cairo's in size.
pub fn encode(scene: &Scene) -> Result<Vec<u8>, GraphError> {
    let pm = rasterize(scene)?;
    let opaque = pm.pixels().iter().all(|p| p.alpha() == 255);
    let mut data = Vec::with_capacity(pm.pixels().len() * if opaque { 3 } else { 4 });
    for p in pm.pixels() {
        let c = p.demultiply();
        data.extend_from_slice(&[c.red(), c.green(), c.blue()]);
        if !opaque {
            data.push(c.alpha());
        }
    }
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, pm.width(), pm.height());
    enc.set_color(if opaque {
        ::png::ColorType::Rgb
    } else {
        ::png::ColorType::Rgba
    });
    enc.set_depth(::png::BitDepth::Eight);
    // graphs are mostly flat color: the usual embedded sizes get the default level (files
    // near cairo's); large images the fast one, several times quicker for ~30% more bytes
    let small = u64::from(pm.width()) * u64::from(pm.height()) <= 300_000;
    enc.set_compression(if small {
        ::png::Compression::Default
    } else {
        ::png::Compression::Fast
    });
    enc.set_filter(::png::FilterType::Paeth);
    enc.set_adaptive_filter(::png::AdaptiveFilterType::Adaptive);
    let err = |e: ::png::EncodingError| GraphError::Encode(e.to_string());
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(&data).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}
