//! POSIX extended regular expressions (what carbon-c-relay compiles with glibc's `regcomp`)
//! rewritten into Rust `regex` syntax with the same meaning where the two dialects disagree.
//!
//! * Outside brackets, `\` before a letter or digit that glibc gives no meaning to is the letter
//!   itself: `\d` matches `d`, not a digit. `\w \W \s \S \b \B \< \> \` \'` are GNU extensions
//!   and keep their meaning (ASCII classes, as in the C locale c-relay runs in).
//! * Inside brackets a backslash is an ordinary character (`[\.]` is backslash or dot), and
//!   `&`, `~` and `[` are literals, while Rust would read escapes, set operations or nesting.
//! * Backreferences (`\1` in a pattern) and collating elements (`[.x.]`, `[=x=]`) cannot be
//!   expressed and are refused with a clear message.
//!
//! Not reproducible: POSIX picks the *longest* leftmost match (`q(x|xy)` on `qxy` matches `qxy`),
//! Rust the first alternative that succeeds (`qx`); configurations whose alternatives are
//! prefixes of each other can capture differently.

/// Rewrites a POSIX ERE into Rust regex syntax.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                i += 2;
                match e {
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str("[[:space:]]"),
                    'S' => out.push_str("[^[:space:]]"),
                    'b' => out.push_str("\\b"),
                    'B' => out.push_str("\\B"),
                    '<' => out.push_str("\\b{start}"),
                    '>' => out.push_str("\\b{end}"),
                    '`' => out.push_str("\\A"),
                    '\'' => out.push_str("\\z"),
                    '1'..='9' => return Err("backreferences are not supported".into()),
                    e if e.is_ascii_alphanumeric() => out.push(e),
                    e => out.push_str(&regex::escape(&e.to_string())),
                }
            }
            '[' => i = bracket(&chars, i, &mut out)?,
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Copies the bracket expression starting at `start` (a `[`); returns the index after it.
fn bracket(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("unmatched [".into());
        };
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' if chars.get(i + 1) == Some(&':') => {
                let rest: String = chars.get(i..).unwrap_or_default().iter().collect();
                let Some(end) = rest.find(":]") else {
                    return Err("unterminated character class [:...:]".into());
                };
                out.push_str(&rest[..end + 2]);
                i += rest[..end + 2].chars().count();
            }
            '[' if matches!(chars.get(i + 1), Some('.' | '=')) => {
                return Err("collating elements [. .] and [= =] are not supported".into());
            }
            '\\' | '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(p: &str, s: &str) -> bool {
        regex::Regex::new(&translate(p).unwrap())
            .unwrap()
            .is_match(s)
    }

    #[test]
    fn glibc_meanings() {
        // Observed with carbon-c-relay 3.7.3 -t.
        assert!(is_match(r"^a\d", "ad") && !is_match(r"^a\d", "a1"));
        assert!(is_match(r"^b\w+$", "bxy_1"));
        assert!(is_match(r"[\.]z", "a\\z") && is_match(r"[\.]z", "a.z"));
        assert!(is_match(r"^e[[:digit:]]+$", "e12"));
        assert!(is_match(r"[]a]", "]") && is_match(r"[^]a]", "b") && !is_match(r"[^]a]", "]"));
        assert!(is_match(r"x[&~]", "x~") && is_match(r"\.\*", ".*"));
        assert!(
            translate(r"(a)\1").is_err()
                && translate("[[.a.]]").is_err()
                && translate("[ab").is_err()
        );
    }
}
