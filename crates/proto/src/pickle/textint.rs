//! The integer arguments of protocol-0 opcodes, read the way CPython's C unpickler reads them:
//! as C strings (a NUL ends the text), INT through `strtol(s, &end, 0)` with a fallback to
//! Python's `int(s, 0)`, LONG through `int(s, 0)`, PUT/GET through `int(s, 10)`.

use super::value::{BigInt, Value};

/// Python refuses decimal strings longer than this (`sys.get_int_max_str_digits()`, 3.11).
const MAX_DECIMAL_DIGITS: usize = 4300;

/// The text a C function sees: everything before the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// C `isspace` in the C locale (also Python's `Py_ISSPACE`).
fn c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// INT's argument (the line without its LF): `Bool` for `00`/`01`-like two-character lines.
pub(crate) fn int_opcode(line: &[u8]) -> Option<Value> {
    let text = c_str(line);
    if let Some(x) = strtol0(text) {
        // CPython makes a bool when the line (LF included) is 3 bytes and the value 0 or 1.
        if line.len() == 2 && (x == 0 || x == 1) {
            return Some(Value::Bool(x == 1));
        }
        return Some(Value::Int(x));
    }
    py_int(text, 0)
}

/// LONG's argument: a trailing `L` is dropped, then `int(s, 0)`.
pub(crate) fn long_opcode(line: &[u8]) -> Option<Value> {
    let body = line.strip_suffix(b"L").unwrap_or(line);
    py_int(c_str(body), 0)
}

/// PUT/GET's argument: `int(s, 10)`, which must be a non-negative index.
pub(crate) fn memo_index(line: &[u8]) -> Option<u64> {
    match py_int(c_str(line), 10)? {
        Value::Int(i) => u64::try_from(i).ok(),
        _ => None,
    }
}

/// `strtol(s, &end, 0)` accepted only when it consumed up to the end and did not overflow;
/// `None` means CPython falls back to `int(s, 0)`.
fn strtol0(s: &[u8]) -> Option<i64> {
    let mut i = 0;
    while s.get(i).copied().is_some_and(c_space) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex_prefix = matches!(s.get(i..i + 2), Some(b"0x" | b"0X"))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let base: u32 = if hex_prefix {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let start = i;
    let mut acc: i128 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(base)) {
        acc = acc * i128::from(base) + i128::from(d);
        if acc > i128::from(i64::MAX) + 1 {
            overflow = true;
            acc = i128::from(i64::MAX) + 1;
        }
        i += 1;
    }
    if i == start {
        // No digits: strtol returns 0 and points at the very start of the string.
        return s.is_empty().then_some(0);
    }
    if i != s.len() {
        return None;
    }
    let v = if neg { -acc } else { acc };
    if overflow {
        return None;
    }
    i64::try_from(v).ok()
}

/// Python's `int(text, base)` for base 0 (prefixes, no leading zeros) or 10.
pub(crate) fn py_int(text: &[u8], base: u32) -> Option<Value> {
    let mut s = text;
    while let [c, rest @ ..] = s {
        if !c_space(*c) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., c] = s {
        if !c_space(*c) {
            break;
        }
        s = rest;
    }
    let (neg, mut s) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    let mut radix = 10;
    let mut allow_leading_underscore = false;
    if base == 0 {
        if let [b'0', p, rest @ ..] = s {
            radix = match p {
                b'x' | b'X' => 16,
                b'o' | b'O' => 8,
                b'b' | b'B' => 2,
                _ => 10,
            };
            if radix != 10 {
                s = rest;
                allow_leading_underscore = true;
            }
        }
    }
    if allow_leading_underscore {
        if let [b'_', rest @ ..] = s {
            s = rest;
        }
    }
    // Digits with single underscores between them.
    let mut digits = Vec::with_capacity(s.len());
    let mut prev_digit = false;
    for (i, &c) in s.iter().enumerate() {
        if c == b'_' {
            let next_digit = s
                .get(i + 1)
                .is_some_and(|&n| (n as char).to_digit(radix).is_some());
            if !prev_digit || !next_digit {
                return None;
            }
            prev_digit = false;
            continue;
        }
        let d = (c as char).to_digit(radix)?;
        digits.push(d as u8);
        prev_digit = true;
    }
    if digits.is_empty() {
        return None;
    }
    if base == 0
        && radix == 10
        && digits.len() > 1
        && digits[0] == 0
        && digits.iter().any(|&d| d != 0)
    {
        return None;
    }
    if radix == 10 && digits.len() > MAX_DECIMAL_DIGITS {
        return None;
    }
    Some(from_digits(&digits, radix, neg))
}

/// Build an integer from digit values, as `Int` when it fits.
fn from_digits(digits: &[u8], radix: u32, neg: bool) -> Value {
    let mut limbs: Vec<u32> = vec![0];
    for &d in digits {
        let mut carry = u64::from(d);
        for limb in limbs.iter_mut() {
            let v = u64::from(*limb) * u64::from(radix) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0); // room for the sign bit
    if neg {
        for b in bytes.iter_mut() {
            *b = !*b;
        }
        for b in bytes.iter_mut() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    BigInt::from_le_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_opcode_like_cpython() {
        assert_eq!(int_opcode(b"01"), Some(Value::Bool(true)));
        assert_eq!(int_opcode(b"00"), Some(Value::Bool(false)));
        assert_eq!(int_opcode(b"+1"), Some(Value::Bool(true)));
        assert_eq!(int_opcode(b"1"), Some(Value::Int(1)));
        assert_eq!(int_opcode(b"010"), Some(Value::Int(8)));
        assert_eq!(int_opcode(b"0x1f"), Some(Value::Int(31)));
        assert_eq!(int_opcode(b" -12"), Some(Value::Int(-12)));
        assert_eq!(int_opcode(b"1_000"), Some(Value::Int(1000)));
        assert_eq!(int_opcode(b"\x0001"), Some(Value::Int(0)));
        assert_eq!(int_opcode(b"12\x00zz"), Some(Value::Int(12)));
        assert_eq!(int_opcode(b"1x"), None);
        assert_eq!(int_opcode(b"09"), None);
        let big = int_opcode(b"123456789012345678901234567890");
        assert!(matches!(big, Some(Value::BigInt(_))));
    }

    #[test]
    fn python_int_syntax() {
        assert_eq!(py_int(b"0o17", 0), Some(Value::Int(15)));
        assert_eq!(py_int(b"0b_101", 0), Some(Value::Int(5)));
        assert_eq!(py_int(b"007", 0), None);
        assert_eq!(py_int(b"000", 0), Some(Value::Int(0)));
        assert_eq!(py_int(b"007", 10), Some(Value::Int(7)));
        assert_eq!(py_int(b"1__0", 0), None);
        assert_eq!(py_int(b"_1", 0), None);
        assert_eq!(py_int(b" 42\n", 10), Some(Value::Int(42)));
        assert_eq!(long_opcode(b"-5L"), Some(Value::Int(-5)));
        assert_eq!(memo_index(b"-1"), None);
        assert_eq!(memo_index(b"7"), Some(7));
    }
}
