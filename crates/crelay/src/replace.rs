//! c-relay's replacement strings (`rewrite ... into`, aggregate outputs, `route using`).
//!
//! The matched part of the metric is replaced, the text before and after the match is kept.
//! `\N` inserts group N; `\_` lowercases and `\^` uppercases the group that follows, and a `.`
//! after the backslash (alone or after `_`/`^`) turns dots in it into underscores. Quirks kept on
//! purpose because configurations depend on them: a backslash directly after a reference keeps
//! the case mode, so `\_1\2` lowercases both groups; `\x` for any other `x` is just `x`; an unset
//! or missing group inserts nothing.

use regex::Captures;

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Retain,
    Lower,
    Upper,
}

/// Expands `replacement` for the match in `caps` on `metric`.
pub fn expand(metric: &str, caps: &Captures<'_>, replacement: &str) -> String {
    let whole = caps.get(0).map_or(0..0, |m| m.range());
    let mut out = String::with_capacity(metric.len() + replacement.len());
    out.push_str(metric.get(..whole.start).unwrap_or(""));
    // 0: plain, 1: after a backslash, 2: inside a group number.
    let mut escape = 0u8;
    let mut case = Case::Retain;
    let mut dots = false;
    let mut reference = 0usize;
    let insert = |out: &mut String, reference: usize, case: Case, dots: bool| {
        if reference == 0 {
            return;
        }
        if let Some(g) = caps.get(reference) {
            for ch in g.as_str().chars() {
                let ch = if dots && ch == '.' { '_' } else { ch };
                out.push(match case {
                    Case::Retain => ch,
                    Case::Lower => ch.to_ascii_lowercase(),
                    Case::Upper => ch.to_ascii_uppercase(),
                });
            }
        }
    };
    for p in replacement.chars().map(Some).chain(std::iter::once(None)) {
        if p == Some('\\') && escape == 0 {
            escape = 1;
            case = Case::Retain;
            dots = false;
            continue;
        }
        match p {
            Some('_') if escape == 1 && case == Case::Retain && !dots => case = Case::Lower,
            Some('^') if escape == 1 && case == Case::Retain && !dots => case = Case::Upper,
            Some('.') if escape == 1 => {
                // c-relay: from a dotted mode a second '.' falls back to plain-case dotted.
                if dots {
                    case = Case::Retain;
                }
                dots = true;
            }
            Some(d @ '0'..='9') if escape != 0 => {
                escape = 2;
                reference = reference
                    .saturating_mul(10)
                    .saturating_add(d as usize - '0' as usize);
            }
            _ => {
                if escape != 0 {
                    insert(&mut out, reference, case, dots);
                    reference = 0;
                }
                if p != Some('\\') {
                    escape = 0;
                    case = Case::Retain;
                    dots = false;
                    if let Some(ch) = p {
                        out.push(ch);
                    }
                }
            }
        }
    }
    out.push_str(metric.get(whole.end..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn run(re: &str, metric: &str, repl: &str) -> String {
        let re = Regex::new(re).unwrap();
        expand(metric, &re.captures(metric).unwrap(), repl)
    }

    #[test]
    fn case_dots_and_quirks_as_c_relay() {
        // Observed with carbon-c-relay 3.7.3 -t.
        assert_eq!(
            run(r"^(a)\.(B)(.*)$", "a.B.x.y", r"\_2\^1\.3.\_.3\\1"),
            "b^1_x_y._x_ya"
        );
        assert_eq!(run(r"cpu", "sys.cpu.load", "CPU"), "sys.CPU.load");
        assert_eq!(run(r"^(x)(y)?", "xz", r"[\2]\9"), "[]z");
    }
}
