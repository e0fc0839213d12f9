//! Python's text formatting as whisper's scripts use it: `%f`, `%g`, `repr`, `json.dumps`,
//! `time.ctime` and `time.strftime` (UTC), so our output matches theirs byte for byte.

pub use whisper::pyfloat::repr;

/// `"%f" % x`.
pub fn percent_f(x: f64) -> String {
    if !x.is_finite() {
        return non_finite(x);
    }
    format!("{x:.6}")
}

fn non_finite(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// `"%.{prec}g" % x`, right-aligned in `width`.
pub fn percent_g(x: f64, prec: usize, width: usize) -> String {
    let s = g(x, prec.max(1));
    format!("{s:>width$}")
}

fn g(x: f64, p: usize) -> String {
    if !x.is_finite() {
        return non_finite(x);
    }
    let sci = format!("{:.*e}", p - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A JSON value printed the way Python's `json.dumps` prints it.
pub enum Json {
    /// `None`.
    Null,
    /// An int.
    Int(i64),
    /// A float (NaN and infinities printed as Python does, not strict JSON).
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Json>),
    /// Keys in output order (sort them first to mimic `sort_keys=True`).
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// `json.dumps(v, indent=2, separators=(',', sep))`.
    pub fn dumps(&self, sep: &str) -> String {
        let mut out = String::new();
        self.write(&mut out, 0, sep);
        out
    }

    fn write(&self, out: &mut String, level: usize, sep: &str) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Json::Null => out.push_str("null"),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::Float(f) if f.is_nan() => out.push_str("NaN"),
            Json::Float(f) if f.is_infinite() => {
                out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Json::Float(f) => out.push_str(&repr(*f)),
            Json::Str(s) => out.push_str(&json_string(s)),
            Json::List(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(items) if items.is_empty() => out.push_str("{}"),
            Json::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(level + 1));
                    v.write(out, level + 1, sep);
                }
                out.push('\n');
                out.push_str(&pad(level));
                out.push(']');
            }
            Json::Obj(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(level + 1));
                    out.push_str(&json_string(k));
                    out.push_str(sep);
                    v.write(out, level + 1, sep);
                }
                out.push('\n');
                out.push_str(&pad(level));
                out.push('}');
            }
        }
    }
}

/// A JSON string literal with Python's default `ensure_ascii=True` escaping.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's `repr(str)` for the simple strings we print inside lists and dicts.
pub fn repr_str(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Broken-down UTC time.
struct Tm {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    wday: u32,
    yday: u32,
}

fn utc(t: i64) -> Tm {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400) as u32;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day - 1 + u32::from(leap && month > 2);
    Tm {
        year,
        month,
        day,
        hour: secs / 3600,
        min: secs / 60 % 60,
        sec: secs % 60,
        wday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `time.ctime(t)` in UTC (`Tue Nov 14 22:13:20 2023`).
pub fn ctime(t: i64) -> String {
    strftime("%a %b %e %H:%M:%S %Y", t)
}

/// `time.strftime(fmt, time.localtime(t))` with the C locale, in UTC.
pub fn strftime(fmt: &str, t: i64) -> String {
    let tm = utc(t);
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let s = match spec {
            'a' => DAYS[tm.wday as usize][..3].to_string(),
            'A' => DAYS[tm.wday as usize].to_string(),
            'b' | 'h' => MONTHS[(tm.month - 1) as usize][..3].to_string(),
            'B' => MONTHS[(tm.month - 1) as usize].to_string(),
            'c' => strftime("%a %b %e %H:%M:%S %Y", t),
            'C' => format!("{:02}", tm.year.div_euclid(100)),
            'd' => format!("{:02}", tm.day),
            'D' => strftime("%m/%d/%y", t),
            'e' => format!("{:2}", tm.day),
            'F' => strftime("%Y-%m-%d", t),
            'H' => format!("{:02}", tm.hour),
            'I' => format!("{:02}", (tm.hour + 11) % 12 + 1),
            'j' => format!("{:03}", tm.yday + 1),
            'k' => format!("{:2}", tm.hour),
            'l' => format!("{:2}", (tm.hour + 11) % 12 + 1),
            'm' => format!("{:02}", tm.month),
            'M' => format!("{:02}", tm.min),
            'n' => "\n".into(),
            'p' => (if tm.hour < 12 { "AM" } else { "PM" }).into(),
            'R' => strftime("%H:%M", t),
            's' => t.to_string(),
            'S' => format!("{:02}", tm.sec),
            't' => "\t".into(),
            'T' => strftime("%H:%M:%S", t),
            'u' => (if tm.wday == 0 { 7 } else { tm.wday }).to_string(),
            'w' => tm.wday.to_string(),
            'x' => strftime("%m/%d/%y", t),
            'X' => strftime("%H:%M:%S", t),
            'y' => format!("{:02}", tm.year.rem_euclid(100)),
            'Y' => tm.year.to_string(),
            'z' => "+0000".into(),
            'Z' => "UTC".into(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(percent_f(1.5), "1.500000");
        assert_eq!(percent_f(f64::NAN), "nan");
        assert_eq!(percent_g(0.5, 6, 0), "0.5");
        assert_eq!(percent_g(1e-5, 6, 0), "1e-05");
        assert_eq!(percent_g(0.0, 35, 10), "         0");
        assert_eq!(
            percent_g(0.1, 35, 10),
            "0.1000000000000000055511151231257827"
        );
        assert_eq!(
            percent_g(1e300, 35, 0),
            "1.0000000000000000525047602552044202e+300"
        );
        assert_eq!(ctime(1_000_000_000), "Sun Sep  9 01:46:40 2001");
        assert_eq!(
            strftime("%Y-%m-%d %j %A", 1_700_000_000),
            "2023-11-14 318 Tuesday"
        );
        let j = Json::Obj(vec![(
            "a".into(),
            Json::List(vec![Json::Int(1), Json::Float(0.5)]),
        )]);
        assert_eq!(j.dumps(": "), "{\n  \"a\": [\n    1,\n    0.5\n  ]\n}");
    }
}
