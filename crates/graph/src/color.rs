//! Colors: graphite's named aliases and `#rrggbb[aa]` / `rrggbb` strings.

use crate::error::GraphError;

/// An RGBA color, channels 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgba {
    /// Red.
    pub r: f64,
    /// Green.
    pub g: f64,
    /// Blue.
    pub b: f64,
    /// Opacity.
    pub a: f64,
}

impl Rgba {
    /// From 8-bit channels, opaque.
    pub fn rgb8(r: u8, g: u8, b: u8) -> Rgba {
        Rgba {
            r: f64::from(r) / 255.0,
            g: f64::from(g) / 255.0,
            b: f64::from(b) / 255.0,
            a: 1.0,
        }
    }

    /// The same color with its opacity multiplied by `alpha` (clamped to 0..=1).
    pub fn with_alpha(self, alpha: f64) -> Rgba {
        Rgba {
            a: (self.a * alpha).clamp(0.0, 1.0),
            ..self
        }
    }

    /// The 8-bit channels (r, g, b, a).
    pub fn to_u8(self) -> [u8; 4] {
        let c = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [c(self.r), c(self.g), c(self.b), c(self.a)]
    }

    /// `#rrggbb` for SVG.
    pub fn hex(self) -> String {
        let [r, g, b, _] = self.to_u8();
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

/// graphite-web's `colorAliases` (glyph.py), which differ from CSS names (red is 200,0,50).
const ALIASES: [(&str, (u8, u8, u8)); 22] = [
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("blue", (100, 100, 255)),
    ("green", (0, 200, 0)),
    ("red", (200, 0, 50)),
    ("yellow", (255, 255, 0)),
    ("orange", (255, 165, 0)),
    ("purple", (200, 100, 255)),
    ("brown", (150, 100, 50)),
    ("cyan", (0, 255, 255)),
    ("aqua", (0, 150, 150)),
    ("gray", (175, 175, 175)),
    ("grey", (175, 175, 175)),
    ("magenta", (255, 0, 255)),
    ("pink", (255, 100, 100)),
    ("gold", (200, 200, 0)),
    ("rose", (200, 150, 200)),
    ("darkblue", (0, 0, 255)),
    ("darkgreen", (0, 255, 0)),
    ("darkred", (255, 0, 0)),
    ("darkgray", (111, 111, 111)),
    ("darkgrey", (111, 111, 111)),
];

/// Parses a color the way glyph.py's `setColor` does: alias, `#rrggbb`, `%23rrggbb`,
/// `rrggbb`, with an optional alpha byte (`rrggbbaa`).
pub fn parse(value: &str) -> Result<Rgba, GraphError> {
    let v = value.trim();
    if let Some((_, (r, g, b))) = ALIASES.iter().find(|(n, _)| *n == v) {
        return Ok(Rgba::rgb8(*r, *g, *b));
    }
    let s = v.strip_prefix('#').unwrap_or(v);
    let s = s.strip_prefix("%23").unwrap_or(s);
    let bad = || GraphError::BadParam(format!("invalid color {value:?}"));
    if !(s.len() == 6 || s.len() == 8) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let byte =
        |i: usize| u8::from_str_radix(s.get(i..i + 2).unwrap_or("00"), 16).map_err(|_| bad());
    let mut c = Rgba::rgb8(byte(0)?, byte(2)?, byte(4)?);
    if s.len() == 8 {
        c.a = f64::from(byte(6)?) / 255.0;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_graphites_not_css() {
        assert_eq!(parse("red").unwrap().to_u8(), [200, 0, 50, 255]);
        assert_eq!(parse("blue").unwrap().to_u8(), [100, 100, 255, 255]);
    }

    #[test]
    fn hex_forms() {
        assert_eq!(parse("#ff0000").unwrap().to_u8(), [255, 0, 0, 255]);
        assert_eq!(parse("%2300ff00").unwrap().to_u8(), [0, 255, 0, 255]);
        assert_eq!(parse("0000ff80").unwrap().to_u8(), [0, 0, 255, 128]);
        assert!(parse("nonsense").is_err());
        assert!(parse("#12345").is_err());
    }
}
