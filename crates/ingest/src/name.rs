//! Metric-name checks applied before a point enters any sink.

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty name or an empty node (`a..b`, leading or trailing dot).
    #[error("empty metric name or node")]
    Empty,
    /// A character that could escape or corrupt the data directory (`/`, `\`, NUL, control characters).
    #[error("forbidden character in metric name")]
    Forbidden,
    /// Longer than a file system path allows.
    #[error("metric name too long")]
    TooLong,
    /// No safe whisper path (proto's `relative_path` refused it).
    #[error("metric name has no safe path: {0}")]
    Path(#[from] proto::PathError),
}

/// Longest name accepted: keeps every path under PATH_MAX with room for the data directory.
pub const MAX_NAME_LEN: usize = 2048;

/// Checks that `name` (already tag-normalised) maps to a file strictly inside the data directory.
///
/// Stricter than carbon, which writes `a..b` as `a/b` and strips leading dots: every node must be
/// non-empty, so one file has one name.
///
/// Tagged names (`name;k=v`) are stored under a hash, so only their name part is path-like; it is checked
/// the same way so that what a tagged and an untagged name may contain stays one rule.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let path_part = name.split(';').next().unwrap_or("");
    if name.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(NameError::Forbidden);
    }
    if path_part.contains(['/', '\\']) {
        return Err(NameError::Forbidden);
    }
    for node in path_part.split('.') {
        if node.is_empty() {
            return Err(NameError::Empty);
        }
        // `..` cannot survive the split on '.', and separators are excluded above: no node can climb.
        // 255 bytes per file name, `.wsp` included.
        if node.len() + 4 > 255 {
            return Err(NameError::TooLong);
        }
    }
    // Untagged names are fully checked above (same rules as proto's relative_path, which allocates a
    // path: too slow per point); tagged names have more rules, so ask proto.
    if name.contains(';') {
        proto::relative_path(name, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.",
            "a/b",
            "../etc/passwd",
            "a\0b",
            "a\\b",
            "a\nb",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(check_name(&"a".repeat(300)), Err(NameError::TooLong));
    }

    #[test]
    fn ordinary_names_pass() {
        for good in [
            "a",
            "a.b.c",
            "servers.web-01.cpu_user",
            "m;tag=v",
            "ünï.cödé",
            "a~b.c:d",
            "m;a=1;b=x/y",
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }
}
