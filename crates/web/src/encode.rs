//! Render output encoders (json, csv, raw, dygraph, rickshaw, pickle, msgpack), each reproducing
//! graphite-web 1.1's bytes where clients parse them (render-api.md §1.1).

use crate::pickle::PyValue;
use crate::pyfmt::write_float_repr;
use crate::pyjson::{write_json_string, PyJson};
use std::fmt::Write;

/// One point value as graphite-web holds it: Python `None`, a float, or an int (count-like functions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// Missing.
    None,
    /// A float (may be NaN or infinite).
    Float(f64),
    /// An integer.
    Int(i64),
}

impl Val {
    /// True for `None` and NaN (what `noNullPoints` drops).
    pub fn is_nullish(self) -> bool {
        match self {
            Val::None => true,
            Val::Float(f) => f.is_nan(),
            Val::Int(_) => false,
        }
    }

    /// Appends Python's `repr` (`None`, `2.0`, `nan`, `3`).
    pub fn write_repr(self, out: &mut String) {
        match self {
            Val::None => out.push_str("None"),
            Val::Float(f) => write_float_repr(out, f),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
        }
    }
}

/// What an encoder needs from a result series; implemented by the query crate's series adapter.
pub trait SeriesOut {
    /// Series name (`target` in JSON).
    fn name(&self) -> &str;
    /// Tags in insertion order.
    fn tags(&self) -> Vec<(&str, &str)>;
    /// First timestamp.
    fn start(&self) -> i64;
    /// End timestamp.
    fn end(&self) -> i64;
    /// Seconds per point.
    fn step(&self) -> i64;
    /// Number of values.
    fn len(&self) -> usize;
    /// Whether there are no values.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value at index `i` (`Val::None` past the end).
    fn value(&self, i: usize) -> Val;
    /// The path expression the series came from.
    fn path_expression(&self) -> &str;
    /// Values per point after consolidation.
    fn values_per_point(&self) -> i64;
    /// Consolidation function name.
    fn consolidation_func(&self) -> &str;
    /// xFilesFactor.
    fn x_files_factor(&self) -> f64;
}

/// An encoded body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

fn wrap_jsonp(text: String, jsonp: Option<&str>, ct: &'static str) -> Encoded {
    match jsonp {
        Some(cb) => Encoded {
            content_type: "text/javascript",
            body: format!("{cb}({text})").into_bytes(),
        },
        None => Encoded {
            content_type: ct,
            body: text.into_bytes(),
        },
    }
}

/// `format=json`: `[{"target", "tags", "datapoints": [[v, ts], ...]}]` with graphite's NaN/Infinity replacement.
pub fn json<S: SeriesOut>(
    series: &[S],
    pretty: bool,
    no_null_points: bool,
    jsonp: Option<&str>,
) -> Encoded {
    let mut w = PyJson::new(pretty, true);
    // about 22 bytes per `[v, ts], ` datapoint
    w.reserve(
        series
            .iter()
            .map(|s| points_in(s) * 24 + 128)
            .sum::<usize>()
            .min(1 << 30),
    );
    w.begin_array();
    for s in series {
        let count = points_in(s);
        if no_null_points && (0..count).all(|i| s.value(i).is_nullish()) {
            continue;
        }
        w.begin_object();
        w.key("target");
        w.string(s.name());
        w.key("tags");
        w.begin_object();
        for (k, v) in dedup_tags(s.tags()) {
            w.key(k);
            w.string(v);
        }
        w.end_object();
        w.key("datapoints");
        w.begin_array();
        for i in 0..count {
            let v = s.value(i);
            if no_null_points && v.is_nullish() {
                continue;
            }
            w.begin_array();
            match v {
                Val::None => w.null(),
                Val::Float(f) => w.float_replaced(f),
                Val::Int(n) => w.int(n),
            }
            w.int(s.start() + i as i64 * s.step());
            w.end_array();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
    wrap_jsonp(w.finish(), jsonp, "application/json")
}

/// `dict(series.tags)`: a later duplicate key overwrites the value but keeps the first position.
fn dedup_tags<'a>(tags: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Points `datapoints()` yields: values zipped with `range(start, end + 1, step)`.
fn points_in<S: SeriesOut>(s: &S) -> usize {
    let step = s.step();
    if step <= 0 {
        return 0;
    }
    let n_ts = if s.end() + 1 > s.start() {
        ((s.end() + 1 - s.start()) + step - 1) / step
    } else {
        0
    };
    s.len().min(usize::try_from(n_ts).unwrap_or(0))
}

/// Points `range(start, end, step)` yields (rickshaw, dygraph).
fn points_before_end<S: SeriesOut>(s: &S) -> usize {
    let step = s.step();
    if step <= 0 || s.end() <= s.start() {
        return 0;
    }
    usize::try_from((s.end() - s.start() + step - 1) / step).unwrap_or(0)
}

/// `format=csv`: `name,YYYY-MM-DD HH:MM:SS,value\r\n` per point, times in `tz`.
pub fn csv<S: SeriesOut>(series: &[S], tz: chrono_tz::Tz) -> Encoded {
    use chrono::TimeZone;
    let mut out = String::new();
    for s in series {
        let name = csv_field(s.name());
        for i in 0..s.len() {
            let ts = s.start() + i as i64 * s.step();
            out.push_str(&name);
            out.push(',');
            if let chrono::LocalResult::Single(t) = tz.timestamp_opt(ts, 0) {
                let _ = write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S"));
            }
            out.push(',');
            match s.value(i) {
                Val::None => {}
                v => v.write_repr(&mut out),
            }
            out.push_str("\r\n");
        }
    }
    Encoded {
        content_type: "text/csv",
        body: out.into_bytes(),
    }
}

/// A field as Python's csv excel dialect writes it (quoted only when needed).
fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// `format=raw`: `name,start,end,step|v1,v2,...\n` with Python reprs.
pub fn raw<S: SeriesOut>(series: &[S]) -> Encoded {
    let mut out = String::new();
    for s in series {
        let _ = write!(out, "{},{},{},{}|", s.name(), s.start(), s.end(), s.step());
        for i in 0..s.len() {
            if i > 0 {
                out.push(',');
            }
            s.value(i).write_repr(&mut out);
        }
        out.push('\n');
    }
    Encoded {
        content_type: "text/plain",
        body: out.into_bytes(),
    }
}

/// `format=dygraph`: `{"labels" : [...], "data" : [[ts_ms, v...], ...]}` on the first series' timeline.
pub fn dygraph<S: SeriesOut>(series: &[S], jsonp: Option<&str>) -> Encoded {
    let Some(first) = series.first() else {
        return wrap_jsonp("{}".to_string(), jsonp, "application/json");
    };
    let rows = points_before_end(first);
    let mut lines: Vec<String> = (0..rows)
        .map(|i| {
            let mut l = String::from("[");
            let _ = write!(l, "{}000", first.start() + i as i64 * first.step());
            l
        })
        .collect();
    for s in series {
        for (i, line) in lines.iter_mut().enumerate() {
            line.push_str(", ");
            match s.value(i) {
                Val::None => line.push_str("null"),
                Val::Float(f) if f.is_nan() => line.push_str("null"),
                Val::Float(f) if f.is_infinite() => {
                    line.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" })
                }
                v => {
                    let mut t = String::new();
                    match v {
                        Val::Float(f) => write_float_repr(&mut t, f),
                        _ => v.write_repr(&mut t),
                    }
                    line.push_str(&t);
                }
            }
        }
    }
    let mut labels = String::from("[\"Time\"");
    for s in series {
        labels.push_str(", ");
        write_json_string(&mut labels, s.name());
    }
    labels.push(']');
    let body: Vec<String> = lines
        .into_iter()
        .map(|mut l| {
            l.push(']');
            l
        })
        .collect();
    wrap_jsonp(
        format!(
            "{{\"labels\" : {labels}, \"data\" : [{}]}}",
            body.join(", ")
        ),
        jsonp,
        "application/json",
    )
}

/// `format=rickshaw`: `[{"target", "datapoints": [{"x": ts, "y": v}]}]`.
pub fn rickshaw<S: SeriesOut>(series: &[S], pretty: bool, jsonp: Option<&str>) -> Encoded {
    let mut w = PyJson::new(pretty, false);
    w.begin_array();
    for s in series {
        w.begin_object();
        w.key("target");
        w.string(s.name());
        w.key("datapoints");
        w.begin_array();
        for i in 0..points_before_end(s).min(s.len()) {
            w.begin_object();
            w.key("x");
            w.int(s.start() + i as i64 * s.step());
            w.key("y");
            match s.value(i) {
                Val::None => w.null(),
                Val::Float(f) => w.float(f),
                Val::Int(n) => w.int(n),
            }
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
    wrap_jsonp(w.finish(), jsonp, "application/json")
}

fn info_value<S: SeriesOut>(s: &S) -> PyValue {
    let values = (0..s.len())
        .map(|i| match s.value(i) {
            Val::None => PyValue::None,
            Val::Float(f) => PyValue::Float(f),
            Val::Int(n) => PyValue::Int(n),
        })
        .collect();
    PyValue::Dict(vec![
        (PyValue::Str("name".into()), PyValue::Str(s.name().into())),
        (PyValue::Str("start".into()), PyValue::Int(s.start())),
        (PyValue::Str("end".into()), PyValue::Int(s.end())),
        (PyValue::Str("step".into()), PyValue::Int(s.step())),
        (PyValue::Str("values".into()), PyValue::List(values)),
        (
            PyValue::Str("pathExpression".into()),
            PyValue::Str(s.path_expression().into()),
        ),
        (
            PyValue::Str("valuesPerPoint".into()),
            PyValue::Int(s.values_per_point()),
        ),
        (
            PyValue::Str("consolidationFunc".into()),
            PyValue::Str(s.consolidation_func().into()),
        ),
        (
            PyValue::Str("xFilesFactor".into()),
            PyValue::Float(s.x_files_factor()),
        ),
    ])
}

/// `format=pickle`: a list of `series.getInfo()` dicts, as cluster peers expect.
pub fn pickle<S: SeriesOut>(series: &[S]) -> Encoded {
    let list = PyValue::List(series.iter().map(info_value).collect());
    Encoded {
        content_type: "application/pickle",
        body: crate::pickle::pickle_dumps(&list),
    }
}

/// `format=msgpack`: the same list of dicts in msgpack.
pub fn msgpack<S: SeriesOut>(series: &[S]) -> Encoded {
    let list = PyValue::List(series.iter().map(info_value).collect());
    Encoded {
        content_type: "application/x-msgpack",
        body: crate::pickle::msgpack_dumps(&list),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) struct T {
        pub name: String,
        pub tags: Vec<(String, String)>,
        pub start: i64,
        pub end: i64,
        pub step: i64,
        pub values: Vec<Val>,
    }

    impl SeriesOut for T {
        fn name(&self) -> &str {
            &self.name
        }
        fn tags(&self) -> Vec<(&str, &str)> {
            self.tags
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect()
        }
        fn start(&self) -> i64 {
            self.start
        }
        fn end(&self) -> i64 {
            self.end
        }
        fn step(&self) -> i64 {
            self.step
        }
        fn len(&self) -> usize {
            self.values.len()
        }
        fn value(&self, i: usize) -> Val {
            self.values.get(i).copied().unwrap_or(Val::None)
        }
        fn path_expression(&self) -> &str {
            &self.name
        }
        fn values_per_point(&self) -> i64 {
            1
        }
        fn consolidation_func(&self) -> &str {
            "average"
        }
        fn x_files_factor(&self) -> f64 {
            0.0
        }
    }

    fn sample() -> Vec<T> {
        vec![T {
            name: "a.b".into(),
            tags: vec![("name".into(), "a.b".into())],
            start: 60,
            end: 240,
            step: 60,
            values: vec![
                Val::Float(2.0),
                Val::None,
                Val::Float(f64::INFINITY),
                Val::Int(3),
            ],
        }]
    }

    #[test]
    fn json_shape() {
        let e = json(&sample(), false, false, None);
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            r#"[{"target": "a.b", "tags": {"name": "a.b"}, "datapoints": [[2.0, 60], [null, 120], [1e9999, 180], [3, 240]]}]"#
        );
        let e = json(&sample(), false, true, Some("cb"));
        assert_eq!(e.content_type, "text/javascript");
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            r#"cb([{"target": "a.b", "tags": {"name": "a.b"}, "datapoints": [[2.0, 60], [1e9999, 180], [3, 240]]}])"#
        );
    }

    #[test]
    fn csv_and_raw_shapes() {
        let e = csv(&sample(), chrono_tz::UTC);
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            "a.b,1970-01-01 00:01:00,2.0\r\na.b,1970-01-01 00:02:00,\r\na.b,1970-01-01 00:03:00,inf\r\na.b,1970-01-01 00:04:00,3\r\n"
        );
        let e = raw(&sample());
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            "a.b,60,240,60|2.0,None,inf,3\n"
        );
    }

    #[test]
    fn dygraph_and_rickshaw_shapes() {
        let e = dygraph(&sample(), None);
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            r#"{"labels" : ["Time", "a.b"], "data" : [[60000, 2.0], [120000, null], [180000, Infinity]]}"#
        );
        let e = rickshaw(&sample(), false, None);
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            r#"[{"target": "a.b", "datapoints": [{"x": 60, "y": 2.0}, {"x": 120, "y": null}, {"x": 180, "y": Infinity}]}]"#
        );
    }
}
