//! aggregation-rules.conf: carbon-aggregator's rule grammar and name mapping.
//!
//! `output_template (frequency) = method input_pattern`, e.g.
//! `<env>.applications.<app>.all.requests (60) = sum <env>.applications.<app>.*.requests`.
//! Buffering and emission live in the aggregator; this module only says which output metric
//! an input contributes to.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use regex::Regex;

use crate::error::{Error, Result};

/// How values of one interval are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggregationMethod {
    /// Sum of values.
    Sum,
    /// Arithmetic mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of values.
    Count,
    /// Percentile by linear interpolation between closest ranks (factor in 0..1).
    Percentile(f64),
}

impl AggregationMethod {
    /// carbon's name for the method.
    pub fn name(self) -> &'static str {
        match self {
            AggregationMethod::Sum => "sum",
            AggregationMethod::Avg => "avg",
            AggregationMethod::Min => "min",
            AggregationMethod::Max => "max",
            AggregationMethod::Count => "count",
            AggregationMethod::Percentile(p) => {
                PERCENTILES.iter().find(|x| x.1 == p).map_or("p?", |x| x.0)
            }
        }
    }

    /// Combines the values as carbon does; None where carbon yields None (no values).
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            // carbon's sum([]) is 0; the others give None or never run on nothing.
            return (self == AggregationMethod::Sum).then_some(0.0);
        }
        Some(match self {
            AggregationMethod::Sum => values.iter().sum(),
            AggregationMethod::Avg => values.iter().sum::<f64>() / values.len() as f64,
            AggregationMethod::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            AggregationMethod::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            AggregationMethod::Count => values.len() as f64,
            AggregationMethod::Percentile(p) => {
                let mut v = values.to_vec();
                v.sort_by(f64::total_cmp);
                let rank = p * (v.len() - 1) as f64;
                let (lo, hi) = (rank.floor(), rank.ceil());
                let (a, b) = (v.get(lo as usize).copied()?, v.get(hi as usize).copied()?);
                if lo == hi {
                    a
                } else {
                    a * (hi - rank) + b * (rank - lo)
                }
            }
        })
    }
}

const PERCENTILES: [(&str, f64); 7] = [
    ("p50", 0.50),
    ("p75", 0.75),
    ("p80", 0.80),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
];

impl FromStr for AggregationMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "sum" => AggregationMethod::Sum,
            "avg" => AggregationMethod::Avg,
            "min" => AggregationMethod::Min,
            "max" => AggregationMethod::Max,
            "count" => AggregationMethod::Count,
            other => match PERCENTILES.iter().find(|x| x.0 == other) {
                Some(&(_, p)) => AggregationMethod::Percentile(p),
                None => return Err(format!("invalid aggregation method {other:?}")),
            },
        })
    }
}

impl fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(String),
}

/// One aggregation rule.
#[derive(Debug, Clone)]
pub struct AggregationRule {
    /// Input pattern as written.
    pub input_pattern: String,
    /// Output template as written.
    pub output_pattern: String,
    /// Aggregation method.
    pub method: AggregationMethod,
    /// Interval in seconds.
    pub frequency: u32,
    regex: Regex,
    template: Vec<Piece>,
}

impl AggregationRule {
    /// Builds a rule from its parts; errors where carbon would fail, at build time or at
    /// first match (unknown output field, stray `<`/`>`/`%` in the output template).
    pub fn new(
        input_pattern: &str,
        output_pattern: &str,
        method: AggregationMethod,
        frequency: u32,
    ) -> Result<Self> {
        let bad = |reason: String| Error::AggregationRule { line: 0, reason };
        if frequency == 0 {
            return Err(bad("frequency must be a positive number of seconds".into()));
        }
        let (pattern, fields) = input_regex(input_pattern).map_err(bad)?;
        let regex = Regex::new(&format!("^(?:{pattern})")).map_err(|e| Error::Regex {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        let template = output_template(output_pattern).map_err(bad)?;
        for piece in &template {
            if let Piece::Field(f) = piece {
                if !fields.contains(f) {
                    return Err(bad(format!(
                        "output field <{f}> is not captured by the input pattern"
                    )));
                }
            }
        }
        Ok(AggregationRule {
            input_pattern: input_pattern.to_owned(),
            output_pattern: output_pattern.to_owned(),
            method,
            frequency,
            regex,
            template,
        })
    }

    /// Parses one definition line: `output (frequency) = method input`.
    pub fn parse(line: &str) -> Result<Self> {
        let bad = |reason: String| Error::AggregationRule { line: 0, reason };
        let (left, right) = line
            .split_once('=')
            .ok_or_else(|| bad("missing '='".into()))?;
        let left: Vec<&str> = left.split_whitespace().collect();
        let right: Vec<&str> = right.split_whitespace().collect();
        let [output, freq] = left[..] else {
            return Err(bad("left side must be 'output_template (frequency)'".into()));
        };
        let [method, input] = right[..] else {
            return Err(bad("right side must be 'method input_pattern'".into()));
        };
        let freq_text = freq.trim_start_matches('(').trim_end_matches(')');
        let frequency = freq_text
            .parse::<u32>()
            .ok()
            .filter(|f| *f > 0 && freq_text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                bad(format!(
                    "frequency {freq:?} is not a positive number of seconds"
                ))
            })?;
        let method = method.parse::<AggregationMethod>().map_err(bad)?;
        Self::new(input, output, method, frequency)
    }

    /// The regex carbon builds from the input pattern (before our start anchor).
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The aggregate metric `metric` contributes to, or None when the rule does not match.
    pub fn matches(&self, metric: &str) -> Option<String> {
        let caps = self.regex.captures(metric)?;
        let mut out = String::with_capacity(self.output_pattern.len() + 16);
        for piece in &self.template {
            match piece {
                Piece::Text(t) => out.push_str(t),
                // A group that did not take part prints as Python's None.
                Piece::Field(f) => out.push_str(caps.name(f).map_or("None", |m| m.as_str())),
            }
        }
        Some(out)
    }
}

/// carbon's build_regex: the pattern and the names of the fields it captures.
fn input_regex(input: &str) -> std::result::Result<(String, Vec<String>), String> {
    let mut parts = Vec::new();
    let mut fields = Vec::new();
    for part in input.split('.') {
        let wide = match (part.find("<<"), part.find(">>")) {
            (Some(i), Some(j)) => Some((i, j)),
            _ => None,
        };
        let regex_part = if let Some((i, j)) = wide {
            let name = part
                .get(i + 2..j)
                .ok_or_else(|| format!("malformed <<field>> in {part:?}"))?;
            check_field_name(name)?;
            fields.push(name.to_owned());
            format!("{}(?P<{name}>.+?){}", &part[..i], &part[j + 2..])
        } else {
            match (part.find('<'), part.find('>')) {
                (Some(i), Some(j)) if j > i => {
                    let name = &part[i + 1..j];
                    check_field_name(name)?;
                    fields.push(name.to_owned());
                    format!("{}(?P<{name}>[^.]+?){}", &part[..i], &part[j + 1..])
                }
                _ if part == "*" => "[^.]+".to_owned(),
                _ => part.replace('*', "[^.]*"),
            }
        };
        parts.push(regex_part);
    }
    Ok((parts.join("\\.") + "$", fields))
}

fn check_field_name(name: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid field name {name:?}"))
    }
}

fn output_template(output: &str) -> std::result::Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = output;
    while let Some(i) = rest.find(['<', '>', '%']) {
        if !rest[i..].starts_with('<') {
            return Err(format!(
                "stray '{}' in output template {output:?}",
                &rest[i..i + 1]
            ));
        }
        let close = rest[i..]
            .find('>')
            .map(|j| i + j)
            .ok_or_else(|| format!("unclosed '<' in {output:?}"))?;
        let name = &rest[i + 1..close];
        check_field_name(name)?;
        if i > 0 {
            pieces.push(Piece::Text(rest[..i].to_owned()));
        }
        pieces.push(Piece::Field(name.to_owned()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Parses aggregation-rules.conf text: one rule per line, `#` comments and blank lines skipped.
/// Like carbon, one bad line fails the whole file.
pub fn parse_aggregation_rules(text: &str) -> Result<Vec<AggregationRule>> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let rule = AggregationRule::parse(line).map_err(|e| match e {
            Error::AggregationRule { reason, .. } => Error::AggregationRule {
                line: n + 1,
                reason,
            },
            other => Error::AggregationRule {
                line: n + 1,
                reason: other.to_string(),
            },
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

/// Reads and parses an aggregation-rules.conf file.
pub fn read_aggregation_rules(path: &Path) -> Result<Vec<AggregationRule>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_aggregation_rules(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carbon_example() {
        let r = AggregationRule::parse(
            "<env>.applications.<app>.all.requests (60) = sum <env>.applications.<app>.*.requests",
        )
        .unwrap();
        assert_eq!(r.frequency, 60);
        assert_eq!(r.method, AggregationMethod::Sum);
        assert_eq!(
            r.matches("prod.applications.apache.www01.requests")
                .as_deref(),
            Some("prod.applications.apache.all.requests")
        );
        assert_eq!(r.matches("prod.applications.apache.www01.requests.x"), None);
        assert_eq!(r.matches("x.prod.applications.apache.www01"), None);
    }

    #[test]
    fn wide_fields_and_globs() {
        let r = AggregationRule::parse("agg.<path>.total (10) = count <<path>>.c*nt").unwrap();
        assert_eq!(r.matches("a.b.c.count").as_deref(), Some("agg.a.b.c.total"));
        assert_eq!(r.matches("a.cnt").as_deref(), Some("agg.a.total"));
        assert_eq!(r.regex().as_str(), "^(?:(?P<path>.+?)\\.c[^.]*nt$)");
    }

    #[test]
    fn bad_definitions() {
        for bad in [
            "no equals sign",
            "a (60) = sum",
            "a b (60) = sum x",
            "a (x) = sum b",
            "a (0) = sum b",
            "a (60) = median b",
            "<x>.a (60) = sum <y>.b",
            "a> (60) = sum b",
            "a% (60) = sum b",
            "<x (60) = sum <x>.b",
            "a (60) = sum <x>.<x>",
            "a (60) = sum b(",
            "<<x>>.a (60) = sum <<x>>.b",
        ] {
            assert!(AggregationRule::parse(bad).is_err(), "{bad:?}");
        }
        let e = parse_aggregation_rules("# c\n\nok (1) = sum x\nbad\n").unwrap_err();
        assert!(matches!(e, Error::AggregationRule { line: 4, .. }), "{e}");
    }

    #[test]
    fn methods() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        let m = |s: &str| s.parse::<AggregationMethod>().unwrap().apply(&v);
        assert_eq!(m("sum"), Some(14.0));
        assert_eq!(m("avg"), Some(2.8));
        assert_eq!(m("min"), Some(1.0));
        assert_eq!(m("max"), Some(5.0));
        assert_eq!(m("count"), Some(5.0));
        assert_eq!(m("p50"), Some(3.0));
        assert_eq!(m("p90"), Some(4.0 * 0.4 + 5.0 * 0.6));
        assert_eq!(AggregationMethod::Avg.apply(&[]), None);
        assert_eq!(AggregationMethod::Sum.apply(&[]), Some(0.0));
        assert_eq!(AggregationMethod::Percentile(0.999).name(), "p999");
    }
}
