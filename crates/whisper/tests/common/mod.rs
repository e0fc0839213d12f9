//! Helpers shared by the integration tests: locating the reference python.

use std::path::PathBuf;

/// The venv python with PyPI whisper 1.1.10 (CARBONADO_PYTHON, default <workspace>/.venv/bin/python).
pub fn python() -> PathBuf {
    let p = std::env::var_os("CARBONADO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    assert!(
        p.exists(),
        "reference python not found at {} (set CARBONADO_PYTHON)",
        p.display()
    );
    p
}
