//! carbon's own retention parser (`carbon.util.parseRetentionDef`), stricter than whisper's: units are
//! exactly one of `s m h d w y`, and the definition must have exactly one `:`.

use whisper::ArchiveSpec;

/// Seconds per carbon unit letter.
fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 86400 * 7,
        "y" => 86400 * 365,
        _ => return None,
    })
}

/// Splits `^(\d+)([a-z]+)$`; `None` when the text has another shape.
fn number_and_unit(s: &str) -> Option<(&str, &str)> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() || unit.is_empty() || !unit.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    Some((num, unit))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Parses one `precision:duration` definition as carbon does. Errors carry carbon's message.
pub fn parse_retention_def(def: &str) -> Result<ArchiveSpec, String> {
    let parts: Vec<&str> = crate::ini::py_strip(def).split(':').collect();
    let (precision, points) = match parts.as_slice() {
        [p, q] => (*p, *q),
        [_] => return Err("not enough values to unpack (expected 2, got 1)".into()),
        _ => return Err("too many values to unpack (expected 2)".into()),
    };
    let too_big = |what: &str| format!("{what} in '{def}' does not fit a whisper header");
    let precision: u64 = if is_digits(precision) {
        precision.parse().map_err(|_| too_big("precision"))?
    } else {
        let (num, unit) = number_and_unit(precision)
            .ok_or_else(|| format!("Invalid precision specification '{precision}'"))?;
        let mult = unit_seconds(unit).ok_or_else(|| format!("Invalid unit '{unit}'"))?;
        let n: u64 = num.parse().map_err(|_| too_big("precision"))?;
        n.checked_mul(mult).ok_or_else(|| too_big("precision"))?
    };
    let points: u64 = if is_digits(points) {
        points.parse().map_err(|_| too_big("points"))?
    } else {
        let (num, unit) = number_and_unit(points)
            .ok_or_else(|| format!("Invalid retention specification '{points}'"))?;
        let mult = unit_seconds(unit).ok_or_else(|| format!("Invalid unit '{unit}'"))?;
        let n: u64 = num.parse().map_err(|_| too_big("duration"))?;
        let seconds = n
            .checked_mul(mult)
            .filter(|s| *s < (1 << 53))
            .ok_or_else(|| too_big("duration"))?;
        if precision == 0 {
            return Err("division by zero".into());
        }
        // Python divides as floats and `int()` truncates; both operands are exact below 2^53.
        (seconds as f64 / precision as f64).trunc() as u64
    };
    let seconds_per_point = u32::try_from(precision).map_err(|_| too_big("precision"))?;
    let points = u32::try_from(points).map_err(|_| too_big("points"))?;
    Ok(ArchiveSpec {
        seconds_per_point,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (u32, u32) {
        let a = parse_retention_def(s).unwrap();
        (a.seconds_per_point, a.points)
    }

    #[test]
    fn carbon_rules() {
        assert_eq!(ok("60:1440"), (60, 1440));
        assert_eq!(ok(" 1m:1d "), (60, 1440));
        assert_eq!(ok("7:1d"), (7, 12342));
        assert_eq!(ok("1m:90s"), (60, 1));
        assert_eq!(ok("1y:1y"), (31_536_000, 1));
        assert_eq!(
            parse_retention_def("1min:1d").unwrap_err(),
            "Invalid unit 'min'"
        );
        assert_eq!(
            parse_retention_def("10sec:1h").unwrap_err(),
            "Invalid unit 'sec'"
        );
        assert_eq!(
            parse_retention_def("1:2:3").unwrap_err(),
            "too many values to unpack (expected 2)"
        );
        assert_eq!(
            parse_retention_def("60").unwrap_err(),
            "not enough values to unpack (expected 2, got 1)"
        );
        assert_eq!(
            parse_retention_def("60 :1d").unwrap_err(),
            "Invalid precision specification '60 '"
        );
        assert_eq!(
            parse_retention_def("1M:1d").unwrap_err(),
            "Invalid precision specification '1M'"
        );
        assert_eq!(
            parse_retention_def("60:d").unwrap_err(),
            "Invalid retention specification 'd'"
        );
        assert_eq!(parse_retention_def("0:1d").unwrap_err(), "division by zero");
        assert!(parse_retention_def("99999999999:1").is_err());
        assert!(parse_retention_def("1:99999999999999999999999").is_err());
    }
}
