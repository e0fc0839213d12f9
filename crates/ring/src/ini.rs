//! The subset of Python's `configparser.ConfigParser` that relay-rules.conf relies on.
//!
//! Kept behaviours: `#`/`;` full-line comments, `=` or `:` delimiters (whichever comes first),
//! lower-cased keys, indented continuation lines, `[DEFAULT]` options inherited by every section,
//! `%%` interpolation. Errors where Python errors (duplicate section/option, option outside a
//! section, a line without delimiter); also an error, where carbon would silently drop a rule:
//! a section header line that does not end in `]`, and `%(name)s` interpolation.

use crate::error::{Error, Result};

/// One section: name and options in file order (keys lower-cased, values raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name as written.
    pub name: String,
    /// (key, value, 1-based line) in file order.
    pub options: Vec<(String, String, usize)>,
    /// Line of the header.
    pub line: usize,
}

/// A parsed INI file.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    /// Sections in file order, `DEFAULT` included where it appears (carbon lists it too).
    pub sections: Vec<Section>,
    defaults: Vec<(String, String, usize)>,
}

impl Ini {
    /// Parses INI text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut ini = Ini::default();
        // (section index or None for DEFAULT, option index) of the value being continued.
        let mut current: Option<Option<usize>> = None;
        let mut cont: Option<(Option<usize>, usize, usize)> = None;
        let mut pending_blank = 0usize;
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let err = |reason: String| Error::Ini {
                line: line_no,
                reason,
            };
            let stripped = raw.trim();
            if stripped.starts_with('#') || stripped.starts_with(';') {
                continue;
            }
            if stripped.is_empty() {
                if cont.is_some() {
                    pending_blank += 1;
                }
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let Some((sect, opt, opt_indent)) = cont {
                if indent > opt_indent {
                    let target = match sect {
                        Some(s) => &mut ini.sections[s].options[opt].1,
                        None => &mut ini.defaults[opt].1,
                    };
                    for _ in 0..pending_blank {
                        target.push('\n');
                    }
                    pending_blank = 0;
                    target.push('\n');
                    target.push_str(stripped);
                    continue;
                }
            }
            pending_blank = 0;
            cont = None;
            if stripped.starts_with('[') {
                let Some(close) = stripped.rfind(']') else {
                    return Err(err("section header without ']'".into()));
                };
                if close != stripped.len() - 1 {
                    return Err(err(
                        "text after a section header (carbon would ignore the section)".into(),
                    ));
                }
                let name = &stripped[1..close];
                if name.is_empty() {
                    return Err(err("empty section name".into()));
                }
                if name == "DEFAULT" {
                    ini.sections.push(Section {
                        name: name.to_owned(),
                        options: Vec::new(),
                        line: line_no,
                    });
                    current = Some(None);
                    continue;
                }
                if ini.sections.iter().any(|s| s.name == name) {
                    return Err(err(format!("duplicate section [{name}]")));
                }
                ini.sections.push(Section {
                    name: name.to_owned(),
                    options: Vec::new(),
                    line: line_no,
                });
                current = Some(Some(ini.sections.len() - 1));
                continue;
            }
            let Some(sect) = current else {
                return Err(err("option outside of any section".into()));
            };
            let Some(delim) = stripped.find(['=', ':']) else {
                return Err(err(format!("no '=' or ':' in {stripped:?}")));
            };
            let key = stripped[..delim].trim().to_lowercase();
            if key.is_empty() {
                return Err(err("empty option name".into()));
            }
            let value = stripped[delim + 1..].trim().to_owned();
            let opts = match sect {
                Some(s) => &mut ini.sections[s].options,
                None => &mut ini.defaults,
            };
            if opts.iter().any(|(k, _, _)| *k == key) {
                return Err(err(format!("duplicate option {key:?}")));
            }
            opts.push((key, value, line_no));
            cont = Some((sect, opts.len() - 1, indent));
        }
        Ok(ini)
    }

    /// Value of `key` in section `section` (falling back to `[DEFAULT]`), interpolated.
    pub fn get(&self, section: &Section, key: &str) -> Result<Option<String>> {
        let found = if section.name == "DEFAULT" {
            None
        } else {
            section.options.iter().find(|(k, _, _)| k == key)
        };
        let found = found.or_else(|| self.defaults.iter().find(|(k, _, _)| k == key));
        match found {
            None => Ok(None),
            Some((_, v, line)) => interpolate(v).map(Some).map_err(|reason| Error::Ini {
                line: *line,
                reason,
            }),
        }
    }

    /// Boolean value as ConfigParser.getboolean reads it.
    pub fn get_bool(&self, section: &Section, key: &str) -> Result<Option<bool>> {
        let Some(v) = self.get(section, key)? else {
            return Ok(None);
        };
        match v.to_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(Some(true)),
            "0" | "no" | "false" | "off" => Ok(Some(false)),
            _ => Err(Error::Ini {
                line: section.line,
                reason: format!("not a boolean: {key} = {v:?}"),
            }),
        }
    }
}

fn interpolate(v: &str) -> std::result::Result<String, String> {
    if !v.contains('%') {
        return Ok(v.to_owned());
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('(') => return Err(format!("%(name)s interpolation is not supported: {v:?}")),
            _ => return Err(format!("'%' must be followed by '%' in {v:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let ini = Ini::parse(
            "# c\n[a]\nPattern = ^x\ndestinations: h:1:a,\n   h:2:b\n\n; c\n[DEFAULT]\ncontinue = yes\n[b]\nv = 100%%\n",
        )
        .unwrap();
        let names: Vec<_> = ini.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "DEFAULT", "b"]);
        let a = &ini.sections[0];
        assert_eq!(ini.get(a, "pattern").unwrap().as_deref(), Some("^x"));
        assert_eq!(
            ini.get(a, "destinations").unwrap().as_deref(),
            Some("h:1:a,\nh:2:b")
        );
        assert_eq!(ini.get_bool(a, "continue").unwrap(), Some(true));
        assert_eq!(
            ini.get(&ini.sections[2], "v").unwrap().as_deref(),
            Some("100%")
        );
    }

    #[test]
    fn errors() {
        for bad in [
            "x = 1\n",
            "[a]\nnovalue\n",
            "[a]\n[a]\n",
            "[a]\nk=1\nk=2\n",
            "[a] junk\n",
            "[a]\n = 1\n",
            "[a]\nk = 5%\n[b]\n",
        ] {
            let r = Ini::parse(bad).and_then(|i| {
                for s in &i.sections {
                    i.get(s, "k")?;
                }
                Ok(i)
            });
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
