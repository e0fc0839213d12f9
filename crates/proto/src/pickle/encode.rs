//! Pickle protocol 2 exactly as CPython 3's `pickle.dumps(obj, protocol=2)` writes it.
//!
//! CPython memoises every str, tuple, list and dict it writes (a BINPUT after each, numbered
//! in order) and refers back with BINGET when the *same object* appears again. Our values have
//! no identity, so by default nothing is referred back, which is what CPython writes when all
//! objects are distinct (the case of carbon-relay batches built from received lines);
//! [`Encoder::share_equal_strings`] emulates equal strings being one object (interned names).
//! The empty string and one-character Latin-1 strings are always single objects in CPython,
//! so those are always referred back, as CPython does.

use std::collections::HashMap;

use super::value::Value;

const PROTO: u8 = 0x80;
const STOP: u8 = b'.';
const NONE: u8 = b'N';
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
const BINFLOAT: u8 = b'G';
const BINUNICODE: u8 = b'X';
const EMPTY_TUPLE: u8 = b')';
const TUPLE: u8 = b't';
const TUPLE1: u8 = 0x85;
const MARK: u8 = b'(';
const EMPTY_LIST: u8 = b']';
const APPEND: u8 = b'a';
const APPENDS: u8 = b'e';
const EMPTY_DICT: u8 = b'}';
const SETITEM: u8 = b's';
const SETITEMS: u8 = b'u';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';

/// CPython writes list and dict items in batches of this many (`BATCHSIZE`).
const BATCH: usize = 1000;

/// A value protocol 2 cannot carry without naming a Python global (bytes, sets, bytearray):
/// CPython would emit a GLOBAL that our own decoder, like carbon's, refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot pickle a {0} with protocol 2 without globals")]
pub struct EncodeError(pub &'static str);

/// Encode `value` as `pickle.dumps(value, protocol=2)` would.
pub fn encode(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut e = Encoder::new();
    e.write(value)?;
    Ok(e.finish())
}

/// Encode a datapoint batch as carbon-relay sends it:
/// `pickle.dumps([(name, (timestamp, value)), ...], protocol=2)`.
pub fn encode_datapoints<S: AsRef<str>>(points: &[(S, f64, f64)]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.begin();
    e.list_with(points.len(), |e, i| {
        if let Some((name, ts, value)) = points.get(i) {
            e.write_str(name.as_ref());
            e.write_float(*ts);
            e.write_float(*value);
            e.end_tuple(2);
            e.end_tuple(2);
        }
    });
    e.finish()
}

/// A protocol-2 pickle writer with CPython's memo numbering.
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    memo_len: u32,
    started: bool,
    shared: Option<HashMap<String, u32>>,
    /// Memo slots of CPython's cached strings: index = code point, 256 = the empty string.
    singletons: Vec<Option<u32>>,
}

/// Slot in `singletons` for strings CPython keeps as one shared object.
fn singleton_slot(s: &str) -> Option<usize> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Some(256),
        (Some(c), None) if (c as u32) < 256 => Some(c as usize),
        _ => None,
    }
}

impl Encoder {
    /// A new, empty pickle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refer back to the first occurrence of an equal string (BINGET), as CPython does when
    /// the same string object is pickled twice.
    pub fn share_equal_strings(mut self, yes: bool) -> Self {
        self.shared = yes.then(HashMap::new);
        self
    }

    fn begin(&mut self) {
        if !self.started {
            self.out.extend_from_slice(&[PROTO, 2]);
            self.started = true;
        }
    }

    /// Append one value (the pickle's top-level object; call once).
    pub fn write(&mut self, value: &Value) -> Result<(), EncodeError> {
        self.begin();
        self.value(value)
    }

    /// Terminate with STOP and return the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.begin();
        self.out.push(STOP);
        self.out
    }

    fn value(&mut self, v: &Value) -> Result<(), EncodeError> {
        match v {
            Value::None => self.out.push(NONE),
            Value::Bool(b) => self.out.push(if *b { NEWTRUE } else { NEWFALSE }),
            Value::Int(i) => self.write_int(*i),
            Value::BigInt(b) => self.write_long(b.to_le_bytes()),
            Value::Float(f) => self.write_float(*f),
            Value::Str(s) => self.write_str(s),
            Value::Tuple(items) => {
                if items.is_empty() {
                    self.out.push(EMPTY_TUPLE);
                    return Ok(());
                }
                if items.len() > 3 {
                    self.out.push(MARK);
                }
                for it in items {
                    self.value(it)?;
                }
                self.end_tuple(items.len());
            }
            Value::List(items) => {
                let mut res = Ok(());
                self.list_with(items.len(), |e, i| {
                    if let (Some(it), Ok(())) = (items.get(i), &res) {
                        res = e.value(it);
                    }
                });
                res?;
            }
            Value::Dict(entries) => self.dict(entries)?,
            Value::Bytes(_) => return Err(EncodeError("bytes")),
            Value::ByteArray(_) => return Err(EncodeError("bytearray")),
            Value::Set(_) => return Err(EncodeError("set")),
            Value::FrozenSet(_) => return Err(EncodeError("frozenset")),
        }
        Ok(())
    }

    fn put(&mut self) {
        let idx = self.memo_len;
        self.memo_len += 1;
        if idx < 256 {
            self.out.extend_from_slice(&[BINPUT, idx as u8]);
        } else {
            self.out.push(LONG_BINPUT);
            self.out.extend_from_slice(&idx.to_le_bytes());
        }
    }

    fn write_int(&mut self, i: i64) {
        if let Ok(v) = i32::try_from(i) {
            let b = v.to_le_bytes();
            if b[2] == 0 && b[3] == 0 {
                if b[1] == 0 {
                    self.out.extend_from_slice(&[BININT1, b[0]]);
                } else {
                    self.out.extend_from_slice(&[BININT2, b[0], b[1]]);
                }
            } else {
                self.out.push(BININT);
                self.out.extend_from_slice(&b);
            }
            return;
        }
        // Minimal two's complement, as CPython's encode_long: drop redundant sign bytes.
        let bytes = i.to_le_bytes();
        let mut n = bytes.len();
        while n > 1 {
            let (last, prev) = (bytes[n - 1], bytes[n - 2]);
            if (last == 0 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
                n -= 1;
            } else {
                break;
            }
        }
        self.write_long(&bytes[..n]);
    }

    fn write_long(&mut self, bytes: &[u8]) {
        if let Ok(n) = u8::try_from(bytes.len()) {
            self.out.extend_from_slice(&[LONG1, n]);
        } else {
            self.out.push(LONG4);
            self.out
                .extend_from_slice(&(bytes.len() as i32).to_le_bytes());
        }
        self.out.extend_from_slice(bytes);
    }

    fn write_float(&mut self, f: f64) {
        self.out.push(BINFLOAT);
        self.out.extend_from_slice(&f.to_be_bytes());
    }

    fn write_str(&mut self, s: &str) {
        let slot = singleton_slot(s);
        let known = match slot {
            Some(i) => self.singletons.get(i).copied().flatten(),
            None => self.shared.as_ref().and_then(|m| m.get(s)).copied(),
        };
        if let Some(idx) = known {
            if let Ok(i) = u8::try_from(idx) {
                self.out.extend_from_slice(&[BINGET, i]);
            } else {
                self.out.push(LONG_BINGET);
                self.out.extend_from_slice(&idx.to_le_bytes());
            }
            return;
        }
        self.out.push(BINUNICODE);
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        let idx = self.memo_len;
        self.put();
        if let Some(i) = slot {
            if self.singletons.len() <= i {
                self.singletons.resize(257, None);
            }
            if let Some(x) = self.singletons.get_mut(i) {
                *x = Some(idx);
            }
        } else if let Some(m) = self.shared.as_mut() {
            m.insert(s.to_owned(), idx);
        }
    }

    /// Close a tuple whose `n` items were just written (MARK already written when n > 3).
    fn end_tuple(&mut self, n: usize) {
        match n {
            1..=3 => self.out.push(TUPLE1 + (n as u8 - 1)),
            _ => self.out.push(TUPLE),
        }
        self.put();
    }

    /// CPython's `batch_list_exact`: APPEND for one item, else MARK..APPENDS per 1000.
    fn list_with(&mut self, len: usize, mut item: impl FnMut(&mut Self, usize)) {
        self.out.push(EMPTY_LIST);
        self.put();
        if len == 0 {
            return;
        }
        if len == 1 {
            item(self, 0);
            self.out.push(APPEND);
            return;
        }
        let mut done = 0;
        while done < len {
            self.out.push(MARK);
            let end = (done + BATCH).min(len);
            for i in done..end {
                item(self, i);
            }
            done = end;
            self.out.push(APPENDS);
        }
    }

    /// CPython's `batch_dict_exact`: SETITEM for one entry, else MARK..SETITEMS per 1000,
    /// plus an empty MARK SETITEMS when the size is a multiple of 1000.
    fn dict(&mut self, entries: &[(Value, Value)]) -> Result<(), EncodeError> {
        self.out.push(EMPTY_DICT);
        self.put();
        if entries.is_empty() {
            return Ok(());
        }
        if let [(k, v)] = entries {
            self.value(k)?;
            self.value(v)?;
            self.out.push(SETITEM);
            return Ok(());
        }
        let mut chunks = entries.chunks(BATCH);
        loop {
            let chunk = chunks.next().unwrap_or(&[]);
            self.out.push(MARK);
            for (k, v) in chunk {
                self.value(k)?;
                self.value(v)?;
            }
            self.out.push(SETITEMS);
            if chunk.len() != BATCH {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_use_the_smallest_opcode() {
        let enc = |i| encode(&Value::Int(i)).unwrap();
        assert_eq!(enc(5), b"\x80\x02K\x05.");
        assert_eq!(enc(256), b"\x80\x02M\x00\x01.");
        assert_eq!(enc(-1), b"\x80\x02J\xff\xff\xff\xff.");
        assert_eq!(enc(1 << 31), b"\x80\x02\x8a\x05\x00\x00\x00\x80\x00.");
        assert_eq!(
            enc(-(1 << 31) - 1),
            b"\x80\x02\x8a\x05\xff\xff\xff\x7f\xff."
        );
        assert_eq!(
            enc(i64::MIN),
            b"\x80\x02\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80."
        );
    }

    #[test]
    fn datapoint_batch_shape() {
        let p = encode_datapoints(&[("a", 1.0, 2.0)]);
        let mut want = b"\x80\x02]q\x00X\x01\x00\x00\x00aq\x01G".to_vec();
        want.extend_from_slice(&1f64.to_be_bytes());
        want.push(b'G');
        want.extend_from_slice(&2f64.to_be_bytes());
        want.extend_from_slice(b"\x86q\x02\x86q\x03a.");
        assert_eq!(p, want);
    }
}
