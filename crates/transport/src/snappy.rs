//! The snappy framing format (what python-snappy's `StreamCompressor` and the `snap` crate's
//! frame encoder write), decoded incrementally. Chunk checksums are skipped, not verified.

use crate::decode::OUTPUT_STEP;
use crate::TransportError;

const STREAM_ID: &[u8] = b"sNaPpY";
/// The format caps a chunk's uncompressed data at 64 KiB.
const MAX_UNCOMPRESSED: usize = 65536;
/// A compressed chunk is its CRC plus at most snappy's bound for 64 KiB.
const MAX_CHUNK: usize = 4 + 32 + MAX_UNCOMPRESSED + MAX_UNCOMPRESSED / 6;

fn corrupt(reason: impl Into<String>) -> TransportError {
    TransportError::corrupt("snappy", reason)
}

/// Incremental decoder of a snappy framed stream.
#[derive(Default)]
pub(crate) struct SnappyFrames {
    /// Received, not yet decoded: at most one chunk plus one read.
    pending: Vec<u8>,
    /// Whether the stream identifier has been seen (it must come first).
    started: bool,
    raw: snap::raw::Decoder,
}

impl SnappyFrames {
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, TransportError> {
        self.pending.extend_from_slice(input);
        let start = out.len();
        let mut pos = 0;
        while out.len() - start < OUTPUT_STEP {
            let buf = &self.pending[pos..];
            if buf.len() < 4 {
                break;
            }
            let kind = buf[0];
            let len = u32::from_le_bytes([buf[1], buf[2], buf[3], 0]) as usize;
            if !self.started && kind != 0xFF {
                return Err(corrupt("stream does not start with the stream identifier"));
            }
            // Skippable chunks are held like others, so they are bounded the same way.
            if len > MAX_CHUNK {
                return Err(corrupt(format!("chunk of {len} bytes is too large")));
            }
            if buf.len() < 4 + len {
                break;
            }
            let body = &buf[4..4 + len];
            match kind {
                0xFF => {
                    if body != STREAM_ID {
                        return Err(corrupt("bad stream identifier"));
                    }
                    self.started = true;
                }
                0x00 => {
                    if len < 4 {
                        return Err(corrupt("compressed chunk without checksum"));
                    }
                    let data = &body[4..];
                    let n = snap::raw::decompress_len(data).map_err(|e| corrupt(e.to_string()))?;
                    if n > MAX_UNCOMPRESSED {
                        return Err(corrupt(format!("chunk decompresses to {n} bytes")));
                    }
                    let from = out.len();
                    out.resize(from + n, 0);
                    self.raw
                        .decompress(data, &mut out[from..])
                        .map_err(|e| corrupt(e.to_string()))?;
                }
                0x01 => {
                    if len < 4 || len - 4 > MAX_UNCOMPRESSED {
                        return Err(corrupt("bad uncompressed chunk"));
                    }
                    out.extend_from_slice(&body[4..]);
                }
                0x02..=0x7F => return Err(corrupt(format!("reserved chunk type {kind:#04x}"))),
                _ => {} // skippable (0x80..=0xFE)
            }
            pos += 4 + len;
        }
        self.pending.drain(..pos);
        Ok(input.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn framed_stream_decodes_in_any_split() {
        let text: Vec<u8> = (0..20_000)
            .map(|i| format!("x.y.m{} {} 1700000000\n", i % 313, i))
            .collect::<String>()
            .into_bytes();
        let mut e = snap::write::FrameEncoder::new(Vec::new());
        for part in text.chunks(5000) {
            e.write_all(part).unwrap();
            e.flush().unwrap();
        }
        let wire = e.into_inner().unwrap();
        for piece in [1, 13, 65536] {
            let mut d = SnappyFrames::default();
            let mut out = Vec::new();
            for c in wire.chunks(piece) {
                d.decode(c, &mut out).unwrap();
            }
            while {
                let b = out.len();
                d.decode(&[], &mut out).unwrap();
                out.len() != b
            } {}
            assert_eq!(out, text, "piece {piece}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = SnappyFrames::default();
        assert!(d.decode(b"hello world\n", &mut Vec::new()).is_err());
    }
}
