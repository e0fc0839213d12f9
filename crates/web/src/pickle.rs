//! A Python value tree and its pickle (protocol 2, via proto) and msgpack encodings, for `format=pickle|msgpack`
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

fn to_proto(v: &PyValue) -> proto::pickle::Value {
    use proto::pickle::Value as P;
    match v {
        PyValue::None => P::None,
        PyValue::Bool(b) => P::Bool(*b),
        PyValue::Int(i) => P::Int(*i),
        PyValue::Float(f) => P::Float(*f),
        PyValue::Str(s) => P::Str(s.clone()),
        PyValue::List(items) => P::List(items.iter().map(to_proto).collect()),
        PyValue::Tuple(items) => P::Tuple(items.iter().map(to_proto).collect()),
        PyValue::Dict(items) => P::Dict(
            items
                .iter()
                .map(|(k, v)| (to_proto(k), to_proto(v)))
                .collect(),
        ),
    }
}

/// `pickle.dumps(v, protocol=2)` through proto's CPython-exact encoder (readable by any peer).
pub fn pickle_dumps(v: &PyValue) -> Vec<u8> {
    match proto::pickle::encode(&to_proto(v)) {
        Ok(b) => b,
        Err(e) => {
            // every PyValue variant has a protocol-2 form, so this is unreachable in practice
            tracing::error!("pickle encode: {e}");
            Vec::new()
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
    fn pickles_round_trip_through_proto_decoder() {
        let v = PyValue::List(vec![PyValue::Dict(vec![
            (PyValue::Str("a".into()), PyValue::Int(1)),
            (PyValue::Str("b".into()), PyValue::Float(2.0)),
            (PyValue::Str("c".into()), PyValue::None),
            (
                PyValue::Str("d".into()),
                PyValue::Tuple(vec![PyValue::Bool(true), PyValue::Int(1 << 40)]),
            ),
        ])]);
        let b = pickle_dumps(&v);
        assert_eq!(&b[..2], &[0x80, 2]);
        assert_eq!(proto::pickle::decode(&b).unwrap(), to_proto(&v));
    }

    #[test]
    fn msgpack_small_map() {
        let v = PyValue::Dict(vec![(PyValue::Str("x".into()), PyValue::Int(1))]);
        assert_eq!(msgpack_dumps(&v), vec![0x81, 0xa1, b'x', 0x01]);
    }
}
