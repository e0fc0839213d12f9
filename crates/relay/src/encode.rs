//! Wire encodings of a batch for a destination: carbon's pickle frames or plaintext lines.
//!
//! The pickle is what carbon-relay emits with `pickle.dumps(batch, protocol=2)`: a list of
//! `(metric, (timestamp, value))` tuples, every number a BINFLOAT, framed by a 4-byte
//! big-endian length. Memo opcodes are optional for readers, so none are written.

use crate::point::Point;
use std::fmt::Write as _;

/// How points are written to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Length-prefixed pickle protocol 2, as carbon-relay sends to carbon-cache.
    #[default]
    Pickle,
    /// `metric value timestamp\n` lines.
    Line,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pickle" => Ok(Protocol::Pickle),
            "line" | "plaintext" => Ok(Protocol::Line),
            other => Err(format!(
                "unknown destination protocol {other:?} (pickle | line)"
            )),
        }
    }
}

/// Encoded size of one point in `protocol`, used to cap a message below receivers' frame limits.
pub fn encoded_len(protocol: Protocol, p: &Point) -> usize {
    match protocol {
        // BINUNICODE(5+n) + 2 BINFLOAT(9 each) + 2 TUPLE2
        Protocol::Pickle => p.metric.len() + 25,
        Protocol::Line => p.metric.len() + 48,
    }
}

/// Appends one complete message holding `points` to `out`.
pub fn encode(protocol: Protocol, points: &[Point], out: &mut Vec<u8>) {
    match protocol {
        Protocol::Pickle => encode_pickle(points, out),
        Protocol::Line => encode_lines(points, out),
    }
}

fn encode_pickle(points: &[Point], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"\x80\x02]");
    if !points.is_empty() {
        out.push(b'(');
        for p in points {
            out.push(b'X');
            out.extend_from_slice(&(p.metric.len() as u32).to_le_bytes());
            out.extend_from_slice(p.metric.as_bytes());
            out.push(b'G');
            out.extend_from_slice(&p.timestamp.to_be_bytes());
            out.push(b'G');
            out.extend_from_slice(&p.value.to_be_bytes());
            out.extend_from_slice(b"\x86\x86");
        }
        out.push(b'e');
    }
    out.push(b'.');
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

fn encode_lines(points: &[Point], out: &mut Vec<u8>) {
    let mut s = String::with_capacity(points.len() * 48);
    for p in points {
        // Whole-second timestamps go out as integers, which every receiver parses.
        if p.timestamp.fract() == 0.0 && p.timestamp.abs() < 1e15 {
            let _ = writeln!(
                s,
                "{} {} {}",
                p.metric,
                fmt_float(p.value),
                p.timestamp as i64
            );
        } else {
            let _ = writeln!(
                s,
                "{} {} {}",
                p.metric,
                fmt_float(p.value),
                fmt_float(p.timestamp)
            );
        }
    }
    out.extend_from_slice(s.as_bytes());
}

/// Shortest round-trip text of a float, spelled the way Python's float() reads it.
fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickle_frame_layout() {
        let mut out = Vec::new();
        encode(
            Protocol::Pickle,
            &[Point::new("a.b", 1700000000.0, 1.5)],
            &mut out,
        );
        let len = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len, out.len() - 4);
        assert_eq!(&out[4..8], b"\x80\x02](");
        assert_eq!(&out[8..13], b"X\x03\x00\x00\x00");
        assert_eq!(&out[13..16], b"a.b");
        assert_eq!(out[16], b'G');
        assert_eq!(&out[17..25], &1700000000.0f64.to_be_bytes());
        assert!(out.ends_with(b"\x86\x86e."));
    }

    #[test]
    fn empty_pickle_is_an_empty_list() {
        let mut out = Vec::new();
        encode(Protocol::Pickle, &[], &mut out);
        assert_eq!(out, b"\x00\x00\x00\x04\x80\x02].");
    }

    #[test]
    fn lines_keep_integral_timestamps_integral() {
        let mut out = Vec::new();
        let pts = [
            Point::new("a", 1700000000.0, 2.0),
            Point::new("b", 1.5, f64::INFINITY),
        ];
        encode(Protocol::Line, &pts, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a 2.0 1700000000\nb inf 1.5\n"
        );
    }

    #[test]
    fn encoded_len_matches_pickle_body() {
        let p = Point::new("x.y.z", 1.0, 2.0);
        let mut one = Vec::new();
        encode(Protocol::Pickle, std::slice::from_ref(&p), &mut one);
        let mut two = Vec::new();
        encode(Protocol::Pickle, &[p.clone(), p.clone()], &mut two);
        assert_eq!(two.len() - one.len(), encoded_len(Protocol::Pickle, &p));
    }
}
