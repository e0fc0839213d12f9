//! whitelist.conf / blacklist.conf: one Python regex per line, matched with `search()`.

use std::path::Path;

use regex::Regex;

use crate::error::{Error, Result};

/// A list of patterns; a metric is in the list when any pattern is found in it.
#[derive(Debug, Clone, Default)]
pub struct RegexList {
    patterns: Vec<Regex>,
}

impl RegexList {
    /// Parses list text; `#` lines (unstripped, as in carbon) and blank lines are skipped.
    pub fn parse(text: &str) -> Result<Self> {
        let mut patterns = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let pattern = line.trim();
            if line.starts_with('#') || pattern.is_empty() {
                continue;
            }
            let re = store::pyre::compile(pattern).map_err(|m| Error::Syntax {
                line: idx + 1,
                message: format!("{pattern:?}: {m}"),
            })?;
            patterns.push(re);
        }
        Ok(RegexList { patterns })
    }

    /// Reads a list file; a missing file is an empty list, as in carbon.
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

    /// Whether the list has no patterns (an empty whitelist lets everything through).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is found in the metric.
    pub fn contains(&self, metric: &str) -> bool {
        self.patterns.iter().any(|r| r.is_match(metric))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_semantics() {
        let l = RegexList::parse("# c\n\n  ^a\\.b\nzz$\n").unwrap();
        assert!(l.contains("a.b.c") && l.contains("q.zz") && !l.contains("x.a.b"));
        assert!(RegexList::parse("a\n(\n").is_err());
    }
}
