//! A safe subset of the pickle virtual machine (protocols 0-5).
//!
//! Only data opcodes are implemented; every opcode that could name a Python global (and so
//! call arbitrary code) is refused, as carbon's `SafeUnpickler` effectively does on Python 3.
//! Objects live in an arena and the stack and memo hold indexes into it, so a memo reference
//! shares the object like Python does (a list memoised while empty and filled later is seen
//! filled) and decoding costs O(input). Turning the arena into a [`Value`] tree copies shared
//! objects, so that step is bounded by a budget relative to the input length.

use std::borrow::Cow;
use std::collections::HashMap;

use super::textint;
use super::value::{BigInt, Value};
use super::PickleError;

/// Bounds that keep a hostile pickle from exhausting memory or stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting of containers in the result.
    pub max_depth: usize,
    /// Output budget in bytes per input byte (objects shared through the memo are copied).
    pub budget_per_input_byte: usize,
    /// Output budget granted to any input, however short.
    pub min_budget: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_depth: 128,
            budget_per_input_byte: 64,
            min_budget: 1 << 20,
        }
    }
}

impl DecodeLimits {
    pub(crate) fn budget_for(&self, input_len: usize) -> usize {
        input_len
            .saturating_mul(self.budget_per_input_byte)
            .max(self.min_budget)
    }
}

/// Decode a pickle into a [`Value`] with the default limits.
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    decode_with(data, &DecodeLimits::default())
}

/// Decode a pickle into a [`Value`]; bytes after STOP are ignored, as `pickle.loads` does.
pub fn decode_with(data: &[u8], limits: &DecodeLimits) -> Result<Value, PickleError> {
    let arena = Arena::load(data)?;
    let mut budget = limits.budget_for(data.len());
    let mut visiting = vec![false; arena.nodes.len()];
    arena.materialize(arena.root, 0, limits.max_depth, &mut budget, &mut visiting)
}

/// Approximate in-memory cost of one value, for the output budget.
const NODE_COST: usize = std::mem::size_of::<Value>();

pub(crate) type NodeId = u32;

/// An object under construction; containers refer to other nodes.
#[derive(Debug)]
pub(crate) enum Node<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigInt(BigInt),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    ByteArray(Cow<'a, [u8]>),
    List(Vec<NodeId>),
    Tuple(Vec<NodeId>),
    /// TUPLE1/2/3 results, kept inline: one allocation less per datapoint tuple.
    SmallTuple([NodeId; 3], u8),
    Dict(Vec<(NodeId, NodeId)>),
    Set(Vec<NodeId>),
    FrozenSet(Vec<NodeId>),
}

impl Node<'_> {
    /// The items of a TUPLE1/2/3 node.
    pub(crate) fn small_tuple(&self) -> Option<&[NodeId]> {
        match self {
            Node::SmallTuple(items, n) => items.get(..usize::from(*n)),
            _ => None,
        }
    }
}

/// The result of running a pickle: every object it built and which one STOP returned.
#[derive(Debug)]
pub(crate) struct Arena<'a> {
    pub(crate) nodes: Vec<Node<'a>>,
    pub(crate) root: NodeId,
}

/// Memo: dense for the small sequential indexes real picklers write, sparse beyond.
#[derive(Default)]
struct Memo {
    dense: Vec<Option<NodeId>>,
    sparse: HashMap<u64, NodeId>,
    count: u64,
}

impl Memo {
    fn put(&mut self, idx: u64, node: NodeId, dense_limit: usize) {
        let fresh = if let Some(i) = usize::try_from(idx).ok().filter(|&i| i < dense_limit) {
            if i >= self.dense.len() {
                self.dense.resize(i + 1, None);
            }
            self.dense[i].replace(node).is_none()
        } else {
            self.sparse.insert(idx, node).is_none()
        };
        if fresh {
            self.count += 1;
        }
    }

    fn get(&self, idx: u64) -> Option<NodeId> {
        match usize::try_from(idx) {
            Ok(i) if i < self.dense.len() => self.dense[i],
            _ => self.sparse.get(&idx).copied(),
        }
    }
}

/// Reads follow CPython's C unpickler over a file object (carbon unpickles from a BytesIO):
/// bytes come from a buffer holding the last chunk read from the "file" (`input[..buf_end]`
/// was read, `pos` is the cursor in it). A read larger than what is left in the buffer
/// drops that rest and reads afresh after it. Outside FRAMEs each read empties the buffer, so
/// this only matters for malformed frames, which then decode exactly as carbon decodes them.
struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    buf_end: usize,
    nodes: Vec<Node<'a>>,
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: Memo,
}

mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

impl<'a> Arena<'a> {
    /// Run the pickle machine over `data` until STOP.
    pub(crate) fn load(data: &'a [u8]) -> Result<Arena<'a>, PickleError> {
        let mut m = Machine {
            input: data,
            pos: 0,
            buf_end: 0,
            nodes: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Memo::default(),
        };
        let root = m.run()?;
        Ok(Arena {
            nodes: m.nodes,
            root,
        })
    }

    pub(crate) fn node(&self, id: NodeId) -> Option<&Node<'a>> {
        self.nodes.get(id as usize)
    }

    /// Copy node `id` out as a [`Value`], charging `budget` for every byte produced.
    pub(crate) fn materialize(
        &self,
        id: NodeId,
        depth: usize,
        max_depth: usize,
        budget: &mut usize,
        visiting: &mut [bool],
    ) -> Result<Value, PickleError> {
        let node = self.node(id).ok_or(PickleError::Internal)?;
        let payload = match node {
            Node::Str(s) => s.len(),
            Node::Bytes(b) | Node::ByteArray(b) => b.len(),
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                v.len() * NODE_COST
            }
            Node::SmallTuple(_, n) => usize::from(*n) * NODE_COST,
            Node::Dict(v) => v.len() * 2 * NODE_COST,
            _ => 0,
        };
        *budget = budget
            .checked_sub(NODE_COST + payload)
            .ok_or(PickleError::TooLarge)?;
        let is_container = matches!(
            node,
            Node::List(_)
                | Node::Tuple(_)
                | Node::SmallTuple(..)
                | Node::Dict(_)
                | Node::Set(_)
                | Node::FrozenSet(_)
        );
        if is_container {
            if depth >= max_depth {
                return Err(PickleError::TooDeep);
            }
            let flag = visiting.get_mut(id as usize).ok_or(PickleError::Internal)?;
            if *flag {
                return Err(PickleError::Cycle);
            }
            *flag = true;
        }
        let seq = |v: &[NodeId], budget: &mut usize, visiting: &mut [bool]| {
            v.iter()
                .map(|&c| self.materialize(c, depth + 1, max_depth, budget, visiting))
                .collect::<Result<Vec<_>, _>>()
        };
        let out = match node {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::BigInt(b) => Value::BigInt(b.clone()),
            Node::Float(f) => Value::Float(*f),
            Node::Str(s) => Value::Str(s.to_string()),
            Node::Bytes(b) => Value::Bytes(b.to_vec()),
            Node::ByteArray(b) => Value::ByteArray(b.to_vec()),
            Node::List(v) => Value::List(seq(v, budget, visiting)?),
            Node::Tuple(v) => Value::Tuple(seq(v, budget, visiting)?),
            Node::SmallTuple(..) => {
                let items = node.small_tuple().ok_or(PickleError::Internal)?;
                Value::Tuple(seq(items, budget, visiting)?)
            }
            Node::Set(v) => Value::Set(seq(v, budget, visiting)?),
            Node::FrozenSet(v) => Value::FrozenSet(seq(v, budget, visiting)?),
            Node::Dict(v) => Value::Dict(
                v.iter()
                    .map(|&(k, x)| {
                        Ok((
                            self.materialize(k, depth + 1, max_depth, budget, visiting)?,
                            self.materialize(x, depth + 1, max_depth, budget, visiting)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, PickleError>>()?,
            ),
        };
        if is_container {
            if let Some(flag) = visiting.get_mut(id as usize) {
                *flag = false;
            }
        }
        Ok(out)
    }
}

impl<'a> Machine<'a> {
    fn run(&mut self) -> Result<NodeId, PickleError> {
        loop {
            let code = self.byte()?;
            match code {
                op::STOP => return self.pop(),
                op::PROTO => {
                    let v = self.byte()?;
                    if v > 5 {
                        return Err(PickleError::UnsupportedProtocol(v));
                    }
                }
                op::FRAME => {
                    // Load the frame into the buffer, then rewind to its start.
                    let n = self.u64_len()?;
                    self.take(n)?;
                    self.pos -= n;
                }
                op::MARK => self.marks.push(self.stack.len()),
                op::POP => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                op::POP_MARK => {
                    let m = self.pop_mark()?;
                    self.stack.truncate(m);
                }
                op::DUP => {
                    let top = self.peek()?;
                    self.stack.push(top);
                }
                op::NONE => self.push(Node::None),
                op::NEWTRUE => self.push(Node::Bool(true)),
                op::NEWFALSE => self.push(Node::Bool(false)),
                op::BININT => {
                    let b = self.take(4)?;
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.push(Node::Int(i64::from(v)));
                }
                op::BININT1 => {
                    let v = self.byte()?;
                    self.push(Node::Int(i64::from(v)));
                }
                op::BININT2 => {
                    let b = self.take(2)?;
                    self.push(Node::Int(i64::from(u16::from_le_bytes([b[0], b[1]]))));
                }
                op::INT => {
                    let line = self.text_arg()?;
                    let v = textint::int_opcode(line).ok_or(PickleError::BadArgument("INT"))?;
                    self.push(match v {
                        Value::Bool(b) => Node::Bool(b),
                        other => value_to_int_node(other),
                    });
                }
                op::LONG => {
                    let line = self.text_arg()?;
                    let v = textint::long_opcode(line).ok_or(PickleError::BadArgument("LONG"))?;
                    self.push(value_to_int_node(v));
                }
                op::LONG1 => {
                    let n = self.byte()? as usize;
                    let b = self.take(n)?;
                    self.push(value_to_int_node(BigInt::from_le_bytes(b)));
                }
                op::LONG4 => {
                    let n = self.i32_len()?;
                    let b = self.take(n)?;
                    self.push(value_to_int_node(BigInt::from_le_bytes(b)));
                }
                op::FLOAT => {
                    let line = self.text_arg()?;
                    // CPython hands the argument to C as a NUL-terminated string.
                    let line = line.split(|&c| c == 0).next().unwrap_or(line);
                    let f = parse_float_line(line)?;
                    self.push(Node::Float(f));
                }
                op::BINFLOAT => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Node::Float(f64::from_be_bytes(a)));
                }
                op::STRING => {
                    let line = self.line()?;
                    let raw = unquote_py2(line)?;
                    let bytes = decode_escape(raw)?;
                    let s = String::from_utf8(bytes).map_err(|_| PickleError::InvalidUtf8)?;
                    self.push(Node::Str(Cow::Owned(s)));
                }
                op::BINSTRING => {
                    let n = self.i32_len()?;
                    let s = self.take_utf8(n)?;
                    self.push(Node::Str(Cow::Borrowed(s)));
                }
                op::SHORT_BINSTRING | op::SHORT_BINUNICODE => {
                    let n = self.byte()? as usize;
                    let s = self.take_utf8(n)?;
                    self.push(Node::Str(Cow::Borrowed(s)));
                }
                op::UNICODE => {
                    let line = self.line()?;
                    let s = decode_raw_unicode_escape(line)?;
                    self.push(Node::Str(Cow::Owned(s)));
                }
                op::BINUNICODE => {
                    let n = self.u32_len()?;
                    let s = self.take_utf8(n)?;
                    self.push(Node::Str(Cow::Borrowed(s)));
                }
                op::BINUNICODE8 => {
                    let n = self.u64_len()?;
                    let s = self.take_utf8(n)?;
                    self.push(Node::Str(Cow::Borrowed(s)));
                }
                op::SHORT_BINBYTES => {
                    let n = self.byte()? as usize;
                    let b = self.take_into(n)?;
                    self.push(Node::Bytes(Cow::Borrowed(b)));
                }
                op::BINBYTES => {
                    let n = self.u32_len()?;
                    let b = self.take_into(n)?;
                    self.push(Node::Bytes(Cow::Borrowed(b)));
                }
                op::BINBYTES8 => {
                    let n = self.u64_len()?;
                    let b = self.take_into(n)?;
                    self.push(Node::Bytes(Cow::Borrowed(b)));
                }
                op::BYTEARRAY8 => {
                    let n = self.u64_len()?;
                    let b = self.take_into(n)?;
                    self.push(Node::ByteArray(Cow::Borrowed(b)));
                }
                op::EMPTY_TUPLE => self.push(Node::Tuple(Vec::new())),
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = code - op::TUPLE1 + 1;
                    let items = self.pop_small(usize::from(n))?;
                    self.push(Node::SmallTuple(items, n));
                }
                op::TUPLE => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::Tuple(items));
                }
                op::EMPTY_LIST => self.push(Node::List(Vec::new())),
                op::LIST => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::List(items));
                }
                op::APPEND => {
                    let item = self.pop()?;
                    let list = self.peek()?;
                    self.list_mut(list)?.push(item);
                }
                op::APPENDS => {
                    let items = self.pop_to_mark()?;
                    let list = self.peek()?;
                    self.list_mut(list)?.extend(items);
                }
                op::EMPTY_DICT => self.push(Node::Dict(Vec::new())),
                op::DICT => {
                    let items = self.pop_to_mark()?;
                    let pairs = pairs(&items)?;
                    self.push(Node::Dict(pairs));
                }
                op::SETITEM => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.peek()?;
                    self.dict_mut(d)?.push((k, v));
                }
                op::SETITEMS => {
                    let items = self.pop_to_mark()?;
                    let p = pairs(&items)?;
                    let d = self.peek()?;
                    self.dict_mut(d)?.extend(p);
                }
                op::EMPTY_SET => self.push(Node::Set(Vec::new())),
                op::ADDITEMS => {
                    let items = self.pop_to_mark()?;
                    let s = self.peek()?;
                    match self.nodes.get_mut(s as usize) {
                        Some(Node::Set(v)) => v.extend(items),
                        _ => return Err(PickleError::WrongType("ADDITEMS")),
                    }
                }
                op::FROZENSET => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::FrozenSet(items));
                }
                op::PUT => {
                    let idx = self.line_index()?;
                    self.memo_put(idx)?;
                }
                op::BINPUT => {
                    let idx = u64::from(self.byte()?);
                    self.memo_put(idx)?;
                }
                op::LONG_BINPUT => {
                    let idx = u64::from(self.u32()?);
                    self.memo_put(idx)?;
                }
                op::MEMOIZE => {
                    let idx = self.memo.count;
                    self.memo_put(idx)?;
                }
                op::GET => {
                    let idx = self.line_index()?;
                    self.memo_get(idx)?;
                }
                op::BINGET => {
                    let idx = u64::from(self.byte()?);
                    self.memo_get(idx)?;
                }
                op::LONG_BINGET => {
                    let idx = u64::from(self.u32()?);
                    self.memo_get(idx)?;
                }
                op::GLOBAL => return Err(PickleError::Forbidden("GLOBAL")),
                op::STACK_GLOBAL => return Err(PickleError::Forbidden("STACK_GLOBAL")),
                op::INST => return Err(PickleError::Forbidden("INST")),
                op::OBJ => return Err(PickleError::Forbidden("OBJ")),
                op::REDUCE => return Err(PickleError::Forbidden("REDUCE")),
                op::NEWOBJ => return Err(PickleError::Forbidden("NEWOBJ")),
                op::NEWOBJ_EX => return Err(PickleError::Forbidden("NEWOBJ_EX")),
                op::BUILD => return Err(PickleError::Forbidden("BUILD")),
                op::PERSID => return Err(PickleError::Forbidden("PERSID")),
                op::BINPERSID => return Err(PickleError::Forbidden("BINPERSID")),
                op::EXT1 => return Err(PickleError::Forbidden("EXT1")),
                op::EXT2 => return Err(PickleError::Forbidden("EXT2")),
                op::EXT4 => return Err(PickleError::Forbidden("EXT4")),
                op::NEXT_BUFFER => return Err(PickleError::Forbidden("NEXT_BUFFER")),
                op::READONLY_BUFFER => return Err(PickleError::Forbidden("READONLY_BUFFER")),
                other => return Err(PickleError::UnknownOpcode(other)),
            }
        }
    }

    // ---- input ----

    fn byte(&mut self) -> Result<u8, PickleError> {
        let b = self.take(1)?;
        Ok(b[0])
    }

    /// CPython's `_Unpickler_Read`: from the buffer if it holds `n` bytes, else `n` fresh
    /// bytes from the file, the buffer's rest being dropped.
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let start = if n <= self.buf_end.saturating_sub(self.pos) {
            self.pos
        } else {
            self.buf_end
        };
        let end = start.checked_add(n).ok_or(PickleError::Truncated)?;
        let s = self.input.get(start..end).ok_or(PickleError::Truncated)?;
        self.pos = end;
        self.buf_end = self.buf_end.max(end);
        Ok(s)
    }

    /// CPython's `_Unpickler_ReadInto` (bytes, bytearray): the buffer's rest, then the file.
    fn take_into(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        let s = self
            .input
            .get(self.pos..end)
            .ok_or(PickleError::Truncated)?;
        self.pos = end;
        self.buf_end = self.buf_end.max(end);
        Ok(s)
    }

    fn take_utf8(&mut self, n: usize) -> Result<&'a str, PickleError> {
        std::str::from_utf8(self.take(n)?).map_err(|_| PickleError::InvalidUtf8)
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64_le(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn u32_len(&mut self) -> Result<usize, PickleError> {
        usize::try_from(self.u32()?).map_err(|_| PickleError::Truncated)
    }

    fn u64_len(&mut self) -> Result<usize, PickleError> {
        usize::try_from(self.u64_le()?).map_err(|_| PickleError::Truncated)
    }

    fn i32_len(&mut self) -> Result<usize, PickleError> {
        let b = self.take(4)?;
        let n = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).map_err(|_| PickleError::BadArgument("negative length"))
    }

    /// A text argument: bytes up to LF, which must be present. Like `_Unpickler_Readline`,
    /// a line not complete in the buffer is read afresh from the file after it.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let buffered = self.input.get(self.pos..self.buf_end).unwrap_or(&[]);
        if let Some(n) = buffered.iter().position(|&c| c == b'\n') {
            self.pos += n + 1;
            return Ok(&buffered[..n]);
        }
        let rest = self
            .input
            .get(self.buf_end..)
            .ok_or(PickleError::Truncated)?;
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or(PickleError::Truncated)?;
        self.pos = self.buf_end + n + 1;
        self.buf_end = self.pos;
        Ok(&rest[..n])
    }

    /// A numeric text argument, which CPython requires to be non-empty.
    fn text_arg(&mut self) -> Result<&'a [u8], PickleError> {
        match self.line()? {
            [] => Err(PickleError::BadArgument("empty text argument")),
            line => Ok(line),
        }
    }

    fn line_index(&mut self) -> Result<u64, PickleError> {
        let line = self.text_arg()?;
        textint::memo_index(line).ok_or(PickleError::BadArgument("memo index"))
    }

    // ---- stack ----

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, node: Node<'a>) {
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<NodeId, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(PickleError::StackUnderflow);
        }
        self.stack.pop().ok_or(PickleError::StackUnderflow)
    }

    fn peek(&self) -> Result<NodeId, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(PickleError::StackUnderflow);
        }
        self.stack
            .last()
            .copied()
            .ok_or(PickleError::StackUnderflow)
    }

    /// Pop `n` <= 3 items in stack order into an inline array.
    fn pop_small(&mut self, n: usize) -> Result<[NodeId; 3], PickleError> {
        if self.stack.len() < self.fence() + n {
            return Err(PickleError::StackUnderflow);
        }
        let mut out = [0; 3];
        let start = self.stack.len() - n;
        for (slot, id) in out.iter_mut().zip(self.stack.drain(start..)) {
            *slot = id;
        }
        Ok(out)
    }

    fn pop_mark(&mut self) -> Result<usize, PickleError> {
        self.marks.pop().ok_or(PickleError::NoMark)
    }

    fn pop_to_mark(&mut self) -> Result<Vec<NodeId>, PickleError> {
        let m = self.pop_mark()?;
        if m > self.stack.len() {
            return Err(PickleError::Internal);
        }
        Ok(self.stack.split_off(m))
    }

    fn list_mut(&mut self, id: NodeId) -> Result<&mut Vec<NodeId>, PickleError> {
        match self.nodes.get_mut(id as usize) {
            Some(Node::List(v)) => Ok(v),
            _ => Err(PickleError::WrongType("APPEND")),
        }
    }

    fn dict_mut(&mut self, id: NodeId) -> Result<&mut Vec<(NodeId, NodeId)>, PickleError> {
        match self.nodes.get_mut(id as usize) {
            Some(Node::Dict(v)) => Ok(v),
            _ => Err(PickleError::WrongType("SETITEM")),
        }
    }

    fn memo_put(&mut self, idx: u64) -> Result<(), PickleError> {
        let top = self.peek()?;
        let dense_limit = self.input.len() + 256;
        self.memo.put(idx, top, dense_limit);
        Ok(())
    }

    fn memo_get(&mut self, idx: u64) -> Result<(), PickleError> {
        let id = self.memo.get(idx).ok_or(PickleError::MemoMissing(idx))?;
        self.stack.push(id);
        Ok(())
    }
}

fn value_to_int_node<'a>(v: Value) -> Node<'a> {
    match v {
        Value::BigInt(b) => Node::BigInt(b),
        Value::Int(i) => Node::Int(i),
        _ => Node::None,
    }
}

fn pairs(items: &[NodeId]) -> Result<Vec<(NodeId, NodeId)>, PickleError> {
    if items.len() & 1 == 1 {
        return Err(PickleError::BadArgument("odd number of items for a dict"));
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// FLOAT's argument: CPython's `PyOS_string_to_double`, where overflow is an error.
fn parse_float_line(line: &[u8]) -> Result<f64, PickleError> {
    // Unlike float(), CPython's parser here takes no whitespace, underscores or non-ASCII.
    if line.iter().any(|&c| c == b'_' || c <= b' ' || c >= 0x7f) {
        return Err(PickleError::BadArgument("FLOAT"));
    }
    let s = std::str::from_utf8(line).map_err(|_| PickleError::BadArgument("FLOAT"))?;
    let f = crate::pyfloat::py_float(s).ok_or(PickleError::BadArgument("FLOAT"))?;
    if f.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return Err(PickleError::BadArgument("FLOAT overflow"));
    }
    Ok(f)
}

/// STRING's argument must be wrapped in matching quotes.
fn unquote_py2(line: &[u8]) -> Result<&[u8], PickleError> {
    match line {
        [q, inner @ .., q2] if q == q2 && (*q == b'\'' || *q == b'"') => Ok(inner),
        _ => Err(PickleError::BadArgument("STRING must be quoted")),
    }
}

/// Python 2 string escapes (`codecs.escape_decode`).
fn decode_escape(raw: &[u8]) -> Result<Vec<u8>, PickleError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let e = *raw
            .get(i)
            .ok_or(PickleError::BadArgument("trailing \\ in string"))?;
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let h = raw
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(PickleError::BadArgument("invalid \\x escape"))?;
                out.push(h);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// UNICODE's argument: `raw-unicode-escape`, i.e. Latin-1 bytes plus `\uXXXX`/`\UXXXXXXXX`.
fn decode_raw_unicode_escape(raw: &[u8]) -> Result<String, PickleError> {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(char::from(c));
            continue;
        }
        let Some(&e) = raw.get(i) else {
            out.push('\\');
            break;
        };
        i += 1;
        let count = match e {
            b'u' => 4,
            b'U' => 8,
            _ => {
                out.push('\\');
                out.push(char::from(e));
                continue;
            }
        };
        let hex = raw
            .get(i..i + count)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(PickleError::BadArgument("truncated \\uXXXX escape"))?;
        let cp = u32::from_str_radix(hex, 16).map_err(|_| PickleError::BadArgument("\\u"))?;
        // Lone surrogates are legal in Python strings but not in Rust ones.
        let ch = char::from_u32(cp).ok_or(PickleError::InvalidUtf8)?;
        out.push(ch);
        i += count;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_shares_objects_filled_later() {
        // l = []; t = (l, l); l.append(1) -> both tuple items see [1].
        let p = b"\x80\x02]q\x00(h\x00h\x00tK\x01a.";
        // Stack after 't' is [l, (l, l)]; the APPEND goes to the tuple, which is an error.
        assert!(matches!(decode(p), Err(PickleError::WrongType(_))));
        let p = b"\x80\x02]q\x00h\x00K\x01ah\x00\x86.";
        // Stack: l, l(get) -> append 1 to the second ref (same list), then TUPLE2 of (l, l).
        let v = decode(p).unwrap();
        let one = Value::List(vec![Value::Int(1)]);
        assert_eq!(v, Value::Tuple(vec![one.clone(), one]));
    }

    #[test]
    fn cycles_are_refused() {
        // l = []; l.append(l)
        assert_eq!(decode(b"\x80\x02]q\x00h\x00a."), Err(PickleError::Cycle));
    }

    #[test]
    fn globals_are_refused() {
        assert_eq!(
            decode(b"cos\nsystem\n(S'true'\ntR."),
            Err(PickleError::Forbidden("GLOBAL"))
        );
        assert_eq!(
            decode(b"\x80\x04\x8c\x02os\x8c\x06system\x93."),
            Err(PickleError::Forbidden("STACK_GLOBAL"))
        );
    }

    #[test]
    fn text_opcodes() {
        let v = decode(
            b"(lp0\n(S'a\\x41\\n'\np1\nF1.5\nI01\nL12345678901234567890L\nV\\u00e9\\\\u\ntp2\na.",
        )
        .unwrap();
        let big = textint::py_int(b"12345678901234567890", 10).unwrap();
        assert_eq!(
            v,
            Value::List(vec![Value::Tuple(vec![
                Value::str("aA\n"),
                Value::Float(1.5),
                Value::Bool(true),
                big,
                Value::str("\u{e9}\\\\u"),
            ])])
        );
    }

    #[test]
    fn exponential_sharing_hits_the_budget() {
        // Each level is a list holding the previous one 10 times: 10^12 leaves from ~300 bytes.
        let mut p = b"\x80\x02K\x00q\x00".to_vec();
        for level in 0..12u8 {
            p.push(b'(');
            for _ in 0..10 {
                p.extend_from_slice(&[b'h', level]);
            }
            p.extend_from_slice(&[b'l', b'q', level + 1]);
        }
        p.push(b'.');
        assert_eq!(decode(&p), Err(PickleError::TooLarge));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = b"\x80\x02".to_vec();
        p.resize(p.len() + 1000, b']');
        p.resize(p.len() + 999, b'a');
        p.push(b'.');
        assert_eq!(decode(&p), Err(PickleError::TooDeep));
    }
}
