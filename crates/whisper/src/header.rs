//! The file header: metadata plus one record per archive, decoded and checked.

use crate::{AggregationMethod, Error, Result};

/// Bytes of the fixed metadata block at offset 0.
pub const METADATA_SIZE: usize = 16;
/// Bytes of one archive-info record.
pub const ARCHIVE_INFO_SIZE: usize = 12;
/// Bytes of one stored point (u32 interval + f64 value).
pub const POINT_SIZE: usize = 12;

/// One archive as laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// Absolute byte offset of the archive's first slot.
    pub offset: u32,
    /// Seconds covered by one point.
    pub seconds_per_point: u32,
    /// Number of slots.
    pub points: u32,
}

impl ArchiveInfo {
    /// Seconds of history held (`seconds_per_point * points`).
    pub fn retention(&self) -> i64 {
        i64::from(self.seconds_per_point) * i64::from(self.points)
    }

    /// Bytes the archive occupies.
    pub fn size(&self) -> u64 {
        u64::from(self.points) * POINT_SIZE as u64
    }

    /// Byte offset just past the archive.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.size()
    }

    /// Slot index holding aligned `interval`, given the interval stored in slot 0.
    ///
    /// Floor division and a non-negative modulo, as whisper's Python arithmetic does.
    pub(crate) fn slot(&self, interval: i64, base: i64) -> u64 {
        let step = i64::from(self.seconds_per_point);
        (interval - base)
            .div_euclid(step)
            .rem_euclid(i64::from(self.points)) as u64
    }

    /// Byte offset of a slot.
    pub(crate) fn slot_offset(&self, slot: u64) -> u64 {
        u64::from(self.offset) + slot * POINT_SIZE as u64
    }
}

/// A decoded header: what `whisper.info()` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// How points roll up into lower archives.
    pub aggregation_method: AggregationMethod,
    /// Oldest age, in seconds, the file accepts (as stored).
    pub max_retention: u32,
    /// Fraction of known points needed to roll up (float32 as stored).
    pub x_files_factor: f32,
    /// Archives, highest precision first.
    pub archives: Vec<ArchiveInfo>,
}

impl Header {
    /// Size of the header for `n` archives.
    pub fn size_for(n: usize) -> usize {
        METADATA_SIZE + ARCHIVE_INFO_SIZE * n
    }

    /// xFilesFactor widened to f64 the way Python reads it (`struct.unpack('!f')`).
    pub fn xff(&self) -> f64 {
        f64::from(self.x_files_factor)
    }

    /// Total file size the header describes.
    pub fn file_size(&self) -> u64 {
        self.archives
            .iter()
            .map(|a| a.end())
            .max()
            .unwrap_or(Self::size_for(self.archives.len()) as u64)
    }

    /// Encodes the 16-byte metadata block.
    pub fn encode_metadata(&self) -> [u8; METADATA_SIZE] {
        metadata_bytes(
            self.aggregation_method,
            self.max_retention,
            self.x_files_factor,
            self.archives.len() as u32,
        )
    }

    /// Encodes the full header (metadata and archive records).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::size_for(self.archives.len()));
        out.extend_from_slice(&self.encode_metadata());
        for a in &self.archives {
            out.extend_from_slice(&a.offset.to_be_bytes());
            out.extend_from_slice(&a.seconds_per_point.to_be_bytes());
            out.extend_from_slice(&a.points.to_be_bytes());
        }
        out
    }

    /// Decodes the metadata block; returns the header minus archives and the archive count.
    pub fn decode_metadata(bytes: &[u8]) -> Result<(Header, u32)> {
        let bad = || Error::corrupt("Unable to read header");
        let word = |i: usize| -> Result<[u8; 4]> {
            bytes
                .get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(bad)
        };
        let agg = u32::from_be_bytes(word(0)?);
        let max_retention = u32::from_be_bytes(word(4)?);
        let xff = f32::from_be_bytes(word(8)?);
        let count = u32::from_be_bytes(word(12)?);
        let aggregation_method = AggregationMethod::from_id(agg).ok_or_else(bad)?;
        // Written as a positive range test so NaN is rejected too, as in whisper.
        if !(0.0..=1.0).contains(&xff) {
            return Err(bad());
        }
        let header = Header {
            aggregation_method,
            max_retention,
            x_files_factor: xff,
            archives: Vec::new(),
        };
        Ok((header, count))
    }

    /// Decodes a whole header from the start of a file of `file_len` bytes and checks that
    /// the archives are laid out so every later read stays inside the file.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Header> {
        let (mut header, count) = Self::decode_metadata(bytes)?;
        if count == 0 {
            return Err(Error::corrupt("Unable to read header: no archives"));
        }
        let needed = Self::size_for(count as usize) as u64;
        if needed > file_len {
            return Err(Error::corrupt(format!(
                "Unable to read archive{} metadata",
                (file_len.saturating_sub(METADATA_SIZE as u64) / ARCHIVE_INFO_SIZE as u64)
            )));
        }
        header.archives.reserve_exact(count as usize);
        for i in 0..count as usize {
            let at = METADATA_SIZE + i * ARCHIVE_INFO_SIZE;
            let rec = bytes
                .get(at..at + ARCHIVE_INFO_SIZE)
                .ok_or_else(|| Error::corrupt(format!("Unable to read archive{i} metadata")))?;
            let w = |j: usize| u32::from_be_bytes([rec[j], rec[j + 1], rec[j + 2], rec[j + 3]]);
            header.archives.push(ArchiveInfo {
                offset: w(0),
                seconds_per_point: w(4),
                points: w(8),
            });
        }
        header.check_layout(file_len)?;
        Ok(header)
    }

    /// Rejects archive layouts whisper itself never writes and that would make reads go astray.
    fn check_layout(&self, file_len: u64) -> Result<()> {
        let mut prev_end = Self::size_for(self.archives.len()) as u64;
        let mut prev: Option<&ArchiveInfo> = None;
        let mut longest = 0i64;
        for (i, a) in self.archives.iter().enumerate() {
            if a.seconds_per_point == 0 || a.points == 0 {
                return Err(Error::corrupt(format!(
                    "archive{i} has zero points or precision"
                )));
            }
            if u64::from(a.offset) < prev_end {
                return Err(Error::corrupt(format!(
                    "archive{i} overlaps the header or archive"
                )));
            }
            if a.end() > file_len {
                return Err(Error::corrupt(format!(
                    "archive{i} extends past the end of the file"
                )));
            }
            if let Some(p) = prev {
                if a.seconds_per_point <= p.seconds_per_point
                    || a.seconds_per_point % p.seconds_per_point != 0
                    || u64::from(p.points) < u64::from(a.seconds_per_point / p.seconds_per_point)
                {
                    return Err(Error::corrupt(format!(
                        "archive{i} does not consolidate archive{}",
                        i - 1
                    )));
                }
            }
            longest = longest.max(a.retention());
            prev_end = a.end();
            prev = Some(a);
        }
        if i64::from(self.max_retention) != longest {
            return Err(Error::corrupt("maxRetention does not match the archives"));
        }
        Ok(())
    }
}

/// The 16 metadata bytes for the given fields.
pub(crate) fn metadata_bytes(
    method: AggregationMethod,
    max_retention: u32,
    xff: f32,
    archive_count: u32,
) -> [u8; METADATA_SIZE] {
    let mut out = [0u8; METADATA_SIZE];
    out[0..4].copy_from_slice(&method.id().to_be_bytes());
    out[4..8].copy_from_slice(&max_retention.to_be_bytes());
    out[8..12].copy_from_slice(&xff.to_be_bytes());
    out[12..16].copy_from_slice(&archive_count.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            aggregation_method: AggregationMethod::Max,
            max_retention: 600,
            x_files_factor: 0.5,
            archives: vec![
                ArchiveInfo {
                    offset: 40,
                    seconds_per_point: 10,
                    points: 6,
                },
                ArchiveInfo {
                    offset: 112,
                    seconds_per_point: 60,
                    points: 10,
                },
            ],
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes, h.file_size()).unwrap(), h);
    }

    #[test]
    fn layout_errors() {
        let h = sample();
        let bytes = h.encode();
        assert!(Header::decode(&bytes, h.file_size() - 1).is_err());
        let mut overlap = h.clone();
        overlap.archives[1].offset = 100;
        assert!(Header::decode(&overlap.encode(), 1000).is_err());
        assert!(Header::decode(&bytes[..20], 1000).is_err());
    }
}
