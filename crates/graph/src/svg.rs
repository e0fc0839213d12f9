//! Writes a [`Scene`] as SVG, with graphite's `<g class=...>` sections and real `<text>`.

use crate::font;
use crate::scene::{Clip, Op, Path, Scene, Seg};
use std::fmt::Write;

/// A coordinate with at most two decimals, trailing zeros dropped (`12.5`, `3`, `-0.25`).
fn num(v: f64) -> String {
    let mut out = String::new();
    push_num(&mut out, v);
    out
}

fn push_num(out: &mut String, v: f64) {
    if !v.is_finite() || v.abs() > 1e15 {
        out.push('0');
        return;
    }
    let c = (v * 100.0).round() as i64;
    if c < 0 {
        out.push('-');
    }
    let c = c.unsigned_abs();
    let _ = write!(out, "{}", c / 100);
    let (tenths, hundredths) = ((c % 100) / 10, c % 10);
    if hundredths != 0 {
        let _ = write!(out, ".{tenths}{hundredths}");
    } else if tenths != 0 {
        let _ = write!(out, ".{tenths}");
    }
}

fn d(p: &Path) -> String {
    let mut out = String::with_capacity(p.segs.len() * 12);
    for s in &p.segs {
        if !out.is_empty() {
            out.push(' ');
        }
        match *s {
            Seg::Move(x, y) | Seg::Line(x, y) => {
                out.push(if matches!(s, Seg::Move(..)) { 'M' } else { 'L' });
                push_num(&mut out, x);
                out.push(' ');
                push_num(&mut out, y);
            }
            Seg::Close => out.push('Z'),
        }
    }
    out
}

/// Escapes text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn opacity(a: f64, attr: &str) -> String {
    if a >= 1.0 {
        String::new()
    } else {
        format!(" {attr}=\"{}\"", num(a.max(0.0)))
    }
}

/// Clip paths and the chain of masks that graphite's stacked-area clipping needs.
#[derive(Default)]
struct Defs {
    rects: Vec<(f64, f64, f64, f64)>,
    masks: usize,
    out: String,
}

impl Defs {
    fn rect_id(&mut self, r: (f64, f64, f64, f64)) -> usize {
        if let Some(i) = self.rects.iter().position(|x| *x == r) {
            return i;
        }
        let _ = write!(
            self.out,
            "<clipPath id=\"c{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            self.rects.len(),
            num(r.0),
            num(r.1),
            num(r.2 - r.0),
            num(r.3 - r.1)
        );
        self.rects.push(r);
        self.rects.len() - 1
    }

    fn exclude(&mut self, p: &Path, w: u32, h: u32) {
        let prev = if self.masks > 0 {
            format!(" mask=\"url(#m{})\"", self.masks)
        } else {
            String::new()
        };
        self.masks += 1;
        let _ = write!(
            self.out,
            "<mask id=\"m{}\" maskUnits=\"userSpaceOnUse\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\">\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"{prev}/><path d=\"{}\" fill=\"black\"/></mask>",
            self.masks,
            d(p)
        );
    }

    fn attrs(&mut self, c: Clip) -> String {
        match c {
            Clip::None => String::new(),
            Clip::Rect(a, b, x, y) => {
                format!(" clip-path=\"url(#c{})\"", self.rect_id((a, b, x, y)))
            }
            Clip::RectMinusExcluded(a, b, x, y) => {
                let mut s = format!(" clip-path=\"url(#c{})\"", self.rect_id((a, b, x, y)));
                if self.masks > 0 {
                    let _ = write!(s, " mask=\"url(#m{})\"", self.masks);
                }
                s
            }
        }
    }
}

/// Serializes `scene` as an SVG document.
pub fn encode(scene: &Scene) -> Vec<u8> {
    let (w, h) = (scene.width, scene.height);
    let mut defs = Defs::default();
    let mut body = String::new();
    let mut open = false;
    for op in &scene.ops {
        match op {
            Op::Group(name) => {
                if open {
                    body.push_str("</g>\n");
                }
                let _ = writeln!(body, "<g class=\"{name}\">");
                open = true;
            }
            Op::Fill { path, color, clip } => {
                if path.segs.is_empty() {
                    continue;
                }
                let c = defs.attrs(*clip);
                let _ = writeln!(
                    body,
                    "<path d=\"{}\" fill=\"{}\"{}{c}/>",
                    d(path),
                    color.hex(),
                    opacity(color.a, "fill-opacity")
                );
            }
            Op::Stroke {
                path,
                color,
                width,
                dash,
                clip,
            } => {
                if path.is_empty() {
                    continue;
                }
                let c = defs.attrs(*clip);
                let dash = dash
                    .filter(|v| *v > 0.0)
                    .map(|v| {
                        format!(
                            " stroke-dasharray=\"{0} {0}\" stroke-dashoffset=\"1\"",
                            num(v)
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    body,
                    "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}{dash}{c} stroke-miterlimit=\"10\"/>",
                    d(path),
                    color.hex(),
                    num(*width),
                    opacity(color.a, "stroke-opacity")
                );
            }
            Op::Text(t) => {
                let rot = if t.rotate != 0.0 {
                    format!(
                        " transform=\"rotate({} {} {})\"",
                        num(t.rotate),
                        num(t.x),
                        num(t.y)
                    )
                } else {
                    String::new()
                };
                let weight = if t.bold { " font-weight=\"bold\"" } else { "" };
                let len = if t.width > 0.0 {
                    format!(
                        " textLength=\"{}\" lengthAdjust=\"spacingAndGlyphs\"",
                        num(t.width)
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    body,
                    "<text x=\"{}\" y=\"{}\" font-family=\"{}\" font-size=\"{}\"{weight} fill=\"{}\"{}{rot}{len}>{}</text>",
                    num(t.x),
                    num(t.y),
                    font::SVG_FAMILY,
                    num(t.size),
                    t.color.hex(),
                    opacity(t.color.a, "fill-opacity"),
                    escape(&t.text)
                );
            }
            Op::Exclude(p) => defs.exclude(p, w, h),
        }
    }
    if open {
        body.push_str("</g>\n");
    }
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}px\" height=\"{h}px\" viewBox=\"0 0 {w} {h}\" version=\"1.1\">\n"
    );
    if !defs.out.is_empty() {
        let _ = writeln!(out, "<defs>{}</defs>", defs.out);
    }
    out.push_str("<g class=\"graphite\">\n");
    out.push_str(&body);
    out.push_str("</g>\n");
    if let Some(meta) = &scene.meta {
        // graphite-web ends its SVG with this script; '<' and '>' only occur inside JSON
        // strings, where escaping them keeps series names from closing the CDATA or script
        let _ = write!(
            out,
            "<script>\n  <![CDATA[\n    metadata = {}\n  ]]>\n</script>\n",
            meta.replace('<', "\\u003c").replace('>', "\\u003e")
        );
    }
    out.push_str("</svg>\n");
    out.into_bytes()
}
