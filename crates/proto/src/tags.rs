//! Graphite 1.1 tagged series names (carbon's `TaggedSeries.parse`), both syntaxes:
//! `name;tag=value;...` and OpenMetrics `name{tag="value",...}`.
//!
//! The normalised form is the name followed by `;tag=value` for every other tag, sorted by
//! that formatted string (not by tag name: `a-b=3` sorts before `a1=2` before `a=1`). Error
//! messages are carbon's, word for word (including its "emptry" typo).

use std::borrow::Cow;

/// A parsed tagged name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedName {
    /// The metric part as written (before `;` or `{`), `~` not stripped.
    pub name: String,
    /// All tags in Python dict order (first insertion position, last value), including the
    /// `name` tag (the metric with leading `~` stripped).
    pub tags: Vec<(String, String)>,
    /// carbon's normalised path (`TaggedSeries.path`).
    pub normalized: String,
}

impl TaggedName {
    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a name is not a valid tagged series; `Display` is carbon's exception text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// Nothing before the first `;` (or `{`).
    #[error("Cannot parse path {path}, no metric found")]
    NoMetric {
        /// The whole input.
        path: String,
    },
    /// A `;` segment without `=` or with an empty tag, or an OpenMetrics segment that does
    /// not match `tag="value"`.
    #[error("Cannot parse path {path}, invalid segment {segment}")]
    InvalidSegment {
        /// The whole input.
        path: String,
        /// The offending segment (OpenMetrics: everything left to parse).
        segment: String,
    },
    /// An empty tag name.
    #[error("Tag may not be empty")]
    EmptyTag,
    /// An empty tag value.
    #[error("Value for tag \"{tag}\" may not be empty")]
    EmptyValue {
        /// The tag.
        tag: String,
    },
    /// A tag name containing one of `;!^=`.
    #[error("Character \"{ch}\" is not allowed in tag \"{tag}\"")]
    ForbiddenChar {
        /// The first forbidden character found, in the order `;!^=`.
        ch: char,
        /// The tag.
        tag: String,
    },
    /// A value containing `;` (possible only in the OpenMetrics syntax).
    #[error("Character \";\" is not allowed in value \"{value}\" of tag {tag}")]
    SemicolonInValue {
        /// The value.
        value: String,
        /// The tag.
        tag: String,
    },
    /// A value starting with `~`.
    #[error("Tag values are not allowed to start with \"~\" in tag \"{tag}\"")]
    TildeValue {
        /// The tag.
        tag: String,
    },
    /// A metric name made only of `~`.
    #[error("Cannot use metric name {name} as tag value, results in emptry string")]
    EmptyName {
        /// The metric name.
        name: String,
    },
    /// An OpenMetrics name with more than one `{` (Python's tuple unpacking fails).
    #[error("too many values to unpack (expected 2)")]
    TooManyBraces,
}

/// Parse a name in either syntax, exactly as carbon's `TaggedSeries.parse`.
pub fn parse_tagged(path: &str) -> Result<TaggedName, TagError> {
    if path.ends_with("\"}") && path.contains('{') {
        parse_openmetrics(path)
    } else {
        parse_carbon(path)
    }
}

/// The name carbon-cache stores a datapoint under: the normalised path, or the raw name when
/// it does not parse. Untagged names come back borrowed (only leading `~` are ever stripped).
pub fn normalize_name(raw: &str) -> Cow<'_, str> {
    let openmetrics = raw.ends_with("\"}") && raw.contains('{');
    if !openmetrics && !raw.contains(';') {
        let stripped = raw.trim_start_matches('~');
        return Cow::Borrowed(if stripped.is_empty() { raw } else { stripped });
    }
    match parse_tagged(raw) {
        Ok(t) => Cow::Owned(t.normalized),
        Err(_) => Cow::Borrowed(raw),
    }
}

fn validate(tag: &str, value: &str) -> Result<(), TagError> {
    if tag.is_empty() {
        return Err(TagError::EmptyTag);
    }
    if value.is_empty() {
        return Err(TagError::EmptyValue { tag: tag.into() });
    }
    if let Some(ch) = [';', '!', '^', '='].into_iter().find(|&c| tag.contains(c)) {
        return Err(TagError::ForbiddenChar {
            ch,
            tag: tag.into(),
        });
    }
    if value.contains(';') {
        return Err(TagError::SemicolonInValue {
            value: value.into(),
            tag: tag.into(),
        });
    }
    if value.starts_with('~') {
        return Err(TagError::TildeValue { tag: tag.into() });
    }
    Ok(())
}

fn parse_carbon(path: &str) -> Result<TaggedName, TagError> {
    let mut segments = path.split(';');
    let metric = segments.next().unwrap_or("");
    if metric.is_empty() {
        return Err(TagError::NoMetric { path: path.into() });
    }
    let mut raw = Vec::new();
    for segment in segments {
        match segment.split_once('=') {
            Some((tag, value)) if !tag.is_empty() => {
                validate(tag, value)?;
                raw.push((Cow::Borrowed(tag), Cow::Borrowed(value)));
            }
            _ => {
                return Err(TagError::InvalidSegment {
                    path: path.into(),
                    segment: segment.into(),
                })
            }
        }
    }
    finish(metric, raw)
}

fn parse_openmetrics(path: &str) -> Result<TaggedName, TagError> {
    let inner = path.get(..path.len() - 1).unwrap_or("");
    let (metric, mut rawtags) = match inner.split_once('{') {
        Some((m, rest)) if !rest.contains('{') => (m, rest),
        _ => return Err(TagError::TooManyBraces),
    };
    if metric.is_empty() {
        return Err(TagError::NoMetric { path: path.into() });
    }
    let mut raw = Vec::new();
    while !rawtags.is_empty() {
        let Some((tag, value, used)) = match_openmetrics_segment(rawtags) else {
            return Err(TagError::InvalidSegment {
                path: path.into(),
                segment: rawtags.into(),
            });
        };
        validate(tag, &value)?;
        raw.push((Cow::Borrowed(tag), Cow::Owned(value)));
        rawtags = rawtags.get(used..).unwrap_or("");
    }
    finish(metric, raw)
}

/// carbon's regex `([^=]+)="((?:[\\]["\\]|[^"\\])+)"(:?,|$)` at the start of `s`, which
/// cannot backtrack into a different match. Returns tag, unescaped value, bytes consumed.
fn match_openmetrics_segment(s: &str) -> Option<(&str, String, usize)> {
    let eq = s.find('=')?;
    if eq == 0 {
        return None;
    }
    let tag = s.get(..eq)?;
    let rest = s.get(eq..)?.strip_prefix("=\"")?;
    let mut value = String::new();
    let mut chars = rest.char_indices();
    let close = loop {
        match chars.next()? {
            (i, '"') => break i,
            (_, '\\') => match chars.next()? {
                (_, c @ ('"' | '\\')) => value.push(c),
                _ => return None,
            },
            (_, c) => value.push(c),
        }
    };
    if close == 0 {
        return None;
    }
    let after = rest.get(close + 1..)?;
    let sep = if after.starts_with(":,") {
        2
    } else if after.starts_with(',') {
        1
    } else if after.is_empty() {
        0
    } else {
        return None;
    };
    Some((tag, value, eq + 2 + close + 1 + sep))
}

/// Python dict semantics (first position, last value), the `name` tag, and the normal form.
fn finish(metric: &str, raw: Vec<(Cow<'_, str>, Cow<'_, str>)>) -> Result<TaggedName, TagError> {
    let sanitized = metric.trim_start_matches('~');
    if sanitized.is_empty() {
        return Err(TagError::EmptyName {
            name: metric.into(),
        });
    }
    // Dedup by tag without quadratic scans: sort positions by tag, keep the first position
    // and the last value of each run.
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&a, &b| raw[a].0.cmp(&raw[b].0).then(a.cmp(&b)));
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(raw.len()); // (first pos, last pos)
    for &i in &order {
        match kept.last_mut() {
            Some((first, last)) if raw[*first].0 == raw[i].0 => *last = i,
            _ => kept.push((i, i)),
        }
    }
    kept.sort_unstable();
    let mut tags: Vec<(String, String)> = kept
        .iter()
        .map(|&(first, last)| (raw[first].0.to_string(), raw[last].1.to_string()))
        .collect();
    match tags.iter_mut().find(|(k, _)| k == "name") {
        Some(slot) => slot.1 = sanitized.to_owned(),
        None => tags.push(("name".to_owned(), sanitized.to_owned())),
    }
    let mut formatted: Vec<String> = tags
        .iter()
        .filter(|(k, _)| k != "name")
        .map(|(k, v)| format!(";{k}={v}"))
        .collect();
    formatted.sort_unstable();
    let mut normalized =
        String::with_capacity(sanitized.len() + formatted.iter().map(String::len).sum::<usize>());
    normalized.push_str(sanitized);
    for f in &formatted {
        normalized.push_str(f);
    }
    Ok(TaggedName {
        name: metric.to_owned(),
        tags,
        normalized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_formatted_string() {
        let t = parse_tagged("m;a=1;a1=2;a-b=3;b=4").unwrap();
        assert_eq!(t.normalized, "m;a-b=3;a1=2;a=1;b=4");
    }

    #[test]
    fn dict_order_and_last_value() {
        let t = parse_tagged("m;b=1;name=x;a=2;b=3").unwrap();
        let keys: Vec<_> = t
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(keys, [("b", "3"), ("name", "m"), ("a", "2")]);
        assert_eq!(t.normalized, "m;a=2;b=3");
    }

    #[test]
    fn normalize_fast_path_and_fallback() {
        assert!(matches!(normalize_name("a.b"), Cow::Borrowed("a.b")));
        assert_eq!(normalize_name("~~a.b"), "a.b");
        assert_eq!(normalize_name("~~"), "~~");
        assert_eq!(normalize_name("a;b"), "a;b");
        assert_eq!(normalize_name("m;z=1;a=2"), "m;a=2;z=1");
        assert_eq!(normalize_name("m{z=\"1\":,a=\"2\"}"), "m;a=2;z=1");
    }

    #[test]
    fn openmetrics_quirks() {
        assert_eq!(
            parse_tagged("a{b=\"c\"}{x=\"y\"}"),
            Err(TagError::TooManyBraces)
        );
        assert!(matches!(
            parse_tagged("a{b=\"c\" d=\"e\"}"),
            Err(TagError::InvalidSegment { .. })
        ));
        assert_eq!(
            parse_tagged("a{b=\"c\\\\\"}").unwrap().normalized,
            "a;b=c\\"
        );
        assert!(matches!(
            parse_tagged("a{b=\"c;d\"}"),
            Err(TagError::SemicolonInValue { .. })
        ));
        assert!(matches!(
            parse_tagged("{b=\"c\"}"),
            Err(TagError::NoMetric { .. })
        ));
    }
}
