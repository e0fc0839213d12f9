//! storage-aggregation.conf: the xFilesFactor and aggregation method of a new whisper file, loaded
//! exactly as carbon's `loadAggregationSchemas` does.
//!
//! First matching section (Python `re.search`) wins. Each of `xFilesFactor` and `aggregationMethod` is
//! optional; a matching section that lacks one still ends the search and the missing value falls back
//! to whisper's default (0.5, average), never to a later section. A non-numeric xFilesFactor skips the
//! section; an out-of-range one or an unknown method is an error (carbon fails an assertion and does
//! not start); so is broken INI or an unusable pattern. The file is optional.

use std::path::Path;

use regex::Regex;
use whisper::AggregationMethod;

use crate::error::ConfigError;
use crate::ini::Ini;
use crate::schemas::SkippedSection;

/// whisper's default xFilesFactor.
pub const DEFAULT_XFF: f64 = 0.5;

/// whisper's default aggregation method.
pub const DEFAULT_METHOD: AggregationMethod = AggregationMethod::Average;

/// One usable section (or the built-in default, which has neither value and matches everything).
#[derive(Debug, Clone)]
pub struct AggregationRule {
    /// The section name (`default` for the built-in one).
    pub name: String,
    /// The pattern as written; `None` for the built-in default.
    pub pattern: Option<String>,
    /// xFilesFactor if the section sets one.
    pub x_files_factor: Option<f64>,
    /// Aggregation method if the section sets one.
    pub method: Option<AggregationMethod>,
    regex: Option<Regex>,
}

impl AggregationRule {
    /// Whether this rule applies to `metric` (the tag-normalised name).
    pub fn matches(&self, metric: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(metric),
            None => true,
        }
    }
}

/// The loaded rule list, built-in default last.
#[derive(Debug, Clone)]
pub struct Aggregations {
    rules: Vec<AggregationRule>,
    default: AggregationRule,
    /// Sections that were skipped (carbon only logs them).
    pub skipped: Vec<SkippedSection>,
}

impl Default for Aggregations {
    fn default() -> Self {
        Aggregations {
            rules: Vec::new(),
            default: default_rule(),
            skipped: Vec::new(),
        }
    }
}

impl Aggregations {
    /// Reads the file; a missing file gives only the built-in default.
    pub fn load(path: &Path) -> Result<Aggregations, ConfigError> {
        match crate::read_conf(path)? {
            Some(text) => Aggregations::parse(&text),
            None => Ok(Aggregations::default()),
        }
    }

    /// Parses storage-aggregation.conf text.
    pub fn parse(text: &str) -> Result<Aggregations, ConfigError> {
        let ini = Ini::parse(text).map_err(|source| ConfigError::Ini {
            context: "storage-aggregation.conf".into(),
            source,
        })?;
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        for section in ini.carbon_section_order() {
            let options = crate::section_items(&ini, section)?;
            let get = |k: &str| {
                options
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
            };
            let x_files_factor = match get("xfilesfactor") {
                None => None,
                Some(raw) => match py_float(raw) {
                    None => {
                        skipped.push(SkippedSection {
                            section: section.clone(),
                            reason: format!("Invalid schemas found in {section}."),
                        });
                        continue;
                    }
                    Some(v) if (0.0..=1.0).contains(&v) => Some(v),
                    Some(_) => {
                        return Err(ConfigError::XFilesFactor {
                            section: section.clone(),
                            value: raw.into(),
                        })
                    }
                },
            };
            let method = match get("aggregationmethod") {
                None => None,
                Some(raw) => Some(raw.parse::<AggregationMethod>().map_err(|_| {
                    ConfigError::AggregationMethod {
                        section: section.clone(),
                        value: raw.into(),
                    }
                })?),
            };
            let pattern = match get("pattern") {
                Some(p) if !p.is_empty() => p.to_string(),
                _ => {
                    skipped.push(SkippedSection {
                        section: section.clone(),
                        reason: format!("Section missing 'pattern': {section}"),
                    });
                    continue;
                }
            };
            let regex = ConfigError::compile_pattern(section, &pattern)?;
            rules.push(AggregationRule {
                name: section.clone(),
                pattern: Some(pattern),
                x_files_factor,
                method,
                regex: Some(regex),
            });
        }
        Ok(Aggregations {
            rules,
            default: default_rule(),
            skipped,
        })
    }

    /// The first rule matching `metric` (pass the tag-normalised name), values possibly unset.
    pub fn rule_for(&self, metric: &str) -> &AggregationRule {
        self.rules
            .iter()
            .find(|r| r.matches(metric))
            .unwrap_or(&self.default)
    }

    /// The (method, xFilesFactor) a new file of `metric` gets, unset values replaced by whisper's defaults.
    pub fn match_metric(&self, metric: &str) -> (AggregationMethod, f64) {
        let rule = self.rule_for(metric);
        (
            rule.method.unwrap_or(DEFAULT_METHOD),
            rule.x_files_factor.unwrap_or(DEFAULT_XFF),
        )
    }

    /// Every usable rule in matching order, the built-in default last.
    pub fn rules(&self) -> impl Iterator<Item = &AggregationRule> {
        self.rules.iter().chain(std::iter::once(&self.default))
    }
}

fn default_rule() -> AggregationRule {
    AggregationRule {
        name: "default".into(),
        pattern: None,
        x_files_factor: None,
        method: None,
        regex: None,
    }
}

/// Python's `float(str)`: surrounding whitespace, `inf`/`nan` spellings and `_` between digits accepted.
pub fn py_float(s: &str) -> Option<f64> {
    let t = crate::ini::py_strip(s);
    let chars: Vec<char> = t.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let around = i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if !around {
                return None;
            }
        }
    }
    let cleaned: String = chars.into_iter().filter(|c| *c != '_').collect();
    let body = cleaned.trim_start_matches(['+', '-']);
    // Rust also accepts forms Python rejects only in spelling of specials; keep to Python's set.
    let lower = body.to_ascii_lowercase();
    if lower.chars().any(|c| c.is_ascii_alphabetic())
        && !matches!(lower.as_str(), "inf" | "infinity" | "nan")
    {
        let exp = lower.find('e');
        let ok_exp = exp.is_some_and(|p| {
            lower[..p].chars().all(|c| c.is_ascii_digit() || c == '.') && {
                let tail = lower[p + 1..].trim_start_matches(['+', '-']);
                !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit())
            }
        });
        if !ok_exp {
            return None;
        }
    }
    if cleaned.len() - body.len() > 1 {
        return None;
    }
    cleaned.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float() {
        for (s, v) in [
            ("0.5", 0.5),
            (" 1 ", 1.0),
            ("1e-1", 0.1),
            ("1_0", 10.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+0", 0.0),
        ] {
            assert_eq!(py_float(s), Some(v), "{s}");
        }
        assert!(py_float("nan").unwrap().is_nan());
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        for s in [
            "", "x", "1_", "_1", "1__0", "0x10", "--1", "1e", "infinit", "1.2.3",
        ] {
            assert_eq!(py_float(s), None, "{s}");
        }
    }

    #[test]
    fn first_match_and_whisper_defaults() {
        let text = "[min]\npattern = \\.min$\nxFilesFactor = 0.1\naggregationMethod = min\n\n[count]\npattern = \\.count$\nxFilesFactor = 0\n\n[sum]\npattern = \\.sum$\naggregationMethod = sum\n\n[all]\npattern = .*\nxFilesFactor = 0.9\naggregationMethod = max\n";
        let a = Aggregations::parse(text).unwrap();
        assert_eq!(a.match_metric("a.min"), (AggregationMethod::Min, 0.1));
        assert_eq!(a.match_metric("a.count"), (AggregationMethod::Average, 0.0));
        assert_eq!(a.match_metric("a.sum"), (AggregationMethod::Sum, 0.5));
        assert_eq!(a.match_metric("a.other"), (AggregationMethod::Max, 0.9));
        assert_eq!(a.rule_for("a.count").name, "count");
        assert_eq!(
            Aggregations::default().match_metric("x"),
            (AggregationMethod::Average, 0.5)
        );
    }

    #[test]
    fn skipped_and_fatal() {
        let a = Aggregations::parse("[a]\npattern = x\nxFilesFactor = lots\naggregationMethod = bogus\n[b]\nxFilesFactor = 0.2\n").unwrap();
        assert_eq!(a.rules().count(), 1);
        assert_eq!(a.skipped.len(), 2);
        assert!(matches!(
            Aggregations::parse("[a]\npattern = x\nxFilesFactor = 1.5\n"),
            Err(ConfigError::XFilesFactor { .. })
        ));
        assert!(matches!(
            Aggregations::parse("[a]\npattern = x\nxFilesFactor = nan\n"),
            Err(ConfigError::XFilesFactor { .. })
        ));
        assert!(matches!(
            Aggregations::parse("[a]\naggregationMethod = median\n"),
            Err(ConfigError::AggregationMethod { .. })
        ));
        assert!(matches!(
            Aggregations::parse("[a]\npattern = [\n"),
            Err(ConfigError::Pattern { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Aggregations::load(&dir.path().join("none.conf"))
                .unwrap()
                .rules()
                .count(),
            1
        );
    }
}
