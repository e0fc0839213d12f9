//! Opens arbitrary bytes as a whisper file, reads its header and fetches: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile_in_shm() else {
        return;
    };
    if file.1.write_all(data).is_err() {
        return;
    }
    if let Ok(w) = whisper::Whisper::open(&file.0) {
        let h = w.header().clone();
        let now = 1_700_000_000i64;
        let _ = w.fetch(now - i64::from(h.max_retention), now, now);
        let _ = w.fetch(now - 60, now, now);
        for (i, a) in h.archives.iter().enumerate() {
            let _ = w.fetch_with(now - a.retention(), now, now, Some(a.seconds_per_point));
            let _ = w.fetch_archive(i, now - 3600, now);
        }
    }
    let _ = std::fs::remove_file(&file.0);
    file.1.flush().ok();
});

fn tempfile_in_shm() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm".into()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("whisper-fuzz-{}.wsp", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
