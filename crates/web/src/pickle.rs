//! A Python value tree and its pickle (protocol 2) and msgpack encodings, for `format=pickle|msgpack`
//! answers that graphite-web cluster peers unpickle.

/// A Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True`/`False`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `list`.
    List(Vec<PyValue>),
    /// `tuple`.
    Tuple(Vec<PyValue>),
    /// `dict` in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
}

/// Pickle protocol 2 writer (readable by every Python 3 and by Python 2.7 peers).
pub struct PickleWriter {
    out: Vec<u8>,
}

// Python batches APPENDS/SETITEMS by 1000; any batch size unpickles the same, but following it keeps
// the unpickler's mark stack shallow on huge lists.
const BATCH: usize = 1000;

impl PickleWriter {
    /// Pickles `v` (protocol 2).
    pub fn dumps(v: &PyValue) -> Vec<u8> {
        let mut w = PickleWriter { out: vec![0x80, 2] };
        w.value(v);
        w.out.push(b'.');
        w.out
    }

    fn value(&mut self, v: &PyValue) {
        match v {
            PyValue::None => self.out.push(b'N'),
            PyValue::Bool(b) => self.out.push(if *b { 0x88 } else { 0x89 }),
            PyValue::Int(i) => {
                if let Ok(small) = i32::try_from(*i) {
                    self.out.push(b'J');
                    self.out.extend_from_slice(&small.to_le_bytes());
                } else {
                    // LONG1: little-endian two's complement, 8 bytes is always enough for i64
                    self.out.push(0x8a);
                    self.out.push(8);
                    self.out.extend_from_slice(&i.to_le_bytes());
                }
            }
            PyValue::Float(f) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            PyValue::Str(s) => {
                self.out.push(b'X');
                self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.out.extend_from_slice(s.as_bytes());
            }
            PyValue::List(items) => {
                self.out.push(b']');
                for chunk in items.chunks(BATCH) {
                    self.out.push(b'(');
                    for it in chunk {
                        self.value(it);
                    }
                    self.out.push(b'e');
                }
            }
            PyValue::Tuple(items) => {
                self.out.push(b'(');
                for it in items {
                    self.value(it);
                }
                self.out.push(b't');
            }
            PyValue::Dict(items) => {
                self.out.push(b'}');
                for chunk in items.chunks(BATCH) {
                    self.out.push(b'(');
                    for (k, v) in chunk {
                        self.value(k);
                        self.value(v);
                    }
                    self.out.push(b'u');
                }
            }
        }
    }
}

/// msgpack encoding of `v` as Python's `msgpack.dumps(v, use_bin_type=True)` writes it.
pub fn msgpack_dumps(v: &PyValue) -> Vec<u8> {
    let mut out = Vec::new();
    msgpack_value(&mut out, v);
    out
}

fn msgpack_value(out: &mut Vec<u8>, v: &PyValue) {
    // Writes into a Vec cannot fail, so the results are ignored.
    match v {
        PyValue::None => {
            let _ = rmp::encode::write_nil(out);
        }
        PyValue::Bool(b) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        PyValue::Int(i) => {
            let _ = rmp::encode::write_sint(out, *i);
        }
        PyValue::Float(f) => {
            let _ = rmp::encode::write_f64(out, *f);
        }
        PyValue::Str(s) => {
            let _ = rmp::encode::write_str(out, s);
        }
        PyValue::List(items) | PyValue::Tuple(items) => {
            let _ = rmp::encode::write_array_len(out, items.len() as u32);
            for it in items {
                msgpack_value(out, it);
            }
        }
        PyValue::Dict(items) => {
            let _ = rmp::encode::write_map_len(out, items.len() as u32);
            for (k, v) in items {
                msgpack_value(out, k);
                msgpack_value(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickles_basic_values() {
        let v = PyValue::List(vec![PyValue::Dict(vec![
            (PyValue::Str("a".into()), PyValue::Int(1)),
            (PyValue::Str("b".into()), PyValue::Float(2.0)),
            (PyValue::Str("c".into()), PyValue::None),
        ])]);
        let b = PickleWriter::dumps(&v);
        let want: Vec<u8> = [
            &[0x80, 2, b']', b'(', b'}', b'(', b'X', 1, 0, 0, 0, b'a', b'J', 1, 0, 0, 0][..],
            &[b'X', 1, 0, 0, 0, b'b', b'G', 0x40, 0, 0, 0, 0, 0, 0, 0],
            &[b'X', 1, 0, 0, 0, b'c', b'N', b'u', b'e', b'.'],
        ]
        .concat();
        assert_eq!(b, want);
    }

    #[test]
    fn msgpack_small_map() {
        let v = PyValue::Dict(vec![(PyValue::Str("x".into()), PyValue::Int(1))]);
        assert_eq!(msgpack_dumps(&v), vec![0x81, 0xa1, b'x', 0x01]);
    }
}
