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
        LineSplitter {
            buf: Vec::new(),
            max,
            skipping: false,
        }
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
                f(if line.len() > self.max {
                    Split::TooLong
                } else {
                    Split::Line(line)
                });
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

pub use proto::LineError;

/// Parses `metric value timestamp` as carbon's line receiver does; returns `(metric, timestamp, value)`.
pub fn parse_line(line: &[u8]) -> Result<(&str, f64, f64), LineError> {
    let l = proto::parse_line(line)?;
    Ok((l.name, l.timestamp, l.value))
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
        assert_eq!(
            collect(&mut s, b"a.b 1 2\na.c"),
            vec![Some(b"a.b 1 2".to_vec())]
        );
        assert_eq!(
            collect(&mut s, b" 3 4\n\n"),
            vec![Some(b"a.c 3 4".to_vec()), Some(vec![])]
        );
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn overlong_lines_are_skipped_but_neighbours_kept() {
        let mut s = LineSplitter::new(8);
        let out = collect(&mut s, b"12345678\n123456789\nok 1 2\n");
        assert_eq!(
            out,
            vec![Some(b"12345678".to_vec()), None, Some(b"ok 1 2".to_vec())]
        );
        // An unfinished long line is dropped from memory at once and skipped to its LF.
        assert!(collect(&mut s, b"0123456789abcdef").is_empty());
        assert_eq!(s.pending(), 0);
        assert!(collect(&mut s, b"more").is_empty());
        assert_eq!(
            collect(&mut s, b"end\nx 1 2\n"),
            vec![None, Some(b"x 1 2".to_vec())]
        );
    }

    #[test]
    fn carbon_line_syntax() {
        assert_eq!(
            parse_line(b"foo.bar\t1.5\t17e8\r"),
            Ok(("foo.bar", 1.7e9, 1.5))
        );
        assert_eq!(parse_line("a\u{a0}2 3".as_bytes()), Ok(("a", 3.0, 2.0)));
        assert_eq!(parse_line(b"a 1"), Err(LineError::FieldCount));
        assert_eq!(parse_line(b"a 1 2 3"), Err(LineError::FieldCount));
        assert_eq!(parse_line(b"a x 2"), Err(LineError::BadValue));
        assert_eq!(parse_line(b"a 1 1e400"), Ok(("a", f64::INFINITY, 1.0)));
        assert_eq!(parse_line(b"a \xff 2"), Err(LineError::InvalidUtf8));
    }
}
