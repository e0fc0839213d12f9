//! Decompression of what a receiver reads, in bounded steps.

use std::io::Write;

use crate::lz4::Lz4Frames;
use crate::snappy::SnappyFrames;
use crate::{Compression, TransportError};

/// Output handed back by one [`Decoder::decode`] call is about this size (a single lz4 block,
/// at most 4 MiB, is handed back whole).
pub const OUTPUT_STEP: usize = 64 * 1024;

/// Undoes one connection's compression.
///
/// Call [`Decoder::decode`] with the unconsumed rest of what was read until it returns no
/// output with all input consumed; handle each call's output before the next one. Memory
/// stays bounded whatever the compression ratio of the input.
pub struct Decoder {
    kind: Kind,
}

enum Kind {
    Plain,
    // Write-side decoder: each `write` consumes input for at most one internal buffer
    // (32 KiB) of output, which `flush` then moves to the inner Vec: output per call is bounded.
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Lz4(Box<Lz4Frames>),
    Snappy(Box<SnappyFrames>),
}

impl Decoder {
    /// A decoder for a fresh stream of `c`.
    pub fn new(c: Compression) -> Self {
        let kind = match c {
            Compression::Plain => Kind::Plain,
            Compression::Gzip => Kind::Gzip(Box::new(flate2::write::MultiGzDecoder::new(
                Vec::with_capacity(OUTPUT_STEP),
            ))),
            Compression::Lz4 => Kind::Lz4(Box::default()),
            Compression::Snappy => Kind::Snappy(Box::default()),
        };
        Decoder { kind }
    }

    /// Decodes some of `input`, appending at most about [`OUTPUT_STEP`] bytes to `out`, and
    /// returns how many bytes of `input` were consumed. Input that is consumed but not yet
    /// decoded is kept (bounded by the largest block the format allows). On an error, what was
    /// appended to `out` before it is valid output; the stream cannot continue.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, TransportError> {
        match &mut self.kind {
            Kind::Plain => {
                let n = input.len().min(OUTPUT_STEP);
                out.extend_from_slice(&input[..n]);
                Ok(n)
            }
            Kind::Gzip(z) => {
                let n = if input.is_empty() {
                    0
                } else {
                    z.write(input)
                        .map_err(|e| TransportError::corrupt("gzip", e.to_string()))?
                };
                // Pushes out what this write left in the decoder's buffer, so that a call
                // returning no output means everything consumed so far has been handed back.
                z.flush()
                    .map_err(|e| TransportError::corrupt("gzip", e.to_string()))?;
                let before = out.len();
                out.append(z.get_mut());
                if n == 0 && !input.is_empty() && out.len() == before {
                    // The decoder refuses input it cannot use: bytes after the end of the stream.
                    return Err(TransportError::corrupt(
                        "gzip",
                        "data after the end of the stream",
                    ));
                }
                Ok(n)
            }
            Kind::Lz4(f) => f.decode(input, out),
            Kind::Snappy(f) => f.decode(input, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Encoder;

    /// Decodes `wire` fed in `piece`-sized reads; returns the output and the largest step.
    fn run(c: Compression, wire: &[u8], piece: usize) -> Result<(Vec<u8>, usize), TransportError> {
        let mut d = Decoder::new(c);
        let (mut all, mut largest) = (Vec::new(), 0);
        for read in wire.chunks(piece) {
            let mut pos = 0;
            loop {
                let mut step = Vec::new();
                pos += d.decode(&read[pos..], &mut step)?;
                largest = largest.max(step.len());
                if step.is_empty() && pos == read.len() {
                    break;
                }
                all.extend_from_slice(&step);
            }
        }
        Ok((all, largest))
    }

    #[test]
    fn every_codec_round_trips_batches() {
        for c in [
            Compression::Plain,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Snappy,
        ] {
            let mut e = Encoder::new(c);
            let mut wire = Vec::new();
            let mut text = Vec::new();
            for b in 0..50 {
                let batch: Vec<u8> = (0..300)
                    .map(|i| format!("rt.{c}.m{i} {b} 1700000000\n"))
                    .collect::<String>()
                    .into_bytes();
                e.encode(&batch, &mut wire).unwrap();
                text.extend_from_slice(&batch);
            }
            for piece in [3, 4096, 65536] {
                assert_eq!(run(c, &wire, piece).unwrap().0, text, "{c} piece {piece}");
            }
        }
    }

    #[test]
    fn a_decompression_bomb_comes_out_in_bounded_steps() {
        // 64 MiB of one repeated line compresses to very little with every codec.
        let line = b"bomb.metric 1 1700000000\n";
        let big: Vec<u8> = line.iter().copied().cycle().take(64 << 20).collect();
        for c in [Compression::Gzip, Compression::Lz4, Compression::Snappy] {
            let mut wire = Vec::new();
            Encoder::new(c).encode(&big, &mut wire).unwrap();
            assert!(wire.len() < big.len() / 20, "{c}: {} bytes", wire.len());
            let (out, largest) = run(c, &wire, 64 << 10).unwrap();
            assert_eq!(out.len(), big.len(), "{c}");
            assert!(largest <= 4 * OUTPUT_STEP, "{c}: a step of {largest} bytes");
        }
    }

    #[test]
    fn garbage_is_rejected_by_every_codec() {
        for c in [Compression::Gzip, Compression::Lz4, Compression::Snappy] {
            assert!(run(c, b"plain.text 1 1700000000\n", 4096).is_err(), "{c}");
        }
    }
}
