//! Glob matching for one path component, exactly as graphite-web does it: `{a,b}` alternatives
//! expanded first (`expand_braces`), then each variant matched with Python's `fnmatch` (full match,
//! case-sensitive, `*` and `?` match any character including `.`, `[...]`/`[!...]` classes with Python's
//! own treatment of ranges, reversed ranges and unclosed brackets; no escaping: `\` is an ordinary
//! character).

use std::collections::HashSet;

/// One element of a class: a single character or an inclusive range.
#[derive(Debug, Clone, PartialEq)]
enum ClassItem {
    Char(char),
    Range(char, char),
}

/// One compiled pattern token.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
    Never,
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::AnyChar => true,
            Token::Star => true,
            Token::Class { negated, items } => {
                let hit = items.iter().any(|i| match i {
                    ClassItem::Char(x) => *x == c,
                    ClassItem::Range(lo, hi) => *lo <= c && c <= *hi,
                });
                hit != *negated
            }
            Token::Never => false,
        }
    }
}

/// A compiled `fnmatch` pattern (one brace-free variant).
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    /// Fast path for patterns that are only `*`.
    match_all: bool,
    /// The literal text every match starts with (cheap rejection of most names).
    prefix: String,
}

impl Glob {
    /// Compiles a brace-free pattern with `fnmatch.translate` semantics.
    pub fn new(pattern: &str) -> Glob {
        let tokens = compile(&pattern.chars().collect::<Vec<_>>());
        let match_all = tokens == [Token::Star];
        let prefix = tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect();
        Glob {
            tokens,
            match_all,
            prefix,
        }
    }

    /// Whether the whole `name` matches (like `fnmatch.fnmatchcase`).
    pub fn is_match(&self, name: &str) -> bool {
        if self.match_all {
            return true;
        }
        if !name.starts_with(self.prefix.as_str()) {
            return false;
        }
        match_tokens(&self.tokens, name)
    }
}

/// graphite-web's `has_wildcard` test: only `*`, `?` and `[` make a component a glob; anything else
/// is looked up literally.
pub fn has_wildcard(variant: &str) -> bool {
    variant.contains(['*', '?', '['])
}

/// Python's `fnmatch.translate` turned into tokens instead of regex text.
fn compile(pat: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    let n = pat.len();
    let mut i = 0;
    while i < n {
        let c = pat[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
            }
            '?' => out.push(Token::AnyChar),
            '[' => {
                let mut j = i;
                if j < n && pat[j] == '!' {
                    j += 1;
                }
                if j < n && pat[j] == ']' {
                    j += 1;
                }
                while j < n && pat[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push(Token::Literal('['));
                } else {
                    out.push(class_token(pat, i, j));
                    i = j + 1;
                }
            }
            other => out.push(Token::Literal(other)),
        }
    }
    out
}

/// Builds the class for `pat[i..j]` (between `[` and `]`) the way fnmatch does: it first rewrites the
/// text into a Python regex class body ("stuff"), dropping reversed ranges, then `re` parses that body.
/// Both steps are reproduced so every edge case lands where Python's does.
fn class_token(pat: &[char], i: usize, j: usize) -> Token {
    // Step 1: fnmatch's rewrite. Escaped characters are kept as (true, c) pairs.
    let mut stuff: Vec<(bool, char)> = Vec::new();
    let body = &pat[i..j];
    if !body.contains(&'-') {
        stuff.extend(body.iter().map(|&c| (c == '\\', c)));
    } else {
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut start = i;
        let mut k = if pat[i] == '!' { i + 2 } else { i + 1 };
        loop {
            let found = (k..j).find(|&x| pat[x] == '-');
            let Some(found) = found else { break };
            chunks.push(pat[start..found].to_vec());
            start = found + 1;
            k = found + 3;
        }
        let last = pat.get(start..j).map(|s| s.to_vec()).unwrap_or_default();
        if !last.is_empty() {
            chunks.push(last);
        } else if let Some(prev) = chunks.last_mut() {
            prev.push('-');
        }
        // Remove empty (reversed) ranges: they are invalid in `re`.
        let mut k = chunks.len().saturating_sub(1);
        while k > 0 {
            let prev_last = chunks[k - 1].last().copied();
            let next_first = chunks[k].first().copied();
            if let (Some(a), Some(b)) = (prev_last, next_first) {
                if a > b {
                    let tail: Vec<char> = chunks[k][1..].to_vec();
                    let prev = &mut chunks[k - 1];
                    prev.pop();
                    prev.extend(tail);
                    chunks.remove(k);
                }
            }
            k -= 1;
        }
        for (ci, chunk) in chunks.iter().enumerate() {
            if ci > 0 {
                stuff.push((false, '-'));
            }
            stuff.extend(chunk.iter().map(|&c| (c == '\\' || c == '-', c)));
        }
    }
    for item in stuff.iter_mut() {
        if matches!(item.1, '&' | '~' | '|') {
            item.0 = true;
        }
    }
    if stuff.is_empty() {
        return Token::Never;
    }
    if stuff == [(false, '!')] {
        return Token::AnyChar;
    }
    let negated = stuff[0] == (false, '!');
    if negated {
        stuff.remove(0);
    } else if matches!(stuff[0], (false, '^') | (false, '[')) {
        stuff[0].0 = true;
    }
    // Step 2: `re`'s class parser over the body. A leading unescaped `]` is literal (re allows it);
    // an unescaped `-` between two items forms a range, elsewhere it is literal.
    let mut items = Vec::new();
    let mut p = 0;
    while p < stuff.len() {
        let (_, c) = stuff[p];
        if p + 2 < stuff.len() && stuff[p + 1] == (false, '-') {
            let hi = stuff[p + 2].1;
            // fnmatch never emits a reversed range here, but be safe rather than panic.
            if c <= hi {
                items.push(ClassItem::Range(c, hi));
            }
            p += 3;
        } else {
            items.push(ClassItem::Char(c));
            p += 1;
        }
    }
    Token::Class { negated, items }
}

/// Classic wildcard matching: one backtrack point at the last `*`, which is exact for globs because the
/// pieces between stars have fixed length. Works on byte offsets of `name` to avoid allocating.
fn match_tokens(tokens: &[Token], name: &str) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = name[s..].chars().next() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, s));
                t += 1;
            }
            Some(tok) if tok.matches(c) => {
                t += 1;
                s += c.len_utf8();
            }
            _ => match star {
                Some((st, ss)) => {
                    // Let the star swallow one more character and retry from there.
                    let step = name[ss..].chars().next().map_or(1, char::len_utf8);
                    t = st + 1;
                    s = ss + step;
                    star = Some((st, s));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

/// graphite-web's `expand_braces`: repeatedly expands the leftmost innermost `{...}` (one with no brace
/// inside) into its comma-separated alternatives; unbalanced braces stay literal. Returns the distinct
/// variants, or `None` if there would be more than `max_variants`.
pub fn expand_braces(s: &str, max_variants: usize) -> Option<Vec<String>> {
    if innermost_brace(s).is_none() {
        return Some(vec![s.to_string()]);
    }
    let mut done: Vec<String> = Vec::new();
    let mut seen_done: HashSet<String> = HashSet::new();
    let mut seen_work: HashSet<String> = HashSet::new();
    let mut work = vec![s.to_string()];
    while let Some(cur) = work.pop() {
        match innermost_brace(&cur) {
            Some((open, close)) => {
                let inner = &cur[open + 1..close];
                for alt in inner.split(',') {
                    let next = format!("{}{}{}", &cur[..open], alt, &cur[close + 1..]);
                    if seen_work.insert(next.clone()) {
                        if seen_work.len() > max_variants.saturating_mul(8).max(64) {
                            return None;
                        }
                        work.push(next);
                    }
                }
            }
            None => {
                if seen_done.insert(cur.clone()) {
                    done.push(cur);
                    if done.len() > max_variants {
                        return None;
                    }
                }
            }
        }
    }
    Some(done)
}

/// Position of the first `{` whose next brace character is a `}` (the regex `\{[^{}]*\}`).
fn innermost_brace(s: &str) -> Option<(usize, usize)> {
    let mut open: Option<usize> = None;
    for (i, c) in s.char_indices() {
        match c {
            '{' => open = Some(i),
            '}' => {
                if let Some(o) = open {
                    return Some((o, i));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).is_match(s)
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", ""));
        assert!(m("*", ".hidden"));
        assert!(m("a*b", "ab"));
        assert!(m("a*b", "axxbxb"));
        assert!(!m("a*b", "axxbx"));
        assert!(m("*a*a*", "banana"));
        assert!(m("?", "é"));
        assert!(!m("?", ""));
        assert!(m("a?c", "a.c"));
        assert!(m("a**", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[!abc]", "d"));
        assert!(!m("[!abc]", "a"));
        assert!(m("[a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(m("[", "["));
        assert!(m("a[b", "a[b"));
        assert!(m("[\\]", "\\"));
        assert!(m("[^a]", "^"));
        assert!(!m("[^a]", "b"));
        // Reversed ranges are dropped; an empty class never matches, a negated empty one matches all.
        assert!(!m("[z-a]", "m"));
        assert!(m("[!z-a]", "m"));
        assert!(m("[a-c-e]", "-"));
        assert!(m("[a-c-e]", "e"));
        assert!(!m("[a-c-e]", "d"));
        assert!(m("[a--b]", "b"));
        assert!(!m("[a--b]", "a"));
        assert!(m("[&~|]", "~"));
    }

    #[test]
    fn braces() {
        let mut v = expand_braces("{a,b}x{c,d}", 100).unwrap();
        v.sort();
        assert_eq!(v, vec!["axc", "axd", "bxc", "bxd"]);
        let mut v = expand_braces("{a,{b,c}}", 100).unwrap();
        v.sort();
        assert_eq!(v, vec!["a", "b", "c"]);
        assert_eq!(expand_braces("{a", 100).unwrap(), vec!["{a"]);
        let mut v = expand_braces("a{,b}", 100).unwrap();
        v.sort();
        assert_eq!(v, vec!["a", "ab"]);
        assert_eq!(expand_braces("x{}y", 100).unwrap(), vec!["xy"]);
        assert!(expand_braces(&"{a,b,c,d}".repeat(8), 1000).is_none());
    }
}
