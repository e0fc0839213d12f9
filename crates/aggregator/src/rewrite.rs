//! rewrite-rules.conf: `[pre]` / `[post]` sections of `python-regex = replacement` lines.
//!
//! Each rule is Python's `re.sub(pattern, replacement, metric)` (all matches replaced). The
//! replacement uses Python's template syntax (`\1`, `\g<name>`, `\g<1>`, `\n`-style escapes), not
//! Rust's `$1`, so it is parsed here. Like carbon, a section heading clears any earlier section
//! of the same name, and lines before the first heading belong to no ruleset that is ever used.
//! Where carbon logs and skips an invalid regex, this returns an error: a rule that silently
//! vanishes is worse at startup than a refusal.

use std::path::Path;

use regex::Regex;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// One `pattern = replacement` line.
#[derive(Debug, Clone)]
pub struct RewriteRule {
    /// Pattern as written (Python syntax).
    pub pattern: String,
    /// Replacement as written (Python template syntax).
    pub replacement: String,
    regex: Regex,
    template: Vec<Piece>,
}

impl RewriteRule {
    /// Compiles a rule; errors name what Python would refuse or what Rust regex cannot do.
    pub fn new(pattern: &str, replacement: &str) -> std::result::Result<Self, String> {
        let regex = store::pyre::compile(pattern)?;
        let template = parse_template(replacement)?;
        for piece in &template {
            match piece {
                Piece::Group(n) if *n >= regex.captures_len() => {
                    return Err(format!("invalid group reference {n}"));
                }
                Piece::Named(name) if !regex.capture_names().any(|c| c == Some(name.as_str())) => {
                    return Err(format!("unknown group name {name:?}"));
                }
                _ => {}
            }
        }
        Ok(RewriteRule {
            pattern: pattern.to_owned(),
            replacement: replacement.to_owned(),
            regex,
            template,
        })
    }

    /// The metric with every match replaced, iterating matches the way Python 3.7+ `re.sub`
    /// does: an empty match right after a non-empty one is replaced too (`x*` on `xa` gives
    /// `--a-`), where Rust's own `replace_all` would skip it.
    pub fn apply(&self, metric: &str) -> String {
        let mut out = String::with_capacity(metric.len());
        let (mut last, mut start, mut must_advance) = (0, 0, false);
        while start <= metric.len() {
            let Some(caps) = self.regex.captures_at(metric, start) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            if must_advance && m.is_empty() && m.start() == start {
                match metric.get(start..).and_then(|rest| rest.chars().next()) {
                    Some(c) => {
                        start += c.len_utf8();
                        must_advance = false;
                        continue;
                    }
                    None => break,
                }
            }
            out.push_str(metric.get(last..m.start()).unwrap_or(""));
            for piece in &self.template {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |g| g.as_str())),
                    Piece::Named(n) => out.push_str(caps.name(n).map_or("", |g| g.as_str())),
                }
            }
            last = m.end();
            must_advance = m.is_empty();
            start = m.end();
        }
        out.push_str(metric.get(last..).unwrap_or(""));
        out
    }
}

fn parse_template(t: &str) -> std::result::Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = t.chars().peekable();
    let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(text)));
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err("bad escape (end of replacement)".into());
        };
        match e {
            'g' => {
                if chars.next() != Some('<') {
                    return Err("missing < after \\g".into());
                }
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('>') => break,
                        Some(ch) => name.push(ch),
                        None => return Err("missing > in \\g<...>".into()),
                    }
                }
                flush(&mut text, &mut pieces);
                if let Ok(n) = name.parse::<usize>() {
                    pieces.push(Piece::Group(n));
                } else if !name.is_empty() && name.chars().all(|c| c == '_' || c.is_alphanumeric())
                {
                    pieces.push(Piece::Named(name));
                } else {
                    return Err(format!("bad group name {name:?}"));
                }
            }
            '0'..='9' => {
                let mut digits = String::from(e);
                if let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                let octal = |s: &str| s.chars().all(|c| ('0'..='7').contains(&c));
                let third = chars.peek().copied().filter(|d| ('0'..='7').contains(d));
                if e == '0' || (digits.len() == 2 && octal(&digits) && third.is_some()) {
                    // Python reads \0, \0N, \0NN and \NNN (octal) as a character, not a group.
                    if e != '0' || digits.len() == 2 {
                        if let Some(d) = third {
                            digits.push(d);
                            chars.next();
                        }
                    } else if let Some(&d) = chars.peek().filter(|d| ('0'..='7').contains(d)) {
                        digits.push(d);
                        chars.next();
                    }
                    let code = u32::from_str_radix(&digits, 8).map_err(|e| e.to_string())?;
                    let ch = char::from_u32(code).ok_or("bad octal escape")?;
                    text.push(ch);
                } else {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Group(
                        digits.parse().map_err(|_| "bad group number")?,
                    ));
                }
            }
            'n' => text.push('\n'),
            't' => text.push('\t'),
            'r' => text.push('\r'),
            'f' => text.push('\x0c'),
            'v' => text.push('\x0b'),
            'a' => text.push('\x07'),
            'b' => text.push('\x08'),
            '\\' => text.push('\\'),
            c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
            c => {
                text.push('\\');
                text.push(c);
            }
        }
    }
    flush(&mut text, &mut pieces);
    Ok(pieces)
}

/// The rulesets of one rewrite-rules.conf.
#[derive(Debug, Clone, Default)]
pub struct RewriteRules {
    /// Rules applied before aggregation (`[pre]`).
    pub pre: Vec<RewriteRule>,
    /// Rules applied after aggregation (`[post]`).
    pub post: Vec<RewriteRule>,
}

impl RewriteRules {
    /// Parses rewrite-rules.conf text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut rules = RewriteRules::default();
        // None: before any heading, or in a section carbon never consults.
        let mut section: Option<bool> = None;
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |message: String| Error::Syntax {
                line: idx + 1,
                message,
            };
            if line.starts_with('[') && line.ends_with(']') {
                let name = line[1..line.len() - 1].to_lowercase();
                section = match name.as_str() {
                    "pre" => Some(true),
                    "post" => Some(false),
                    _ => None,
                };
                match section {
                    Some(true) => rules.pre.clear(),
                    Some(false) => rules.post.clear(),
                    None => {}
                }
            } else if let Some((pattern, replacement)) = line.split_once('=') {
                let rule = RewriteRule::new(pattern.trim(), replacement.trim())
                    .map_err(|m| syntax(format!("rule {pattern:?}: {m}")))?;
                match section {
                    Some(true) => rules.pre.push(rule),
                    Some(false) => rules.post.push(rule),
                    None => {}
                }
            } else {
                return Err(syntax(format!("not a section heading or rule: {line:?}")));
            }
        }
        Ok(rules)
    }

    /// Reads and parses a rewrite-rules.conf file; a missing file means no rules, as in carbon.
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Applies the `[pre]` rules in order.
    pub fn apply_pre(&self, metric: &str) -> String {
        apply_all(&self.pre, metric)
    }

    /// Applies the `[post]` rules in order.
    pub fn apply_post(&self, metric: &str) -> String {
        apply_all(&self.post, metric)
    }
}

fn apply_all(rules: &[RewriteRule], metric: &str) -> String {
    let mut name = metric.to_owned();
    for rule in rules {
        name = rule.apply(&name);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_template_syntax() {
        let r = RewriteRule::new(r"^(?P<a>\w+)\.(\w+)", r"\2.\g<a>.\g<1>\n").unwrap();
        assert_eq!(r.apply("x.y.z"), "y.x.x\n.z");
        assert!(RewriteRule::new("(a)", r"\2").is_err());
        assert!(RewriteRule::new("(a)", r"\q").is_err());
        assert_eq!(
            RewriteRule::new("a", r"$1\.").unwrap().apply("bab"),
            r"b$1\.b"
        );
    }

    #[test]
    fn sections_and_errors() {
        let r = RewriteRules::parse("[pre]\na = b\n[POST]\nx=y\n[pre]\nc = d\n").unwrap();
        assert_eq!(r.apply_pre("abc"), "abd");
        assert_eq!(r.apply_post("xx"), "yy");
        let e = RewriteRules::parse("[pre]\n\nnonsense\n").unwrap_err();
        assert!(matches!(e, Error::Syntax { line: 3, .. }), "{e}");
    }
}
