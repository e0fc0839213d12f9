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
    for op in &scene.ops {
        match op {
            Op::Fill { path, color, clip } => {
                if let Some(p) = sk_path(path) {
                    pm.fill_path(&p, &paint(*color), FillRule::Winding, id, clips.get(*clip));
                }
            }
            Op::Stroke {
                path,
                color,
                width,
                dash,
                clip,
            } => {
                if let Some(p) = sk_path(path) {
                    let mut st = Stroke {
                        width: *width as f32,
                        line_cap: LineCap::Butt,
                        line_join: LineJoin::Miter,
                        ..Stroke::default()
                    };
                    if let Some(d) = dash.filter(|d| *d > 0.0) {
                        st.dash = StrokeDash::new(vec![d as f32, d as f32], 1.0);
                    }
                    pm.stroke_path(&p, &paint(*color), &st, id, clips.get(*clip));
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
    enc.set_compression(::png::Compression::Default);
    enc.set_filter(::png::FilterType::Paeth);
    enc.set_adaptive_filter(::png::AdaptiveFilterType::Adaptive);
    let err = |e: ::png::EncodingError| GraphError::Encode(e.to_string());
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(&data).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}
