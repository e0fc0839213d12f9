//! The target grammar (graphite-web's pyparsing grammar, rewritten as a recursive-descent parser).
//!
//! Like graphite, the top level takes the longest *prefix* that parses: an unbalanced call such as
//! `sumSeries(a.b` falls back to the path expression `sumSeries` (which matches nothing).

use crate::error::{QueryError, Result};

/// One node of a parsed target.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A path expression (globs allowed) to be fetched.
    Path(String),
    /// A function call.
    Call(Call),
    /// `template(expr, args...)`: `$name` / `$1` substitution inside `expr`.
    Template(Box<Template>),
    /// An integer literal.
    Int(i64),
    /// A float literal (also integers too large for i64).
    Float(f64),
    /// A string literal, quotes stripped, escapes kept verbatim (as graphite does).
    Str(String),
    /// `true` / `false` in any case.
    Bool(bool),
    /// `None` in any case.
    None,
    /// `inf` in any case.
    Inf,
}

/// A function call `name(args..., kw=value...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The function name.
    pub name: String,
    /// Positional arguments (a piped input comes first).
    pub args: Vec<Expr>,
    /// Keyword arguments in written order.
    pub kwargs: Vec<(String, Expr)>,
    /// The call's source text (used for `seriesByTag` fetches).
    pub raw: String,
}

/// A `template()` wrapper.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The wrapped expression.
    pub inner: Expr,
    /// Positional template values (`$1`, `$2`, ...).
    pub args: Vec<Expr>,
    /// Named template values.
    pub kwargs: Vec<(String, Expr)>,
}

const SYMBOLS: &[u8] = b"(){},.'\"\\|";

/// Parses one target.
pub fn parse_target(text: &str) -> Result<Expr> {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        pos: 0,
        furthest: 0,
        depth: 0,
        too_deep: false,
        memo: std::collections::HashMap::new(),
    };
    p.skip_ws();
    let parsed = p.expression();
    if p.too_deep {
        return Err(QueryError::Parse {
            pos: p.furthest.min(text.len()),
            msg: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    match parsed {
        Some(e) => Ok(e),
        None => Err(QueryError::Parse {
            pos: p.furthest.min(text.len()),
            msg: "expected a function call or a path expression".into(),
        }),
    }
}

/// Deepest nesting of calls accepted; deeper input is a parse error rather than a stack overflow.
pub const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    furthest: usize,
    depth: usize,
    too_deep: bool,
    /// Packrat memo of `expression()` by start offset: the grammar backtracks (template vs call
    /// vs path), and without it crafted nesting costs exponential time.
    memo: std::collections::HashMap<usize, Option<(Expr, usize)>>,
}

fn is_metric_char(c: char) -> bool {
    // pyparsing printables minus the grammar's symbols (UTF8_METRICS off: ASCII only).
    c.is_ascii_graphic() && !SYMBOLS.contains(&(c as u8))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn note(&mut self) {
        self.furthest = self.furthest.max(self.pos);
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.note();
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        Some(self.src[start..self.pos].to_string())
    }

    /// expression := (template | call | path) ('|' call)*
    fn expression(&mut self) -> Option<Expr> {
        let start = self.pos;
        if let Some(hit) = self.memo.get(&start) {
            return hit.clone().map(|(e, end)| {
                self.pos = end;
                e
            });
        }
        if self.depth >= MAX_DEPTH {
            self.too_deep = true;
            self.note();
            return None;
        }
        self.depth += 1;
        let r = self.expression_uncached();
        self.depth -= 1;
        self.memo.insert(start, r.clone().map(|e| (e, self.pos)));
        if r.is_none() {
            self.pos = start;
        }
        r
    }

    fn expression_uncached(&mut self) -> Option<Expr> {
        let save = self.pos;
        let mut e = match self.template() {
            Some(t) => t,
            None => {
                self.pos = save;
                match self.call() {
                    Some(c) => Expr::Call(c),
                    None => {
                        self.pos = save;
                        Expr::Path(self.path()?)
                    }
                }
            }
        };
        loop {
            let save = self.pos;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if self.peek() != Some(b'|') {
                self.pos = save;
                break;
            }
            self.pos += 1;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            match self.call() {
                Some(mut c) => {
                    c.args.insert(0, e);
                    e = Expr::Call(c);
                }
                None => {
                    self.pos = save;
                    break;
                }
            }
        }
        Some(e)
    }

    fn template(&mut self) -> Option<Expr> {
        self.skip_ws();
        if !self.s[self.pos..].starts_with(b"template") {
            return None;
        }
        self.pos += 8;
        if !self.eat(b'(') {
            return None;
        }
        let save = self.pos;
        let inner = match self.call() {
            Some(c) => Expr::Call(c),
            None => {
                self.pos = save;
                Expr::Path(self.path()?)
            }
        };
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        let save = self.pos;
        if self.eat(b',') {
            let after_comma = self.pos;
            if let Some((k, v)) = self.lit_kwarg() {
                kwargs.push((k, v));
                loop {
                    let s2 = self.pos;
                    if !self.eat(b',') {
                        break;
                    }
                    match self.lit_kwarg() {
                        Some(kv) => kwargs.push(kv),
                        None => {
                            self.pos = s2;
                            break;
                        }
                    }
                }
            } else {
                self.pos = after_comma;
                match self.lit_arg() {
                    Some(a) => {
                        args.push(a);
                        loop {
                            let s2 = self.pos;
                            if !self.eat(b',') {
                                break;
                            }
                            let s3 = self.pos;
                            if self.lit_kwarg().is_some() {
                                self.pos = s2;
                                break;
                            }
                            self.pos = s3;
                            match self.lit_arg() {
                                Some(a) => args.push(a),
                                None => {
                                    self.pos = s2;
                                    break;
                                }
                            }
                        }
                    }
                    None => self.pos = save,
                }
            }
        }
        if !self.eat(b')') {
            return None;
        }
        Some(Expr::Template(Box::new(Template {
            inner,
            args,
            kwargs,
        })))
    }

    fn lit_arg(&mut self) -> Option<Expr> {
        let save = self.pos;
        if let Some(n) = self.number() {
            return Some(n);
        }
        self.pos = save;
        self.string().map(Expr::Str)
    }

    fn lit_kwarg(&mut self) -> Option<(String, Expr)> {
        let save = self.pos;
        let name = self.ident()?;
        if !self.eat(b'=') {
            self.pos = save;
            return None;
        }
        match self.lit_arg() {
            Some(v) => Some((name, v)),
            None => {
                self.pos = save;
                None
            }
        }
    }

    fn call(&mut self) -> Option<Call> {
        self.skip_ws();
        let start = self.pos;
        let name = self.ident()?;
        if !self.eat(b'(') {
            return None;
        }
        let mut args = Vec::new();
        let mut kwargs = Vec::new();
        let save = self.pos;
        if self.kwarg().is_none() {
            self.pos = save;
            if let Some(a) = self.arg() {
                args.push(a);
                loop {
                    let s2 = self.pos;
                    if !self.eat(b',') {
                        break;
                    }
                    let s3 = self.pos;
                    if let Some(kv) = self.kwarg() {
                        kwargs.push(kv);
                        loop {
                            let s4 = self.pos;
                            if !self.eat(b',') {
                                break;
                            }
                            match self.kwarg() {
                                Some(kv) => kwargs.push(kv),
                                None => {
                                    self.pos = s4;
                                    break;
                                }
                            }
                        }
                        break;
                    }
                    self.pos = s3;
                    match self.arg() {
                        Some(a) => args.push(a),
                        None => {
                            self.pos = s2;
                            break;
                        }
                    }
                }
            } else {
                self.pos = save;
            }
        } else {
            self.pos = save;
        }
        if !self.eat(b')') {
            return None;
        }
        Some(Call {
            name,
            args,
            kwargs,
            raw: self.src[start..self.pos].to_string(),
        })
    }

    fn kwarg(&mut self) -> Option<(String, Expr)> {
        let save = self.pos;
        let name = self.ident()?;
        if !self.eat(b'=') {
            self.pos = save;
            return None;
        }
        match self.arg() {
            Some(v) => Some((name, v)),
            None => {
                self.pos = save;
                None
            }
        }
    }

    /// arg := boolean | number | none | string | inf | expression (first match wins, no backtracking).
    fn arg(&mut self) -> Option<Expr> {
        self.skip_ws();
        let save = self.pos;
        if let Some(b) = self.keyword(&["true", "false"]) {
            return Some(Expr::Bool(b == 0));
        }
        if let Some(n) = self.number() {
            return Some(n);
        }
        self.pos = save;
        if self.keyword(&["none"]).is_some() {
            return Some(Expr::None);
        }
        if let Some(s) = self.string() {
            return Some(Expr::Str(s));
        }
        self.pos = save;
        if self.keyword(&["inf"]).is_some() {
            return Some(Expr::Inf);
        }
        self.expression()
    }

    fn keyword(&mut self, words: &[&str]) -> Option<usize> {
        self.skip_ws();
        for (i, w) in words.iter().enumerate() {
            let end = self.pos + w.len();
            if let Some(seg) = self.s.get(self.pos..end) {
                if seg.eq_ignore_ascii_case(w.as_bytes())
                    && !matches!(self.s.get(end), Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$')
                {
                    self.pos = end;
                    return Some(i);
                }
            }
        }
        None
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn int_token(&mut self) -> bool {
        let save = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.digits() == 0 {
            self.pos = save;
            return false;
        }
        true
    }

    /// Numbers must be followed by ',' or ')' or the end of the line, as in graphite's grammar.
    fn number(&mut self) -> Option<Expr> {
        self.skip_ws();
        let start = self.pos;
        if !self.int_token() {
            return None;
        }
        let mut is_float = false;
        let save = self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                self.pos = save;
            } else {
                is_float = true;
            }
        }
        let mant_end = self.pos;
        let mut sci = false;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if self.int_token() {
                sci = true;
            } else {
                self.pos = mant_end;
            }
        }
        let end = self.pos;
        let mut look = end;
        while matches!(self.s.get(look), Some(b' ' | b'\t' | b'\r')) {
            look += 1;
        }
        if !matches!(self.s.get(look), None | Some(b',' | b')' | b'\n')) {
            self.pos = start;
            return None;
        }
        let text = &self.src[start..end];
        if sci || is_float {
            text.parse::<f64>().ok().map(Expr::Float)
        } else {
            Some(match text.parse::<i64>() {
                Ok(i) => Expr::Int(i),
                Err(_) => Expr::Float(text.parse::<f64>().unwrap_or(f64::INFINITY)),
            })
        }
    }

    /// pyparsing's quotedString: '...' or "..." with backslash escapes and doubled quotes.
    fn string(&mut self) -> Option<String> {
        self.skip_ws();
        let q = self.peek()?;
        if q != b'\'' && q != b'"' {
            return None;
        }
        let start = self.pos;
        let mut i = self.pos + 1;
        loop {
            match self.s.get(i) {
                None | Some(b'\n' | b'\r') => {
                    self.note();
                    return None;
                }
                Some(b'\\') => {
                    self.s.get(i + 1)?;
                    i += 2;
                }
                Some(c) if *c == q => {
                    if self.s.get(i + 1) == Some(&q) {
                        i += 2;
                    } else {
                        break;
                    }
                }
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        Some(self.src.get(start + 1..i)?.to_string())
    }

    fn partial_elem(&mut self, out: &mut String) -> bool {
        let mut any = false;
        loop {
            match self.peek() {
                Some(b'\\') => match self.s.get(self.pos + 1) {
                    Some(&c) if SYMBOLS.contains(&c) || c == b'=' => {
                        out.push(c as char);
                        self.pos += 2;
                        any = true;
                    }
                    _ => break,
                },
                Some(c) if is_metric_char(c as char) => {
                    out.push(c as char);
                    self.pos += 1;
                    any = true;
                }
                _ => break,
            }
        }
        any
    }

    fn match_enum(&mut self, out: &mut String) -> bool {
        if self.peek() != Some(b'{') {
            return false;
        }
        let save = self.pos;
        let mut buf = String::from("{");
        self.pos += 1;
        loop {
            if !self.partial_elem(&mut buf) {
                self.pos = save;
                return false;
            }
            if self.peek() == Some(b',') {
                buf.push(',');
                self.pos += 1;
                continue;
            }
            break;
        }
        if self.peek() != Some(b'}') {
            self.pos = save;
            return false;
        }
        self.pos += 1;
        buf.push('}');
        out.push_str(&buf);
        true
    }

    fn element(&mut self, out: &mut String) -> bool {
        let mut any = false;
        loop {
            if self.match_enum(out) || self.partial_elem(out) {
                any = true;
            } else {
                break;
            }
        }
        any
    }

    fn path(&mut self) -> Option<String> {
        self.skip_ws();
        let mut out = String::new();
        if !self.element(&mut out) {
            self.note();
            return None;
        }
        loop {
            if self.peek() != Some(b'.') {
                break;
            }
            let save = self.pos;
            let len = out.len();
            self.pos += 1;
            out.push('.');
            if !self.element(&mut out) {
                self.pos = save;
                out.truncate(len);
                break;
            }
        }
        Some(out)
    }
}

/// Path expressions graphite prefetches for a target: positional arguments only (graphite's
/// extractPathExpressions never looks into keyword arguments).
pub fn path_expressions(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Path(p) if !out.contains(p) => out.push(p.clone()),
        Expr::Path(_) => {}
        Expr::Call(c) if c.name == "seriesByTag" && !out.contains(&c.raw) => {
            out.push(c.raw.clone())
        }
        Expr::Call(c) if c.name == "seriesByTag" => {}
        Expr::Call(c) => c.args.iter().for_each(|a| path_expressions(a, out)),
        Expr::Template(t) => path_expressions(&t.inner, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(e: &Expr) -> &Call {
        match e {
            Expr::Call(c) => c,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn nested_calls_and_literals() {
        let e = parse_target("summarize(sumSeries(a.*.b), \"5min\", 'sum', TRUE)").unwrap();
        let c = call(&e);
        assert_eq!(c.name, "summarize");
        assert_eq!(c.args[1], Expr::Str("5min".into()));
        assert_eq!(c.args[3], Expr::Bool(true));
        assert_eq!(call(&c.args[0]).args[0], Expr::Path("a.*.b".into()));
    }

    #[test]
    fn numbers() {
        let e = parse_target("f(x, -2.5, 1e3, 7, None, inf, k=-1)").unwrap();
        let c = call(&e);
        assert_eq!(
            c.args[1..],
            [
                Expr::Float(-2.5),
                Expr::Float(1000.0),
                Expr::Int(7),
                Expr::None,
                Expr::Inf
            ]
        );
        assert_eq!(c.kwargs, vec![("k".to_string(), Expr::Int(-1))]);
    }

    #[test]
    fn unbalanced_is_a_path() {
        assert_eq!(
            parse_target("sumSeries(a.b").unwrap(),
            Expr::Path("sumSeries".into())
        );
        assert_eq!(parse_target("f(a=1)").unwrap(), Expr::Path("f".into()));
        assert_eq!(
            parse_target("f(x,1,a=2,3)").unwrap(),
            Expr::Path("f".into())
        );
    }

    #[test]
    fn path_chars() {
        assert_eq!(
            parse_target("a.{b,c}d[1-2].e-f:g@h;t=v~$x").unwrap(),
            Expr::Path("a.{b,c}d[1-2].e-f:g@h;t=v~$x".into())
        );
        assert_eq!(parse_target("a\\(b.c").unwrap(), Expr::Path("a(b.c".into()));
    }

    #[test]
    fn pipes() {
        let e = parse_target("a.b|scale(2) | alias('x')").unwrap();
        let c = call(&e);
        assert_eq!(c.name, "alias");
        assert_eq!(call(&c.args[0]).args[0], Expr::Path("a.b".into()));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "f(".repeat(10_000) + "a" + &")".repeat(10_000);
        assert!(matches!(parse_target(&deep), Err(QueryError::Parse { .. })));
        let ok = "f(".repeat(50) + "a" + &")".repeat(50);
        assert!(parse_target(&ok).is_ok());
    }

    #[test]
    fn backtracking_stays_cheap() {
        // Each unclosed template( is tried as a template, then as a call: memoized, not 2^n.
        let t = "template(".repeat(100) + "a";
        assert!(parse_target(&t).is_ok());
        let k = "f(x,a=".repeat(100) + "b";
        assert!(parse_target(&k).is_ok());
    }

    #[test]
    fn errors_carry_position() {
        assert!(matches!(
            parse_target("("),
            Err(QueryError::Parse { pos: 0, .. })
        ));
        assert!(parse_target("").is_err());
    }
}
