//! Archive specifications: parsing `10s:6h` style definitions and whisper's validation rules.

use crate::{Error, Result};

/// One archive as requested at creation: its resolution and its number of slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchiveSpec {
    /// Seconds covered by one point.
    pub seconds_per_point: u32,
    /// Number of points (slots) in the ring.
    pub points: u32,
}

impl ArchiveSpec {
    /// Seconds of history the archive holds.
    pub fn retention(&self) -> u64 {
        u64::from(self.seconds_per_point) * u64::from(self.points)
    }
}

const UNITS: [(&str, u64); 6] = [
    ("seconds", 1),
    ("minutes", 60),
    ("hours", 3600),
    ("days", 86400),
    ("weeks", 86400 * 7),
    ("years", 86400 * 365),
];

/// Seconds per unit for a unit word, resolved like whisper: the first unit name it prefixes.
fn unit_multiplier(unit: &str) -> Result<u64> {
    UNITS
        .iter()
        .find(|(name, _)| name.starts_with(unit))
        .map(|&(_, m)| m)
        .ok_or_else(|| Error::InvalidRetention(format!("Invalid unit '{unit}'")))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `123abc` into (123, "abc"); None unless it is digits then lowercase letters.
fn number_and_unit(s: &str) -> Option<(u64, &str)> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() || unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    Some((digits.parse().ok()?, unit))
}

fn too_big(def: &str) -> Error {
    Error::InvalidRetention(format!(
        "Invalid retention definition '{def}': value out of range"
    ))
}

/// Parses one `precision:points` definition exactly as whisper's `parseRetentionDef` does.
///
/// Precision is seconds or `<n><unit>`; points is a count or a duration (`7d`) divided by the
/// precision with floor division.
pub fn parse_retention_def(def: &str) -> Result<ArchiveSpec> {
    let Some((precision, points)) = def.trim().split_once(':') else {
        return Err(Error::InvalidRetention(format!(
            "Invalid retention definition '{def}'"
        )));
    };
    let precision_secs: u64 = if all_digits(precision) {
        precision.parse().map_err(|_| too_big(def))?
    } else if let Some((n, unit)) = number_and_unit(precision) {
        n.checked_mul(unit_multiplier(unit)?)
            .ok_or_else(|| too_big(def))?
    } else {
        return Err(Error::InvalidRetention(format!(
            "Invalid precision specification '{precision}'"
        )));
    };
    let point_count: u64 = if all_digits(points) {
        points.parse().map_err(|_| too_big(def))?
    } else if let Some((n, unit)) = number_and_unit(points) {
        let duration = n
            .checked_mul(unit_multiplier(unit)?)
            .ok_or_else(|| too_big(def))?;
        if precision_secs == 0 {
            return Err(Error::InvalidRetention(format!(
                "Invalid retention definition '{def}': precision is zero"
            )));
        }
        duration / precision_secs
    } else {
        return Err(Error::InvalidRetention(format!(
            "Invalid retention specification '{points}'"
        )));
    };
    Ok(ArchiveSpec {
        seconds_per_point: u32::try_from(precision_secs).map_err(|_| too_big(def))?,
        points: u32::try_from(point_count).map_err(|_| too_big(def))?,
    })
}

/// Parses a precision alone (`60`, `1m`, `5min`), as fetch's archive selection does.
pub fn parse_precision(s: &str) -> Result<u32> {
    parse_retention_def(&format!("{s}:1")).map(|a| a.seconds_per_point)
}

/// Sorts `archives` by precision and applies whisper's `validateArchiveList` rules.
pub fn validate_archive_list(archives: &mut [ArchiveSpec]) -> Result<()> {
    if archives.is_empty() {
        return Err(Error::InvalidConfiguration(
            "You must specify at least one archive configuration!".into(),
        ));
    }
    archives.sort_by_key(|a| a.seconds_per_point);
    for (i, pair) in archives.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        let j = i + 1;
        if a.seconds_per_point >= b.seconds_per_point {
            return Err(Error::InvalidConfiguration(format!(
                "A Whisper database may not be configured having two archives with the same \
                 precision (archive{i}: ({}, {}), archive{j}: ({}, {}))",
                a.seconds_per_point, a.points, b.seconds_per_point, b.points
            )));
        }
        if a.seconds_per_point == 0 || b.seconds_per_point % a.seconds_per_point != 0 {
            return Err(Error::InvalidConfiguration(format!(
                "Higher precision archives' precision must evenly divide all lower precision \
                 archives' precision (archive{i}: {}, archive{j}: {})",
                a.seconds_per_point, b.seconds_per_point
            )));
        }
        if b.retention() <= a.retention() {
            return Err(Error::InvalidConfiguration(format!(
                "Lower precision archives must cover larger time intervals than higher precision \
                 archives (archive{i}: {} seconds, archive{j}: {} seconds)",
                a.retention(),
                b.retention()
            )));
        }
        let per_consolidation = b.seconds_per_point / a.seconds_per_point;
        if a.points < per_consolidation {
            return Err(Error::InvalidConfiguration(format!(
                "Each archive must have at least enough points to consolidate to the next archive \
                 (archive{j} consolidates {per_consolidation} of archive{i}'s points but it has \
                 only {} total points)",
                a.points
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_resolve_by_prefix() {
        let a = parse_retention_def("1min:1hour").unwrap();
        assert_eq!((a.seconds_per_point, a.points), (60, 60));
        assert!(parse_retention_def("1mon:1").is_err());
        assert!(parse_retention_def("0:1d").is_err());
        assert!(parse_retention_def("99999999999999999999:1").is_err());
        assert!(parse_retention_def("5000000000:1").is_err());
    }
}
