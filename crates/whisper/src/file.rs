//! An open whisper file: reading the header once, then update, update_many and fetch.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::header::{ArchiveInfo, Header, METADATA_SIZE, POINT_SIZE};
use crate::mapping::Mapping;
use crate::{pyset, Error, Result};

/// Largest number of slots one fetch may return; past it the request is refused, not allocated.
const MAX_FETCH_POINTS: i64 = 1 << 26;

/// The result of a fetch: `values[i]` is the point at `from + i * step` (`None` = no data).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// First interval returned (inclusive).
    pub from: i64,
    /// End of the range (exclusive).
    pub until: i64,
    /// Seconds between values.
    pub step: i64,
    /// One value per interval, `None` where nothing (or something stale) is stored.
    pub values: Vec<Option<f64>>,
}

impl Fetched {
    /// `(timestamp, value)` pairs for the non-empty values.
    pub fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        let (from, step) = (self.from, self.step);
        self.values
            .iter()
            .enumerate()
            .filter_map(move |(i, v)| v.map(|v| (from + i as i64 * step, v)))
    }
}

/// Interval bases of the archives (the interval stored in slot 0, which anchors the ring).
///
/// Only non-zero bases are kept between operations: once an archive has data, any later value
/// of its slot 0 differs from the cached one by a whole number of ring lengths, so slot
/// arithmetic is unchanged. An empty archive's base is re-read every time, as whisper does,
/// so a write by another process is never missed.
#[derive(Debug, Clone, Default)]
struct Bases(Vec<Option<i64>>);

/// How many bytes of a file are read at open: the header and archive 0's base for files of up
/// to 9 archives (a longer header is read again whole). Small on purpose: the header's page is
/// usually cold, and each cache line the kernel copies from it costs (perf: the copy was a sixth
/// of a persister's time in steady state with 256 bytes).
const HEAD_READ: usize = 128;

/// How a handle reaches the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `pread` on an open descriptor (`Whisper::open`).
    Read,
    /// `pread`/`pwrite` on an open descriptor (`Whisper::open_rw`).
    ReadWrite,
    /// A shared read-only memory mapping; no descriptor is kept (`Whisper::open_mapped_read`).
    MappedRead,
    /// A shared read-write memory mapping; no descriptor is kept (`Whisper::open_mapped`).
    MappedReadWrite,
}

/// The bytes behind a handle.
#[derive(Debug)]
enum Io {
    File(File),
    Map(Mapping),
}

impl Io {
    fn read_at(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<()> {
        match self {
            Io::File(f) => read_exact_at(f, buf, offset, what),
            Io::Map(m) if m.read(offset, buf) => Ok(()),
            Io::Map(_) => Err(Error::corrupt(what)),
        }
    }

    fn write_at(&mut self, data: &[u8], offset: u64) -> Result<()> {
        match self {
            Io::File(f) => Ok(f.write_all_at(data, offset)?),
            Io::Map(m) => {
                if m.write(offset, data) {
                    Ok(())
                } else {
                    Err(Error::Io(std::io::Error::new(
                        ErrorKind::PermissionDenied,
                        "write outside a writable mapping",
                    )))
                }
            }
        }
    }
}

/// Opens without access-time updates where the kernel allows it (the file's owner or root):
/// with `relatime`, the first read after every write would otherwise dirty the inode, and a
/// persister reads before each write. Falls back to a plain open (EPERM for other users' files).
fn open_noatime(path: &Path, write: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    match o.clone().custom_flags(libc::O_NOATIME).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => o.open(path),
        r => r,
    }
}

/// What identifies the file a handle was opened on: device, inode and length.
type Ident = (u64, u64, u64);

/// An open whisper file with its decoded header: the handle a writer keeps between updates.
#[derive(Debug)]
pub struct Whisper {
    io: Io,
    access: Access,
    ident: Ident,
    header: Header,
    path: PathBuf,
    bases: Bases,
    /// Buffers of the last update, kept so that a long-lived handle allocates nothing per call.
    scratch: Scratch,
}

fn encode_point(buf: &mut Vec<u8>, interval: i64, value: f64) -> Result<()> {
    let iv = u32::try_from(interval).map_err(|_| Error::TimestampOutOfRange(interval))?;
    buf.extend_from_slice(&iv.to_be_bytes());
    buf.extend_from_slice(&value.to_be_bytes());
    Ok(())
}

fn decode_point(b: &[u8]) -> (i64, f64) {
    // Callers pass whole points (chunks_exact or [u8; POINT_SIZE]), so the ranges hold.
    let mut iv = [0u8; 4];
    let mut v = [0u8; 8];
    iv.copy_from_slice(&b[..4]);
    v.copy_from_slice(&b[4..POINT_SIZE]);
    (i64::from(u32::from_be_bytes(iv)), f64::from_be_bytes(v))
}

/// Times beyond this distance from the epoch are refused, so no arithmetic on them can overflow.
const MAX_ABS_TIME: i64 = 1 << 48;

pub(crate) fn check_time(t: i64) -> Result<i64> {
    if !(-MAX_ABS_TIME..=MAX_ABS_TIME).contains(&t) {
        return Err(Error::TimestampOutOfRange(t));
    }
    Ok(t)
}

fn aligned(ts: i64, step: i64) -> i64 {
    ts - ts.rem_euclid(step)
}

impl Whisper {
    /// Opens a file for reading.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Access::Read)
    }

    /// Opens a file for reading and writing.
    pub fn open_rw(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Access::ReadWrite)
    }

    /// Opens and maps a file for reading and writing: the fastest warm handle, no descriptor
    /// kept (see the crate docs for what a mapping assumes).
    pub fn open_mapped(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Access::MappedReadWrite)
    }

    /// Opens and maps a file for reading only; no descriptor kept.
    pub fn open_mapped_read(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Access::MappedRead)
    }

    /// Opens a file with the given kind of access.
    pub fn open_with(path: impl AsRef<Path>, access: Access) -> Result<Self> {
        let path = path.as_ref();
        let write = matches!(access, Access::ReadWrite | Access::MappedReadWrite);
        let file = open_noatime(path, write)?;
        let md = file.metadata()?;
        let ident = (md.dev(), md.ino(), md.len());
        let io = match access {
            Access::Read | Access::ReadWrite => Io::File(file),
            Access::MappedRead | Access::MappedReadWrite => {
                if md.len() < METADATA_SIZE as u64 {
                    return Err(Error::corrupt("Unable to read header"));
                }
                Io::Map(Mapping::new(&file, md.len(), write)?)
            }
        };
        Self::load(io, access, ident, path)
    }

    /// Wraps an already open file, reading and checking its header.
    pub fn from_file(file: File, path: &Path) -> Result<Self> {
        let md = file.metadata()?;
        Self::load(
            Io::File(file),
            Access::ReadWrite,
            (md.dev(), md.ino(), md.len()),
            path,
        )
    }

    fn load(io: Io, access: Access, ident: Ident, path: &Path) -> Result<Self> {
        let len = ident.2;
        // One read for the metadata, the archive records and (in most files) the base of the
        // first archive, which follows the header directly.
        let mut head = vec![0u8; HEAD_READ.min(len as usize)];
        io.read_at(&mut head, 0, "Unable to read header")?;
        let (_, count) = Header::decode_metadata(&head)?;
        let header_len = Header::size_for(count as usize) as u64;
        if header_len > len {
            // Decoding reports which archive record is cut short, without reading it.
            Header::decode(&head, len)?;
        }
        if header_len as usize > head.len() {
            head = vec![0u8; header_len as usize];
            io.read_at(&mut head, 0, "Unable to read header")?;
        }
        let header = Header::decode(&head, len)?;
        let bases = header
            .archives
            .iter()
            .map(|a| {
                let at = a.offset as usize;
                head.get(at..at + 4)
                    .map(|b| i64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                    .filter(|&b| b != 0)
            })
            .collect();
        Ok(Whisper {
            io,
            access,
            ident,
            header,
            path: path.to_path_buf(),
            bases: Bases(bases),
            scratch: Scratch::default(),
        })
    }

    /// Re-reads the aggregation method and xFilesFactor, which `set-aggregation` and
    /// `set-xff` change in place; a handle kept open across calls otherwise keeps the old ones.
    /// (Mapped handles do this by themselves before every update.)
    pub fn reload_metadata(&mut self) -> Result<()> {
        let mut meta = [0u8; METADATA_SIZE];
        self.io.read_at(&mut meta, 0, "Unable to read header")?;
        let (fresh, count) = Header::decode_metadata(&meta)?;
        if count as usize != self.header.archives.len()
            || fresh.max_retention != self.header.max_retention
        {
            return Err(Error::HeaderChanged);
        }
        self.header.aggregation_method = fresh.aggregation_method;
        self.header.x_files_factor = fresh.x_files_factor;
        Ok(())
    }

    /// Makes a long-lived handle current: if the file at its path is no longer the one it
    /// opened (replaced by a rename, as whisper-resize does, removed, or resized), reopens it
    /// with the same access and returns true; otherwise re-reads the method and xFilesFactor
    /// (of files with lower archives, the only ones they matter to) and returns false. A
    /// descriptor handle asks its own inode (one `fstat`: a file replaced or removed has no
    /// links left), a mapping its path (one `stat`).
    pub fn revalidate(&mut self) -> Result<bool> {
        if self.still_current()? {
            self.refresh_metadata()?;
            return Ok(false);
        }
        *self = Self::open_with(&self.path, self.access)?;
        Ok(true)
    }

    /// Whether the file at the handle's path is still the one it opened (see [`Whisper::revalidate`]).
    fn still_current(&self) -> Result<bool> {
        Ok(match &self.io {
            Io::File(f) => {
                let md = f.metadata()?;
                md.nlink() > 0 && md.len() == self.ident.2
            }
            Io::Map(_) => {
                let md = std::fs::metadata(&self.path)?;
                (md.dev(), md.ino(), md.len()) == self.ident
            }
        })
    }

    /// Re-reads the method and xFilesFactor when this file has lower archives: they only steer
    /// propagation, so a single-archive file's writes never depend on them (and its header page,
    /// often cold, need not be touched).
    pub fn refresh_metadata(&mut self) -> Result<()> {
        if self.header.archives.len() > 1 {
            self.reload_metadata()?;
        }
        Ok(())
    }

    /// Turns a read-write descriptor handle into a shared mapping of the same file (the
    /// descriptor is closed); other handles are left as they are. On failure (e.g. the
    /// process's mapping limit) the handle keeps its descriptor.
    pub fn map_in_place(&mut self) -> Result<()> {
        let Io::File(f) = &self.io else {
            return Ok(());
        };
        if self.access != Access::ReadWrite {
            return Ok(());
        }
        let m = Mapping::new(f, self.ident.2, true)?;
        self.io = Io::Map(m);
        self.access = Access::MappedReadWrite;
        Ok(())
    }

    /// How this handle reaches the file.
    pub fn access(&self) -> Access {
        self.access
    }

    /// For mapped handles of files with lower archives, picks up a method or xFilesFactor
    /// changed in place by another process (a memory read, so it is done before every update,
    /// as python re-reads the header per call); an archive layout change is an error until
    /// [`Whisper::revalidate`].
    fn sync_metadata(&mut self) -> Result<()> {
        if matches!(self.io, Io::Map(_)) {
            self.refresh_metadata()?;
        }
        Ok(())
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying file, for callers that need to lock or sync it (None when mapped).
    pub fn file(&self) -> Option<&File> {
        match &self.io {
            Io::File(f) => Some(f),
            Io::Map(_) => None,
        }
    }

    /// Rewrites the 16-byte metadata block (method and xff), e.g. after changing them.
    pub(crate) fn write_metadata(&mut self, header: Header) -> Result<()> {
        self.io.write_at(&header.encode_metadata(), 0)?;
        self.header = header;
        Ok(())
    }

    /// The cached bases for one operation; hand them back with [`Whisper::keep_bases`].
    fn new_bases(&self) -> Bases {
        self.bases.clone()
    }

    /// Keeps the non-zero bases learnt during an operation for the next one.
    fn keep_bases(&mut self, mut bases: Bases) {
        for b in bases.0.iter_mut() {
            if *b == Some(0) {
                *b = None;
            }
        }
        self.bases = bases;
    }

    fn base(&self, bases: &mut Bases, idx: usize) -> Result<i64> {
        if let Some(Some(b)) = bases.0.get(idx) {
            return Ok(*b);
        }
        let a = self.archive(idx)?;
        let mut buf = [0u8; 4];
        self.io.read_at(
            &mut buf,
            u64::from(a.offset),
            "Unable to read base datapoint",
        )?;
        let b = i64::from(u32::from_be_bytes(buf));
        if let Some(slot) = bases.0.get_mut(idx) {
            *slot = Some(b);
        }
        Ok(b)
    }

    fn archive(&self, idx: usize) -> Result<ArchiveInfo> {
        self.header
            .archives
            .get(idx)
            .copied()
            .ok_or_else(|| Error::corrupt("no such archive"))
    }

    /// Reads `count` consecutive slots starting at `slot`, wrapping at the end of the archive.
    fn read_slots(&self, a: &ArchiveInfo, slot: u64, count: u64, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        buf.resize((count as usize) * POINT_SIZE, 0);
        let first = count.min(u64::from(a.points) - slot);
        let (head, tail) = buf.split_at_mut(first as usize * POINT_SIZE);
        self.io
            .read_at(head, a.slot_offset(slot), "Unable to read datapoints")?;
        // Python reads the remainder from the start of the archive in one go; only `points`
        // slots exist there, so a longer request reads at most the whole archive again.
        let mut rest = tail;
        while !rest.is_empty() {
            let n = rest.len().min(a.size() as usize);
            let (now, later) = rest.split_at_mut(n);
            self.io
                .read_at(now, u64::from(a.offset), "Unable to read datapoints")?;
            rest = later;
        }
        Ok(())
    }

    /// Stores one value, as whisper's `update()`: rejects future points and points at or past
    /// maxRetention, then propagates down until an archive's xFilesFactor is not met.
    pub fn update(&mut self, value: f64, timestamp: i64, now: i64) -> Result<()> {
        check_time(timestamp)?;
        check_time(now)?;
        self.sync_metadata()?;
        let diff = now - timestamp;
        if !(diff >= 0 && diff < i64::from(self.header.max_retention)) {
            return Err(Error::TimestampNotCovered);
        }
        let idx = self
            .header
            .archives
            .iter()
            .position(|a| a.retention() >= diff)
            .ok_or(Error::TimestampNotCovered)?;
        let a = self.archive(idx)?;
        let step = i64::from(a.seconds_per_point);
        let interval = aligned(timestamp, step);
        let mut buf = Vec::with_capacity(POINT_SIZE);
        encode_point(&mut buf, interval, value)?;
        let mut bases = self.new_bases();
        let base = self.base(&mut bases, idx)?;
        let slot = if base == 0 { 0 } else { a.slot(interval, base) };
        self.io.write_at(&buf, a.slot_offset(slot))?;
        if base == 0 {
            bases.0[idx] = Some(interval);
        }
        let mut scratch = Scratch::default();
        let mut higher = idx;
        let mut result = Ok(());
        for lower in idx + 1..self.header.archives.len() {
            match self.propagate(interval, higher, lower, &mut bases, &mut scratch) {
                Ok(true) => higher = lower,
                Ok(false) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.keep_bases(bases);
        result
    }

    /// Stores many points, as whisper's `update_many()`: newest first into the finest archive
    /// that covers them, silently dropping points older than every archive, then propagating
    /// each distinct lower interval once.
    pub fn update_many(&mut self, points: &[(i64, f64)], now: i64) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        check_time(now)?;
        for p in points {
            check_time(p.0)?;
        }
        self.sync_metadata()?;
        // whisper sorts newest-first (stable) and reverses each archive's share; that equals an
        // ascending order where equal timestamps keep the reverse of their given order.
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut order = std::mem::take(&mut scratch.points);
        order.clear();
        order.extend(points.iter().rev().copied());
        order.sort_by_key(|p| p.0);
        let mut bases = std::mem::take(&mut self.bases);
        let mut end = order.len();
        let mut idx = 0usize;
        while end > 0 {
            let Some(a) = self.header.archives.get(idx).copied() else {
                break; // older than every archive: dropped, as whisper does
            };
            let mut start = end;
            while start > 0 && now - order[start - 1].0 <= a.retention() {
                start -= 1;
            }
            if start < end {
                if let Err(e) =
                    self.archive_update_many(idx, &order[start..end], &mut bases, &mut scratch)
                {
                    self.keep_bases(Bases(vec![None; bases.0.len()]));
                    return Err(e);
                }
            }
            end = start;
            idx += 1;
        }
        self.keep_bases(bases);
        scratch.points = order;
        self.scratch = scratch;
        Ok(())
    }

    /// Writes chronologically ordered points into one archive and propagates them
    /// (whisper's `__archive_update_many`).
    pub(crate) fn archive_update_many_pub(
        &mut self,
        idx: usize,
        points: &[(i64, f64)],
    ) -> Result<()> {
        let mut bases = self.new_bases();
        let mut scratch = Scratch::default();
        let r = self.archive_update_many(idx, points, &mut bases, &mut scratch);
        self.keep_bases(if r.is_ok() {
            bases
        } else {
            Bases(vec![None; bases.0.len()])
        });
        r
    }

    fn archive_update_many(
        &mut self,
        idx: usize,
        points: &[(i64, f64)],
        bases: &mut Bases,
        s: &mut Scratch,
    ) -> Result<()> {
        let a = self.archive(idx)?;
        let step = i64::from(a.seconds_per_point);
        s.runs.clear();
        s.bytes.clear();
        let mut prev: Option<i64> = None;
        let mut run_start_byte = 0usize;
        for (i, &(ts, value)) in points.iter().enumerate() {
            let interval = aligned(ts, step);
            // Of several points in one slot only the last is written.
            if let Some(next) = points.get(i + 1) {
                if aligned(next.0, step) == interval {
                    continue;
                }
            }
            // whisper tests `not previousInterval`, so a run after interval 0 always continues.
            let continues = match prev {
                None => true,
                Some(p) => p == 0 || interval == p + step,
            };
            if !continues {
                if let Some(p) = prev {
                    s.runs.push(run(p, step, run_start_byte, s.bytes.len()));
                }
                run_start_byte = s.bytes.len();
            }
            encode_point(&mut s.bytes, interval, value)?;
            prev = Some(interval);
        }
        if let Some(p) = prev {
            s.runs.push(run(p, step, run_start_byte, s.bytes.len()));
        }
        let Some(first) = s.runs.first() else {
            return Ok(());
        };
        let stored_base = self.base(bases, idx)?;
        let base = if stored_base == 0 {
            first.0
        } else {
            stored_base
        };
        let size = a.size() as usize;
        for &(interval, from, to) in &s.runs {
            let slot = a.slot(interval, base);
            let data = &s.bytes[from..to];
            let room = size - slot as usize * POINT_SIZE;
            if data.len() > room {
                let (head, tail) = data.split_at(room);
                self.io.write_at(head, a.slot_offset(slot))?;
                // whisper writes the whole remainder from the archive start; a remainder longer
                // than the archive would spill into the next one, which we refuse to do.
                let tail = &tail[..tail.len().min(size)];
                self.io.write_at(tail, u64::from(a.offset))?;
            } else {
                self.io.write_at(data, a.slot_offset(slot))?;
            }
        }
        if stored_base == 0 {
            // Re-read slot 0 next time: whisper's run-start arithmetic can differ from what
            // was stored there when a run starts at interval 0.
            bases.0[idx] = None;
        }

        let mut higher = idx;
        for lower in idx + 1..self.header.archives.len() {
            let lstep = i64::from(self.archive(lower)?.seconds_per_point);
            s.lower.clear();
            s.lower
                .extend(points.iter().map(|p| aligned(aligned(p.0, step), lstep)));
            s.lower.dedup();
            let mut order = std::mem::take(&mut s.order);
            pyset::set_order(&s.lower, &mut s.table, &mut order);
            let any = if order.len() == 1 {
                self.propagate(order[0], higher, lower, bases, s)
            } else {
                self.propagate_batch(&order, higher, lower, bases, s)
            };
            s.order = order;
            if !any? {
                break;
            }
            higher = lower;
        }
        Ok(())
    }

    /// Propagates several lower intervals (in whisper's set order) with one read of the higher
    /// archive and one write per contiguous run of lower slots.
    ///
    /// Equivalent to calling [`Whisper::propagate`] for each interval in `order`: reads only
    /// touch the higher archive, which these writes do not change; the first successful write
    /// into an empty lower archive sets its base, and where two intervals share a slot the
    /// later one in `order` is what remains.
    fn propagate_batch(
        &mut self,
        order: &[i64],
        higher: usize,
        lower: usize,
        bases: &mut Bases,
        s: &mut Scratch,
    ) -> Result<bool> {
        let (h, l) = (self.archive(higher)?, self.archive(lower)?);
        let (hstep, lstep) = (
            i64::from(h.seconds_per_point),
            i64::from(l.seconds_per_point),
        );
        let n = i64::from(l.seconds_per_point / h.seconds_per_point);
        let hbase = self.base(bases, higher)?;
        let (Some(&lo), Some(&hi)) = (order.iter().min(), order.iter().max()) else {
            return Ok(false);
        };
        let span = (aligned(hi, lstep) - aligned(lo, lstep)) / hstep + n;
        if hbase == 0 || span > i64::from(h.points) {
            let mut any = false;
            for &interval in order {
                any |= self.propagate(interval, higher, lower, bases, s)?;
            }
            return Ok(any);
        }
        let first = aligned(lo, lstep);
        let mut buf = std::mem::take(&mut s.read);
        self.read_slots(&h, h.slot(first, hbase), span as u64, &mut buf)?;
        let xff = self.header.xff();
        let method = self.header.aggregation_method;
        s.writes.clear();
        let mut lbase = self.base(bases, lower)?;
        for &interval in order {
            let lower_start = aligned(interval, lstep);
            let at = ((lower_start - first) / hstep) as usize * POINT_SIZE;
            s.neighbors.clear();
            s.known.clear();
            for (i, chunk) in buf[at..at + n as usize * POINT_SIZE]
                .chunks_exact(POINT_SIZE)
                .enumerate()
            {
                let (iv, v) = decode_point(chunk);
                let value = (iv == lower_start + i as i64 * hstep).then_some(v);
                if let Some(v) = value {
                    s.known.push(v);
                }
                s.neighbors.push(value);
            }
            if s.known.is_empty() || (s.known.len() as f64 / s.neighbors.len() as f64) < xff {
                continue;
            }
            let Some(value) = method.aggregate(&s.known, &s.neighbors) else {
                continue;
            };
            let slot = if lbase == 0 {
                lbase = lower_start;
                bases.0[lower] = Some(lower_start);
                0
            } else {
                l.slot(lower_start, lbase)
            };
            s.writes.push((slot, lower_start, value));
        }
        s.read = buf;
        if s.writes.is_empty() {
            return Ok(false);
        }
        // Stable sort keeps set order among equal slots; the last of each slot is written.
        s.writes.sort_by_key(|w| w.0);
        let mut run = Vec::with_capacity(s.writes.len() * POINT_SIZE);
        let mut run_start = 0u64;
        let mut next_slot = None;
        for (i, &(slot, iv, v)) in s.writes.iter().enumerate() {
            if s.writes.get(i + 1).is_some_and(|w| w.0 == slot) {
                continue;
            }
            if next_slot != Some(slot) {
                if !run.is_empty() {
                    self.io.write_at(&run, l.slot_offset(run_start))?;
                    run.clear();
                }
                run_start = slot;
            }
            encode_point(&mut run, iv, v)?;
            next_slot = Some(slot + 1);
        }
        if !run.is_empty() {
            self.io.write_at(&run, l.slot_offset(run_start))?;
        }
        Ok(true)
    }

    /// Rolls the higher archive's points for one lower interval into the lower archive
    /// (whisper's `__propagate`); false when nothing was known or xFilesFactor was not met.
    fn propagate(
        &mut self,
        timestamp: i64,
        higher: usize,
        lower: usize,
        bases: &mut Bases,
        s: &mut Scratch,
    ) -> Result<bool> {
        let (h, l) = (self.archive(higher)?, self.archive(lower)?);
        let (hstep, lstep) = (
            i64::from(h.seconds_per_point),
            i64::from(l.seconds_per_point),
        );
        let lower_start = aligned(timestamp, lstep);
        let hbase = self.base(bases, higher)?;
        let first_slot = if hbase == 0 {
            0
        } else {
            h.slot(lower_start, hbase)
        };
        let n = u64::from(l.seconds_per_point / h.seconds_per_point);
        let mut buf = std::mem::take(&mut s.read);
        self.read_slots(&h, first_slot, n, &mut buf)?;
        s.neighbors.clear();
        s.known.clear();
        for (i, chunk) in buf.chunks_exact(POINT_SIZE).enumerate() {
            let (iv, v) = decode_point(chunk);
            let value = (iv == lower_start + i as i64 * hstep).then_some(v);
            if let Some(v) = value {
                s.known.push(v);
            }
            s.neighbors.push(value);
        }
        s.read = buf;
        if s.known.is_empty() {
            return Ok(false);
        }
        let known_fraction = s.known.len() as f64 / s.neighbors.len() as f64;
        if known_fraction < self.header.xff() {
            return Ok(false);
        }
        let Some(value) = self
            .header
            .aggregation_method
            .aggregate(&s.known, &s.neighbors)
        else {
            return Ok(false);
        };
        let mut point = Vec::with_capacity(POINT_SIZE);
        encode_point(&mut point, lower_start, value)?;
        let lbase = self.base(bases, lower)?;
        let slot = if lbase == 0 {
            0
        } else {
            l.slot(lower_start, lbase)
        };
        self.io.write_at(&point, l.slot_offset(slot))?;
        if lbase == 0 {
            bases.0[lower] = Some(lower_start);
        }
        Ok(true)
    }

    /// Reads a time range, as whisper's `fetch()`: clamps to retention and `now`, picks the
    /// finest archive covering `from`, and returns None when the range is wholly outside.
    pub fn fetch(&self, from: i64, until: i64, now: i64) -> Result<Option<Fetched>> {
        self.fetch_with(from, until, now, None)
    }

    /// Like [`Whisper::fetch`], but reading the archive of precision `granularity` seconds
    /// when given (fetch's `archiveToSelect`).
    pub fn fetch_with(
        &self,
        from: i64,
        until: i64,
        now: i64,
        granularity: Option<u32>,
    ) -> Result<Option<Fetched>> {
        let mut out = Fetched::default();
        Ok(self
            .fetch_into(from, until, now, granularity, &mut out)?
            .then_some(out))
    }

    /// [`Whisper::fetch_with`] into a caller's [`Fetched`], reusing its allocation; returns
    /// false (and leaves `out` unspecified) where `fetch` returns None.
    pub fn fetch_into(
        &self,
        from: i64,
        until: i64,
        now: i64,
        granularity: Option<u32>,
        out: &mut Fetched,
    ) -> Result<bool> {
        check_time(from)?;
        check_time(until)?;
        check_time(now)?;
        if from > until {
            return Err(Error::InvalidTimeInterval { from, until });
        }
        let oldest = now - i64::from(self.header.max_retention);
        if from > now || until < oldest {
            return Ok(false);
        }
        let from = from.max(oldest);
        let until = until.min(now);
        let diff = now - from;
        let idx = match granularity.filter(|&g| g != 0) {
            Some(g) => self
                .header
                .archives
                .iter()
                .position(|a| a.seconds_per_point == g)
                .ok_or(Error::InvalidGranularity(g))?,
            None => self
                .header
                .archives
                .iter()
                .position(|a| a.retention() >= diff)
                .unwrap_or(self.header.archives.len() - 1),
        };
        self.fetch_archive_into(idx, from, until, out)?;
        Ok(true)
    }

    /// Reads one archive between two times without any clamping (whisper's `__archive_fetch`).
    pub fn fetch_archive(&self, idx: usize, from: i64, until: i64) -> Result<Fetched> {
        let mut out = Fetched::default();
        self.fetch_archive_into(idx, from, until, &mut out)?;
        Ok(out)
    }

    /// [`Whisper::fetch_archive`] into a caller's [`Fetched`], reusing its allocation.
    pub fn fetch_archive_into(
        &self,
        idx: usize,
        from: i64,
        until: i64,
        out: &mut Fetched,
    ) -> Result<()> {
        check_time(from)?;
        check_time(until)?;
        let a = self.archive(idx)?;
        let step = i64::from(a.seconds_per_point);
        let from_i = aligned(from, step) + step;
        let mut until_i = aligned(until, step) + step;
        if from_i == until_i {
            until_i += step;
        }
        let wanted = (until_i - from_i).div_euclid(step);
        if wanted > MAX_FETCH_POINTS {
            return Err(Error::InvalidTimeInterval { from, until });
        }
        let base = self.stored_base(idx)?;
        out.from = from_i;
        out.until = until_i;
        out.step = step;
        out.values.clear();
        if base == 0 {
            out.values.resize(wanted.max(0) as usize, None);
            return Ok(());
        }
        let from_slot = a.slot(from_i, base);
        let until_slot = a.slot(until_i, base);
        // As in whisper, the count comes from the slot distance, not from the time range.
        let count = if from_slot < until_slot {
            until_slot - from_slot
        } else {
            u64::from(a.points) - from_slot + until_slot
        };
        out.values.reserve(count as usize);
        let mut expected = from_i;
        let values = &mut out.values;
        self.each_point(&a, from_slot, count, |p| {
            let (iv, v) = decode_point(&p);
            values.push((iv == expected).then_some(v));
            expected += step;
        })
    }

    /// The interval in an archive's slot 0: cached when known, else read.
    fn stored_base(&self, idx: usize) -> Result<i64> {
        if let Some(Some(b)) = self.bases.0.get(idx) {
            return Ok(*b);
        }
        let a = self.archive(idx)?;
        let mut buf = [0u8; 4];
        self.io.read_at(
            &mut buf,
            u64::from(a.offset),
            "Unable to read base datapoint",
        )?;
        Ok(i64::from(u32::from_be_bytes(buf)))
    }

    /// Calls `f` with `count` consecutive points from `slot`, wrapping at the archive's end
    /// like [`Whisper::read_slots`]; a mapped file is decoded in place, without a copy.
    fn each_point(
        &self,
        a: &ArchiveInfo,
        slot: u64,
        count: u64,
        mut f: impl FnMut([u8; POINT_SIZE]),
    ) -> Result<()> {
        let Io::Map(m) = &self.io else {
            let mut buf = Vec::new();
            self.read_slots(a, slot, count, &mut buf)?;
            for chunk in buf.chunks_exact(POINT_SIZE) {
                let mut p = [0u8; POINT_SIZE];
                p.copy_from_slice(chunk);
                f(p);
            }
            return Ok(());
        };
        let bad = || Error::corrupt("Unable to read datapoints");
        let first = count.min(u64::from(a.points).saturating_sub(slot));
        if !m.for_each_point(a.slot_offset(slot), first as usize, &mut f) {
            return Err(bad());
        }
        let mut rest = count - first;
        while rest > 0 {
            let n = rest.min(u64::from(a.points));
            if !m.for_each_point(u64::from(a.offset), n as usize, &mut f) {
                return Err(bad());
            }
            rest -= n;
        }
        Ok(())
    }

    /// Every slot of one archive as stored, `(interval, value)`, in slot order (for dump).
    pub fn raw_archive(&self, idx: usize) -> Result<Vec<(i64, f64)>> {
        let a = self.archive(idx)?;
        let mut buf = Vec::new();
        self.read_slots(&a, 0, u64::from(a.points), &mut buf)?;
        Ok(buf.chunks_exact(POINT_SIZE).map(decode_point).collect())
    }
}

/// One contiguous run: (first interval, byte range in the packed buffer).
fn run(last: i64, step: i64, from: usize, to: usize) -> (i64, usize, usize) {
    let n = ((to - from) / POINT_SIZE) as i64;
    (last - step * (n - 1), from, to)
}

/// Buffers reused across the points of one operation.
#[derive(Debug, Default)]
struct Scratch {
    /// The points of one update in write order.
    points: Vec<(i64, f64)>,
    runs: Vec<(i64, usize, usize)>,
    bytes: Vec<u8>,
    read: Vec<u8>,
    lower: Vec<i64>,
    order: Vec<i64>,
    table: Vec<Option<i64>>,
    neighbors: Vec<Option<f64>>,
    known: Vec<f64>,
    writes: Vec<(u64, i64, f64)>,
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64, what: &str) -> Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            Error::corrupt(what)
        } else {
            Error::Io(e)
        }
    })
}
