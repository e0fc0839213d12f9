//! Write-ahead log: every accepted batch is appended before it enters the cache, and replayed at start.
//!
//! Segments `NNNNNNNNNN.wal` hold records `u32 len | u32 crc32(payload) | payload`; a payload is one batch
//! (`u32 count`, then per point `u16 name len | name | f64 ts | f64 value`, little endian). A torn or
//! corrupt record ends the replay of its segment and is counted. Each segment counts the points it holds
//! that are not yet on disk; a segment is deleted once it and every older segment reach zero, so a
//! replay never writes an old value over a newer one that was persisted from a later segment.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use ingest::Point;

use crate::CacheError;
use crc32fast::hash as crc32;

/// Identifier of a WAL segment (its file number).
pub type SegmentId = u32;

/// Largest record accepted at replay: bigger length prefixes are treated as corruption.
const MAX_RECORD: usize = 64 << 20;

struct Active {
    id: SegmentId,
    out: BufWriter<File>,
    sync_handle: File,
    bytes: u64,
    dirty: bool,
    opened: std::time::Instant,
}

#[derive(Debug, Default)]
struct Segment {
    pending: u64,
    sealed: bool,
}

/// The write-ahead log of one cache.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    active: Mutex<Active>,
    segments: Mutex<BTreeMap<SegmentId, Segment>>,
    /// Records found torn or corrupt during replay.
    pub torn_records: AtomicU64,
    /// Segments deleted because all their points were persisted.
    pub segments_removed: AtomicU64,
    /// Held open with an exclusive `flock` for the life of the log, so a second cache process
    /// pointed at the same directory fails at start instead of interleaving segments.
    _lock: fs::File,
}

/// Takes the directory's lock file, or explains who holds it.
fn lock_dir(dir: &Path) -> Result<fs::File, CacheError> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join("LOCK");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CacheError::wal(&path, e))?;
    // SAFETY: flock on a descriptor owned by `f` for the duration of the call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(CacheError::wal(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another cache process uses this write-ahead log (give each cache on one data \
                 directory its own [cache] instance)",
            ),
        ));
    }
    Ok(f)
}

fn seg_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!("{id:010}.wal"))
}

fn list_segments(dir: &Path) -> Result<Vec<SegmentId>, CacheError> {
    let mut ids = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| CacheError::wal(dir, e))? {
        let e = e.map_err(|e| CacheError::wal(dir, e))?;
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(id) = stem.parse::<SegmentId>() {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn open_segment(dir: &Path, id: SegmentId) -> Result<Active, CacheError> {
    let path = seg_path(dir, id);
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| CacheError::wal(&path, e))?;
    let sync_handle = f.try_clone().map_err(|e| CacheError::wal(&path, e))?;
    Ok(Active {
        id,
        out: BufWriter::with_capacity(1 << 20, f),
        sync_handle,
        bytes: 0,
        dirty: false,
        opened: std::time::Instant::now(),
    })
}

/// Encodes one batch as a WAL payload.
fn encode(batch: &[Point], out: &mut Vec<u8>) {
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for p in batch {
        let name = p.metric.as_bytes();
        let len = name.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&name[..len]);
        out.extend_from_slice(&p.timestamp.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Some(a)
}

fn f64_at(buf: &mut &[u8]) -> Option<f64> {
    take(buf, 8)
        .and_then(|b| b.try_into().ok())
        .map(f64::from_le_bytes)
}

/// Decodes a payload written by [`encode`]; `None` if it is malformed.
fn decode(mut buf: &[u8]) -> Option<Vec<Point>> {
    let n = u32::from_le_bytes(take(&mut buf, 4)?.try_into().ok()?) as usize;
    let mut out = Vec::with_capacity(n.min(buf.len() / 18));
    for _ in 0..n {
        let len = u16::from_le_bytes(take(&mut buf, 2)?.try_into().ok()?) as usize;
        let name = std::str::from_utf8(take(&mut buf, len)?).ok()?.to_owned();
        let ts = f64_at(&mut buf)?;
        let value = f64_at(&mut buf)?;
        out.push(Point {
            metric: name,
            timestamp: ts,
            value,
        });
    }
    buf.is_empty().then_some(out)
}

impl Wal {
    /// Opens (creating) the WAL directory and starts a new segment after any existing ones.
    ///
    /// Existing segments are kept for [`Wal::replay`]; they count as sealed.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Wal, CacheError> {
        fs::create_dir_all(dir).map_err(|e| CacheError::wal(dir, e))?;
        let lock = lock_dir(dir)?;
        let existing = list_segments(dir)?;
        let next = existing.last().map_or(1, |l| l + 1);
        let mut segments = BTreeMap::new();
        for id in existing {
            segments.insert(
                id,
                Segment {
                    pending: 0,
                    sealed: true,
                },
            );
        }
        segments.insert(next, Segment::default());
        Ok(Wal {
            dir: dir.to_owned(),
            segment_bytes: segment_bytes.max(4096),
            active: Mutex::new(open_segment(dir, next)?),
            segments: Mutex::new(segments),
            torn_records: AtomicU64::new(0),
            segments_removed: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Reads every sealed segment present at open, oldest first, calling `f(segment, batch)` per record.
    ///
    /// The points are counted as pending in their segment: the caller must put them in the cache, whose
    /// persister releases them. Segments that held nothing valid are removed at the end.
    pub fn replay(&self, mut f: impl FnMut(SegmentId, Vec<Point>)) -> Result<u64, CacheError> {
        let ids: Vec<SegmentId> = {
            let segs = self.lock_segments();
            segs.iter()
                .filter(|(_, s)| s.sealed)
                .map(|(id, _)| *id)
                .collect()
        };
        let mut total = 0;
        for id in ids {
            let path = seg_path(&self.dir, id);
            let mut data = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| CacheError::wal(&path, e))?;
            let mut rest = &data[..];
            while !rest.is_empty() {
                let rec = (|| {
                    let mut r = rest;
                    let len = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?) as usize;
                    let crc = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
                    if len > MAX_RECORD {
                        return None;
                    }
                    let payload = take(&mut r, len)?;
                    if crc32(payload) != crc {
                        return None;
                    }
                    Some((decode(payload)?, r))
                })();
                let Some((batch, r)) = rec else {
                    self.torn_records.fetch_add(1, Relaxed);
                    tracing::warn!(segment = %path.display(), "torn or corrupt WAL record; rest of segment ignored");
                    break;
                };
                rest = r;
                total += batch.len() as u64;
                self.lock_segments().entry(id).or_default().pending += batch.len() as u64;
                f(id, batch);
            }
        }
        self.collect();
        Ok(total)
    }

    fn lock_segments(&self) -> std::sync::MutexGuard<'_, BTreeMap<SegmentId, Segment>> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a batch; returns the segment that holds it. The caller then inserts it into the cache.
    pub fn append(&self, batch: &[Point]) -> Result<SegmentId, CacheError> {
        let mut payload = Vec::with_capacity(4 + batch.len() * 48);
        encode(batch, &mut payload);
        let crc = crc32(&payload);
        let mut a = self.lock_active();
        if a.bytes >= self.segment_bytes {
            self.rotate(&mut a)?;
        }
        let id = a.id;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc.to_le_bytes());
        let r = a
            .out
            .write_all(&head)
            .and_then(|_| a.out.write_all(&payload));
        r.map_err(|e| CacheError::wal(&seg_path(&self.dir, id), e))?;
        a.bytes += (payload.len() + 8) as u64;
        a.dirty = true;
        // Count under the active lock so a rotation cannot seal the segment between write and count.
        self.lock_segments().entry(a.id).or_default().pending += batch.len() as u64;
        Ok(a.id)
    }

    fn rotate(&self, a: &mut Active) -> Result<(), CacheError> {
        a.out
            .flush()
            .map_err(|e| CacheError::wal(&seg_path(&self.dir, a.id), e))?;
        let _ = a.sync_handle.sync_data();
        let next = a.id + 1;
        *a = open_segment(&self.dir, next)?;
        let mut segs = self.lock_segments();
        if let Some(prev) = segs.get_mut(&(next - 1)) {
            prev.sealed = true;
        }
        segs.entry(next).or_default();
        drop(segs);
        self.collect();
        Ok(())
    }

    /// Starts a new segment if the active one holds records and is older than `max_age`, so that a
    /// quiet cache does not keep (and replay) an ever-growing segment of points long on disk.
    pub fn rotate_if_older(&self, max_age: std::time::Duration) -> Result<(), CacheError> {
        let mut a = self.lock_active();
        if a.bytes > 0 && a.opened.elapsed() >= max_age {
            self.rotate(&mut a)?;
        }
        Ok(())
    }

    /// Seals the active segment at shutdown: synced, and deleted at once if all its points are on disk.
    /// Nothing may be appended afterwards.
    pub fn close(&self) -> Result<(), CacheError> {
        {
            let mut a = self.lock_active();
            let path = seg_path(&self.dir, a.id);
            a.out.flush().map_err(|e| CacheError::wal(&path, e))?;
            a.sync_handle
                .sync_data()
                .map_err(|e| CacheError::wal(&path, e))?;
            if let Some(s) = self.lock_segments().get_mut(&a.id) {
                s.sealed = true;
            }
        }
        self.collect();
        Ok(())
    }

    /// Pushes buffered records to the OS and fsyncs them (called every `wal_sync_interval`).
    pub fn sync(&self) -> Result<(), CacheError> {
        let handle = {
            let mut a = self.lock_active();
            if !a.dirty {
                return Ok(());
            }
            a.dirty = false;
            a.out
                .flush()
                .map_err(|e| CacheError::wal(&seg_path(&self.dir, a.id), e))?;
            a.sync_handle
                .try_clone()
                .map_err(|e| CacheError::wal(&seg_path(&self.dir, a.id), e))?
        };
        // fsync outside the lock: appends continue while the disk catches up.
        handle
            .sync_data()
            .map_err(|e| CacheError::wal(&self.dir, e))
    }

    /// Marks `n` points of `segment` as persisted.
    pub fn release(&self, segment: SegmentId, n: u64) {
        let done = {
            let mut segs = self.lock_segments();
            match segs.get_mut(&segment) {
                Some(s) => {
                    s.pending = s.pending.saturating_sub(n);
                    s.pending == 0 && s.sealed && segs.keys().next() == Some(&segment)
                }
                None => false,
            }
        };
        if done {
            self.collect();
        }
    }

    /// Deletes the oldest sealed segments whose points are all persisted.
    pub fn collect(&self) {
        loop {
            let id = {
                let mut segs = self.lock_segments();
                match segs.first_key_value() {
                    Some((&id, s)) if s.sealed && s.pending == 0 => {
                        segs.remove(&id);
                        id
                    }
                    _ => return,
                }
            };
            let path = seg_path(&self.dir, id);
            match fs::remove_file(&path) {
                Ok(()) => {
                    self.segments_removed.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "cannot remove WAL segment")
                }
            }
        }
    }

    /// Number of segment files currently kept.
    pub fn segment_count(&self) -> usize {
        self.lock_segments().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_checksum_is_zlib_crc32() {
        // The on-disk format: logs written before the switch to crc32fast must still replay.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_second_log_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Wal::open(dir.path(), 1 << 20).unwrap();
        let err = Wal::open(dir.path(), 1 << 20)
            .err()
            .expect("second open must fail");
        assert!(err.to_string().contains("another cache process"), "{err}");
        drop(first);
        Wal::open(dir.path(), 1 << 20).expect("free again once the first is closed");
    }

    fn pts(n: usize, base: f64) -> Vec<Point> {
        (0..n)
            .map(|i| Point::new(format!("m.{i}"), base + i as f64, i as f64 * 0.5))
            .collect()
    }

    #[test]
    fn records_round_trip_and_torn_tail_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let wal = Wal::open(dir.path(), 1 << 20).unwrap();
            wal.append(&pts(3, 100.0)).unwrap();
            wal.append(&pts(2, 200.0)).unwrap();
            wal.sync().unwrap();
        }
        // Tear the last record in half, as a crash mid-write would.
        let seg = seg_path(dir.path(), 1);
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 10)
            .unwrap();
        let wal = Wal::open(dir.path(), 1 << 20).unwrap();
        let mut got = Vec::new();
        let n = wal.replay(|id, b| got.push((id, b))).unwrap();
        assert_eq!(n, 3);
        assert_eq!(got, vec![(1, pts(3, 100.0))]);
        assert_eq!(wal.torn_records.load(Relaxed), 1);
        // Segment 1 is kept until its 3 points are released; then it goes.
        assert!(seg.exists());
        wal.release(1, 3);
        assert!(!seg.exists());
    }

    #[test]
    fn segments_are_removed_in_order_once_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 4096).unwrap();
        let mut ids = Vec::new();
        for i in 0..100 {
            ids.push(wal.append(&pts(5, i as f64 * 10.0)).unwrap());
        }
        let first = ids[0];
        let last = *ids.last().unwrap();
        assert!(last > first + 1, "segments rotate");
        // Releasing a newer segment first must not delete it while an older one is pending.
        let second = *ids.iter().find(|&&i| i != first).unwrap();
        let second_n = ids.iter().filter(|&&i| i == second).count() as u64 * 5;
        wal.release(second, second_n);
        assert!(seg_path(dir.path(), second).exists());
        let first_n = ids.iter().filter(|&&i| i == first).count() as u64 * 5;
        wal.release(first, first_n);
        assert!(!seg_path(dir.path(), first).exists());
        assert!(!seg_path(dir.path(), second).exists());
        assert!(seg_path(dir.path(), last).exists());
    }

    #[test]
    fn close_removes_a_fully_persisted_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 1 << 20).unwrap();
        let id = wal.append(&pts(4, 0.0)).unwrap();
        wal.release(id, 4);
        assert!(
            seg_path(dir.path(), id).exists(),
            "the active segment stays while open"
        );
        wal.close().unwrap();
        assert!(!seg_path(dir.path(), id).exists());
    }

    #[test]
    fn garbage_segment_is_ignored_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(seg_path(dir.path(), 7), b"\xff\xff\xff\xffgarbage").unwrap();
        let wal = Wal::open(dir.path(), 1 << 20).unwrap();
        let n = wal.replay(|_, _| panic!("nothing valid")).unwrap();
        assert_eq!(n, 0);
        assert_eq!(wal.torn_records.load(Relaxed), 1);
        assert!(!seg_path(dir.path(), 7).exists());
        assert_eq!(wal.append(&pts(1, 0.0)).unwrap(), 8);
    }
}
