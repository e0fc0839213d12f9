//! Plaintext framing (LF-delimited, bounded) and carbon's `metric value timestamp` line syntax.

/// One item produced by [`LineSplitter::feed`].
#[derive(Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// A complete line without its `\n`.
    Line(&'a [u8]),
    /// A line longer than the limit was skipped.
    TooLong,
}

/// Splits a byte stream into lines, holding at most `max` bytes of an unfinished line.
///
/// Unlike carbon, which drops the whole connection on an overlong line, the line is skipped up to its `\n`
/// and counted: the well-formed lines around it still arrive.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    skipping: bool,
}

impl LineSplitter {
    /// A splitter accepting lines of up to `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter { buf: Vec::new(), max, skipping: false }
    }

    /// Bytes held of an unfinished line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Consumes `data`, calling `f` for every complete (or skipped) line.
    pub fn feed(&mut self, data: &[u8], mut f: impl FnMut(Split<'_>)) {
        let mut start = 0;
        while let Some(off) = data[start..].iter().position(|&b| b == b'\n') {
            let end = start + off;
            if self.skipping {
                self.skipping = false;
                f(Split::TooLong);
            } else if self.buf.is_empty() {
                let line = &data[start..end];
                f(if line.len() > self.max { Split::TooLong } else { Split::Line(line) });
            } else {
                self.buf.extend_from_slice(&data[start..end]);
                if self.buf.len() > self.max {
                    f(Split::TooLong);
                } else {
                    f(Split::Line(&self.buf));
                }
                self.buf.clear();
            }
            start = end + 1;
        }
        if self.skipping {
            return;
        }
        let rest = &data[start..];
        if self.buf.len() + rest.len() > self.max {
            self.buf.clear();
            self.skipping = true;
        } else {
            self.buf.extend_from_slice(rest);
        }
    }
}

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not valid UTF-8.
    #[error("line is not UTF-8")]
    Utf8,
    /// Not exactly three whitespace-separated fields.
    #[error("line does not have exactly 3 fields")]
    Fields,
    /// Value is not a Python float literal.
    #[error("value is not a number")]
    Value,
    /// Timestamp is not a finite Python float literal.
    #[error("timestamp is not a finite number")]
    Timestamp,
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators 0x1c-0x1f.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Parses a Python `float()` literal (sign, decimal, exponent, inf/nan, `_` between digits).
pub(crate) fn py_float(s: &str) -> Option<f64> {
    let s = s.trim_matches(py_space);
    if s.contains('_') {
        let b = s.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            if c == b'_' {
                let ok = i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit();
                if !ok {
                    return None;
                }
            }
        }
        return s.replace('_', "").parse().ok();
    }
    // Rust accepts a few spellings Python does not ("infinity" is fine in both); hex is rejected by both.
    s.parse().ok()
}

/// Parses `metric value timestamp` as carbon's line receiver does; returns `(metric, timestamp, value)`.
pub fn parse_line(line: &[u8]) -> Result<(&str, f64, f64), LineError> {
    let text = std::str::from_utf8(line).map_err(|_| LineError::Utf8)?;
    let mut fields = text.split(py_space).filter(|f| !f.is_empty());
    let (Some(name), Some(value), Some(ts), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(LineError::Fields);
    };
    let value = py_float(value).ok_or(LineError::Value)?;
    let ts = py_float(ts).filter(|t| t.is_finite()).ok_or(LineError::Timestamp)?;
    Ok((name, ts, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &mut LineSplitter, data: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        s.feed(data, |x| {
            out.push(match x {
                Split::Line(l) => Some(l.to_vec()),
                Split::TooLong => None,
            })
        });
        out
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut s = LineSplitter::new(100);
        assert_eq!(collect(&mut s, b"a.b 1 2\na.c"), vec![Some(b"a.b 1 2".to_vec())]);
        assert_eq!(collect(&mut s, b" 3 4\n\n"), vec![Some(b"a.c 3 4".to_vec()), Some(vec![])]);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn overlong_lines_are_skipped_but_neighbours_kept() {
        let mut s = LineSplitter::new(8);
        let out = collect(&mut s, b"12345678\n123456789\nok 1 2\n");
        assert_eq!(out, vec![Some(b"12345678".to_vec()), None, Some(b"ok 1 2".to_vec())]);
        // An unfinished long line is dropped from memory at once and skipped to its LF.
        assert!(collect(&mut s, b"0123456789abcdef").is_empty());
        assert_eq!(s.pending(), 0);
        assert!(collect(&mut s, b"more").is_empty());
        assert_eq!(collect(&mut s, b"end\nx 1 2\n"), vec![None, Some(b"x 1 2".to_vec())]);
    }

    #[test]
    fn python_float_syntax() {
        assert_eq!(py_float("1_000"), Some(1000.0));
        assert_eq!(py_float("1__0"), None);
        assert_eq!(py_float("_1"), None);
        assert_eq!(py_float("0x10"), None);
        assert_eq!(py_float("1,5"), None);
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(py_float("nan").is_some_and(f64::is_nan));
        assert_eq!(py_float("1e400"), Some(f64::INFINITY));
        assert_eq!(py_float("17e8"), Some(1.7e9));
    }

    #[test]
    fn carbon_line_syntax() {
        assert_eq!(parse_line(b"foo.bar\t1.5\t17e8\r"), Ok(("foo.bar", 1.7e9, 1.5)));
        assert_eq!(parse_line("a\u{a0}2 3".as_bytes()), Ok(("a", 3.0, 2.0)));
        assert_eq!(parse_line(b"a 1"), Err(LineError::Fields));
        assert_eq!(parse_line(b"a 1 2 3"), Err(LineError::Fields));
        assert_eq!(parse_line(b"a x 2"), Err(LineError::Value));
        assert_eq!(parse_line(b"a 1 1e400"), Err(LineError::Timestamp));
        assert_eq!(parse_line(b"a \xff 2"), Err(LineError::Utf8));
    }
}
