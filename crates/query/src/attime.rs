//! Time specs as graphite-web's `parseATTime` reads them (`-1h`, `22:00_20231114`, `noon yesterday`, ...).

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::error::{QueryError, Result};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn terr<T>(spec: &str, reason: impl Into<String>) -> Result<T> {
    Err(QueryError::Time {
        spec: spec.to_string(),
        reason: reason.into(),
    })
}

/// Looks up an IANA zone name (`UTC`, `Europe/Berlin`).
pub fn parse_tz(name: &str) -> Result<Tz> {
    name.parse::<Tz>()
        .map_err(|_| QueryError::TimeZone(name.to_string()))
}

/// The request's zone as graphite-web picks it: the `tz` parameter when it names a known zone,
/// otherwise the default (graphite silently ignores unknown names).
pub fn tz_or(name: Option<&str>, default: Tz) -> Tz {
    name.and_then(|n| n.parse::<Tz>().ok()).unwrap_or(default)
}

/// Parses a time spec relative to `now` (epoch seconds) in zone `tz`; returns epoch seconds.
pub fn parse_at_time(spec: &str, tz: Tz, now: i64) -> Result<i64> {
    let s: String = spec
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '_' | ',' | ' '))
        .collect();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        let looks_like_date = s.len() == 8
            && s[..4].parse::<u32>().is_ok_and(|y| y > 1900)
            && s[4..6].parse::<u32>().is_ok_and(|m| m < 13)
            && s[6..].parse::<u32>().is_ok_and(|d| d < 32);
        if !looks_like_date {
            return s
                .parse::<i64>()
                .or_else(|_| terr(spec, "timestamp out of range"));
        }
    }
    let (reference, offset) = if let Some(i) = s.find('+') {
        (&s[..i], &s[i..])
    } else if let Some(i) = s.find('-') {
        (&s[..i], &s[i..])
    } else {
        (s.as_str(), "")
    };
    let base = parse_time_reference(spec, reference, tz, now)?;
    let off = parse_time_offset(offset).map_err(|e| match e {
        QueryError::Time { reason, .. } => QueryError::Time {
            spec: spec.to_string(),
            reason,
        },
        other => other,
    })?;
    base.checked_add(off)
        .map_or_else(|| terr(spec, "time out of range"), Ok)
}

/// Parses an offset such as `-1h30min`, `+2d`, `5min` into signed seconds.
pub fn parse_time_offset(offset: &str) -> Result<i64> {
    if offset.is_empty() {
        return Ok(0);
    }
    let bytes = offset.as_bytes();
    let (sign, mut rest) = match bytes.first() {
        Some(b) if b.is_ascii_digit() => (1i64, offset),
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => return terr(offset, format!("Invalid offset: {offset}")),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let ndig = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if ndig == 0 {
            return terr(offset, "invalid literal for int()");
        }
        let num: i64 = rest[..ndig]
            .parse()
            .or_else(|_| terr(offset, "offset out of range"))?;
        rest = &rest[ndig..];
        let nalpha = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..nalpha];
        rest = &rest[nalpha..];
        let secs = unit_seconds(unit).ok_or_else(|| QueryError::Time {
            spec: offset.to_string(),
            reason: format!("Invalid offset unit '{unit}'"),
        })?;
        total = num
            .checked_mul(secs)
            .and_then(|v| v.checked_mul(sign))
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| QueryError::Time {
                spec: offset.to_string(),
                reason: "offset out of range".into(),
            })?;
    }
    Ok(total)
}

/// Seconds per unit, chosen by prefix exactly like graphite's getUnitString (months 30 d, years 365 d).
pub fn unit_seconds(unit: &str) -> Option<i64> {
    if unit.starts_with('s') {
        Some(1)
    } else if unit.starts_with("min") {
        Some(60)
    } else if unit.starts_with('h') {
        Some(3600)
    } else if unit.starts_with('d') {
        Some(86400)
    } else if unit.starts_with('w') {
        Some(7 * 86400)
    } else if unit.starts_with("mon") {
        Some(30 * 86400)
    } else if unit.starts_with('y') {
        Some(365 * 86400)
    } else {
        None
    }
}

fn py_int(spec: &str, s: &str) -> Result<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return terr(spec, format!("invalid literal for int(): {s:?}"));
    }
    s.parse().or_else(|_| terr(spec, "number out of range"))
}

fn parse_time_reference(spec: &str, reference: &str, tz: Tz, now: i64) -> Result<i64> {
    if reference.is_empty() || reference == "now" {
        return Ok(now);
    }
    let now_local = match tz.timestamp_opt(now, 0) {
        LocalResult::Single(d) => d.naive_local(),
        _ => return terr(spec, "now out of range"),
    };
    let mut r = reference;
    let (mut hour, mut minute) = (0i64, 0i64);
    if let Some(i) = r.find(':') {
        if 0 < i && i < 3 {
            hour = py_int(spec, &r[..i])?;
            let mend = (i + 3).min(r.len());
            minute = py_int(spec, r.get(i + 1..mend).unwrap_or(""))?;
            r = r.get(mend..).unwrap_or("");
            if r.starts_with("am") {
                r = &r[2..];
            } else if r.starts_with("pm") {
                hour = (hour + 12) % 24;
                r = &r[2..];
            }
        }
    }
    if let Some(i) = r.find("am") {
        if 0 < i && i < 3 {
            hour = py_int(spec, &r[..i])?;
            r = &r[i + 2..];
        }
    }
    if let Some(i) = r.find("pm") {
        if 0 < i && i < 3 {
            hour = (py_int(spec, &r[..i])? + 12) % 24;
            r = &r[i + 2..];
        }
    }
    if let Some(rest) = r.strip_prefix("noon") {
        (hour, minute) = (12, 0);
        r = rest;
    } else if let Some(rest) = r.strip_prefix("midnight") {
        (hour, minute) = (0, 0);
        r = rest;
    } else if let Some(rest) = r.strip_prefix("teatime") {
        (hour, minute) = (16, 0);
        r = rest;
    }
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) {
        return terr(spec, "hour must be in 0..23 and minute in 0..59");
    }
    let (h, m) = (hour as u32, minute as u32);
    let mut ref_date = now_local
        .date()
        .and_hms_opt(h, m, 0)
        .ok_or_else(|| QueryError::Time {
            spec: spec.into(),
            reason: "bad time".into(),
        })?;
    let date = |y: i64, mo: i64, d: i64| -> Result<NaiveDateTime> {
        i32::try_from(y)
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .and_then(|y| {
                NaiveDate::from_ymd_opt(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?)
            })
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .ok_or_else(|| QueryError::Time {
                spec: spec.into(),
                reason: "day is out of range".into(),
            })
    };
    if r == "yesterday" {
        ref_date -= Duration::days(1);
    } else if r == "tomorrow" {
        ref_date += Duration::days(1);
    } else if r == "today" {
    } else if r.matches('/').count() == 2 {
        let parts: Vec<&str> = r.split('/').collect();
        let mo = py_int(spec, parts[0])?;
        let d = py_int(spec, parts[1])?;
        let mut y = py_int(spec, parts[2])?;
        if y < 1900 {
            y += 1900;
        }
        if y < 1970 {
            y += 100;
        }
        ref_date = date(y, mo, d)?;
    } else if r.len() == 8 && r.bytes().all(|b| b.is_ascii_digit()) {
        ref_date = date(
            py_int(spec, &r[..4])?,
            py_int(spec, &r[4..6])?,
            py_int(spec, &r[6..8])?,
        )?;
    } else if let Some(mi) = r.get(..3).and_then(|p| MONTHS.iter().position(|m| *m == p)) {
        let b = r.as_bytes();
        let n = b.len();
        let d = if n >= 2 && b[n - 2].is_ascii_digit() && b[n - 1].is_ascii_digit() {
            py_int(spec, &r[n - 2..])?
        } else if n >= 1 && b[n - 1].is_ascii_digit() {
            py_int(spec, &r[n - 1..])?
        } else {
            return terr(spec, "Day of month required after month name");
        };
        ref_date = date(ref_date.year() as i64, mi as i64 + 1, d)?;
    } else if let Some(wi) = r
        .get(..3)
        .and_then(|p| WEEKDAYS.iter().position(|w| *w == p))
    {
        let today = ref_date.weekday().num_days_from_sunday() as i64;
        let mut off = today - wi as i64;
        if off < 0 {
            off += 7;
        }
        ref_date -= Duration::days(off);
    } else if !r.is_empty() {
        return terr(spec, format!("Unknown day reference: {reference}"));
    }
    localize(spec, tz, ref_date)
}

/// pytz `localize(is_dst=False)`: ambiguous wall times take standard time, skipped ones the
/// offset in force before the gap.
fn localize(spec: &str, tz: Tz, naive: NaiveDateTime) -> Result<i64> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(d) => Ok(d.timestamp()),
        LocalResult::Ambiguous(_, later) => Ok(later.timestamp()),
        LocalResult::None => {
            let probe = naive - Duration::days(1);
            let off = match tz.from_local_datetime(&probe) {
                LocalResult::Single(d) | LocalResult::Ambiguous(_, d) => d
                    .naive_local()
                    .signed_duration_since(d.naive_utc())
                    .num_seconds(),
                LocalResult::None => return terr(spec, "nonexistent local time"),
            };
            Ok(naive.and_utc().timestamp() - off)
        }
    }
}

/// The render request's resolved time range (graphite-web views' from/until rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, epoch seconds.
    pub from: i64,
    /// End, epoch seconds.
    pub until: i64,
    /// The request's `now`, epoch seconds.
    pub now: i64,
}

impl TimeRange {
    /// Resolves `from` (default `-1d`) and `until` (default `now`); swaps them when reversed and
    /// rejects an empty range.
    pub fn resolve(from: Option<&str>, until: Option<&str>, now: i64, tz: Tz) -> Result<TimeRange> {
        let mut f = match from {
            Some(s) => parse_at_time(s, tz, now)?,
            None => now - 86400,
        };
        let mut u = match until {
            Some(s) => parse_at_time(s, tz, now)?,
            None => now,
        };
        if f > u {
            std::mem::swap(&mut f, &mut u);
        }
        if f == u {
            return Err(QueryError::EmptyTimeRange);
        }
        Ok(TimeRange {
            from: f,
            until: u,
            now,
        })
    }
}

/// Local wall-clock parts (year, month, day, hour, minute, second) of an epoch in `tz`.
pub fn local_parts(ts: i64, tz: Tz) -> Option<(i32, u32, u32, u32, u32, u32)> {
    match tz.timestamp_opt(ts, 0) {
        LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => Some((
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
        )),
        LocalResult::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_specs() {
        let utc = parse_tz("UTC").unwrap();
        let now = 1_700_003_600;
        assert_eq!(parse_at_time("-1h", utc, now).unwrap(), now - 3600);
        assert_eq!(parse_at_time("now", utc, now).unwrap(), now);
        assert_eq!(
            parse_at_time("22:00_20231114", utc, now).unwrap(),
            1_699_999_200
        );
        assert!(parse_at_time("-5m", utc, now).is_err());
        assert!(parse_at_time("now-1h+30min", utc, now).is_err());
    }

    #[test]
    fn unknown_zone_is_typed() {
        assert!(matches!(
            parse_tz("Mars/Olympus"),
            Err(QueryError::TimeZone(_))
        ));
    }
}
