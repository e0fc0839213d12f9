//! A JSON writer that reproduces Python's `json.dumps` text (separators, `ensure_ascii`, `indent=2`),
//! because graphite-web clients and our golden vectors compare bodies byte for byte.

use crate::pyfmt::write_float_repr;
use std::fmt::Write;

/// Streaming JSON writer with Python `json.dumps` layout.
pub struct PyJson {
    buf: String,
    indent: Option<usize>,
    /// One entry per open container: whether it already holds an item.
    stack: Vec<bool>,
    /// Apply graphite-web's textual `NaN,` / `Infinity,` replacement to string contents.
    graphite_replace: bool,
    ensure_ascii: bool,
    after_key: bool,
}

impl PyJson {
    /// A writer; `pretty` gives `indent=2`, `graphite_replace` mimics render's post-processing.
    pub fn new(pretty: bool, graphite_replace: bool) -> Self {
        PyJson {
            buf: String::with_capacity(4096),
            indent: pretty.then_some(2),
            stack: Vec::new(),
            graphite_replace,
            ensure_ascii: true,
            after_key: false,
        }
    }

    /// Chooses Python's `ensure_ascii` (the default) or raw UTF-8 output.
    pub fn ensure_ascii(mut self, on: bool) -> Self {
        self.ensure_ascii = on;
        self
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.buf
    }

    fn before_item(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        let depth = self.stack.len();
        if let Some(has) = self.stack.last_mut() {
            let had = *has;
            *has = true;
            match self.indent {
                Some(n) => {
                    if had {
                        self.buf.push(',');
                    }
                    self.buf.push('\n');
                    for _ in 0..n * depth {
                        self.buf.push(' ');
                    }
                }
                None => {
                    if had {
                        self.buf.push_str(", ");
                    }
                }
            }
        }
    }

    fn close(&mut self, c: char) {
        let had = self.stack.pop().unwrap_or(false);
        if let (Some(n), true) = (self.indent, had) {
            self.buf.push('\n');
            for _ in 0..n * self.stack.len() {
                self.buf.push(' ');
            }
        }
        self.buf.push(c);
    }

    /// Opens `[`.
    pub fn begin_array(&mut self) {
        self.before_item();
        self.buf.push('[');
        self.stack.push(false);
    }

    /// Closes `]`.
    pub fn end_array(&mut self) {
        self.close(']');
    }

    /// Opens `{`.
    pub fn begin_object(&mut self) {
        self.before_item();
        self.buf.push('{');
        self.stack.push(false);
    }

    /// Closes `}`.
    pub fn end_object(&mut self) {
        self.close('}');
    }

    /// Writes an object key and the `": "` after it.
    pub fn key(&mut self, k: &str) {
        self.before_item();
        self.write_escaped(k);
        self.buf.push_str(": ");
        self.after_key = true;
    }

    /// Writes a string value.
    pub fn string(&mut self, s: &str) {
        self.before_item();
        self.write_escaped(s);
    }

    /// Writes an integer value.
    pub fn int(&mut self, i: i64) {
        self.before_item();
        crate::pyfmt::write_int(&mut self.buf, i, i < 0);
    }

    /// Reserves room for `n` more bytes (large answers grow once instead of doubling).
    pub fn reserve(&mut self, n: usize) {
        self.buf.reserve(n);
    }

    /// Writes a float as `json.dumps` does (`NaN`, `Infinity`, `-Infinity` for non-finite values).
    pub fn float(&mut self, x: f64) {
        self.before_item();
        if x.is_nan() {
            self.buf.push_str("NaN");
        } else if x.is_infinite() {
            self.buf
                .push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            write_float_repr(&mut self.buf, x);
        }
    }

    /// Writes a float as it looks after graphite-web's `NaN,`/`Infinity,` replacement (datapoint values).
    pub fn float_replaced(&mut self, x: f64) {
        self.before_item();
        if x.is_nan() {
            self.buf.push_str("null");
        } else if x.is_infinite() {
            self.buf
                .push_str(if x > 0.0 { "1e9999" } else { "-1e9999" });
        } else {
            write_float_repr(&mut self.buf, x);
        }
    }

    /// Writes `true`/`false`.
    pub fn bool(&mut self, b: bool) {
        self.before_item();
        self.buf.push_str(if b { "true" } else { "false" });
    }

    /// Writes `null`.
    pub fn null(&mut self) {
        self.before_item();
        self.buf.push_str("null");
    }

    fn write_escaped(&mut self, s: &str) {
        if self.graphite_replace && (s.contains("NaN,") || s.contains("Infinity,")) {
            let replaced = s.replace("NaN,", "null,").replace("Infinity,", "1e9999,");
            write_json_str(&mut self.buf, &replaced, self.ensure_ascii);
        } else {
            write_json_str(&mut self.buf, s, self.ensure_ascii);
        }
    }
}

/// Appends `s` as a JSON string literal with Python's `ensure_ascii=True` escaping.
pub fn write_json_string(out: &mut String, s: &str) {
    write_json_str(out, s, true)
}

/// Appends `s` as a JSON string literal, escaping non-ASCII only when `ascii` is set.
pub fn write_json_str(out: &mut String, s: &str, ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ascii && (c as u32) > 0x7e) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string literal (Python escaping) as a new string.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_string(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_layout_matches_json_dumps() {
        let mut w = PyJson::new(false, true);
        w.begin_array();
        w.begin_object();
        w.key("target");
        w.string("a.NaN,b");
        w.key("datapoints");
        w.begin_array();
        w.begin_array();
        w.float_replaced(f64::NAN);
        w.int(10);
        w.end_array();
        w.begin_array();
        w.float_replaced(2.0);
        w.int(20);
        w.end_array();
        w.end_array();
        w.key("e");
        w.begin_object();
        w.end_object();
        w.end_object();
        w.end_array();
        assert_eq!(
            w.finish(),
            r#"[{"target": "a.null,b", "datapoints": [[null, 10], [2.0, 20]], "e": {}}]"#
        );
    }

    #[test]
    fn pretty_layout_matches_indent_2() {
        let mut w = PyJson::new(true, false);
        w.begin_array();
        w.begin_object();
        w.key("a");
        w.begin_array();
        w.int(1);
        w.null();
        w.end_array();
        w.key("b");
        w.begin_array();
        w.end_array();
        w.end_object();
        w.end_array();
        assert_eq!(
            w.finish(),
            "[\n  {\n    \"a\": [\n      1,\n      null\n    ],\n    \"b\": []\n  }\n]"
        );
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        assert_eq!(
            json_string("é\"\\\u{1}😀~\u{7f}"),
            r#""\u00e9\"\\\u0001\ud83d\ude00~\u007f""#
        );
    }
}
