//! The plaintext protocol: `name value timestamp\n` over TCP (LF framing) and UDP.
//!
//! Framing follows Twisted's `LineOnlyReceiver` as carbon uses it; parsing follows carbon's
//! `line.strip().split()` and `float()`. One deliberate divergence: a line that is not valid
//! UTF-8 makes carbon's receiver raise outside its error handler, so Twisted drops the whole
//! connection; here only that line is rejected ([`LineError::InvalidUtf8`]) and the
//! connection layer counts it and carries on.

use crate::pyfloat::py_float;
use crate::pytext::{py_split, py_splitlines};

/// carbon's `MAX_LENGTH` for plaintext lines, in bytes, not counting the LF.
pub const MAX_LINE_LENGTH: usize = 16384;

/// One parsed plaintext line, borrowing the metric name from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line<'a> {
    /// Metric name as sent (not yet tag-normalised).
    pub name: &'a str,
    /// Value, as Python `float()` parsed it.
    pub value: f64,
    /// Timestamp in seconds, as Python `float()` parsed it.
    pub timestamp: f64,
}

/// Why a single plaintext line was ignored (carbon logs and ignores these too, except UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// The line does not have exactly three whitespace-separated fields.
    #[error("line does not have exactly 3 fields")]
    FieldCount,
    /// The value field is not a Python float.
    #[error("value is not a number")]
    BadValue,
    /// The timestamp field is not a Python float.
    #[error("timestamp is not a number")]
    BadTimestamp,
}

/// Parse one line (without its LF) the way carbon's `MetricLineReceiver.lineReceived` does.
#[inline]
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    let s = std::str::from_utf8(line).map_err(|_| LineError::InvalidUtf8)?;
    parse_line_str(s)
}

/// [`parse_line`] for text that is already known to be UTF-8.
#[inline]
pub fn parse_line_str(s: &str) -> Result<Line<'_>, LineError> {
    let mut fields = py_split(s);
    let (Some(name), Some(value), Some(ts), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(LineError::FieldCount);
    };
    // carbon converts the timestamp first; the order only matters for which error is named.
    let timestamp = py_float(ts).ok_or(LineError::BadTimestamp)?;
    let value = py_float(value).ok_or(LineError::BadValue)?;
    Ok(Line {
        name,
        value,
        timestamp,
    })
}

/// The lines of one UDP datagram, split like Python's `str.splitlines()`.
///
/// carbon decodes the whole datagram first, so one invalid UTF-8 byte loses every line of it;
/// here each line stands alone (parse it with [`parse_line`]).
pub fn udp_lines(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    py_splitlines(datagram)
}

/// A complete line longer than the limit, or too many bytes without LF: carbon closes the
/// connection and discards what is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line longer than {max} bytes ({len} bytes)")]
pub struct LineTooLong {
    /// Length of the offending line or buffered tail.
    pub len: usize,
    /// The configured maximum.
    pub max: usize,
}

/// Streaming LF splitter with carbon's length rules; keeps only the unterminated tail.
///
/// Lines that arrive whole in one [`feed`](LineFramer::feed) are handed out as slices of the
/// input, so nothing is copied on the hot path; only a line split across reads is buffered.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max: usize,
    tail: Vec<u8>,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(MAX_LINE_LENGTH)
    }
}

impl LineFramer {
    /// A framer whose lines may be at most `max` bytes (carbon: [`MAX_LINE_LENGTH`]).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            tail: Vec::new(),
        }
    }

    /// Bytes received but not yet terminated by LF.
    pub fn buffered(&self) -> usize {
        self.tail.len()
    }

    /// Split `data` (appended to the buffered tail) into lines, calling `on_line` for each
    /// line without its LF, in order.
    ///
    /// Like Twisted, lines before an over-long one are delivered; on error the framer is
    /// left empty and the caller is expected to close the connection. The check on the
    /// unterminated tail happens after the complete lines of this read are delivered.
    pub fn feed<F: FnMut(&[u8])>(
        &mut self,
        data: &[u8],
        mut on_line: F,
    ) -> Result<(), LineTooLong> {
        let mut rest = data;
        if !self.tail.is_empty() {
            match memchr_lf(rest) {
                None => {
                    self.tail.extend_from_slice(rest);
                    return self.check_tail();
                }
                Some(i) => {
                    let (head, after) = rest.split_at(i);
                    rest = after.get(1..).unwrap_or(&[]);
                    let total = self.tail.len() + head.len();
                    if total > self.max {
                        self.tail.clear();
                        return Err(LineTooLong {
                            len: total,
                            max: self.max,
                        });
                    }
                    self.tail.extend_from_slice(head);
                    on_line(&self.tail);
                    self.tail.clear();
                }
            }
        }
        while let Some(i) = memchr_lf(rest) {
            let (line, after) = rest.split_at(i);
            if line.len() > self.max {
                return Err(LineTooLong {
                    len: line.len(),
                    max: self.max,
                });
            }
            on_line(line);
            rest = after.get(1..).unwrap_or(&[]);
        }
        if rest.len() > self.max {
            return Err(LineTooLong {
                len: rest.len(),
                max: self.max,
            });
        }
        self.tail.extend_from_slice(rest);
        Ok(())
    }

    /// End of stream: the unterminated tail is dropped, as carbon does. Returns its length.
    pub fn finish(&mut self) -> usize {
        let n = self.tail.len();
        self.tail = Vec::new();
        n
    }

    fn check_tail(&mut self) -> Result<(), LineTooLong> {
        if self.tail.len() > self.max {
            let len = self.tail.len();
            self.tail = Vec::new();
            return Err(LineTooLong { len, max: self.max });
        }
        Ok(())
    }
}

#[inline]
fn memchr_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// A timestamp carbon cannot turn into an integer. carbon's TCP receivers raise and drop the
/// connection; its UDP receiver ignores the line for NaN (ValueError is caught there) and
/// loses the rest of the datagram for infinity (OverflowError is not).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("timestamp {0} is not finite")]
pub struct NonFiniteTimestamp(pub f64);

/// carbon's `metricReceived` rules, applied after parsing by every receiver:
/// a NaN value is dropped silently (`Ok(None)`); a timestamp whose integer part is -1
/// (`int(ts) == -1`, so anything in (-2, -1]) means "now"; an infinite or NaN timestamp is
/// an error. Returns `(timestamp, value)`.
#[inline]
pub fn accept_datapoint(
    timestamp: f64,
    value: f64,
    now: f64,
) -> Result<Option<(f64, f64)>, NonFiniteTimestamp> {
    // Order matters: carbon checks the value before it converts the timestamp.
    if value.is_nan() {
        return Ok(None);
    }
    if !timestamp.is_finite() {
        return Err(NonFiniteTimestamp(timestamp));
    }
    if timestamp.trunc() == -1.0 {
        return Ok(Some((now, value)));
    }
    Ok(Some((timestamp, value)))
}

/// carbon's `MIN_TIMESTAMP_RESOLUTION`: `int(ts) // res * res` (0 = off, timestamp unchanged).
pub fn apply_min_resolution(timestamp: f64, resolution: u32) -> f64 {
    if resolution == 0 || !timestamp.is_finite() {
        return timestamp;
    }
    let res = f64::from(resolution);
    (timestamp.trunc() / res).floor() * res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(f: &mut LineFramer, data: &[u8]) -> (Vec<Vec<u8>>, Result<(), LineTooLong>) {
        let mut v = Vec::new();
        let r = f.feed(data, |l| v.push(l.to_vec()));
        (v, r)
    }

    #[test]
    fn parses_basic_line() {
        let l = parse_line(b"foo.bar 1.5 1700000000").unwrap();
        assert_eq!((l.name, l.value, l.timestamp), ("foo.bar", 1.5, 1.7e9));
        assert_eq!(parse_line(b"a 1"), Err(LineError::FieldCount));
        assert_eq!(parse_line(b"a x 1"), Err(LineError::BadValue));
        assert_eq!(parse_line(b"a 1 x"), Err(LineError::BadTimestamp));
        assert_eq!(parse_line(b"a\xff 1 1"), Err(LineError::InvalidUtf8));
    }

    #[test]
    fn framer_splits_across_reads() {
        let mut f = LineFramer::new(10);
        let (v, r) = collect(&mut f, b"a 1 1\nb 2");
        assert_eq!((v, r), (vec![b"a 1 1".to_vec()], Ok(())));
        let (v, r) = collect(&mut f, b" 2\n\nc");
        assert_eq!((v, r), (vec![b"b 2 2".to_vec(), b"".to_vec()], Ok(())));
        assert_eq!(f.finish(), 1);
    }

    #[test]
    fn framer_length_rules() {
        let mut f = LineFramer::new(4);
        // Exactly max is fine, one more is not; earlier lines of the same read still count.
        let (v, r) = collect(&mut f, b"abcd\nabcde\nx\n");
        assert_eq!(v, vec![b"abcd".to_vec()]);
        assert_eq!(r, Err(LineTooLong { len: 5, max: 4 }));
        let mut f = LineFramer::new(4);
        assert_eq!(collect(&mut f, b"abcd").1, Ok(()));
        assert_eq!(collect(&mut f, b"e").1, Err(LineTooLong { len: 5, max: 4 }));
        assert_eq!(f.buffered(), 0);
        let mut f = LineFramer::new(4);
        assert_eq!(collect(&mut f, b"ab").1, Ok(()));
        assert_eq!(
            collect(&mut f, b"cde\n").1,
            Err(LineTooLong { len: 5, max: 4 })
        );
    }

    #[test]
    fn carbon_post_processing() {
        assert_eq!(accept_datapoint(5.0, f64::NAN, 9.0), Ok(None));
        assert_eq!(accept_datapoint(f64::INFINITY, f64::NAN, 9.0), Ok(None));
        assert_eq!(accept_datapoint(-1.0, 1.0, 9.0), Ok(Some((9.0, 1.0))));
        assert_eq!(accept_datapoint(-1.99, 1.0, 9.0), Ok(Some((9.0, 1.0))));
        assert_eq!(accept_datapoint(-2.0, 1.0, 9.0), Ok(Some((-2.0, 1.0))));
        assert_eq!(accept_datapoint(-0.5, 1.0, 9.0), Ok(Some((-0.5, 1.0))));
        assert!(accept_datapoint(f64::INFINITY, 1.0, 9.0).is_err());
        assert!(accept_datapoint(f64::NAN, 1.0, 9.0).is_err());
        assert_eq!(apply_min_resolution(1_700_000_007.9, 10), 1_700_000_000.0);
        assert_eq!(apply_min_resolution(-7.5, 10), -10.0);
        assert_eq!(apply_min_resolution(7.5, 0), 7.5);
    }
}
