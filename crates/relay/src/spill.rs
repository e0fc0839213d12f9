//! Disk spill for one destination: an ordered, bounded queue of points in segment files.
//!
//! Points go here when the in-memory queue is full (destination down or slow) and come back in
//! the order they were written. Segments are `<seq>.spill` files read oldest first; a segment
//! that is being read when the process stops leaves `<seq>.offset` so the next start resumes
//! after what was already sent instead of sending it twice.
//!
//! Record: `u32 LE name length, name bytes, f64 LE timestamp, f64 LE value`.

use crate::error::RelayError;
use crate::point::Point;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Longest metric name a record may carry; anything longer marks a corrupt file.
const MAX_NAME: usize = 1 << 20;
/// Segments are closed at this size so fully sent ones can be deleted early.
const SEGMENT_BYTES: u64 = 64 << 20;
/// First sequence number; leaves room below for segments prepended at shutdown.
const FIRST_SEQ: u64 = 1 << 40;

struct Segment {
    seq: u64,
    start: u64,
    size: u64,
}

struct Writer {
    seq: u64,
    file: BufWriter<File>,
    size: u64,
}

struct Reader {
    seq: u64,
    file: BufReader<File>,
    offset: u64,
    size: u64,
}

/// A bounded on-disk FIFO of points.
pub struct Spill {
    dir: PathBuf,
    max_bytes: u64,
    closed: VecDeque<Segment>,
    writer: Option<Writer>,
    reader: Option<Reader>,
    next_seq: u64,
    segment_bytes: u64,
    /// Bytes of all segment files on disk, read parts included: the bound is on disk use.
    bytes: u64,
    points: u64,
}

/// Bytes one point takes in a spill file.
pub fn record_len(p: &Point) -> u64 {
    (4 + p.metric.len() + 16) as u64
}

impl Spill {
    /// Opens (creating if needed) the spill directory and indexes the segments left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spill, RelayError> {
        fs::create_dir_all(dir).map_err(|e| RelayError::spill(dir, e))?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| RelayError::spill(dir, e))? {
            let entry = entry.map_err(|e| RelayError::spill(dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name
                .strip_suffix(".spill")
                .and_then(|s| s.parse::<u64>().ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut spill = Spill {
            dir: dir.to_path_buf(),
            max_bytes,
            closed: VecDeque::new(),
            writer: None,
            reader: None,
            next_seq: seqs.last().map_or(FIRST_SEQ, |s| s + 1),
            // Small segments for small bounds, so sent data frees disk early.
            segment_bytes: (max_bytes / 16).clamp(64 << 10, SEGMENT_BYTES),
            bytes: 0,
            points: 0,
        };
        for seq in seqs {
            let start = spill.read_offset(seq);
            let (points, end) = scan(&spill.seg_path(seq), start)?;
            if points == 0 {
                spill.remove(seq);
                continue;
            }
            spill.points += points;
            spill.bytes += end;
            spill.closed.push_back(Segment {
                seq,
                start,
                size: end,
            });
        }
        Ok(spill)
    }

    /// Number of points waiting on disk.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Bytes waiting on disk.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// True when a record of `len` bytes still fits under the bound.
    pub fn has_room(&self, len: u64) -> bool {
        self.bytes + len <= self.max_bytes
    }

    /// Appends one point after everything already spilled.
    pub fn push(&mut self, p: &Point) -> Result<(), RelayError> {
        if self.writer.is_none() {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.writer = Some(self.create(seq)?);
        }
        let path = self.dir.clone();
        let w = self.writer.as_mut().ok_or(RelayError::Closed)?;
        write_record(&mut w.file, p).map_err(|e| RelayError::spill(&path, e))?;
        let len = record_len(p);
        w.size += len;
        self.bytes += len;
        self.points += 1;
        if w.size >= self.segment_bytes {
            self.close_writer()?;
        }
        Ok(())
    }

    /// Puts `points` in front of everything spilled, for points older than the spill (shutdown).
    pub fn prepend(&mut self, points: &[Point]) -> Result<(), RelayError> {
        if points.is_empty() {
            return Ok(());
        }
        self.close_reader()?;
        let first = self
            .closed
            .front()
            .map(|s| s.seq)
            .or(self.writer.as_ref().map(|w| w.seq))
            .unwrap_or(self.next_seq);
        let seq = first.saturating_sub(1);
        if self.closed.iter().any(|s| s.seq == seq) || seq == 0 {
            return Err(RelayError::Config(
                "spill sequence numbers exhausted".into(),
            ));
        }
        let mut w = self.create(seq)?;
        let path = self.seg_path(seq);
        for p in points {
            write_record(&mut w.file, p).map_err(|e| RelayError::spill(&path, e))?;
            w.size += record_len(p);
            self.points += 1;
        }
        w.file.flush().map_err(|e| RelayError::spill(&path, e))?;
        self.bytes += w.size;
        self.closed.push_front(Segment {
            seq,
            start: 0,
            size: w.size,
        });
        Ok(())
    }

    /// Takes up to `max` of the oldest points into `out`; returns how many were taken.
    pub fn pop_batch(&mut self, max: usize, out: &mut Vec<Point>) -> Result<usize, RelayError> {
        let mut taken = 0;
        while taken < max && self.points > 0 {
            if self.reader.is_none() && !self.open_next_reader()? {
                break;
            }
            let Some(r) = self.reader.as_mut() else { break };
            match read_record(&mut r.file) {
                Ok(Some((p, len))) => {
                    r.offset += len;
                    self.points -= 1;
                    out.push(p);
                    taken += 1;
                }
                Ok(None) | Err(_) => {
                    // End of segment (a torn tail from a crash reads as the end too).
                    let (seq, size) = (r.seq, r.size);
                    self.reader = None;
                    self.bytes = self.bytes.saturating_sub(size);
                    self.remove(seq);
                    if self.closed.is_empty() && self.writer.is_none() {
                        self.points = 0;
                        self.bytes = 0;
                    }
                }
            }
        }
        if self.points == 0 {
            // Everything known was read: the open segment is spent even before its EOF is seen.
            if let Some(r) = self.reader.take() {
                self.remove(r.seq);
            }
            self.bytes = 0;
        }
        Ok(taken)
    }

    /// Flushes buffered records and records the read position, for a clean stop.
    pub fn close(&mut self) -> Result<(), RelayError> {
        if let Some(w) = self.writer.as_mut() {
            let path = self.dir.clone();
            w.file.flush().map_err(|e| RelayError::spill(&path, e))?;
        }
        self.close_reader()
    }

    fn close_reader(&mut self) -> Result<(), RelayError> {
        if let Some(r) = self.reader.take() {
            let path = self.offset_path(r.seq);
            fs::write(&path, r.offset.to_string()).map_err(|e| RelayError::spill(&path, e))?;
            self.closed.push_front(Segment {
                seq: r.seq,
                start: r.offset,
                size: r.size,
            });
        }
        Ok(())
    }

    fn close_writer(&mut self) -> Result<(), RelayError> {
        if let Some(mut w) = self.writer.take() {
            let path = self.seg_path(w.seq);
            w.file.flush().map_err(|e| RelayError::spill(&path, e))?;
            self.closed.push_back(Segment {
                seq: w.seq,
                start: 0,
                size: w.size,
            });
        }
        Ok(())
    }

    fn open_next_reader(&mut self) -> Result<bool, RelayError> {
        if self.closed.is_empty() {
            self.close_writer()?;
        }
        let Some(seg) = self.closed.pop_front() else {
            return Ok(false);
        };
        let path = self.seg_path(seg.seq);
        let mut file = File::open(&path).map_err(|e| RelayError::spill(&path, e))?;
        file.seek(SeekFrom::Start(seg.start))
            .map_err(|e| RelayError::spill(&path, e))?;
        self.reader = Some(Reader {
            seq: seg.seq,
            file: BufReader::with_capacity(256 << 10, file),
            offset: seg.start,
            size: seg.size,
        });
        Ok(true)
    }

    fn create(&self, seq: u64) -> Result<Writer, RelayError> {
        let path = self.seg_path(seq);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| RelayError::spill(&path, e))?;
        Ok(Writer {
            seq,
            file: BufWriter::with_capacity(256 << 10, file),
            size: 0,
        })
    }

    fn remove(&self, seq: u64) {
        for path in [self.seg_path(seq), self.offset_path(seq)] {
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("cannot remove spent spill file {}: {e}", path.display());
                }
            }
        }
    }

    fn read_offset(&self, seq: u64) -> u64 {
        fs::read_to_string(self.offset_path(seq))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn seg_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.spill"))
    }

    fn offset_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.offset"))
    }
}

/// Counts the whole records of a segment from `start`; cuts a torn tail off.
fn scan(path: &Path, start: u64) -> Result<(u64, u64), RelayError> {
    let file = File::open(path).map_err(|e| RelayError::spill(path, e))?;
    let mut r = BufReader::with_capacity(256 << 10, file);
    r.seek(SeekFrom::Start(start))
        .map_err(|e| RelayError::spill(path, e))?;
    let mut offset = start;
    let mut points = 0;
    loop {
        match read_record(&mut r) {
            Ok(Some((_, len))) => {
                offset += len;
                points += 1;
            }
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    "spill {}: torn record at byte {offset}, cut",
                    path.display()
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| RelayError::spill(path, e))?;
                f.set_len(offset).map_err(|e| RelayError::spill(path, e))?;
                break;
            }
        }
    }
    Ok((points, offset))
}

fn write_record(w: &mut impl Write, p: &Point) -> std::io::Result<()> {
    w.write_all(&(p.metric.len() as u32).to_le_bytes())?;
    w.write_all(p.metric.as_bytes())?;
    w.write_all(&p.timestamp.to_le_bytes())?;
    w.write_all(&p.value.to_le_bytes())
}

/// Reads one record; `Ok(None)` at a clean end, `Err` for a torn or corrupt record.
fn read_record(r: &mut impl Read) -> Result<Option<(Point, u64)>, ()> {
    let mut len = [0u8; 4];
    match read_full(r, &mut len) {
        Ok(0) => return Ok(None),
        Ok(4) => {}
        _ => return Err(()),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_NAME {
        return Err(());
    }
    let mut buf = vec![0u8; n + 16];
    if read_full(r, &mut buf) != Ok(n + 16) {
        return Err(());
    }
    let mut ts = [0u8; 8];
    let mut val = [0u8; 8];
    ts.copy_from_slice(&buf[n..n + 8]);
    val.copy_from_slice(&buf[n + 8..n + 16]);
    buf.truncate(n);
    let metric = String::from_utf8(buf).map_err(|_| ())?;
    let p = Point {
        metric,
        timestamp: f64::from_le_bytes(ts),
        value: f64::from_le_bytes(val),
    };
    Ok(Some((p, (n + 20) as u64)))
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, ()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(range: std::ops::Range<u32>) -> Vec<Point> {
        range
            .map(|i| Point::new(format!("m.{i}"), i as f64, i as f64 * 0.5))
            .collect()
    }

    #[test]
    fn fifo_across_reopen_with_partial_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spill::open(dir.path(), 1 << 30).unwrap();
        for p in pts(0..100) {
            s.push(&p).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(s.pop_batch(30, &mut out).unwrap(), 30);
        for p in pts(100..150) {
            s.push(&p).unwrap();
        }
        s.close().unwrap();
        drop(s);
        let mut s = Spill::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.points(), 120);
        while s.pop_batch(7, &mut out).unwrap() > 0 {}
        assert_eq!(out, pts(0..150));
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "spent segments are deleted");
    }

    #[test]
    fn prepend_goes_first_even_mid_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spill::open(dir.path(), 1 << 30).unwrap();
        for p in pts(10..20) {
            s.push(&p).unwrap();
        }
        let mut out = Vec::new();
        s.pop_batch(3, &mut out).unwrap();
        s.prepend(&pts(0..10)).unwrap();
        s.close().unwrap();
        let mut s = Spill::open(dir.path(), 1 << 30).unwrap();
        let mut rest = Vec::new();
        while s.pop_batch(100, &mut rest).unwrap() > 0 {}
        let mut want = pts(0..10);
        want.extend(pts(13..20));
        assert_eq!(rest, want);
    }

    #[test]
    fn bound_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = Point::new("abc", 1.0, 2.0);
        let mut s = Spill::open(dir.path(), 3 * record_len(&p)).unwrap();
        assert!(s.has_room(record_len(&p)));
        for _ in 0..3 {
            s.push(&p).unwrap();
        }
        assert!(!s.has_room(record_len(&p)));
        s.close().unwrap();
        drop(s);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, b'x']).unwrap();
        let mut s = Spill::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.points(), 3);
        let mut out = Vec::new();
        assert_eq!(s.pop_batch(10, &mut out).unwrap(), 3);
    }
}
