//! Metric names can never address a file outside the data directory: a hostile corpus through
//! tag normalisation and `relative_path`, checked against a real temporary directory.

use std::path::{Component, Path};

use proto::path::{relative_path, PathError};
use proto::tags::normalize_name;

const HOSTILE: &[&str] = &[
    "..",
    "../etc/passwd",
    "a/../../etc/passwd",
    "a.b/../../c",
    "/etc/passwd",
    "\\windows\\system32",
    "a\\..\\b",
    "a..b",
    "a...b",
    ".",
    "...",
    ".hidden",
    "a.",
    "a.b.",
    "a\0b",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\u{7f}b",
    "a\u{85}b",
    "~",
    "~~",
    "~/x",
    "~..",
    "a;b=../../x",
    "a;b=..\\x",
    "a;b=c/d",
    "x;y=\0",
    "{x=\"../..\"}",
    "a{b=\"../../c\"}",
    "_tagged.../x",
    "a.%2e%2e.b",
    "a.\u{2024}\u{2024}.b",
    "a.\u{ff0e}\u{ff0e}.b",
    "C:.windows",
    "a.:b",
    "",
    " ",
    "a. .b",
];

fn assert_inside(root: &Path, name: &str, hash: bool) -> Result<(), PathError> {
    let normalized = normalize_name(name);
    let rel = relative_path(&normalized, hash)?;
    assert!(rel.is_relative(), "{name:?} -> {rel:?} is absolute");
    for c in rel.components() {
        assert!(
            matches!(c, Component::Normal(_)),
            "{name:?} -> {rel:?} has {c:?}"
        );
    }
    let full = root.join(&rel);
    assert!(full.starts_with(root), "{name:?} escapes: {full:?}");
    // Creating it really lands inside the directory.
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).expect("create dirs");
    }
    std::fs::write(&full, b"x").expect("write file");
    let canon = full.canonicalize().expect("canonicalize");
    assert!(
        canon.starts_with(root.canonicalize().expect("root")),
        "{name:?} resolved to {canon:?}"
    );
    Ok(())
}

#[test]
fn hostile_names_stay_inside() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let mut refused = 0;
    for name in HOSTILE {
        for hash in [true, false] {
            if assert_inside(&dir, name, hash).is_err() {
                refused += 1;
            }
        }
    }
    // The clearly dangerous ones are refused, not just contained.
    for name in [
        "../etc/passwd",
        "a/../../etc/passwd",
        "/etc/passwd",
        "a\\..\\b",
        "a..b",
        "a\0b",
        "a.b.",
    ] {
        assert!(
            relative_path(&normalize_name(name), true).is_err(),
            "{name:?} accepted"
        );
    }
    assert!(relative_path("a;b=../../x", false).is_err());
    assert!(refused >= 20, "{refused}");
    let long = "n".repeat(300);
    assert_eq!(
        relative_path(&long, true),
        Err(PathError::ComponentTooLong(304))
    );
    let deep = vec!["d"; 3000].join(".");
    assert!(matches!(
        relative_path(&deep, true),
        Err(PathError::TooLong(_))
    ));
}
