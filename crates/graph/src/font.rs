//! The bundled DejaVu Sans faces (the face fontconfig gives cairo for graphite's "Sans"),
//! measured the way cairo measures with metric hinting on: whole-pixel advances and extents.

use ab_glyph::{Font as _, FontRef, OutlineCurve};
use std::sync::OnceLock;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The family name written into SVG output.
pub const SVG_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

fn face(bold: bool) -> Option<&'static FontRef<'static>> {
    static FACES: OnceLock<(Option<FontRef<'static>>, Option<FontRef<'static>>)> = OnceLock::new();
    let (r, b) = FACES.get_or_init(|| {
        (
            FontRef::try_from_slice(REGULAR).ok(),
            FontRef::try_from_slice(BOLD).ok(),
        )
    });
    if bold {
        b.as_ref().or(r.as_ref())
    } else {
        r.as_ref()
    }
}

/// cairo's `font_extents` for one size: ascent, descent and line height in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extents {
    /// Above the baseline.
    pub ascent: f64,
    /// Below the baseline (positive).
    pub descent: f64,
    /// Line height.
    pub height: f64,
}

fn units_per_em(f: &FontRef<'_>) -> f64 {
    f64::from(f.units_per_em().unwrap_or(2048.0))
}

/// Font extents at `size` (em size in pixels).
pub fn extents(size: f64, bold: bool) -> Extents {
    let Some(f) = face(bold) else {
        return Extents {
            ascent: size,
            descent: size / 4.0,
            height: size * 1.25,
        };
    };
    let k = size / units_per_em(f);
    let asc = f64::from(f.ascent_unscaled()) * k;
    let desc = -f64::from(f.descent_unscaled()) * k;
    let h = (f64::from(f.ascent_unscaled() - f.descent_unscaled() + f.line_gap_unscaled())) * k;
    // FreeType's hinted size metrics round outwards, and cairo reports those
    Extents {
        ascent: asc.ceil(),
        descent: desc.ceil(),
        height: h.round(),
    }
}

/// Advance width of `text` at `size` (cairo's `text_extents` x_advance, no kerning).
pub fn width(text: &str, size: f64, bold: bool) -> f64 {
    let Some(f) = face(bold) else {
        return text.chars().count() as f64 * size * 0.6;
    };
    let k = size / units_per_em(f);
    text.chars()
        .map(|c| (f64::from(f.h_advance_unscaled(f.glyph_id(c))) * k).round())
        .sum()
}

/// One piece of a glyph outline, in pixels relative to the text origin (y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Curve {
    /// Straight segment.
    Line([(f64, f64); 2]),
    /// Quadratic Bézier.
    Quad([(f64, f64); 3]),
    /// Cubic Bézier.
    Cubic([(f64, f64); 4]),
}

/// The outlines of `text` laid out from the origin along +x, y down.
pub fn outlines(text: &str, size: f64, bold: bool) -> Vec<Curve> {
    let mut out = Vec::new();
    let Some(f) = face(bold) else {
        return out;
    };
    let k = size / units_per_em(f);
    let mut pen = 0.0;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(o) = f.outline(id) {
            let p = |pt: ab_glyph::Point| (pen + f64::from(pt.x) * k, -f64::from(pt.y) * k);
            for curve in &o.curves {
                out.push(match *curve {
                    OutlineCurve::Line(a, b) => Curve::Line([p(a), p(b)]),
                    OutlineCurve::Quad(a, b, c) => Curve::Quad([p(a), p(b), p(c)]),
                    OutlineCurve::Cubic(a, b, c, d) => Curve::Cubic([p(a), p(b), p(c), p(d)]),
                });
            }
        }
        pen += (f64::from(f.h_advance_unscaled(id)) * k).round();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cairo_like_extents_for_dejavu_10px() {
        let e = extents(10.0, false);
        assert_eq!((e.ascent, e.descent, e.height), (10.0, 3.0, 12.0));
    }

    #[test]
    fn width_grows_with_text() {
        assert!(width("mmmm", 10.0, false) > width("ii", 10.0, false));
        assert_eq!(width("", 10.0, false), 0.0);
        assert!(!outlines("A", 10.0, true).is_empty());
    }
}
