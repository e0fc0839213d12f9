//! The Python values a safe pickle can hold.

/// A Python value decoded from (or to be encoded as) a pickle.
///
/// Dicts keep their entries in pickle order as a list of pairs; a key set twice appears twice
/// (use [`Value::get`], which returns the last one, as Python's dict would).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// An `int` that does not fit in 64 bits.
    BigInt(BigInt),
    /// A `float`.
    Float(f64),
    /// A `str` (also Python 2 `str`, decoded as UTF-8 like carbon's unpickler does).
    Str(String),
    /// A Python 3 `bytes`.
    Bytes(Vec<u8>),
    /// A `bytearray`.
    ByteArray(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict`, entries in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `set`, in pickle order.
    Set(Vec<Value>),
    /// A `frozenset`, in pickle order.
    FrozenSet(Vec<Value>),
}

impl Value {
    /// Shorthand for a `str` value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The text of a `str` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Look up a `str` key in a dict; the last entry wins, as in Python.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Python's `float(x)` for numbers and numeric strings; `None` where Python raises.
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::BigInt(b) => b.to_f64(),
            Value::Str(s) => crate::pyfloat::py_float(s),
            Value::Bytes(b) | Value::ByteArray(b) => crate::pyfloat::py_float_bytes(b),
            _ => None,
        }
    }

    /// Python's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
        }
    }
}

/// An integer too large for `i64`, kept as pickle stores it: two's complement, little endian,
/// minimal length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    bytes: Box<[u8]>,
}

impl BigInt {
    /// From two's complement little-endian bytes (pickle's LONG1/LONG4 payload).
    /// Returns `Value::Int` when the number fits in an `i64`.
    pub fn from_le_bytes(bytes: &[u8]) -> Value {
        let mut b = bytes;
        // Drop redundant sign-extension bytes so the representation is canonical.
        while b.len() > 1 {
            let (last, prev) = (b[b.len() - 1], b[b.len() - 2]);
            if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                b = &b[..b.len() - 1];
            } else {
                break;
            }
        }
        if b.len() <= 8 {
            let neg = b.last().is_some_and(|x| x & 0x80 != 0);
            let mut buf = if neg { [0xffu8; 8] } else { [0u8; 8] };
            buf[..b.len()].copy_from_slice(b);
            return Value::Int(i64::from_le_bytes(buf));
        }
        Value::BigInt(BigInt { bytes: b.into() })
    }

    /// Two's complement little-endian bytes, minimal length (what LONG1 carries).
    pub fn to_le_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True for negative numbers.
    pub fn is_negative(&self) -> bool {
        self.bytes.last().is_some_and(|x| x & 0x80 != 0)
    }

    /// Python's `float(int)`: correctly rounded, `None` where Python raises OverflowError.
    pub fn to_f64(&self) -> Option<f64> {
        let neg = self.is_negative();
        let mag = magnitude(&self.bytes, neg);
        let f = magnitude_to_f64(&mag)?;
        Some(if neg { -f } else { f })
    }
}

/// Absolute value of a two's complement number, little endian.
fn magnitude(bytes: &[u8], neg: bool) -> Vec<u8> {
    if !neg {
        return bytes.to_vec();
    }
    let mut out: Vec<u8> = bytes.iter().map(|b| !b).collect();
    for b in out.iter_mut() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    out
}

/// Round-half-even conversion of an unsigned little-endian magnitude.
fn magnitude_to_f64(mag: &[u8]) -> Option<f64> {
    let top = mag.iter().rposition(|&b| b != 0);
    let Some(top) = top else { return Some(0.0) };
    let bits = top * 8 + (8 - mag[top].leading_zeros() as usize);
    if bits <= 64 {
        let mut buf = [0u8; 8];
        buf[..=top].copy_from_slice(&mag[..=top]);
        return Some(u64::from_le_bytes(buf) as f64);
    }
    if bits > 1024 {
        return None;
    }
    // Take the top 64 bits and fold every lower bit into a sticky bit: 64 > 53 + 2, so the
    // single u64 -> f64 rounding is then the correct rounding of the whole number.
    let shift = bits - 64;
    let mut hi: u64 = 0;
    for i in 0..64 {
        let bit = shift + i;
        if mag[bit / 8] >> (bit % 8) & 1 == 1 {
            hi |= 1 << i;
        }
    }
    let sticky = (0..shift).any(|bit| mag[bit / 8] >> (bit % 8) & 1 == 1);
    if sticky {
        hi |= 1;
    }
    let f = hi as f64 * 2f64.powi(shift as i32);
    f.is_finite().then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::textint::py_int;

    fn parse_decimal_int(t: &[u8]) -> Option<Value> {
        py_int(t, 10)
    }

    #[test]
    fn bigint_round_trip_and_float() {
        assert_eq!(BigInt::from_le_bytes(&[0xff, 0xff]), Value::Int(-1));
        assert_eq!(BigInt::from_le_bytes(&[]), Value::Int(0));
        let v = parse_decimal_int(b"-123456789012345678901234567890").unwrap();
        let Value::BigInt(b) = &v else {
            panic!("not big: {v:?}")
        };
        assert_eq!(b.to_f64(), Some(-1.2345678901234568e29));
        let v = parse_decimal_int(b"18446744073709551617").unwrap();
        let Value::BigInt(b) = &v else {
            panic!("not big")
        };
        assert_eq!(b.to_f64(), Some(18446744073709551616.0));
        // 2**1024 overflows a double, as Python's float() says.
        let mut bytes = vec![0u8; 128];
        bytes.push(1);
        bytes.push(0);
        let Value::BigInt(b) = BigInt::from_le_bytes(&bytes) else {
            panic!("not big")
        };
        assert_eq!(b.to_f64(), None);
        // Ties round to even: 2**64 + 2**11 sits between two doubles.
        let v = parse_decimal_int(b"18446744073709553664").unwrap();
        assert_eq!(v.to_f64(), Some(18446744073709551616.0));
        assert_eq!(parse_decimal_int(b"12a"), None);
        assert_eq!(parse_decimal_int(b"-"), None);
        assert_eq!(parse_decimal_int(&vec![b'1'; 4301]), None);
    }
}
