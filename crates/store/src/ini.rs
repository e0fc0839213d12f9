//! An INI reader with the semantics of Python 3's `configparser.ConfigParser`, which is what carbon
//! uses for storage-schemas.conf, storage-aggregation.conf, relay-rules.conf and aggregation-rules.conf.
//!
//! What is reproduced (strict mode, default options): `[section]` headers (the header is everything
//! between the first `[` and the *last* `]` of the line), `key = value` / `key: value` split at the first
//! `=` or `:`, full-line `#`/`;` comments (no inline comments), case-insensitive keys (lower-cased),
//! stripped values, indented continuation lines joined with `\n` (blank lines inside a value kept,
//! trailing ones dropped), the `[DEFAULT]` section whose keys every section inherits, duplicate
//! sections/options as errors, bogus lines collected into one parsing error, and `%(name)s` / `%%`
//! interpolation applied when values are read through [`Ini::items`].
//!
//! carbon reads section names in its own way (`OrderedConfigParser`: a raw scan of lines that look like
//! `[...]` once stripped); [`Ini::carbon_section_order`] gives that list, which can differ from the parsed
//! sections (e.g. `[a] ; note` is a section to ConfigParser but invisible to carbon).

use crate::error::IniError;

/// Name of the section whose keys are inherited by every other section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// ConfigParser gives up interpolating past this nesting depth.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// One parsed section: its options in file order, values not yet interpolated.
#[derive(Debug, Clone, Default)]
struct Section {
    options: Vec<(String, String)>,
}

impl Section {
    fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed INI document.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    defaults: Section,
    sections: Vec<(String, Section)>,
    carbon_order: Vec<String>,
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII information separators.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Splits text into lines the way Python's universal-newline file iteration does (`\n`, `\r\n`, `\r`).
fn py_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Options of one section while parsing: name and the value's lines.
type RawOptions = Vec<(String, Vec<String>)>;

/// Where a parsed line's values go: the DEFAULT section or a regular one (by index).
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Defaults,
    Section(usize),
}

impl Ini {
    /// Parses INI text as `ConfigParser().read_string()` would.
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        let mut ini = Ini::default();
        // Values are collected as line lists and joined at the end, like ConfigParser.
        let mut defaults: RawOptions = Vec::new();
        let mut sections: Vec<(String, RawOptions)> = Vec::new();
        let mut cursect: Option<Target> = None;
        let mut optname: Option<String> = None;
        let mut indent_level = 0usize;
        let mut bogus: Vec<(usize, String)> = Vec::new();
        let mut seen_sections: Vec<String> = Vec::new();

        for (idx, line) in py_lines(text).into_iter().enumerate() {
            let lineno = idx + 1;
            let stripped = py_strip(line);
            if stripped.starts_with('[') && stripped.ends_with(']') && stripped.len() >= 2 {
                ini.carbon_order
                    .push(stripped[1..stripped.len() - 1].to_string());
            }
            let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
            if is_comment {
                // A comment line neither ends nor extends a multi-line value.
                continue;
            }
            if stripped.is_empty() {
                if let (Some(t), Some(name)) = (cursect, optname.as_deref()) {
                    if let Some(vals) = option_values(&mut defaults, &mut sections, t, name) {
                        vals.push(String::new());
                    }
                }
                continue;
            }
            let cur_indent = line.chars().take_while(|c| py_isspace(*c)).count();
            if let (Some(t), Some(name)) = (cursect, optname.as_deref()) {
                if cur_indent > indent_level {
                    if let Some(vals) = option_values(&mut defaults, &mut sections, t, name) {
                        vals.push(stripped.to_string());
                    }
                    continue;
                }
            }
            indent_level = cur_indent;
            if let Some(header) = section_header(stripped) {
                if header == DEFAULT_SECTION {
                    cursect = Some(Target::Defaults);
                } else if let Some(pos) = sections.iter().position(|(n, _)| n == header) {
                    // Strict mode: a section may appear once per file.
                    if seen_sections.iter().any(|s| s == header) {
                        return Err(IniError::DuplicateSection {
                            section: header.to_string(),
                            line: lineno,
                        });
                    }
                    cursect = Some(Target::Section(pos));
                } else {
                    sections.push((header.to_string(), Vec::new()));
                    seen_sections.push(header.to_string());
                    cursect = Some(Target::Section(sections.len() - 1));
                }
                optname = None;
                continue;
            }
            let Some(target) = cursect else {
                return Err(IniError::MissingSectionHeader {
                    line: lineno,
                    text: line.to_string(),
                });
            };
            match split_option(stripped) {
                Some((name, value)) => {
                    if name.is_empty() {
                        bogus.push((lineno, line.to_string()));
                    }
                    let key = name.to_lowercase();
                    let opts = match target {
                        Target::Defaults => &mut defaults,
                        Target::Section(i) => &mut sections[i].1,
                    };
                    if opts.iter().any(|(k, _)| *k == key) {
                        let section = match target {
                            Target::Defaults => DEFAULT_SECTION.to_string(),
                            Target::Section(i) => sections[i].0.clone(),
                        };
                        return Err(IniError::DuplicateOption {
                            section,
                            option: key,
                            line: lineno,
                        });
                    }
                    opts.push((key.clone(), vec![py_strip(value).to_string()]));
                    optname = Some(key);
                }
                None => bogus.push((lineno, line.to_string())),
            }
        }
        if !bogus.is_empty() {
            return Err(IniError::Parsing { lines: bogus });
        }
        let join = |opts: RawOptions| Section {
            options: opts
                .into_iter()
                .map(|(k, v)| (k, v.join("\n").trim_end_matches(py_isspace).to_string()))
                .collect(),
        };
        ini.defaults = join(defaults);
        ini.sections = sections.into_iter().map(|(n, o)| (n, join(o))).collect();
        Ok(ini)
    }

    /// Section names in file order, as ConfigParser's `sections()` returns them (no DEFAULT).
    pub fn sections(&self) -> Vec<&str> {
        self.sections.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Section names as carbon's `OrderedConfigParser.sections()` lists them: every stripped line that
    /// starts with `[` and ends with `]`, in file order, duplicates and DEFAULT included.
    pub fn carbon_section_order(&self) -> &[String] {
        &self.carbon_order
    }

    /// Whether ConfigParser knows the section (DEFAULT counts as present).
    pub fn has_section(&self, section: &str) -> bool {
        section == DEFAULT_SECTION || self.sections.iter().any(|(n, _)| n == section)
    }

    /// The section's options merged over DEFAULT, interpolated, in ConfigParser's `items()` order.
    pub fn items(&self, section: &str) -> Result<Vec<(String, String)>, IniError> {
        let merged = self.merged(section)?;
        merged
            .iter()
            .map(|(k, v)| Ok((k.clone(), interpolate(section, k, v, &merged)?)))
            .collect()
    }

    /// One interpolated value, `None` when the option is absent from the section and DEFAULT.
    pub fn get(&self, section: &str, option: &str) -> Result<Option<String>, IniError> {
        let merged = self.merged(section)?;
        let key = option.to_lowercase();
        match merged.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => Ok(Some(interpolate(section, k, v, &merged)?)),
            None => Ok(None),
        }
    }

    /// ConfigParser's `has_option`: false for an unknown section; DEFAULT options count everywhere.
    pub fn has_option(&self, section: &str, option: &str) -> bool {
        let key = option.to_lowercase();
        if section != DEFAULT_SECTION && !self.has_section(section) {
            return false;
        }
        self.merged(section)
            .is_ok_and(|m| m.iter().any(|(k, _)| *k == key))
    }

    /// ConfigParser's `getboolean`: `1/yes/true/on` and `0/no/false/off` in any case; anything else
    /// is an error, an absent option is `None`.
    pub fn get_bool(&self, section: &str, option: &str) -> Result<Option<bool>, IniError> {
        let Some(value) = self.get(section, option)? else {
            return Ok(None);
        };
        match value.to_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(Some(true)),
            "0" | "no" | "false" | "off" => Ok(Some(false)),
            _ => Err(IniError::NotABoolean {
                section: section.to_string(),
                option: option.to_lowercase(),
                value,
            }),
        }
    }

    /// The raw (uninterpolated) options of a section merged over DEFAULT, defaults first.
    fn merged(&self, section: &str) -> Result<Vec<(String, String)>, IniError> {
        let mut merged: Vec<(String, String)> = self.defaults.options.clone();
        if section != DEFAULT_SECTION {
            let sect = self
                .sections
                .iter()
                .find(|(n, _)| n == section)
                .map(|(_, s)| s)
                .ok_or_else(|| IniError::NoSection {
                    section: section.to_string(),
                })?;
            for (k, v) in &sect.options {
                match merged.iter_mut().find(|(mk, _)| mk == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => merged.push((k.clone(), v.clone())),
                }
            }
        }
        Ok(merged)
    }

    /// The raw value of one option in DEFAULT (for callers that inspect defaults directly).
    pub fn default_value(&self, option: &str) -> Option<&str> {
        self.defaults.get(&option.to_lowercase())
    }
}

fn option_values<'a>(
    defaults: &'a mut [(String, Vec<String>)],
    sections: &'a mut [(String, RawOptions)],
    target: Target,
    name: &str,
) -> Option<&'a mut Vec<String>> {
    let opts = match target {
        Target::Defaults => defaults,
        Target::Section(i) => sections.get_mut(i)?.1.as_mut_slice(),
    };
    opts.iter_mut().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// ConfigParser's `\[(?P<header>.+)\]` matched at the start of the stripped line: greedy, so the header
/// runs to the last `]` and anything after it is ignored.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    if end == 0 {
        return None;
    }
    Some(&rest[..end])
}

/// ConfigParser's option regex: the name runs (non-greedily) up to the first `=` or `:`.
fn split_option(value: &str) -> Option<(&str, &str)> {
    let pos = value.find(['=', ':'])?;
    let name = value[..pos].trim_end_matches(py_isspace);
    Some((name, &value[pos + 1..]))
}

/// BasicInterpolation: `%%` is a literal `%`, `%(name)s` is replaced by another option of the same
/// section (or DEFAULT), recursively; any other `%` is an error.
fn interpolate(
    section: &str,
    option: &str,
    value: &str,
    map: &[(String, String)],
) -> Result<String, IniError> {
    let mut out = String::new();
    interpolate_into(section, option, value, map, 1, &mut out)?;
    Ok(out)
}

fn interpolate_into(
    section: &str,
    option: &str,
    value: &str,
    map: &[(String, String)],
    depth: usize,
    out: &mut String,
) -> Result<(), IniError> {
    if depth > MAX_INTERPOLATION_DEPTH {
        return Err(IniError::InterpolationDepth {
            section: section.to_string(),
            option: option.to_string(),
        });
    }
    let mut rest = value;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let after = &rest[1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            let close = tail
                .find(')')
                .filter(|&c| c > 0 && tail[c + 1..].starts_with('s'));
            let Some(close) = close else {
                return Err(IniError::InterpolationSyntax {
                    section: section.to_string(),
                    option: option.to_string(),
                    message: format!("bad interpolation variable reference {rest:?}"),
                });
            };
            let var = tail[..close].to_lowercase();
            rest = &tail[close + 2..];
            let Some((_, v)) = map.iter().find(|(k, _)| *k == var) else {
                return Err(IniError::InterpolationMissingOption {
                    section: section.to_string(),
                    option: option.to_string(),
                    reference: var,
                });
            };
            if v.contains('%') {
                interpolate_into(section, option, v, map, depth + 1, out)?;
            } else {
                out.push_str(v);
            }
        } else {
            return Err(IniError::InterpolationSyntax {
                section: section.to_string(),
                option: option.to_string(),
                message: format!("'%' must be followed by '%' or '(', found: {rest:?}"),
            });
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(ini: &Ini, s: &str) -> Vec<(String, String)> {
        ini.items(s).unwrap()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn basic_sections_keys_and_comments() {
        let ini = Ini::parse(
            "# c\n[carbon]\nPattern = ^carbon\\.\n; x\nretentions: 60:90d\n\n[b]\nk=v\n",
        )
        .unwrap();
        assert_eq!(ini.sections(), vec!["carbon", "b"]);
        assert_eq!(
            items(&ini, "carbon"),
            kv(&[("pattern", "^carbon\\."), ("retentions", "60:90d")])
        );
        assert_eq!(items(&ini, "b"), kv(&[("k", "v")]));
        assert!(matches!(ini.items("zz"), Err(IniError::NoSection { .. })));
    }

    #[test]
    fn continuation_lines_and_blank_lines() {
        let text = "[s]\nkey = a\n  b\n\n  c\n\n\nother = x\n  # comment inside\n  y\n";
        let ini = Ini::parse(text).unwrap();
        assert_eq!(
            items(&ini, "s"),
            kv(&[("key", "a\nb\n\nc"), ("other", "x\ny")])
        );
    }

    #[test]
    fn first_delimiter_wins_and_header_runs_to_last_bracket() {
        let ini = Ini::parse("[a] junk ] tail\npattern = x:y=z\nk : v = w\n").unwrap();
        assert_eq!(ini.sections(), vec!["a] junk "]);
        assert_eq!(
            items(&ini, "a] junk "),
            kv(&[("pattern", "x:y=z"), ("k", "v = w")])
        );
        // carbon's raw scan does not see a header followed by text.
        assert!(ini.carbon_section_order().is_empty());
    }

    #[test]
    fn default_section_is_inherited() {
        let ini = Ini::parse("[DEFAULT]\nx = 1\n[a]\ny = %(x)s2\n[b]\nx = 3\n").unwrap();
        assert_eq!(ini.sections(), vec!["a", "b"]);
        assert_eq!(items(&ini, "a"), kv(&[("x", "1"), ("y", "12")]));
        assert_eq!(items(&ini, "b"), kv(&[("x", "3")]));
        assert_eq!(items(&ini, "DEFAULT"), kv(&[("x", "1")]));
        assert_eq!(ini.carbon_section_order(), &["DEFAULT", "a", "b"]);
    }

    #[test]
    fn interpolation_rules() {
        let ini = Ini::parse(
            "[a]\np = 100%%\nq = 5%\nr = %(missing)s\ns = %(s)s\nt = %(p)s!\nu = %(p)\n",
        )
        .unwrap();
        assert_eq!(ini.get("a", "p").unwrap().as_deref(), Some("100%"));
        assert_eq!(ini.get("a", "T").unwrap().as_deref(), Some("100%!"));
        assert!(matches!(
            ini.get("a", "q"),
            Err(IniError::InterpolationSyntax { .. })
        ));
        assert!(matches!(
            ini.get("a", "r"),
            Err(IniError::InterpolationMissingOption { .. })
        ));
        assert!(matches!(
            ini.get("a", "s"),
            Err(IniError::InterpolationDepth { .. })
        ));
        assert!(matches!(
            ini.get("a", "u"),
            Err(IniError::InterpolationSyntax { .. })
        ));
        assert_eq!(ini.get("a", "nope").unwrap(), None);
    }

    #[test]
    fn has_option_and_booleans() {
        let ini = Ini::parse("[DEFAULT]\nd = 1\n[a]\nCont = Yes\nno = off\nbad = maybe\n").unwrap();
        assert!(
            ini.has_option("a", "CONT")
                && ini.has_option("a", "d")
                && ini.has_option("DEFAULT", "d")
        );
        assert!(!ini.has_option("a", "x") && !ini.has_option("zz", "d"));
        assert_eq!(ini.get_bool("a", "cont").unwrap(), Some(true));
        assert_eq!(ini.get_bool("a", "no").unwrap(), Some(false));
        assert_eq!(ini.get_bool("a", "d").unwrap(), Some(true));
        assert_eq!(ini.get_bool("a", "absent").unwrap(), None);
        assert!(matches!(
            ini.get_bool("a", "bad"),
            Err(IniError::NotABoolean { .. })
        ));
    }

    #[test]
    fn strict_errors() {
        assert!(matches!(
            Ini::parse("[a]\n[a]\n"),
            Err(IniError::DuplicateSection { line: 2, .. })
        ));
        assert!(matches!(
            Ini::parse("[a]\nk=1\nK=2\n"),
            Err(IniError::DuplicateOption { line: 3, .. })
        ));
        assert!(matches!(
            Ini::parse("k = v\n"),
            Err(IniError::MissingSectionHeader { line: 1, .. })
        ));
        match Ini::parse("[a]\nnovalue\n= v\n[]\n") {
            Err(IniError::Parsing { lines }) => {
                assert_eq!(
                    lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                    vec![2, 3, 4]
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn universal_newlines() {
        let ini = Ini::parse("[a]\r\nk = v\rj = w\r\n").unwrap();
        assert_eq!(items(&ini, "a"), kv(&[("k", "v"), ("j", "w")]));
    }
}
