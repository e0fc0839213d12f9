//! Python pickles: a safe decoder (protocols 0-5, data opcodes only), carbon's reading of a
//! datapoint batch, and an encoder byte-identical to CPython's `pickle.dumps(..., protocol=2)`.

mod datapoints;
mod decode;
mod encode;
mod textint;
mod value;

pub use datapoints::{decode_datapoints, DatapointBatch, ElementAbort, PickleDatapoint};
pub use decode::{decode, decode_with, DecodeLimits};
pub use encode::{encode, encode_datapoints, EncodeError, Encoder};
pub use value::{BigInt, Value};

/// Why a pickle was refused as a whole (carbon logs these and ignores the frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The input ended before STOP, or a length field points past the end.
    #[error("pickle truncated")]
    Truncated,
    /// An opcode this decoder does not know.
    #[error("unknown pickle opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// An opcode that could reach Python globals or external objects; never executed.
    #[error("forbidden pickle opcode {0}")]
    Forbidden(&'static str),
    /// PROTO names a protocol above 5.
    #[error("unsupported pickle protocol {0}")]
    UnsupportedProtocol(u8),
    /// An opcode needed more stack items than were pushed since the last MARK.
    #[error("pickle stack underflow")]
    StackUnderflow,
    /// An opcode needed a MARK and none was open.
    #[error("pickle has no MARK for a mark-consuming opcode")]
    NoMark,
    /// GET of a memo slot never PUT.
    #[error("pickle memo slot {0} is empty")]
    MemoMissing(u64),
    /// A malformed opcode argument.
    #[error("bad pickle argument: {0}")]
    BadArgument(&'static str),
    /// Text that is not valid UTF-8 (or a lone surrogate, which Rust strings cannot hold).
    #[error("pickle string is not valid UTF-8")]
    InvalidUtf8,
    /// APPEND/SETITEM/ADDITEMS applied to an object of the wrong type.
    #[error("pickle opcode {0} applied to the wrong type")]
    WrongType(&'static str),
    /// Containers nested deeper than the limit.
    #[error("pickle nested too deeply")]
    TooDeep,
    /// The decoded value would exceed the output budget for this input size.
    #[error("pickle expands beyond the size limit")]
    TooLarge,
    /// A container that contains itself.
    #[error("pickle contains a reference cycle")]
    Cycle,
    /// A bug: an internal invariant did not hold.
    #[error("internal pickle decoder error")]
    Internal,
}
