//! 4-byte big-endian length-prefixed frames (Twisted's `Int32StringReceiver`), used by the
//! pickle receiver and by carbonlink in both directions.

/// carbon's `PICKLE_RECEIVER_MAX_LENGTH` default: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// carbonlink's request limit (`CacheManagementHandler.MAX_LENGTH`, 1 GiB).
pub const CARBONLINK_MAX_FRAME: usize = 1 << 30;

/// A length prefix above the limit: carbon closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the limit of {max}")]
pub struct FrameTooLarge {
    /// The announced payload length.
    pub len: u64,
    /// The configured maximum.
    pub max: usize,
}

/// Try to cut one frame off the front of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((payload, consumed)))`: a whole frame.
/// The length is checked as soon as the 4 prefix bytes are there, before any payload arrives,
/// so a hostile prefix never makes the caller buffer more than `max` bytes.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameTooLarge> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > max {
        return Err(FrameTooLarge {
            len: u64::from(len),
            max,
        });
    }
    let end = 4usize.saturating_add(len_usize);
    Ok(buf.get(4..end).map(|payload| (payload, end)))
}

/// The payload length announced by a 4-byte prefix.
pub fn frame_len(prefix: [u8; 4]) -> u32 {
    u32::from_be_bytes(prefix)
}

/// Append `payload` with its length prefix to `out`; refused at 4 GiB and above.
pub fn write_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameTooLarge> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameTooLarge {
        len: payload.len() as u64,
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// `payload` with its length prefix.
pub fn framed(payload: &[u8]) -> Result<Vec<u8>, FrameTooLarge> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    write_frame(payload, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_limits() {
        assert_eq!(split_frame(b"\x00\x00", 10), Ok(None));
        assert_eq!(split_frame(b"\x00\x00\x00\x03ab", 10), Ok(None));
        assert_eq!(
            split_frame(b"\x00\x00\x00\x03abcX", 10),
            Ok(Some((&b"abc"[..], 7)))
        );
        assert_eq!(split_frame(b"\x00\x00\x00\x0a", 10), Ok(None));
        assert_eq!(
            split_frame(b"\x00\x00\x00\x0b", 10),
            Err(FrameTooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            split_frame(b"\xff\xff\xff\xff", DEFAULT_MAX_FRAME),
            Err(FrameTooLarge {
                len: u32::MAX as u64,
                max: DEFAULT_MAX_FRAME
            })
        );
        assert_eq!(framed(b"ab").unwrap(), b"\x00\x00\x00\x02ab");
    }
}
