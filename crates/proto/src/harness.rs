//! Fuzzing harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the garbage-corpus
//! tests, so both exercise the same code paths and invariants. They panic only when an
//! invariant of this crate is broken; any input at all must pass.

use std::path::Component;

use crate::carbonlink;
use crate::frame::split_frame;
use crate::line::{parse_line, udp_lines, LineFramer};
use crate::path::relative_path;
use crate::pickle::{decode, decode_datapoints, encode, Value};
use crate::pyfloat::py_float;
use crate::pytext::is_py_space;
use crate::tags::{normalize_name, parse_tagged};

/// Plaintext framing, line parsing, UDP splitting, tags and paths on arbitrary bytes.
pub fn line_parser(data: &[u8]) {
    let (max, rest) = match data.split_first() {
        Some((&m, rest)) => (usize::from(m % 64) + 1, rest),
        None => (16, data),
    };
    // Chunk boundaries taken from the data itself, so the fuzzer controls them.
    let mut framer = LineFramer::new(max);
    let mut delivered = Vec::new();
    let mut failed = false;
    for chunk in rest.chunks(max / 2 + 1) {
        let res = framer.feed(chunk, |line| {
            assert!(line.len() <= max, "line longer than max delivered");
            assert!(!line.contains(&b'\n'), "line contains LF");
            delivered.extend_from_slice(line);
            delivered.push(b'\n');
            check_line(line);
        });
        if res.is_err() {
            failed = true;
            break;
        }
    }
    if !failed {
        assert!(
            rest.starts_with(&delivered),
            "delivered lines are not the stream's prefix"
        );
        assert_eq!(delivered.len() + framer.finish(), rest.len());
    }
    for line in udp_lines(rest) {
        assert!(
            !line.contains(&b'\n') && !line.contains(&b'\r'),
            "UDP line holds a break"
        );
        check_line(line);
    }
    let text = String::from_utf8_lossy(rest);
    let _ = py_float(&text);
    check_name(&text);
}

fn check_line(line: &[u8]) {
    if let Ok(l) = parse_line(line) {
        assert!(!l.name.is_empty(), "empty metric name");
        assert!(!l.name.chars().any(is_py_space), "name holds whitespace");
        check_name(l.name);
    }
}

fn check_name(name: &str) {
    let normalized = normalize_name(name);
    if let Ok(t) = parse_tagged(name) {
        assert_eq!(
            t.normalized, normalized,
            "normalize_name disagrees with parse_tagged"
        );
    }
    for hash in [true, false] {
        if let Ok(p) = relative_path(&normalized, hash) {
            assert!(p.is_relative(), "absolute path");
            assert!(
                p.components().all(|c| matches!(c, Component::Normal(_))),
                "path {p:?} leaves its directory"
            );
            assert!(p.as_os_str().len() <= crate::path::MAX_PATH);
        }
    }
}

/// Pickle decoding (generic, datapoints, carbonlink) and re-encoding on arbitrary bytes.
pub fn pickle_decoder(data: &[u8]) {
    let _ = split_frame(data, 1 << 16);
    let decoded = decode(data);
    let batch = decode_datapoints(data);
    if let Ok(b) = &batch {
        assert!(
            b.points.len() + b.skipped <= data.len(),
            "more elements than input bytes"
        );
    }
    if let Ok(v) = &decoded {
        if let Ok(bytes) = encode(v) {
            let again = decode(&bytes).expect("our own encoding decodes");
            assert!(same(v, &again), "re-encoding changed the value");
        }
        let _ = carbonlink::request_from_value(v);
        let _ = carbonlink::response_from_value(v);
    }
    let _ = carbonlink::parse_request(data);
}

/// Structural equality where NaN equals NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => a == b,
    }
}
