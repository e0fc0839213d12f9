//! Compression of a sender's write batches.

use std::io::Write;

use crate::{Compression, TransportError};

/// Compresses the batches one connection writes; one per connection (the gzip and snappy
/// streams carry state from batch to batch, so a new connection needs a new encoder).
pub struct Encoder {
    kind: Kind,
}

enum Kind {
    Plain,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Lz4,
    Snappy(Box<snap::write::FrameEncoder<Vec<u8>>>),
}

impl Encoder {
    /// A fresh stream of `c`.
    pub fn new(c: Compression) -> Self {
        let kind = match c {
            Compression::Plain => Kind::Plain,
            Compression::Gzip => Kind::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Compression::Lz4 => Kind::Lz4,
            Compression::Snappy => {
                Kind::Snappy(Box::new(snap::write::FrameEncoder::new(Vec::new())))
            }
        };
        Encoder { kind }
    }

    /// Appends the wire bytes for `data` to `out`, flushed so the receiver can decode all of
    /// `data` from what was appended so far.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        match &mut self.kind {
            Kind::Plain => out.extend_from_slice(data),
            Kind::Gzip(z) => {
                // flate2's flush is a zlib sync flush: every byte written so far is decodable.
                z.write_all(data)
                    .and_then(|_| z.flush())
                    .map_err(|source| TransportError::Compress {
                        codec: "gzip",
                        source,
                    })?;
                out.append(z.get_mut());
            }
            Kind::Lz4 => {
                // carbon-c-relay compresses each flushed buffer into a complete frame.
                // 64 KiB blocks, liblz4's default, keep the receiver's buffers small.
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB);
                let mut f =
                    lz4_flex::frame::FrameEncoder::with_frame_info(info, std::mem::take(out));
                f.write_all(data)
                    .map_err(|source| TransportError::Compress {
                        codec: "lz4",
                        source,
                    })?;
                *out = f.finish().map_err(|e| TransportError::Compress {
                    codec: "lz4",
                    source: std::io::Error::other(e),
                })?;
            }
            Kind::Snappy(s) => {
                s.write_all(data)
                    .and_then(|_| s.flush())
                    .map_err(|source| TransportError::Compress {
                        codec: "snappy",
                        source,
                    })?;
                out.append(s.get_mut());
            }
        }
        Ok(())
    }
}
