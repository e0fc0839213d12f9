//! Creating a new whisper file.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;

use crate::header::{ArchiveInfo, Header, POINT_SIZE};
use crate::{pyfloat, validate_archive_list, AggregationMethod, ArchiveSpec, Error, Result};

/// How the data area of a new file is allocated (all give identical bytes to readers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Leave the data area as a hole (whisper's `sparse=True`).
    pub sparse: bool,
    /// Reserve the blocks up front (whisper's `useFallocate=True`) with `fallocate(2)`, which
    /// reads back as zeros without writing them; where the file system cannot, zeros are written.
    pub fallocate: bool,
}

/// Checks an xFilesFactor the way whisper's header writer does.
pub fn check_xff(xff: f64) -> Result<f32> {
    // NaN passes whisper's own check and then makes the file unreadable; refuse it here.
    if !(0.0..=1.0).contains(&xff) {
        return Err(Error::InvalidXFilesFactor(format!(
            "Invalid xFilesFactor {}, not between 0 and 1",
            pyfloat::repr(xff)
        )));
    }
    Ok(xff as f32)
}

/// The header a file created with these parameters has (archives sorted and validated).
pub fn plan(archives: &[ArchiveSpec], xff: f64, method: AggregationMethod) -> Result<Header> {
    let mut list = archives.to_vec();
    validate_archive_list(&mut list)?;
    let x_files_factor = check_xff(xff)?;
    let too_big =
        || Error::InvalidConfiguration("archive list too large for a whisper file".into());
    let max_retention = list.iter().map(|a| a.retention()).max().unwrap_or(0);
    let max_retention = u32::try_from(max_retention).map_err(|_| too_big())?;
    let mut offset = Header::size_for(list.len()) as u64;
    let mut infos = Vec::with_capacity(list.len());
    for a in &list {
        let off = u32::try_from(offset).map_err(|_| too_big())?;
        infos.push(ArchiveInfo {
            offset: off,
            seconds_per_point: a.seconds_per_point,
            points: a.points,
        });
        offset += u64::from(a.points) * POINT_SIZE as u64;
    }
    Ok(Header {
        aggregation_method: method,
        max_retention,
        x_files_factor,
        archives: infos,
    })
}

/// Creates `path` as whisper's `create()` does; fails if the path exists.
pub fn create(
    path: impl AsRef<Path>,
    archives: &[ArchiveSpec],
    xff: f64,
    method: AggregationMethod,
    options: CreateOptions,
) -> Result<Header> {
    let path = path.as_ref();
    let header = plan(archives, xff, method)?;
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(Error::InvalidConfiguration(format!(
                "File {} already exists!",
                path.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let written = write_new(&mut file, &header, options);
    if let Err(e) = written {
        // A half-written file would be read later as corrupt; remove it like whisper does.
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(header)
}

/// Writes a new file's header and data area into `file` (empty, open for writing), as
/// [`create`] does; for callers that open the file themselves (e.g. unnamed `O_TMPFILE` files
/// linked into place once complete). Returns the header.
pub fn create_in(
    file: &mut std::fs::File,
    archives: &[ArchiveSpec],
    xff: f64,
    method: AggregationMethod,
    options: CreateOptions,
) -> Result<Header> {
    let header = plan(archives, xff, method)?;
    write_new(file, &header, options)?;
    Ok(header)
}

fn write_new(
    file: &mut std::fs::File,
    header: &Header,
    options: CreateOptions,
) -> std::io::Result<()> {
    let head = header.encode();
    file.write_all(&head)?;
    let total = header.file_size();
    if options.sparse && !options.fallocate {
        return file.set_len(total);
    }
    if options.fallocate && allocate(file, head.len() as u64, total).is_ok() {
        return Ok(());
    }
    let zeros = [0u8; 16384];
    let mut remaining = total - head.len() as u64;
    while remaining > 0 {
        let n = remaining.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        remaining -= n as u64;
    }
    Ok(())
}

/// Reserves `from..to` of `file` as zeroed blocks and extends the file to `to`.
fn allocate(file: &std::fs::File, from: u64, to: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let (Ok(off), Ok(len)) = (
        libc::off_t::try_from(from),
        libc::off_t::try_from(to.saturating_sub(from)),
    ) else {
        return Err(std::io::Error::from(ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate on a descriptor owned by `file` for the duration of the call.
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, off, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
