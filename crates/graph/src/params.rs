//! Graph parameters from the request, converted the way graphite-web's `parseOptions` does
//! (digits become ints, decimals floats, true/false booleans, "default" and "" are dropped).

use crate::color::{self, Rgba};
use crate::error::GraphError;
use std::collections::HashMap;

/// Every parameter either graph type reads.
pub const NAMES: [&str; 73] = [
    "width",
    "height",
    "margin",
    "bgcolor",
    "fgcolor",
    "fontName",
    "fontSize",
    "fontBold",
    "fontItalic",
    "colorList",
    "template",
    "yAxisSide",
    "title",
    "vtitle",
    "lineMode",
    "lineWidth",
    "hideLegend",
    "hideAxes",
    "minXStep",
    "hideGrid",
    "majorGridLineColor",
    "minorGridLineColor",
    "thickness",
    "min",
    "max",
    "graphOnly",
    "yMin",
    "yMax",
    "yLimit",
    "yStep",
    "areaMode",
    "areaAlpha",
    "drawNullAsZero",
    "tz",
    "pieMode",
    "yUnitSystem",
    "logBase",
    "yMinLeft",
    "yMinRight",
    "yMaxLeft",
    "yMaxRight",
    "yLimitLeft",
    "yLimitRight",
    "yStepLeft",
    "yStepRight",
    "rightWidth",
    "rightColor",
    "rightDashed",
    "leftWidth",
    "leftColor",
    "leftDashed",
    "xFormat",
    "minorY",
    "hideYAxis",
    "uniqueLegend",
    "vtitleRight",
    "yDivisors",
    "connectedLimit",
    "hideXAxis",
    "hideNullFromLegend",
    "valueLabels",
    "valueLabelsMin",
    "pieLabels",
    "valueLabelsColor",
    "graphType",
    "format",
    "outputFormat",
    "noCache",
    "cacheTimeout",
    "from",
    "until",
    "now",
    "target",
];

/// A parameter value after graphite's type guessing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `-?digits` (not for color parameters).
    Int(i64),
    /// `-?digits.digits`.
    Float(f64),
    /// true / false.
    Bool(bool),
    /// Anything else.
    Str(String),
}

impl Value {
    fn guess(name: &str, raw: &str) -> Option<Value> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let is_int = digits(raw) || raw.strip_prefix('-').is_some_and(digits);
        if is_int && !name.to_lowercase().contains("color") {
            if let Ok(i) = raw.parse::<i64>() {
                return Some(Value::Int(i));
            }
        }
        let unsigned = raw.strip_prefix('-').unwrap_or(raw);
        if raw.contains('.') && digits(&unsigned.replacen('.', "", 1)) {
            if let Ok(f) = raw.parse::<f64>() {
                return Some(Value::Float(f));
            }
        }
        match raw.to_lowercase().as_str() {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            "default" | "" => return None,
            _ => {}
        }
        Some(Value::Str(raw.to_string()))
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Str(s) => !s.is_empty(),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Value::Str(s) => s.clone(),
        }
    }
}

/// The graph parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: HashMap<String, Value>,
}

impl Params {
    /// Collects the graph parameters; `get` returns the last value given for a name.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Params {
        let mut map = HashMap::new();
        for n in NAMES {
            if let Some(v) = get(n).and_then(|raw| Value::guess(n, raw)) {
                map.insert(n.to_string(), v);
            }
        }
        Params { map }
    }

    /// Builds from pairs (tests and callers without a request); later pairs win.
    pub fn from_pairs<'a>(pairs: &'a [(&'a str, &'a str)]) -> Params {
        Params::from_lookup(|k| pairs.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| *v))
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// Sets `name` (graphOnly and similar rewrite parameters like graphite does).
    pub fn set(&mut self, name: &str, v: Value) {
        self.map.insert(name.to_string(), v);
    }

    /// Whether `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Python truthiness of `name`, `default` when absent.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        self.map.get(name).map_or(default, Value::truthy)
    }

    /// `name` as text (numbers as Python prints them).
    pub fn text(&self, name: &str) -> Option<String> {
        self.map.get(name).map(Value::text)
    }

    /// `name` as a number; a non-number is a 400.
    pub fn num(&self, name: &str) -> Result<Option<f64>, GraphError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i as f64)),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Bool(b)) => Ok(Some(if *b { 1.0 } else { 0.0 })),
            Some(Value::Str(s)) => {
                s.trim().parse::<f64>().map(Some).map_err(|_| {
                    GraphError::BadParam(format!("{name} must be a number, got {s:?}"))
                })
            }
        }
    }

    /// `name` as a number, or `default`.
    pub fn num_or(&self, name: &str, default: f64) -> Result<f64, GraphError> {
        Ok(self.num(name)?.unwrap_or(default))
    }

    /// `name` as a color, or `None` when absent.
    pub fn color(&self, name: &str) -> Result<Option<Rgba>, GraphError> {
        self.text(name).map(|t| color::parse(&t)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphite_type_guessing() {
        let p = Params::from_pairs(&[
            ("width", "400"),
            ("yMin", "-2.5"),
            ("hideLegend", "false"),
            ("bgcolor", "000000"),
            ("title", ""),
            ("areaMode", "stacked"),
        ]);
        assert_eq!(p.get("width"), Some(&Value::Int(400)));
        assert_eq!(p.num("yMin").unwrap(), Some(-2.5));
        assert!(!p.flag("hideLegend", true));
        assert_eq!(p.get("bgcolor"), Some(&Value::Str("000000".into())));
        assert!(!p.has("title"));
        assert!(p.num("areaMode").is_err());
    }
}
