//! Python's text rules that carbon relies on without saying so: which characters `str.split()`
//! and `str.strip()` treat as whitespace, which ones `str.splitlines()` breaks on, and which
//! Unicode digits `float()` accepts. Tables are Python 3.11's (Unicode 14.0).

/// Every non-ASCII code point for which Python's `str.isspace()` is true.
const PY_SPACE_NON_ASCII: [u32; 19] = [
    0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];

/// First code point (the zero) of every run of ten Unicode decimal digits (category Nd).
const DECIMAL_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// ASCII bytes that `str.isspace()` accepts: \t \n \v \f \r, \x1c-\x1f and space.
#[inline]
pub(crate) fn is_ascii_py_space(b: u8) -> bool {
    matches!(b, 0x09..=0x0d | 0x1c..=0x20)
}

/// Python `str.isspace()` for one character.
#[inline]
pub fn is_py_space(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return is_ascii_py_space(u as u8);
    }
    PY_SPACE_NON_ASCII.contains(&u)
}

/// The value of a Unicode decimal digit (what `unicodedata.decimal` returns), if `c` is one.
pub fn py_decimal(c: char) -> Option<u8> {
    let u = c as u32;
    // The table is sorted: find the last zero <= u and check u is within its run of ten.
    let idx = DECIMAL_ZEROS.partition_point(|&z| z <= u);
    let zero = *DECIMAL_ZEROS.get(idx.checked_sub(1)?)?;
    let d = u - zero;
    (d < 10).then_some(d as u8)
}

/// Python `str.strip()` with no argument.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python `str.split()` with no argument: fields separated by runs of Unicode whitespace.
pub fn py_split(s: &str) -> PySplit<'_> {
    PySplit { rest: s }
}

/// Iterator returned by [`py_split`].
#[derive(Debug, Clone)]
pub struct PySplit<'a> {
    rest: &'a str,
}

impl<'a> Iterator for PySplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = skip_space(self.rest, 0);
        if start >= self.rest.len() {
            self.rest = "";
            return None;
        }
        let end = find_space(self.rest, start);
        let field = self.rest.get(start..end)?;
        self.rest = self.rest.get(end..).unwrap_or("");
        Some(field)
    }
}

/// Index of the first non-space char at or after `i` (byte scan with an ASCII fast path).
#[inline]
fn skip_space(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            if !is_ascii_py_space(c) {
                return i;
            }
            i += 1;
        } else {
            match s.get(i..).and_then(|t| t.chars().next()) {
                Some(ch) if is_py_space(ch) => i += ch.len_utf8(),
                _ => return i,
            }
        }
    }
    i
}

/// Index of the first space char at or after `i`, or `s.len()`.
#[inline]
fn find_space(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            if is_ascii_py_space(c) {
                return i;
            }
            i += 1;
        } else {
            match s.get(i..).and_then(|t| t.chars().next()) {
                Some(ch) if is_py_space(ch) => return i,
                Some(ch) => i += ch.len_utf8(),
                None => return s.len(),
            }
        }
    }
    i
}

/// Python `str.splitlines()` applied to bytes: breaks on \n, \r, \r\n, \v, \f, \x1c-\x1e and the
/// UTF-8 encodings of U+0085, U+2028, U+2029; no empty trailing element.
///
/// Working on bytes (not `str`) lets a datagram keep its valid lines when one line holds invalid
/// UTF-8; for valid UTF-8 the result is the same as Python's, because those multi-byte sequences
/// can only start at a character boundary.
pub fn py_splitlines(data: &[u8]) -> PySplitLines<'_> {
    PySplitLines { rest: data }
}

/// Iterator returned by [`py_splitlines`].
#[derive(Debug, Clone)]
pub struct PySplitLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PySplitLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let b = self.rest;
        let mut i = 0;
        while i < b.len() {
            let brk = match b[i] {
                b'\r' => {
                    if b.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    }
                }
                b'\n' | 0x0b | 0x0c | 0x1c..=0x1e => 1,
                0xc2 if b.get(i + 1) == Some(&0x85) => 2,
                0xe2 if b.get(i + 1) == Some(&0x80)
                    && matches!(b.get(i + 2), Some(0xa8 | 0xa9)) =>
                {
                    3
                }
                _ => 0,
            };
            if brk > 0 {
                let line = &b[..i];
                self.rest = &b[i + brk..];
                return Some(line);
            }
            i += 1;
        }
        self.rest = &[];
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_python_whitespace() {
        let v: Vec<&str> = py_split("  a\u{a0}b\tc\u{3000}\u{1c}d \u{85}").collect();
        assert_eq!(v, ["a", "b", "c", "d"]);
        assert_eq!(py_split("   ").count(), 0);
        assert_eq!(py_split("").count(), 0);
        // U+200B (zero width space) is not whitespace for Python.
        assert_eq!(py_split("a\u{200b}b").count(), 1);
    }

    #[test]
    fn decimals() {
        assert_eq!(py_decimal('7'), Some(7));
        assert_eq!(py_decimal('\u{661}'), Some(1));
        assert_eq!(py_decimal('\u{1fbf9}'), Some(9));
        assert_eq!(py_decimal('a'), None);
        assert_eq!(py_decimal('\u{66a}'), None);
        assert_eq!(py_decimal('\u{2f}'), None);
    }

    #[test]
    fn splitlines_like_python() {
        let v: Vec<&[u8]> = py_splitlines(b"a\nb\r\nc\rd\x0be\xc2\x85f\xe2\x80\xa8g\n").collect();
        assert_eq!(v, [&b"a"[..], b"b", b"c", b"d", b"e", b"f", b"g"]);
        assert_eq!(py_splitlines(b"").count(), 0);
        let v: Vec<&[u8]> = py_splitlines(b"\n\nx").collect();
        assert_eq!(v, [&b""[..], b"", b"x"]);
    }
}
