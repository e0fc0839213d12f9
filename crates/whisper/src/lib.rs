//! Graphite's whisper file format: create, read, write, and maintain `.wsp` files so that
//! every byte matches what python `whisper` 1.1.x writes for the same operations.
//!
//! All times are explicit: callers pass `now`, so results are deterministic and testable.
//! I/O is synchronous positioned reads and writes (`pread`/`pwrite`); an update opens nothing
//! twice, reads the header once, and writes each contiguous run of points with one call.
//!
//! Handles can be kept between calls (a persister's open-file pool): by descriptor
//! ([`Whisper::open_rw`]) or as a shared memory mapping ([`Whisper::open_mapped`]), where reads and
//! writes of points are memory copies and no system call is made per operation. A mapping
//! assumes the file is not truncated in place while it is mapped (an access past the new end
//! would raise SIGBUS); whisper's own tools never do that (whisper-resize writes a new file and
//! renames it), and [`Whisper::revalidate`] notices a replaced or resized file by one `stat`.
//! Map only files whose blocks are allocated: a store into a hole of a sparse file on a full
//! disk faults instead of returning ENOSPC.
//!
//! Where python whisper would damage a file or accept nonsense, this crate refuses instead
//! (everything else, including the order in which propagation visits intervals, is replicated):
//! - a write run longer than its archive, which whisper spills into the next archive, is cut
//!   at the archive's end;
//! - `create` rejects a NaN xFilesFactor and never leaves a half-made file behind;
//! - `open` rejects layouts whisper never writes (archives overlapping, past the end of the file,
//!   unsorted or not dividing each other, maxRetention not matching) as [`Error::Corrupt`];
//! - times beyond ±2^48 s, intervals outside `0..2^32`, and fetches of more than 2^26 points are
//!   errors, not overflows or huge allocations.
//!
//! ```
//! use whisper::{create, parse_retention_def, AggregationMethod, CreateOptions, Whisper};
//! let dir = std::env::temp_dir().join(format!("wsp-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("m.wsp");
//! let _ = std::fs::remove_file(&path);
//! let archives = [parse_retention_def("10s:6h").unwrap(), parse_retention_def("1m:7d").unwrap()];
//! create(&path, &archives, 0.5, AggregationMethod::Average, CreateOptions::default()).unwrap();
//! let now = 1_700_000_000;
//! let mut w = Whisper::open_rw(&path).unwrap();
//! w.update_many(&[(now - 20, 1.0), (now - 10, 2.0)], now).unwrap();
//! let f = w.fetch(now - 60, now, now).unwrap().unwrap();
//! assert_eq!(f.step, 10);
//! assert!(f.values.contains(&Some(2.0)));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod aggregation;
mod create;
mod error;
mod file;
mod header;
mod maintenance;
mod mapping;
pub mod pyfloat;
mod pyset;
mod retention;

pub use aggregation::{AggregationMethod, ALL_METHODS};
pub use create::{check_xff, create, create_in, plan, CreateOptions};
pub use error::{Error, Result};
pub use file::{Access, Fetched, Whisper};
pub use header::{ArchiveInfo, Header, ARCHIVE_INFO_SIZE, METADATA_SIZE, POINT_SIZE};
pub use maintenance::{
    diff, fill, merge, resize, set_aggregation, set_aggregation_method, set_x_files_factor,
    ArchiveDiff, ResizeOptions, ResizeReport,
};
pub use retention::{parse_precision, parse_retention_def, validate_archive_list, ArchiveSpec};
