//! Connection wrappings shared by Carbonado's receivers and senders, as carbon-c-relay offers
//! them: gzip (one continuous stream, sync-flushed), lz4 (frame format), snappy (framing
//! format) and TLS (rustls, optionally with client certificates).
//!
//! Senders compress whole write batches with an [`Encoder`]; receivers feed what they read to
//! a [`Decoder`], which hands back a bounded amount of output per call so that a small
//! compressed input (a "decompression bomb") never turns into unbounded memory.
//!
//! ```
//! use transport::{Compression, Decoder, Encoder};
//! let mut enc = Encoder::new(Compression::Gzip);
//! let mut wire = Vec::new();
//! enc.encode(b"a.b.c 1 1700000000\n", &mut wire).unwrap();
//! let mut dec = Decoder::new(Compression::Gzip);
//! let (mut out, mut pos) = (Vec::new(), 0);
//! loop {
//!     let mut chunk = Vec::new();
//!     pos += dec.decode(&wire[pos..], &mut chunk).unwrap();
//!     if chunk.is_empty() && pos == wire.len() { break; }
//!     out.extend_from_slice(&chunk);
//! }
//! assert_eq!(out, b"a.b.c 1 1700000000\n");
//! ```

mod compression;
mod decode;
mod encode;
mod error;
mod lz4;
mod snappy;
pub mod tls;

pub use compression::Compression;
pub use decode::{Decoder, OUTPUT_STEP};
pub use encode::Encoder;
pub use error::TransportError;
