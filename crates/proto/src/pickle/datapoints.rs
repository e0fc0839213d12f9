//! carbon's reading of a pickled datapoint batch (`MetricPickleReceiver.stringReceived`).
//!
//! The payload should be a list of `(name, (timestamp, value))`. carbon iterates whatever the
//! pickle holds and destructures each element with Python's unpacking, so the rules are
//! Python's: any 2-item iterable unpacks (tuple, list, a 2-character str, 2-byte bytes, a
//! 2-key dict's keys), numbers go through `float()` (numeric strings and ints included), and an
//! element that does not fit is skipped. Two cases make carbon raise outside its handlers,
//! which drops the connection after the earlier elements were already accepted: a name that
//! is not a `str` (notably Python 3 `bytes`) and an int too large for a float. Those end the
//! batch with [`DatapointBatch::abort`] set. Sets are iterated in pickle order where Python's
//! order would depend on hashing.

use super::decode::{Arena, DecodeLimits, Node, NodeId};
use super::PickleError;

/// One datapoint as carbon's pickle receiver emits it, before `metricReceived`'s rules
/// (apply [`crate::line::accept_datapoint`] next).
#[derive(Debug, Clone, PartialEq)]
pub struct PickleDatapoint {
    /// Metric name as sent.
    pub name: String,
    /// `float()` of the first number.
    pub timestamp: f64,
    /// `float()` of the second number.
    pub value: f64,
}

/// What one pickle frame yielded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DatapointBatch {
    /// Datapoints in frame order.
    pub points: Vec<PickleDatapoint>,
    /// Elements skipped because they did not unpack or were not numbers.
    pub skipped: usize,
    /// Set when carbon would have raised at this element and dropped the connection;
    /// later elements were not read.
    pub abort: Option<ElementAbort>,
}

/// An element at which carbon's receiver raises (and the connection is dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElementAbort {
    /// The top-level object is not iterable (e.g. an int).
    #[error("pickle payload of type {0} is not iterable")]
    NotIterable(&'static str),
    /// The metric name is not a `str` (e.g. Python 3 `bytes`).
    #[error("element {index}: metric name of type {type_name} is not a str")]
    NameNotStr {
        /// Position of the element in the batch.
        index: usize,
        /// Python type of the name.
        type_name: &'static str,
    },
    /// A number too large for a float (`float(10**400)` raises OverflowError).
    #[error("element {index}: integer too large to convert to float")]
    Overflow {
        /// Position of the element in the batch.
        index: usize,
    },
}

/// Decode a pickle frame's payload into datapoints with carbon's per-element rules.
///
/// `Err` means carbon would ignore the whole frame (bad or unsafe pickle) — or the frame
/// would expand beyond the output budget; see [`DatapointBatch`] for the rest.
pub fn decode_datapoints(payload: &[u8]) -> Result<DatapointBatch, PickleError> {
    let arena = Arena::load(payload)?;
    let mut budget = DecodeLimits::default().budget_for(payload.len());
    let mut batch = DatapointBatch::default();
    let root = arena.node(arena.root).ok_or(PickleError::Internal)?;
    let Some(items) = Items::of(root) else {
        batch.abort = Some(ElementAbort::NotIterable(type_name(root)));
        return Ok(batch);
    };
    for (index, raw) in items.iter().enumerate() {
        match element(&arena, raw) {
            Element::Skip => batch.skipped += 1,
            Element::Overflow => {
                batch.abort = Some(ElementAbort::Overflow { index });
                break;
            }
            Element::BadName(type_name) => {
                batch.abort = Some(ElementAbort::NameNotStr { index, type_name });
                break;
            }
            Element::Point(name, timestamp, value) => {
                budget = budget
                    .checked_sub(name.len() + std::mem::size_of::<PickleDatapoint>())
                    .ok_or(PickleError::TooLarge)?;
                batch.points.push(PickleDatapoint {
                    name: name.to_owned(),
                    timestamp,
                    value,
                });
            }
        }
    }
    Ok(batch)
}

enum Element<'n> {
    Skip,
    Overflow,
    BadName(&'static str),
    Point(&'n str, f64, f64),
}

/// One item produced by iterating a Python object.
#[derive(Clone, Copy)]
enum Item {
    Node(NodeId),
    /// A character of a str (itself a 1-character str).
    Char(char),
    /// A byte of bytes/bytearray (an int).
    Byte(u8),
}

/// What `iter(obj)` walks, for the types that are iterable.
enum Items<'n> {
    Nodes(&'n [NodeId]),
    Keys(&'n [(NodeId, NodeId)]),
    Chars(&'n str),
    Bytes(&'n [u8]),
}

impl<'n> Items<'n> {
    fn of(node: &'n Node<'_>) -> Option<Items<'n>> {
        Some(match node {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => Items::Nodes(v),
            Node::SmallTuple(..) => Items::Nodes(node.small_tuple()?),
            Node::Dict(v) => Items::Keys(v),
            Node::Str(s) => Items::Chars(s),
            Node::Bytes(b) | Node::ByteArray(b) => Items::Bytes(b),
            _ => return None,
        })
    }

    fn iter(&self) -> Box<dyn Iterator<Item = Item> + 'n> {
        match *self {
            Items::Nodes(v) => Box::new(v.iter().map(|&n| Item::Node(n))),
            Items::Keys(v) => Box::new(v.iter().map(|&(k, _)| Item::Node(k))),
            Items::Chars(s) => Box::new(s.chars().map(Item::Char)),
            Items::Bytes(b) => Box::new(b.iter().map(|&x| Item::Byte(x))),
        }
    }

    /// Python's `a, b = obj`: exactly two items.
    fn pair(&self) -> Option<(Item, Item)> {
        match *self {
            Items::Nodes(&[a, b]) => Some((Item::Node(a), Item::Node(b))),
            Items::Keys(&[(a, _), (b, _)]) => Some((Item::Node(a), Item::Node(b))),
            Items::Chars(s) => {
                let mut c = s.chars();
                match (c.next(), c.next(), c.next()) {
                    (Some(a), Some(b), None) => Some((Item::Char(a), Item::Char(b))),
                    _ => None,
                }
            }
            Items::Bytes(&[a, b]) => Some((Item::Byte(a), Item::Byte(b))),
            _ => None,
        }
    }
}

fn unpack_pair(arena: &Arena<'_>, item: Item) -> Option<(Item, Item)> {
    match item {
        Item::Node(id) => Items::of(arena.node(id)?)?.pair(),
        _ => None,
    }
}

/// `float(x)`: `Ok(None)` for ValueError/TypeError (skip), `Err` for OverflowError.
fn to_float(arena: &Arena<'_>, item: Item) -> Result<Option<f64>, ()> {
    let node = match item {
        Item::Node(id) => arena.node(id),
        Item::Char(c) => {
            let mut buf = [0u8; 4];
            return Ok(crate::pyfloat::py_float(c.encode_utf8(&mut buf)));
        }
        Item::Byte(b) => return Ok(Some(f64::from(b))),
    };
    Ok(match node {
        Some(Node::Float(f)) => Some(*f),
        Some(Node::Int(i)) => Some(*i as f64),
        Some(Node::Bool(b)) => Some(if *b { 1.0 } else { 0.0 }),
        Some(Node::BigInt(b)) => return b.to_f64().map(Some).ok_or(()),
        Some(Node::Str(s)) => crate::pyfloat::py_float(s),
        Some(Node::Bytes(b)) | Some(Node::ByteArray(b)) => crate::pyfloat::py_float_bytes(b),
        _ => None,
    })
}

fn element<'n>(arena: &'n Arena<'_>, raw: Item) -> Element<'n> {
    let Some((name, inner)) = unpack_pair(arena, raw) else {
        return Element::Skip;
    };
    let Some((a, b)) = unpack_pair(arena, inner) else {
        return Element::Skip;
    };
    let ts = match to_float(arena, a) {
        Ok(Some(f)) => f,
        Ok(None) => return Element::Skip,
        Err(()) => return Element::Overflow,
    };
    let value = match to_float(arena, b) {
        Ok(Some(f)) => f,
        Ok(None) => return Element::Skip,
        Err(()) => return Element::Overflow,
    };
    match name {
        Item::Node(id) => match arena.node(id) {
            Some(Node::Str(s)) => Element::Point(s, ts, value),
            Some(other) => Element::BadName(type_name(other)),
            None => Element::Skip,
        },
        // A str element unpacks into 1-character strs, so its second half can never unpack
        // and we return above; likewise bytes unpack into ints.
        Item::Char(_) | Item::Byte(_) => Element::BadName("str"),
    }
}

fn type_name(node: &Node<'_>) -> &'static str {
    match node {
        Node::None => "NoneType",
        Node::Bool(_) => "bool",
        Node::Int(_) | Node::BigInt(_) => "int",
        Node::Float(_) => "float",
        Node::Str(_) => "str",
        Node::Bytes(_) => "bytes",
        Node::ByteArray(_) => "bytearray",
        Node::List(_) => "list",
        Node::Tuple(_) | Node::SmallTuple(..) => "tuple",
        Node::Dict(_) => "dict",
        Node::Set(_) => "set",
        Node::FrozenSet(_) => "frozenset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_unpacking_rules() {
        // [("m", "12"), ("n", b"12"), ("o", (1, 2, 3)), "ab", ("p", (None, 1))]
        let p = b"\x80\x03]q\x00(X\x01\x00\x00\x00mX\x02\x00\x00\x0012\x86X\x01\x00\x00\x00nC\x0212\x86X\x01\x00\x00\x00o(K\x01K\x02K\x03t\x86X\x02\x00\x00\x00abX\x01\x00\x00\x00p(NK\x01t\x86e.";
        let b = decode_datapoints(p).unwrap();
        let names: Vec<_> = b
            .points
            .iter()
            .map(|p| (p.name.as_str(), p.timestamp, p.value))
            .collect();
        assert_eq!(names, [("m", 1.0, 2.0), ("n", 49.0, 50.0)]);
        assert_eq!(b.skipped, 3);
        assert_eq!(b.abort, None);
    }

    #[test]
    fn non_iterable_payload_aborts() {
        let b = decode_datapoints(b"\x80\x02K\x05.").unwrap();
        assert_eq!(b.abort, Some(ElementAbort::NotIterable("int")));
    }
}
