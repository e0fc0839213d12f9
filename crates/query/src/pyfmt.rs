//! Python-compatible number formatting, so series names match graphite-web byte for byte.

/// Python `repr(float)` / `str(float)`: shortest round-trip digits, fixed notation for
/// exponents in [-4, 16), scientific (`1e+16`) otherwise.
pub fn repr_f64(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let (neg, digits, exp) = decompose(&format!("{:e}", x));
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        out.push_str(&fixed(&digits, exp));
        if !out.contains('.') {
            out.push_str(".0");
        }
    } else {
        out.push_str(&sci(&digits, exp));
    }
    out
}

/// Python `'%g' % x` (6 significant digits, trailing zeros stripped).
pub fn fmt_g(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = decompose(&format!("{:.5e}", x));
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        out.push_str(&fixed(&digits, exp));
    } else {
        out.push_str(&sci(&digits, exp));
    }
    out
}

/// Formats a number the way Python's `str()` would for a value that is an int when integral
/// in the source (graphite passes ints through untouched).
pub fn str_num(x: f64, is_int: bool) -> String {
    if is_int && x.fract() == 0.0 && x.abs() < 1e18 {
        format!("{}", x as i64)
    } else {
        repr_f64(x)
    }
}

fn decompose(s: &str) -> (bool, String, i32) {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (neg, digits, exp.parse().unwrap_or(0))
}

fn fixed(digits: &str, exp: i32) -> String {
    if exp >= 0 {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            format!("{}{}", digits, "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    } else {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    }
}

fn sci(digits: &str, exp: i32) -> String {
    let mant = if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{}e{}{:02}", mant, sign, exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        assert_eq!(repr_f64(2.0), "2.0");
        assert_eq!(repr_f64(0.1), "0.1");
        assert_eq!(repr_f64(1e16), "1e+16");
        assert_eq!(repr_f64(1234567890123456.0), "1234567890123456.0");
        assert_eq!(repr_f64(0.0001), "0.0001");
        assert_eq!(repr_f64(0.00001), "1e-05");
        assert_eq!(repr_f64(-2.5), "-2.5");
        assert_eq!(repr_f64(1.5e-7), "1.5e-07");
        assert_eq!(repr_f64(42.0), "42.0");
    }

    #[test]
    fn g_matches_python() {
        assert_eq!(fmt_g(2.5), "2.5");
        assert_eq!(fmt_g(-3.0), "-3");
        assert_eq!(fmt_g(1e-7), "1e-07");
        assert_eq!(fmt_g(1234567.0), "1.23457e+06");
        assert_eq!(fmt_g(100000.0), "100000");
        assert_eq!(fmt_g(0.0001), "0.0001");
        assert_eq!(fmt_g(0.1), "0.1");
        assert_eq!(fmt_g(0.5), "0.5");
    }
}
