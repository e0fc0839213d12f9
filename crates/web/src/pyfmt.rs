//! Python's text forms of numbers, so encoded bodies match graphite-web byte for byte.

use std::fmt::Write;

/// Appends Python's `repr(float)` of a finite or non-finite `f64` (`2.0`, `1e-05`, `1e+16`, `nan`, `inf`).
pub fn write_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Integral values and values with one decimal digit (most metrics) are written directly.
    let a = x.abs();
    if a < 1e15 {
        if x == x.trunc() {
            write_int(out, x as i64, x.is_sign_negative());
            out.push_str(".0");
            return;
        }
        let tenths = (x * 10.0).round();
        if tenths / 10.0 == x {
            // m/10 is correctly rounded, as parsing "m.d" is: this text round-trips and nothing
            // shorter can (no integer equals a non-integral x)
            let m = tenths as i64;
            write_int(out, m / 10, x < 0.0);
            out.push('.');
            out.push(char::from(b'0' + (m % 10).unsigned_abs() as u8));
            return;
        }
    }
    // Where Python prints fixed notation, Rust's Display prints the same shortest digits without
    // an exponent; only an integral value lacks Python's ".0". This path avoids an allocation.
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let at = out.len();
        let _ = write!(out, "{x}");
        if !out[at..].contains('.') {
            out.push_str(".0");
        }
        return;
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, which is also what Python's repr picks;
    // only the placement of the decimal point and the exponent syntax differ.
    let sci = format!("{:e}", x);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// Appends the decimal digits of `i` (with a `-` when `negative`, so `-0.5` keeps its sign).
pub fn write_int(out: &mut String, i: i64, negative: bool) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        out.push('-');
    }
    // only ASCII digits were written
    out.push_str(std::str::from_utf8(&buf[pos..]).unwrap_or("0"));
}

/// Python's `repr(float)` as a new string.
pub fn float_repr(x: f64) -> String {
    let mut s = String::new();
    write_float_repr(&mut s, x);
    s
}

#[cfg(test)]
mod tests {
    use super::float_repr;

    #[test]
    fn matches_python_repr() {
        let cases = [
            (2.0, "2.0"),
            (0.1, "0.1"),
            (-3.5, "-3.5"),
            (8.24, "8.24"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.0, "123456789012345.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.2345e-7, "1.2345e-07"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e300, "1e+300"),
            (0.016667, "0.016667"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-0.5, "-0.5"),
            (-62.5, "-62.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e14 + 0.5, "100000000000000.5"),
            (999999999999999.9, "999999999999999.9"),
            (-7.0, "-7.0"),
            (4.35, "4.35"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "repr of {x:?}");
        }
    }

    #[test]
    fn fixed_range_round_trips_with_a_point() {
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..100_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = f64::from_bits(seed >> 2) % 1e15 * if seed & 1 == 0 { 1.0 } else { 1e-12 };
            if !x.is_finite() {
                continue;
            }
            let s = float_repr(x);
            assert_eq!(s.parse::<f64>().unwrap(), x, "{s}");
            let in_fixed = x == 0.0 || (1e-4..1e16).contains(&x.abs());
            assert_eq!(!s.contains('e'), in_fixed, "{s} for {x:e}");
            assert!(s.contains('.') || s.contains('e'), "{s}");
        }
    }
}
