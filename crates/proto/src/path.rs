//! Metric name -> whisper file path relative to the data directory (carbon's
//! `TaggedSeries.encode(name, os.sep, hash_only) + '.wsp'`), made safe.
//!
//! carbon maps names to paths without checking them; we refuse any name whose path could leave
//! the data directory or is not portable, with a typed error:
//! * untagged: dots become directories. An empty node in the middle or at the end (`a..b`,
//!   `a.b.`) is refused, where carbon would write `a//b` (= `a/b`) or a file named `.wsp`.
//!   Leading dots are stripped as carbon does (`.a.b` -> `a/b.wsp`).
//! * tagged (contains `;`): `_tagged/<sha256[0:3]>/<sha256[3:6]>/<file>.wsp`, `<file>` being
//!   the full sha256 hex (carbon's default `TAG_HASH_FILENAMES = True`) or the name with `.`
//!   replaced by `_DOT_` (the older layout graphite-web still looks for).
//! * everywhere: no `/`, `\`, NUL or other control characters; no path component over 255
//!   bytes (the `.wsp` included); no path over 4096 bytes.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Longest file or directory name most filesystems accept.
pub const MAX_COMPONENT: usize = 255;
/// Longest relative path accepted (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Why a metric name has no safe path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The name is empty (or only dots).
    #[error("empty metric name")]
    Empty,
    /// Two consecutive dots, or a trailing dot, would make an empty directory name.
    #[error("metric name has an empty node")]
    EmptyNode,
    /// A `/` or `\` inside a node would create or escape directories.
    #[error("metric name contains a path separator")]
    Separator,
    /// NUL or another control character.
    #[error("metric name contains a control character")]
    ControlChar,
    /// A node (directory or file name) longer than 255 bytes.
    #[error("path component of {0} bytes exceeds {MAX_COMPONENT}")]
    ComponentTooLong(usize),
    /// The whole relative path is longer than 4096 bytes.
    #[error("path of {0} bytes exceeds {MAX_PATH}")]
    TooLong(usize),
}

/// The file for `normalized_name` relative to the data directory.
///
/// `hash_tagged` selects the hashed file name for tagged series (carbon's default);
/// otherwise the `_DOT_` form.
pub fn relative_path(normalized_name: &str, hash_tagged: bool) -> Result<PathBuf, PathError> {
    if normalized_name.chars().any(char::is_control) {
        return Err(PathError::ControlChar);
    }
    if normalized_name.contains(';') {
        return tagged_path(normalized_name, hash_tagged);
    }
    let trimmed = normalized_name.trim_start_matches('.');
    if trimmed.is_empty() {
        return Err(PathError::Empty);
    }
    let nodes: Vec<&str> = trimmed.split('.').collect();
    let mut path = PathBuf::new();
    let mut total = 0;
    let last = nodes.len() - 1;
    for (i, node) in nodes.iter().enumerate() {
        check_node(node)?;
        let len = node.len() + if i == last { 4 } else { 0 };
        if len > MAX_COMPONENT {
            return Err(PathError::ComponentTooLong(len));
        }
        total += len + usize::from(i > 0);
        if i == last {
            path.push(format!("{node}.wsp"));
        } else {
            path.push(node);
        }
    }
    if total > MAX_PATH {
        return Err(PathError::TooLong(total));
    }
    Ok(path)
}

fn check_node(node: &str) -> Result<(), PathError> {
    if node.is_empty() {
        return Err(PathError::EmptyNode);
    }
    if node.contains(['/', '\\']) {
        return Err(PathError::Separator);
    }
    Ok(())
}

fn tagged_path(name: &str, hash_tagged: bool) -> Result<PathBuf, PathError> {
    let hash: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = if hash_tagged {
        format!("{hash}.wsp")
    } else {
        if name.contains(['/', '\\']) {
            return Err(PathError::Separator);
        }
        format!("{}.wsp", name.replace('.', "_DOT_"))
    };
    if file.len() > MAX_COMPONENT {
        return Err(PathError::ComponentTooLong(file.len()));
    }
    let mut path = PathBuf::from("_tagged");
    path.push(&hash[0..3]);
    path.push(&hash[3..6]);
    path.push(file);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_paths() {
        assert_eq!(relative_path("a.b.c", true), Ok(PathBuf::from("a/b/c.wsp")));
        assert_eq!(relative_path(".a.b", true), Ok(PathBuf::from("a/b.wsp")));
        assert_eq!(relative_path("a..b", true), Err(PathError::EmptyNode));
        assert_eq!(relative_path("a.b.", true), Err(PathError::EmptyNode));
        assert_eq!(relative_path("...", true), Err(PathError::Empty));
        assert_eq!(relative_path("a/b", true), Err(PathError::Separator));
        assert_eq!(relative_path("a\0b", true), Err(PathError::ControlChar));
        assert_eq!(
            relative_path(&"x".repeat(252), true),
            Err(PathError::ComponentTooLong(256))
        );
        assert!(relative_path(&"x".repeat(251), true).is_ok());
        let long = vec!["y".repeat(200); 21].join(".");
        assert!(matches!(
            relative_path(&long, true),
            Err(PathError::TooLong(_))
        ));
    }

    #[test]
    fn tagged_paths() {
        assert_eq!(
            relative_path("a.b;c=d", true),
            Ok(PathBuf::from(
                "_tagged/911/ebd/911ebda279f6bce48921620de7b850582cd77b0a2d01fa7ca3e551b50f37a57c.wsp"
            ))
        );
        assert_eq!(
            relative_path("a.b;c=d", false),
            Ok(PathBuf::from("_tagged/911/ebd/a_DOT_b;c=d.wsp"))
        );
        assert_eq!(
            relative_path("a;c=../../x", false),
            Err(PathError::Separator)
        );
        assert!(relative_path("a;c=../../x", true).is_ok());
    }
}
