//! Graphite's wire formats, as carbon and graphite-web speak them.
//!
//! Pure functions over bytes, no I/O: the plaintext line protocol ([`line`](mod@line)), a safe pickle
//! decoder and a CPython-exact protocol-2 encoder ([`pickle`]), 4-byte length framing
//! ([`frame`]), the carbonlink cache query protocol ([`carbonlink`]), Graphite 1.1 tags
//! ([`tags`]) and the mapping of metric names to whisper file paths ([`path`]).
//!
//! ```
//! let line = proto::line::parse_line(b"servers.a.cpu 1.5 1700000000\r").unwrap();
//! assert_eq!((line.name, line.value, line.timestamp), ("servers.a.cpu", 1.5, 1.7e9));
//! ```
//!
//! # Where we knowingly differ from carbon 1.1.x
//! * A plaintext line that is not UTF-8 is rejected alone ([`LineError::InvalidUtf8`]);
//!   carbon raises and Twisted drops the connection. For UDP, carbon loses the whole
//!   datagram, we only that line.
//! * Every malformed pickle is a whole-frame error with the connection kept; carbon drops the
//!   connection for the few that raise TypeError/AttributeError inside the unpickler (e.g.
//!   APPEND onto a tuple). Frames that make carbon's *receiver loop* raise (a non-`str` name
//!   such as Python 3 `bytes`, an int too big for a float, a non-iterable payload) are
//!   reported exactly ([`pickle::DatapointBatch::abort`]): earlier points kept, rest dropped.
//! * Pickles with reference cycles, lone surrogates, or that expand past the output budget
//!   (memo sharing) are refused; CPython would build them. Sets keep pickle order.
//! * Paths: `a..b`, `a.b.` and names with `/`, `\`, control characters, over-long components
//!   or paths are refused (carbon writes `a/b`, `a/b/.wsp`, or escapes the data directory);
//!   leading dots are stripped as carbon does. See [`path`].

#![warn(missing_docs)]

pub mod carbonlink;
pub mod frame;
#[doc(hidden)]
pub mod harness;
pub mod line;
pub mod path;
pub mod pickle;
pub mod pyfloat;
pub mod pytext;
pub mod tags;

pub use line::{parse_line, Line, LineError, LineFramer};
pub use path::{relative_path, PathError};
pub use pickle::{decode_datapoints, PickleError, Value};
pub use tags::{normalize_name, parse_tagged, TagError, TaggedName};
