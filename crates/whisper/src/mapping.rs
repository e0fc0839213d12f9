//! A shared memory mapping of a whole whisper file, so a warm handle reads and writes points
//! with plain memory copies instead of one system call each.
//!
//! `MAP_SHARED` pages are the page cache itself, so what is written here is what `pread` in
//! any other process sees at once, and the kernel writes it back like a `pwrite`.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::ptr::NonNull;

/// A mapping of bytes `0..len` of a file; unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; every access goes through
// bounds-checked copies, and `&mut self` for writes is enforced by the owning handle.
unsafe impl Send for Mapping {}
// SAFETY: reads through `&self` only copy bytes out; other processes may change the bytes at
// any time anyway, so nothing relies on them staying put between two reads.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `file` (which must be open for writing when `writable`).
    pub(crate) fn new(file: &File, len: u64, writable: bool) -> io::Result<Self> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "cannot map this length"))?;
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh mapping chosen by the kernel (no MAP_FIXED) aliases no Rust object;
        // the descriptor is valid for the duration of the call and may be closed afterwards.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping { ptr, len, writable })
    }

    /// The start of `off..off + n` if that range lies inside the mapping.
    fn range(&self, off: u64, n: usize) -> Option<*mut u8> {
        let off = usize::try_from(off).ok()?;
        let end = off.checked_add(n)?;
        // SAFETY: off <= end <= len, so the pointer stays inside the mapping.
        (end <= self.len).then(|| unsafe { self.ptr.as_ptr().add(off) })
    }

    /// Copies `buf.len()` bytes from offset `off`; false when the range is outside the mapping.
    pub(crate) fn read(&self, off: u64, buf: &mut [u8]) -> bool {
        let Some(src) = self.range(off, buf.len()) else {
            return false;
        };
        // SAFETY: `src..src+len` is inside the mapping (checked above) and cannot overlap `buf`,
        // which is ordinary Rust memory.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Copies `data` to offset `off`; false when the range is outside the mapping or the
    /// mapping is read-only (a store there would fault).
    pub(crate) fn write(&mut self, off: u64, data: &[u8]) -> bool {
        if !self.writable {
            return false;
        }
        let Some(dst) = self.range(off, data.len()) else {
            return false;
        };
        // SAFETY: `dst..dst+len` is inside a writable mapping (checked above) and cannot overlap
        // `data`, which is ordinary Rust memory.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        true
    }

    /// Calls `f` with each 12-byte point of `off..off + count * 12`, decoded in place without
    /// an intermediate buffer; false (and no call) when the range is outside the mapping.
    pub(crate) fn for_each_point(
        &self,
        off: u64,
        count: usize,
        mut f: impl FnMut([u8; crate::POINT_SIZE]),
    ) -> bool {
        let Some(bytes) = count.checked_mul(crate::POINT_SIZE) else {
            return false;
        };
        let Some(src) = self.range(off, bytes) else {
            return false;
        };
        for i in 0..count {
            // SAFETY: point i lies inside the range checked above; read_unaligned copies the
            // bytes out without forming a reference to memory another process may change.
            let p = unsafe {
                std::ptr::read_unaligned(
                    src.add(i * crate::POINT_SIZE)
                        .cast::<[u8; crate::POINT_SIZE]>(),
                )
            };
            f(p);
        }
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned, and nothing borrows the mapping any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
