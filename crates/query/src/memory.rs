//! An in-memory [`Fetcher`] that slices stored archives the way whisper's fetch does; used by
//! tests here and in the web crate, and handy for embedding.

use crate::context::{FetchError, FetchRequest, Fetcher};
use crate::series::Series;

/// One archive of a stored metric: values at `start + i*step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// Seconds per point.
    pub step: i64,
    /// Seconds covered.
    pub retention: i64,
    /// Timestamp of `values[0]`.
    pub start: i64,
    /// Stored values (None = no point).
    pub values: Vec<Option<f64>>,
}

/// A stored metric: name and archives from finest to coarsest.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Dotted metric name.
    pub name: String,
    /// Archives, finest first.
    pub archives: Vec<Archive>,
}

/// A fetcher over metrics held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryFetcher {
    metrics: Vec<Metric>,
    /// Names registered in the tag index (what `seriesByTag` searches), like graphite's TagDB.
    tag_index: std::collections::BTreeSet<String>,
}

impl MemoryFetcher {
    /// An empty store.
    pub fn new() -> MemoryFetcher {
        MemoryFetcher::default()
    }

    /// Adds a metric.
    pub fn insert(&mut self, m: Metric) {
        self.metrics.push(m);
    }

    /// Adds a tagged metric (`name;tag=value;...`) and registers it in the tag index.
    pub fn insert_tagged(&mut self, m: Metric) {
        self.tag_index.insert(m.name.clone());
        self.metrics.push(m);
    }

    /// graphite's TagDB search for the raw text of a `seriesByTag(...)` call.
    fn series_by_tag(&self, raw: &str, req: &FetchRequest<'_>) -> Result<Vec<Series>, FetchError> {
        let specs = parse_series_by_tag(raw)?;
        Ok(self
            .metrics
            .iter()
            .filter(|m| self.tag_index.contains(&m.name))
            .filter(|m| {
                let tags = crate::series::tags_from_name(&m.name);
                specs.iter().all(|s| s.matches(&tags))
            })
            .filter_map(|m| MemoryFetcher::fetch_metric(m, req.from, req.until, req.now))
            .collect())
    }

    /// whisper's fetch: clamp to retention, pick the first archive covering `now - from`, and
    /// return the points in `(from - from%step + step) .. (until - until%step + step)`.
    pub fn fetch_metric(m: &Metric, from: i64, until: i64, now: i64) -> Option<Series> {
        let max_ret = m.archives.iter().map(|a| a.retention).max()?;
        let oldest = now - max_ret;
        if from > now || until < oldest || from > until {
            return None;
        }
        let from = from.max(oldest);
        let until = until.min(now);
        let diff = now - from;
        let arch = m
            .archives
            .iter()
            .find(|a| a.retention >= diff)
            .or_else(|| m.archives.last())?;
        let step = arch.step.max(1);
        let from_i = from - from.rem_euclid(step) + step;
        let mut until_i = until - until.rem_euclid(step) + step;
        if from_i == until_i {
            until_i += step;
        }
        let values = (0..(until_i - from_i) / step)
            .map(|k| {
                let ts = from_i + k * step;
                let off = ts - arch.start;
                if off < 0 || off % step != 0 {
                    return None;
                }
                arch.values.get((off / step) as usize).copied().flatten()
            })
            .collect();
        Some(Series::new(m.name.clone(), from_i, until_i, step, values))
    }
}

impl Fetcher for MemoryFetcher {
    fn fetch(&self, req: &FetchRequest<'_>) -> Result<Vec<Series>, FetchError> {
        if req.path_expression.starts_with("seriesByTag(") {
            return self.series_by_tag(req.path_expression, req);
        }
        let pattern = req.path_expression.split('.').collect::<Vec<_>>();
        Ok(self
            .metrics
            .iter()
            .filter(|m| {
                let parts: Vec<&str> = m.name.split('.').collect();
                parts.len() == pattern.len()
                    && parts.iter().zip(&pattern).all(|(n, p)| glob_match(p, n))
            })
            .filter_map(|m| MemoryFetcher::fetch_metric(m, req.from, req.until, req.now))
            .collect())
    }
}

/// One `tag<op>spec` expression of seriesByTag.
#[derive(Debug, Clone)]
pub struct TagSpec {
    /// Tag name.
    pub tag: String,
    /// `=`, `!=`, `=~` or `!=~`.
    pub op: String,
    /// Value or (for `=~`/`!=~`) the anchored pattern.
    pub spec: String,
    regex: Option<regex::Regex>,
    matches_empty: bool,
}

impl TagSpec {
    /// Parses `tag=value`, `tag!=value`, `tag=~regex`, `tag!=~regex` (graphite's parse_tagspec).
    pub fn parse(text: &str) -> Result<TagSpec, FetchError> {
        let bad = || FetchError(format!("Invalid tagspec {text}"));
        let op_at = text.find(['!', '=']).ok_or_else(bad)?;
        let (tag, rest) = text.split_at(op_at);
        let op_len = if rest.starts_with("!=~") {
            3
        } else if rest.starts_with("!=") || rest.starts_with("=~") {
            2
        } else if rest.starts_with('=') {
            1
        } else {
            return Err(bad());
        };
        let (op, spec) = rest.split_at(op_len);
        if tag.is_empty() || tag.contains(';') || spec.contains(';') {
            return Err(bad());
        }
        let (regex, matches_empty) = match op {
            "=~" | "!=~" => {
                // graphite anchors patterns at the start unless they already are.
                let anchored = if spec.starts_with('^') {
                    spec.to_string()
                } else {
                    format!("^({spec})")
                };
                let re = regex::Regex::new(&anchored)
                    .map_err(|e| FetchError(format!("invalid regex {spec:?}: {e}")))?;
                let m = re.is_match("");
                (Some(re), if op == "=~" { m } else { !m })
            }
            "=" => (None, spec.is_empty()),
            _ => (None, !spec.is_empty()),
        };
        Ok(TagSpec {
            tag: tag.to_string(),
            op: op.to_string(),
            spec: spec.to_string(),
            regex,
            matches_empty,
        })
    }

    /// Whether a series with these tags satisfies the expression. Expressions that match the
    /// empty value also match series without the tag; the others require the tag.
    pub fn matches(&self, tags: &std::collections::BTreeMap<String, String>) -> bool {
        let value = match tags.get(&self.tag) {
            Some(v) => v.as_str(),
            None if self.matches_empty => "",
            None => return false,
        };
        match self.op.as_str() {
            "=" => value == self.spec,
            "!=" => value != self.spec,
            "=~" => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            _ => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// Parses the raw `seriesByTag('a=b', ...)` text into tag expressions, rejecting a query whose
/// expressions all match the empty value (graphite: "At least one tagspec must not match the
/// empty string").
pub fn parse_series_by_tag(raw: &str) -> Result<Vec<TagSpec>, FetchError> {
    let call = match crate::parser::parse_target(raw) {
        Ok(crate::parser::Expr::Call(c)) if c.name == "seriesByTag" => c,
        _ => return Err(FetchError(format!("not a seriesByTag call: {raw}"))),
    };
    let mut specs = Vec::new();
    for a in &call.args {
        match a {
            crate::parser::Expr::Str(s) => specs.push(TagSpec::parse(s)?),
            other => {
                return Err(FetchError(format!(
                    "seriesByTag takes strings, got {other:?}"
                )))
            }
        }
    }
    if specs.iter().all(|s| s.matches_empty) {
        return Err(FetchError(
            "At least one tagspec must not match the empty string".into(),
        ));
    }
    Ok(specs)
}

/// Matches one path component against a graphite glob (`*`, `?`, `[a-z]`, `{a,b}`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|p| fnmatch(p.as_bytes(), name.as_bytes()))
}

fn expand_braces(p: &str) -> Vec<String> {
    let Some(open) = p.find('{') else {
        return vec![p.to_string()];
    };
    let Some(close_rel) = p[open..].find('}') else {
        return vec![p.to_string()];
    };
    let close = open + close_rel;
    let (pre, inner, post) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
    inner
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{pre}{alt}{post}")))
        .collect()
}

/// One pattern element.
enum Tok<'a> {
    Lit(u8),
    Any,
    Star,
    Class { set: &'a [u8], negate: bool },
}

fn tokens(p: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => out.push(Tok::Star),
            b'?' => out.push(Tok::Any),
            b'[' => {
                if let Some(end) = p[i + 1..]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|e| e + i + 1)
                {
                    let mut set = &p[i + 1..end];
                    let negate = matches!(set.first(), Some(b'!') | Some(b'^'));
                    if negate {
                        set = &set[1..];
                    }
                    out.push(Tok::Class { set, negate });
                    i = end;
                } else {
                    out.push(Tok::Lit(b'['));
                }
            }
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    out
}

fn class_hit(set: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == b'-' {
            if set[i] <= c && c <= set[i + 2] {
                return true;
            }
            i += 3;
        } else {
            if set[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// fnmatch with single-star backtracking: O(len(pattern) * len(name)) at worst.
fn fnmatch(p: &[u8], n: &[u8]) -> bool {
    let toks = tokens(p);
    let (mut ti, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match toks.get(ti) {
            Some(Tok::Star) => {
                star = Some((ti, ni));
                ti += 1;
                continue;
            }
            Some(Tok::Lit(c)) => *c == n[ni],
            Some(Tok::Any) => true,
            Some(Tok::Class { set, negate }) => class_hit(set, n[ni]) != *negate,
            None => false,
        };
        if step {
            ti += 1;
            ni += 1;
        } else if let Some((st, sn)) = star {
            ti = st + 1;
            ni = sn + 1;
            star = Some((st, sn + 1));
        } else {
            return false;
        }
    }
    toks[ti..].iter().all(|t| matches!(t, Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_specs() {
        let t = crate::series::tags_from_name("disk.used;dc=dc1;server=web01");
        assert!(TagSpec::parse("dc=dc1").unwrap().matches(&t));
        assert!(
            TagSpec::parse("rack!=a1").unwrap().matches(&t),
            "'' != 'a1': a missing tag matches"
        );
        assert!(
            !TagSpec::parse("rack!=").unwrap().matches(&t),
            "!= '' needs the tag"
        );
        assert!(
            TagSpec::parse("rack=").unwrap().matches(&t),
            "= '' matches a missing tag"
        );
        assert!(TagSpec::parse("server=~web").unwrap().matches(&t));
        assert!(
            !TagSpec::parse("server=~eb").unwrap().matches(&t),
            "anchored at the start"
        );
        assert!(parse_series_by_tag("seriesByTag('rack=')").is_err());
        assert!(TagSpec::parse("novalue").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("web0[12]", "web02"));
        assert!(glob_match("{web01,db01}", "db01"));
        assert!(glob_match("w*", "web01"));
        assert!(!glob_match("web0?", "web1"));
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(!glob_match("[!w]*", "web"));
        // Many stars on a long name must not blow up.
        assert!(!glob_match("*a*a*a*a*a*a*a*a*b", &"a".repeat(200)));
    }
}
