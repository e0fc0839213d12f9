//! X-axis grid and label spacing by seconds-per-pixel (glyph.py's rrdtool-style table), and
//! the label times, computed in the time zone's offset at the graph's start as pytz does.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

const SEC: f64 = 1.0;
const MIN: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86400.0;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XConf {
    /// Chosen when at least this many seconds fall on one pixel.
    pub seconds: f64,
    /// Minor grid unit and step.
    pub minor: (f64, f64),
    /// Major grid unit and step.
    pub major: (f64, f64),
    /// Label unit and step.
    pub label: (f64, f64),
    /// strftime format of labels.
    pub format: &'static str,
    /// Largest time range this row suits.
    pub max_interval: Option<f64>,
}

const fn c(
    seconds: f64,
    minor: (f64, f64),
    major: (f64, f64),
    label: (f64, f64),
    format: &'static str,
    max_interval: Option<f64>,
) -> XConf {
    XConf {
        seconds,
        minor,
        major,
        label,
        format,
        max_interval,
    }
}

/// graphite-web's `xAxisConfigs` with DATE_FORMAT `%m/%d`.
pub const CONFIGS: [XConf; 23] = [
    c(
        0.0,
        (SEC, 5.0),
        (MIN, 1.0),
        (SEC, 5.0),
        "%H:%M:%S",
        Some(10.0 * MIN),
    ),
    c(
        0.07,
        (SEC, 10.0),
        (MIN, 1.0),
        (SEC, 10.0),
        "%H:%M:%S",
        Some(20.0 * MIN),
    ),
    c(
        0.14,
        (SEC, 15.0),
        (MIN, 1.0),
        (SEC, 15.0),
        "%H:%M:%S",
        Some(30.0 * MIN),
    ),
    c(
        0.27,
        (SEC, 30.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2.0 * HOUR),
    ),
    c(
        0.5,
        (MIN, 1.0),
        (MIN, 2.0),
        (MIN, 1.0),
        "%H:%M",
        Some(2.0 * HOUR),
    ),
    c(
        1.2,
        (MIN, 1.0),
        (MIN, 4.0),
        (MIN, 2.0),
        "%H:%M",
        Some(3.0 * HOUR),
    ),
    c(
        2.0,
        (MIN, 1.0),
        (MIN, 10.0),
        (MIN, 5.0),
        "%H:%M",
        Some(6.0 * HOUR),
    ),
    c(
        5.0,
        (MIN, 2.0),
        (MIN, 10.0),
        (MIN, 10.0),
        "%H:%M",
        Some(12.0 * HOUR),
    ),
    c(
        10.0,
        (MIN, 5.0),
        (MIN, 20.0),
        (MIN, 20.0),
        "%H:%M",
        Some(DAY),
    ),
    c(
        30.0,
        (MIN, 10.0),
        (HOUR, 1.0),
        (HOUR, 1.0),
        "%H:%M",
        Some(2.0 * DAY),
    ),
    c(
        60.0,
        (MIN, 30.0),
        (HOUR, 2.0),
        (HOUR, 2.0),
        "%H:%M",
        Some(2.0 * DAY),
    ),
    c(
        100.0,
        (HOUR, 2.0),
        (HOUR, 4.0),
        (HOUR, 4.0),
        "%a %H:%M",
        Some(6.0 * DAY),
    ),
    c(
        255.0,
        (HOUR, 6.0),
        (HOUR, 12.0),
        (HOUR, 12.0),
        "%m/%d %H:%M",
        Some(10.0 * DAY),
    ),
    c(
        600.0,
        (HOUR, 6.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(14.0 * DAY),
    ),
    c(
        1000.0,
        (HOUR, 12.0),
        (DAY, 1.0),
        (DAY, 1.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        2000.0,
        (DAY, 1.0),
        (DAY, 2.0),
        (DAY, 2.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        4000.0,
        (DAY, 2.0),
        (DAY, 4.0),
        (DAY, 4.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        8000.0,
        (DAY, 3.5),
        (DAY, 7.0),
        (DAY, 7.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        16000.0,
        (DAY, 7.0),
        (DAY, 14.0),
        (DAY, 14.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        32000.0,
        (DAY, 15.0),
        (DAY, 30.0),
        (DAY, 30.0),
        "%m/%d",
        Some(365.0 * DAY),
    ),
    c(
        64000.0,
        (DAY, 30.0),
        (DAY, 60.0),
        (DAY, 60.0),
        "%m/%d %Y",
        None,
    ),
    c(
        100000.0,
        (DAY, 60.0),
        (DAY, 120.0),
        (DAY, 120.0),
        "%m/%d %Y",
        None,
    ),
    c(
        120000.0,
        (DAY, 120.0),
        (DAY, 240.0),
        (DAY, 240.0),
        "%m/%d %Y",
        None,
    ),
];

/// The row for a time range drawn over `graph_width` pixels.
pub fn choose(time_range: f64, graph_width: f64) -> XConf {
    let spp = time_range / graph_width;
    CONFIGS
        .iter()
        .rfind(|c| c.seconds <= spp && !matches!(c.max_interval, Some(m) if m < time_range))
        .copied()
        .unwrap_or(CONFIGS[CONFIGS.len() - 1])
}

/// Local wall-clock time of the graph's start, with the offset every later tick reuses.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: NaiveDateTime,
    start_ts: i64,
}

impl Clock {
    /// The clock for a graph starting at `start_ts` in `tz`.
    pub fn new(start_ts: i64, tz: Tz) -> Clock {
        let utc = DateTime::from_timestamp(start_ts, 0).unwrap_or_default();
        let off = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
        Clock {
            start: utc.naive_utc() + Duration::seconds(i64::from(off.local_minus_utc())),
            start_ts,
        }
    }

    /// Tick times (seconds after the start) and their local times, from the first aligned
    /// tick at or after the start, every `unit*step` seconds, before `end_ts`.
    pub fn ticks(&self, unit: f64, step: f64, end_ts: i64) -> Vec<(f64, NaiveDateTime)> {
        let s = self.start;
        let aligned = if unit == SEC {
            let st = step as u32;
            s.with_nanosecond(0)
                .and_then(|d| d.with_second(s.second() - s.second() % st.max(1)))
        } else if unit == MIN {
            let st = step as u32;
            s.with_nanosecond(0)
                .and_then(|d| d.with_second(0))
                .and_then(|d| d.with_minute(s.minute() - s.minute() % st.max(1)))
        } else if unit == HOUR {
            let st = step as u32;
            s.with_nanosecond(0)
                .and_then(|d| d.with_second(0))
                .and_then(|d| d.with_minute(0))
                .and_then(|d| d.with_hour(s.hour() - s.hour() % st.max(1)))
        } else {
            s.date().and_hms_opt(0, 0, 0)
        };
        let Some(mut dt) = aligned else {
            return Vec::new();
        };
        let delta = Duration::milliseconds((unit * step * 1000.0) as i64);
        if delta <= Duration::zero() {
            return Vec::new();
        }
        while dt < s {
            dt += delta;
        }
        let span = (end_ts - self.start_ts) as f64;
        let mut out = Vec::new();
        loop {
            let secs = (dt - s).num_milliseconds() as f64 / 1000.0;
            // graphite compares against the end time; toSeconds drops sub-second parts
            if secs >= span || out.len() > 10_000 {
                break;
            }
            out.push((secs.trunc(), dt));
            dt += delta;
        }
        out
    }
}

/// Formats a local time with a Python strftime format.
pub fn format(dt: &NaiveDateTime, fmt: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    match write!(s, "{}", dt.format(fmt)) {
        Ok(()) => s,
        Err(_) => fmt.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_range_uses_minute_labels() {
        let c = choose(3600.0, 300.0);
        assert_eq!(c.format, "%H:%M");
        assert_eq!(c.label, (MIN, 20.0));
    }

    #[test]
    fn day_ticks_align_to_local_midnight() {
        let clk = Clock::new(1_700_000_000, chrono_tz::UTC);
        let t = clk.ticks(HOUR, 4.0, 1_700_000_000 + 86_400);
        let first = t.first().unwrap();
        assert_eq!(format(&first.1, "%H:%M"), "00:00");
        assert_eq!(t.len(), 6);
        assert_eq!(format(&t[1].1, "%a %H:%M"), "Wed 04:00");
    }

    #[test]
    fn bad_format_does_not_panic() {
        let clk = Clock::new(0, chrono_tz::UTC);
        let t = clk.ticks(MIN, 10.0, 3600);
        let _ = format(&t[0].1, "%Q %");
    }
}
