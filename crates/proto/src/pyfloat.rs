//! Python's `float()` on text and bytes, which is what carbon applies to every value and
//! timestamp it receives.
//!
//! After stripping, Python's grammar is the one Rust's `f64::from_str` implements (sign,
//! digits, optional point, exponent, `inf`/`infinity`/`nan` in any case), and both round
//! correctly and turn overflow into infinity. What Python adds is handled here before calling
//! Rust's parser: underscores between digits, any Unicode decimal digit, Unicode whitespace
//! around the number.

use crate::pytext::{is_py_space, py_decimal};

/// Numbers longer than this are normalised into a heap buffer instead of the stack one.
const STACK_BUF: usize = 64;

/// Python `float(s)` for a `str`; `None` where Python raises `ValueError`.
pub fn py_float(s: &str) -> Option<f64> {
    if s.is_ascii() {
        return float_ascii(s.as_bytes());
    }
    // Python maps Unicode spaces to ' ', Unicode decimal digits to ASCII and any other
    // non-ASCII character to '?', which can never parse.
    let mut stack = [0u8; STACK_BUF];
    let mut heap = Vec::new();
    let mut n = 0;
    let mut push = |b: u8, n: &mut usize| {
        if *n < STACK_BUF {
            stack[*n] = b;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(b);
        }
        *n += 1;
    };
    for c in s.chars() {
        let b = if c.is_ascii() {
            c as u8
        } else if is_py_space(c) {
            b' '
        } else {
            b'0' + py_decimal(c)?
        };
        push(b, &mut n);
    }
    if n <= STACK_BUF {
        float_ascii(stack.get(..n)?)
    } else {
        float_ascii(&heap)
    }
}

/// Python `float(b)` for `bytes`/`bytearray`: ASCII only.
pub fn py_float_bytes(b: &[u8]) -> Option<f64> {
    if !b.is_ascii() {
        return None;
    }
    float_ascii(b)
}

/// Python's ASCII whitespace for number parsing (`Py_ISSPACE`): \t \n \v \f \r and space.
#[inline]
fn is_c_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

#[inline]
fn float_ascii(b: &[u8]) -> Option<f64> {
    let start = b.iter().position(|&c| !is_c_space(c))?;
    let end = b.iter().rposition(|&c| !is_c_space(c))? + 1;
    let core = b.get(start..end)?;
    if core.contains(&b'_') {
        return float_underscores(core);
    }
    parse_core(core)
}

#[inline]
fn parse_core(core: &[u8]) -> Option<f64> {
    // Both grammars are identical here; the only byte Rust accepts that Python does not is
    // none, but keep the explicit check cheap insurance against future std changes.
    if !core
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
    {
        return None;
    }
    std::str::from_utf8(core).ok()?.parse::<f64>().ok()
}

/// Underscores are allowed only with a digit on both sides (`1_000`, `1e1_0`).
fn float_underscores(core: &[u8]) -> Option<f64> {
    let mut out = Vec::with_capacity(core.len());
    for (i, &c) in core.iter().enumerate() {
        if c == b'_' {
            let prev_digit = i > 0 && core.get(i - 1).is_some_and(u8::is_ascii_digit);
            let next_digit = core.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(prev_digit && next_digit) {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    parse_core(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_syntax() {
        let ok: &[(&str, f64)] = &[
            ("1.5", 1.5),
            ("  -1e3\n", -1000.0),
            ("+5", 5.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1_000", 1000.0),
            ("1e1_0", 1e10),
            ("1.0_5", 1.05),
            ("\u{a0}1\u{3000}", 1.0),
            ("\u{661}\u{662}", 12.0),
            ("1\u{660}", 10.0),
            ("-iNfInItY", f64::NEG_INFINITY),
            ("inf", f64::INFINITY),
            ("1e400", f64::INFINITY),
            ("-1e400", f64::NEG_INFINITY),
            ("1.5\u{85}", 1.5),
        ];
        for (s, v) in ok {
            assert_eq!(py_float(s), Some(*v), "{s:?}");
        }
        assert!(py_float("nan").is_some_and(f64::is_nan));
        assert!(py_float("-NaN").is_some_and(f64::is_nan));
        for bad in [
            "", " ", "1__0", "_1", "1_", "1_.5", "1._5", "1e_5", "0x10", "1,5", "1.5\x00",
            "1.5\x1c", "in_f", "1 0", "1j", "1d", "1e", "e5", ".", "nan(1)", "infin", "\u{66b}5",
            "abc",
        ] {
            assert_eq!(py_float(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn long_numbers_use_the_heap_buffer() {
        let s = format!("{}\u{661}", "1".repeat(100));
        let want: f64 = format!("{}1", "1".repeat(100)).parse().unwrap_or(0.0);
        assert_eq!(py_float(&s), Some(want));
    }

    #[test]
    fn bytes_are_ascii_only() {
        assert_eq!(py_float_bytes(b" 1.5\n"), Some(1.5));
        assert_eq!(py_float_bytes(b"\xd9\xa1"), None);
        assert_eq!(py_float_bytes(b"1_0"), Some(10.0));
    }
}
