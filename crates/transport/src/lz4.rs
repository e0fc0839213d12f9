//! The LZ4 frame format, decoded incrementally: a stream of concatenated frames (carbon-c-relay
//! sends one complete frame per flush; python's `lz4.frame` one long frame), linked or
//! independent blocks, skippable frames skipped. Checksums are skipped, not verified.

use crate::decode::OUTPUT_STEP;
use crate::TransportError;

const MAGIC: u32 = 0x184D_2204;
/// LZ4 linked blocks refer back at most this far.
const WINDOW: usize = 64 * 1024;

fn corrupt(reason: impl Into<String>) -> TransportError {
    TransportError::corrupt("lz4", reason)
}

#[derive(Debug, Default, Clone, Copy)]
struct FrameInfo {
    linked: bool,
    block_checksum: bool,
    content_checksum: bool,
    max_block: usize,
}

#[derive(Debug, Default)]
enum State {
    /// Expecting a frame's magic number.
    #[default]
    Magic,
    /// Skipping this many bytes of a skippable frame.
    Skip(usize),
    /// Inside a frame, expecting a block size (or the end mark).
    Block(FrameInfo),
}

/// Incremental decoder of concatenated LZ4 frames.
#[derive(Default)]
pub(crate) struct Lz4Frames {
    /// Received, not yet decoded: at most one block plus one read.
    pending: Vec<u8>,
    state: State,
    /// The last 64 KiB of output of the current frame (the dictionary of linked blocks).
    history: Vec<u8>,
}

impl Lz4Frames {
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
            match self.state {
                State::Magic => {
                    if buf.len() < 4 {
                        break;
                    }
                    let magic = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                        if buf.len() < 8 {
                            break;
                        }
                        let n = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
                        pos += 8;
                        self.state = State::Skip(n);
                        continue;
                    }
                    if magic != MAGIC {
                        return Err(corrupt(format!("bad frame magic {magic:#010x}")));
                    }
                    let Some(&flg) = buf.get(4) else { break };
                    let Some(&bd) = buf.get(5) else { break };
                    if flg >> 6 != 1 {
                        return Err(corrupt("unsupported frame version"));
                    }
                    let header = 7
                        + if flg & 0x08 != 0 { 8 } else { 0 }
                        + if flg & 0x01 != 0 { 4 } else { 0 };
                    if buf.len() < header {
                        break;
                    }
                    let max_block = match (bd >> 4) & 0x7 {
                        4 => 64 << 10,
                        5 => 256 << 10,
                        6 => 1 << 20,
                        7 => 4 << 20,
                        other => return Err(corrupt(format!("bad block size code {other}"))),
                    };
                    pos += header;
                    self.history.clear();
                    self.state = State::Block(FrameInfo {
                        linked: flg & 0x20 == 0,
                        block_checksum: flg & 0x10 != 0,
                        content_checksum: flg & 0x04 != 0,
                        max_block,
                    });
                }
                State::Skip(n) => {
                    let k = n.min(buf.len());
                    pos += k;
                    if k == n {
                        self.state = State::Magic;
                    } else {
                        self.state = State::Skip(n - k);
                        break;
                    }
                }
                State::Block(info) => {
                    if buf.len() < 4 {
                        break;
                    }
                    let word = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    if word == 0 {
                        let end = 4 + if info.content_checksum { 4 } else { 0 };
                        if buf.len() < end {
                            break;
                        }
                        pos += end;
                        self.state = State::Magic;
                        continue;
                    }
                    let stored = word & 0x8000_0000 != 0;
                    let size = (word & 0x7FFF_FFFF) as usize;
                    if size > info.max_block {
                        return Err(corrupt(format!(
                            "block of {size} bytes exceeds the frame's {} byte maximum",
                            info.max_block
                        )));
                    }
                    let total = 4 + size + if info.block_checksum { 4 } else { 0 };
                    if buf.len() < total {
                        break;
                    }
                    let data = &buf[4..4 + size];
                    let from = out.len();
                    if stored {
                        out.extend_from_slice(data);
                    } else {
                        out.resize(from + info.max_block, 0);
                        let dict: &[u8] = if info.linked { &self.history } else { &[] };
                        let n = lz4_flex::block::decompress_into_with_dict(
                            data,
                            &mut out[from..],
                            dict,
                        )
                        .map_err(|e| corrupt(e.to_string()))?;
                        out.truncate(from + n);
                    }
                    if info.linked {
                        let produced = &out[from..];
                        if produced.len() >= WINDOW {
                            self.history.clear();
                            self.history
                                .extend_from_slice(&produced[produced.len() - WINDOW..]);
                        } else {
                            let keep = (WINDOW - produced.len()).min(self.history.len());
                            self.history.drain(..self.history.len() - keep);
                            self.history.extend_from_slice(produced);
                        }
                    }
                    pos += total;
                }
            }
        }
        self.pending.drain(..pos);
        Ok(input.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decode_all(wire: &[u8], piece: usize) -> Result<Vec<u8>, TransportError> {
        let mut d = Lz4Frames::default();
        let mut out = Vec::new();
        for chunk in wire.chunks(piece.max(1)) {
            d.decode(chunk, &mut out)?;
        }
        loop {
            let before = out.len();
            d.decode(&[], &mut out)?;
            if out.len() == before {
                break;
            }
        }
        Ok(out)
    }

    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("a.b.metric{} {} 1700000000\n", i % 977, i))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn concatenated_frames_decode_in_any_split() {
        let text = lines(20_000);
        let mut wire = Vec::new();
        for part in text.chunks(70_000) {
            let mut f = lz4_flex::frame::FrameEncoder::new(Vec::new());
            f.write_all(part).unwrap();
            wire.extend(f.finish().unwrap());
        }
        for piece in [1, 7, 4096, 1 << 20] {
            assert_eq!(decode_all(&wire, piece).unwrap(), text, "piece {piece}");
        }
    }

    #[test]
    fn linked_blocks_use_the_previous_output() {
        let text = lines(30_000);
        let info = lz4_flex::frame::FrameInfo::new()
            .block_mode(lz4_flex::frame::BlockMode::Linked)
            .block_checksums(true)
            .content_checksum(true);
        let mut f = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        f.write_all(&text).unwrap();
        let wire = f.finish().unwrap();
        assert_eq!(decode_all(&wire, 1000).unwrap(), text);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_all(b"GET / HTTP/1.0\r\n\r\n", 100).is_err());
    }
}
