//! Graphite's wire formats, as carbon and graphite-web speak them.
//!
//! Pure functions over bytes, no I/O: the plaintext line protocol ([`line`]), a safe pickle
//! decoder and a CPython-exact protocol-2 encoder ([`pickle`]), 4-byte length framing
//! ([`frame`]), the carbonlink cache query protocol ([`carbonlink`]), Graphite 1.1 tags
//! ([`tags`]) and the mapping of metric names to whisper file paths ([`path`]).
//!
//! ```
//! let line = proto::line::parse_line(b"servers.a.cpu 1.5 1700000000\r").unwrap();
//! assert_eq!((line.name, line.value, line.timestamp), ("servers.a.cpu", 1.5, 1.7e9));
//! ```

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
