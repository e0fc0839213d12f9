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
    let bytes = name.as_bytes();
    if name.is_ascii() && !bytes.contains(&b';') {
        // The common case (checked per point), in two plain passes over the bytes; the same rules
        // as below, in the same order.
        if bytes
            .iter()
            .any(|&c| c < 0x20 || c == 0x7f || c == b'/' || c == b'\\')
        {
            return Err(NameError::Forbidden);
        }
        let mut node = 0usize;
        for &c in bytes {
            if c == b'.' {
                if node == 0 {
                    return Err(NameError::Empty);
                }
                node = 0;
            } else {
                node += 1;
                if node + 4 > 255 {
                    return Err(NameError::TooLong);
                }
            }
        }
        return if node == 0 {
            Err(NameError::Empty)
        } else {
            Ok(())
        };
    }
    check_name_general(name)
}

/// [`check_name`] for any name (tagged, non-ASCII).
fn check_name_general(name: &str) -> Result<(), NameError> {
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
    fn the_ascii_fast_path_agrees_with_the_general_rules() {
        // Names over an alphabet rich in what the rules care about, from a fixed-seed LCG.
        let alphabet = b"ab.._/\\\x00\x1f\x7f Z9-";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (x >> 58) as usize;
            let mut name = String::new();
            for i in 0..len {
                let r = (x >> (i % 50)) as usize ^ i.wrapping_mul(31);
                name.push(alphabet[r % alphabet.len()] as char);
            }
            assert_eq!(check_name(&name), check_name_general(&name), "{name:?}");
        }
        let long_node = "a".repeat(252);
        for name in [long_node.clone(), format!("x.{long_node}"), "a".repeat(251)] {
            assert_eq!(check_name(&name), check_name_general(&name), "{name:?}");
        }
    }

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
