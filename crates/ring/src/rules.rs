//! relay-rules.conf: carbon's RelayRulesRouter (`RELAY_METHOD = rules`).

use std::path::Path;

use regex::{Regex, RegexBuilder};

use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::ini::Ini;
use crate::owners::Owners;
use crate::router::Router;

/// One rule of relay-rules.conf.
#[derive(Debug, Clone)]
pub struct RelayRule {
    /// The section name.
    pub name: String,
    /// The pattern (None for the default rule, which matches everything).
    pub pattern: Option<Regex>,
    /// Destinations as listed in the rule.
    pub destinations: Vec<Destination>,
    /// `continue = true`: keep evaluating later rules after a match.
    pub continue_matching: bool,
}

impl RelayRule {
    /// Whether the rule applies: case-insensitive, unanchored search, as carbon's `regex.search`.
    pub fn matches(&self, metric: &str) -> bool {
        match &self.pattern {
            Some(r) => r.is_match(metric),
            None => true,
        }
    }
}

/// Parses relay-rules.conf text into rules in evaluation order (the default rule last),
/// with carbon's checks: every section needs `destinations`, `pattern` and `default` exclude
/// each other, exactly one `default = true`; sections with neither are ignored as carbon does.
pub fn parse_relay_rules(text: &str) -> Result<Vec<RelayRule>> {
    let ini = Ini::parse(text)?;
    let mut rules = Vec::new();
    let mut default: Option<RelayRule> = None;
    for section in &ini.sections {
        let name = &section.name;
        let Some(dest_text) = ini.get(section, "destinations")? else {
            return Err(Error::RelayRules(format!(
                "section [{name}] does not define a 'destinations' list"
            )));
        };
        let destinations = dest_text
            .split(',')
            .map(Destination::parse)
            .collect::<Result<Vec<_>>>()?;
        if let Some(pattern) = ini.get(section, "pattern")? {
            if ini.get(section, "default")?.is_some() {
                return Err(Error::RelayRules(format!(
                    "section [{name}] contains both 'pattern' and 'default'; use one or the other"
                )));
            }
            let regex = RegexBuilder::new(&pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| Error::Regex {
                    pattern: pattern.clone(),
                    reason: e.to_string(),
                })?;
            let continue_matching = ini.get_bool(section, "continue")?.unwrap_or(false);
            rules.push(RelayRule {
                name: name.clone(),
                pattern: Some(regex),
                destinations,
                continue_matching,
            });
            continue;
        }
        if let Some(is_default) = ini.get_bool(section, "default")? {
            if !is_default {
                continue;
            }
            if default.is_some() {
                return Err(Error::RelayRules(
                    "only one default rule can be specified".into(),
                ));
            }
            default = Some(RelayRule {
                name: name.clone(),
                pattern: None,
                destinations,
                continue_matching: false,
            });
        }
    }
    let Some(default) = default else {
        return Err(Error::RelayRules(
            "no default rule defined: exactly one section needs 'default = true' instead of a pattern".into(),
        ));
    };
    rules.push(default);
    Ok(rules)
}

/// carbon's RelayRulesRouter: rules evaluated in order; a rule's destinations that are not in
/// DESTINATIONS are skipped silently.
#[derive(Debug, Clone)]
pub struct RulesRouter {
    rules: Vec<RelayRule>,
    /// Per rule, the indexes into `dests` of its configured destinations (in rule order).
    resolved: Vec<Vec<usize>>,
    dests: Vec<Destination>,
}

impl RulesRouter {
    /// Builds the router from parsed rules and the configured DESTINATIONS
    /// (rule destinations are compared with them as whole (host, port, instance) values).
    pub fn new(rules: Vec<RelayRule>, dests: Vec<Destination>) -> Self {
        let resolved = rules
            .iter()
            .map(|r| {
                r.destinations
                    .iter()
                    .filter_map(|d| dests.iter().position(|x| x == d))
                    .collect()
            })
            .collect();
        RulesRouter {
            rules,
            resolved,
            dests,
        }
    }

    /// Parses rules text and builds the router.
    pub fn from_text(text: &str, dests: Vec<Destination>) -> Result<Self> {
        Ok(Self::new(parse_relay_rules(text)?, dests))
    }

    /// Reads a relay-rules.conf file and builds the router.
    pub fn from_path(path: &Path, dests: Vec<Destination>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_text(&text, dests)
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[RelayRule] {
        &self.rules
    }
}

impl Router for RulesRouter {
    fn destinations_into(&self, metric: &str, out: &mut Owners) {
        for (rule, idxs) in self.rules.iter().zip(&self.resolved) {
            if rule.matches(metric) {
                for &i in idxs {
                    out.push(i);
                }
                if !rule.continue_matching {
                    return;
                }
            }
        }
    }

    fn replication_factor(&self) -> usize {
        1
    }

    fn targets(&self) -> &[Destination] {
        &self.dests
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::parse_destinations;

    const RULES: &str = "\
[default]
default = true
destinations = 127.0.0.1:2004:a, 127.0.0.1:2104:b

[collectd]
pattern = ^COLLECTD\\.
destinations = 127.0.0.1:2104:b
continue = true

[carbon]
pattern = carbon\\.agents
destinations = 127.0.0.1:2004:a, 10.9.9.9:2004:z
";

    #[test]
    fn order_continue_and_unknown_destinations() {
        let r = RulesRouter::from_text(
            RULES,
            parse_destinations("127.0.0.1:2004:a, 127.0.0.1:2104:b").unwrap(),
        )
        .unwrap();
        assert_eq!(r.rules().last().map(|x| x.name.as_str()), Some("default"));
        // case-insensitive, continues into the default rule.
        assert_eq!(&r.destinations("collectd.x")[..], &[1, 0, 1]);
        // unanchored search; 10.9.9.9 is not configured and silently skipped.
        assert_eq!(&r.destinations("x.carbon.agents.y")[..], &[0]);
        assert_eq!(&r.destinations("other")[..], &[0, 1]);
    }

    #[test]
    fn semantic_errors() {
        let cases = [
            "[a]\npattern = x\n",
            "[a]\npattern = x\ndestinations = h:1\n",
            "[d]\ndefault = true\npattern = x\ndestinations = h:1\n",
            "[d]\ndefault = true\ndestinations = h:1\n[e]\ndefault = yes\ndestinations = h:1\n",
            "[d]\ndefault = maybe\ndestinations = h:1\n",
            "[d]\ndefault = true\ndestinations = h\n",
            "[a]\npattern = (\ndestinations = h:1\n[d]\ndefault = true\ndestinations = h:1\n",
        ];
        for c in cases {
            assert!(parse_relay_rules(c).is_err(), "{c:?}");
        }
        // default = false is ignored; a section with neither pattern nor default too.
        let ok = "[x]\ndefault = false\ndestinations = h:1\n[y]\ndestinations = h:2\n[d]\ndefault = on\ndestinations = h:3\n";
        let rules = parse_relay_rules(ok).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].destinations[0].port, 3);
    }
}
