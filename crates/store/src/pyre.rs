//! Python `re` patterns (as written in storage-schemas.conf and friends) compiled with Rust's `regex`.
//!
//! The two dialects agree on the common core (classes, `\d \w \s \b`, groups, `(?P<name>..)`, inline
//! flags, counted repetition, Unicode by default). Where they differ, the pattern is rewritten so the
//! Rust regex means what Python means: `\Z` becomes `\z`; a `{` that does not start a valid repetition
//! is a literal in Python and is escaped; `{,n}` becomes `{0,n}`; inside a class `[`, `&`, `~` and `-`
//! runs are literals in Python and are escaped (Rust would read nested classes or set operations);
//! `(?#...)` comments are dropped. What `regex` cannot do at all — lookarounds, backreferences, atomic
//! groups, possessive quantifiers, conditionals — is refused with a clear message instead of being
//! silently approximated.

use regex::Regex;

/// Translates and compiles a Python pattern; the error explains what cannot be used.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    compile_with(pattern, false)
}

/// [`compile`] with Python's `re.I` (relay-rules.conf patterns are compiled that way).
pub fn compile_with(pattern: &str, ignore_case: bool) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    regex::RegexBuilder::new(&translated)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|e| format!("not a valid pattern: {e}"))
}

/// Rewrites Python syntax into equivalent `regex` syntax.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let n = chars.len();
    let unsupported = |what: &str| Err(format!("{what} are not supported (Rust regex)"));
    while i < n {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("bad escape (end of pattern)".into());
                };
                match e {
                    '1'..='9' => return unsupported("backreferences"),
                    '0' => return unsupported("octal escapes"),
                    'Z' => out.push_str("\\z"),
                    'z' => return Err("bad escape \\z".into()),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                i += 2;
            }
            '[' => {
                i = translate_class(&chars, i, &mut out)?;
            }
            ']' => {
                out.push_str("\\]");
                i += 1;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    let rest: String = chars[i + 2..].iter().take(3).collect();
                    if rest.starts_with('=')
                        || rest.starts_with('!')
                        || rest.starts_with("<=")
                        || rest.starts_with("<!")
                    {
                        return unsupported("lookaround assertions");
                    }
                    if rest.starts_with("P=") {
                        return unsupported("backreferences");
                    }
                    if rest.starts_with('>') {
                        return unsupported("atomic groups");
                    }
                    if rest.starts_with('(') {
                        return unsupported("conditional groups");
                    }
                    if rest.starts_with('#') {
                        // A comment group runs to the first ')'.
                        match chars[i..].iter().position(|&x| x == ')') {
                            Some(p) => {
                                i += p + 1;
                                continue;
                            }
                            None => return Err("missing ), unterminated comment".into()),
                        }
                    }
                }
                out.push('(');
                i += 1;
            }
            '{' => match repetition(&chars, i) {
                Some((lo, hi, end)) => {
                    out.push('{');
                    out.push_str(if lo.is_empty() { "0" } else { &lo });
                    if let Some(hi) = hi {
                        out.push(',');
                        out.push_str(&hi);
                    }
                    out.push('}');
                    i = end;
                    if chars.get(i) == Some(&'+') {
                        return unsupported("possessive quantifiers");
                    }
                }
                None => {
                    out.push_str("\\{");
                    i += 1;
                }
            },
            '*' | '+' | '?' => {
                out.push(c);
                i += 1;
                if chars.get(i) == Some(&'+') {
                    return unsupported("possessive quantifiers");
                }
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Parses a Python counted repetition at `chars[i] == '{'`: `{m}`, `{m,}`, `{,n}`, `{m,n}`.
/// Returns (min, max text if a comma was present — empty for "unbounded", end index).
fn repetition(chars: &[char], i: usize) -> Option<(String, Option<String>, usize)> {
    let close = chars[i + 1..].iter().position(|&c| c == '}')? + i + 1;
    let body: String = chars[i + 1..close].iter().collect();
    let valid = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match body.split_once(',') {
        None if !body.is_empty() && valid(&body) => Some((body, None, close + 1)),
        Some((lo, hi)) if valid(lo) && valid(hi) => {
            Some((lo.to_string(), Some(hi.to_string()), close + 1))
        }
        _ => None,
    }
}

/// Copies a class starting at `chars[start] == '['`, escaping what Rust would read differently.
/// Returns the index after the closing `]`.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // A `]` right after the opening (or `^`) is a literal in Python.
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    let mut prev_dash = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("bad escape (end of pattern)".into());
                };
                if e.is_ascii_digit() {
                    return unsupported_class_escape();
                }
                out.push('\\');
                out.push(e);
                i += 2;
                prev_dash = false;
                continue;
            }
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' if prev_dash => out.push_str("\\-"),
            _ => out.push(c),
        }
        prev_dash = c == '-';
        i += 1;
    }
    Err("unterminated character set".into())
}

fn unsupported_class_escape() -> Result<usize, String> {
    Err("octal escapes are not supported (Rust regex)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(p: &str, s: &str) -> bool {
        compile(p).unwrap().is_match(s)
    }

    #[test]
    fn common_patterns() {
        assert!(is("^carbon\\.", "carbon.agents.x"));
        assert!(!is("^carbon\\.", "xcarbon.y"));
        assert!(is(";dc=dc1(;|$)", "disk.used;dc=dc1;host=a"));
        assert!(!is(";dc=dc1(;|$)", "disk.used;dc=dc10"));
        assert!(is("\\.min$", "a.b.min"));
        assert!(is(".*", ""));
        assert!(is("(?i)^STATS", "stats.x"));
        assert!(is("^a\\Z", "a"));
        assert!(is("^(?P<x>ab)+$", "abab"));
        assert!(compile_with("^carbon", true).unwrap().is_match("CARBON.x"));
        assert!(!compile_with("^carbon", false).unwrap().is_match("CARBON.x"));
    }

    #[test]
    fn python_literals_rust_would_reject() {
        assert!(is("a{", "a{"));
        assert!(is("{foo}", "x{foo}"));
        assert!(is("^a{,2}$", "aa"));
        assert!(!is("^a{,2}$", "aaa"));
        assert!(is("^a{2}$", "aa"));
        assert!(is("x]", "x]"));
        assert!(is("^[[:alpha:]]$", ":]"));
        assert!(is("^[]a]$", "]"));
        assert!(is("^[a&&b]$", "&"));
        assert!(is("^[a~~b]$", "~"));
        assert!(is("^a(?#comment)b$", "ab"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        for (p, what) in [
            ("a(?=b)", "lookaround"),
            ("(?<!a)b", "lookaround"),
            ("(a)\\1", "backreferences"),
            ("(?P<x>a)(?P=x)", "backreferences"),
            ("(?>a)", "atomic"),
            ("a*+", "possessive"),
            ("a{2}+", "possessive"),
            ("(?(1)a|b)", "conditional"),
        ] {
            let err = compile(p).unwrap_err();
            assert!(err.contains(what), "{p}: {err}");
        }
        assert!(compile("(").is_err());
        assert!(compile("[a").is_err());
        assert!(compile("a\\").is_err());
        assert!(compile("\\z").is_err());
    }
}
