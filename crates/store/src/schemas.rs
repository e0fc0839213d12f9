//! storage-schemas.conf: which archives a new whisper file gets, loaded exactly as carbon's
//! `loadStorageSchemas` does.
//!
//! Sections are tried in file order and the first whose `pattern` matches (Python `re.search`:
//! unanchored, case-sensitive) wins; the built-in default schema is appended last. A section without
//! `retentions` or without `pattern`, or whose archive list whisper's `validateArchiveList` rejects, is
//! skipped and reported in [`Schemas::skipped`]; a retention carbon cannot parse, a pattern that does
//! not compile, or broken INI is an error (carbon exits). Archives keep the order written in the file,
//! as carbon keeps them; whisper sorts them at creation.

use std::path::Path;

use regex::Regex;
use whisper::ArchiveSpec;

use crate::error::ConfigError;
use crate::ini::Ini;
use crate::retention::parse_retention_def;

/// One usable schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The section name (`default` for the built-in one).
    pub name: String,
    /// The pattern as written; `None` for the built-in default, which matches everything.
    pub pattern: Option<String>,
    /// The archives to create, in the order written.
    pub archives: Vec<ArchiveSpec>,
    regex: Option<Regex>,
}

impl Schema {
    /// Whether this schema applies to `metric` (the tag-normalised name).
    pub fn matches(&self, metric: &str) -> bool {
        match &self.regex {
            Some(r) => r.is_match(metric),
            None => true,
        }
    }
}

/// A section carbon logs and ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSection {
    /// The section name.
    pub section: String,
    /// Why it was skipped, in carbon's words.
    pub reason: String,
}

/// The loaded schema list, built-in default last.
#[derive(Debug, Clone)]
pub struct Schemas {
    rules: Vec<Schema>,
    default: Schema,
    /// Sections that were skipped (carbon only logs them).
    pub skipped: Vec<SkippedSection>,
}

/// carbon's built-in default: one-minute points for seven days (`60:10080`).
pub fn carbon_default_archives() -> Vec<ArchiveSpec> {
    vec![ArchiveSpec {
        seconds_per_point: 60,
        points: 10080,
    }]
}

/// Carbonado's built-in default `10s:6h,1m:7d,10m:5y`.
pub fn carbonado_default_archives() -> Vec<ArchiveSpec> {
    vec![
        ArchiveSpec {
            seconds_per_point: 10,
            points: 2160,
        },
        ArchiveSpec {
            seconds_per_point: 60,
            points: 10080,
        },
        ArchiveSpec {
            seconds_per_point: 600,
            points: 262_800,
        },
    ]
}

/// Parses a retentions list such as `10s:6h,1m:7d` with carbon's parser (for defaults from config).
pub fn parse_retentions(text: &str) -> Result<Vec<ArchiveSpec>, String> {
    text.split(',').map(parse_retention_def).collect()
}

impl Schemas {
    /// Only the built-in default schema, named `default`, with the given archives.
    pub fn defaults_only(default_archives: Vec<ArchiveSpec>) -> Schemas {
        Schemas {
            rules: Vec::new(),
            default: default_schema(default_archives),
            skipped: Vec::new(),
        }
    }

    /// Reads the file; a missing file gives [`Schemas::defaults_only`].
    pub fn load(path: &Path, default_archives: Vec<ArchiveSpec>) -> Result<Schemas, ConfigError> {
        match crate::read_conf(path)? {
            Some(text) => Schemas::parse(&text, default_archives),
            None => Ok(Schemas::defaults_only(default_archives)),
        }
    }

    /// Parses storage-schemas.conf text.
    pub fn parse(text: &str, default_archives: Vec<ArchiveSpec>) -> Result<Schemas, ConfigError> {
        let ini = Ini::parse(text).map_err(|source| ConfigError::Ini {
            context: "storage-schemas.conf".into(),
            source,
        })?;
        let mut schemas = Vec::new();
        let mut skipped = Vec::new();
        for section in ini.carbon_section_order() {
            let options = crate::section_items(&ini, section)?;
            let get = |k: &str| {
                options
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
            };
            let Some(retentions) = get("retentions") else {
                skipped.push(SkippedSection {
                    section: section.clone(),
                    reason: format!("Schema {section} missing 'retentions', skipping"),
                });
                continue;
            };
            let archives =
                parse_retentions(retentions).map_err(|message| ConfigError::Retention {
                    section: section.clone(),
                    message,
                })?;
            let pattern = match get("pattern") {
                Some(p) if !p.is_empty() => p.to_string(),
                _ => {
                    skipped.push(SkippedSection {
                        section: section.clone(),
                        reason: format!("Schema {section} missing 'pattern', skipping"),
                    });
                    continue;
                }
            };
            let regex = ConfigError::compile_pattern(section, &pattern)?;
            if let Err(reason) = validate(section, &archives)? {
                skipped.push(SkippedSection {
                    section: section.clone(),
                    reason,
                });
                continue;
            }
            schemas.push(Schema {
                name: section.clone(),
                pattern: Some(pattern),
                archives,
                regex: Some(regex),
            });
        }
        Ok(Schemas {
            rules: schemas,
            default: default_schema(default_archives),
            skipped,
        })
    }

    /// The schema for a new file of `metric` (pass the tag-normalised name): the first that matches.
    pub fn match_metric(&self, metric: &str) -> &Schema {
        self.rules
            .iter()
            .find(|s| s.matches(metric))
            .unwrap_or(&self.default)
    }

    /// Every usable schema in matching order, the built-in default last.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        self.rules.iter().chain(std::iter::once(&self.default))
    }
}

fn default_schema(archives: Vec<ArchiveSpec>) -> Schema {
    Schema {
        name: "default".into(),
        pattern: None,
        archives,
        regex: None,
    }
}

/// whisper's `validateArchiveList` on a copy (carbon keeps its own order). `Ok(Err(reason))` means
/// "skip the section"; a zero precision next to another archive is Python's ZeroDivisionError, fatal.
fn validate(section: &str, archives: &[ArchiveSpec]) -> Result<Result<(), String>, ConfigError> {
    let mut sorted = archives.to_vec();
    sorted.sort_by_key(|a| a.seconds_per_point);
    if sorted.len() > 1 && sorted[0].seconds_per_point == 0 && sorted[1].seconds_per_point != 0 {
        return Err(ConfigError::Retention {
            section: section.to_string(),
            message: "integer division or modulo by zero".into(),
        });
    }
    Ok(whisper::validate_archive_list(&mut sorted)
        .map_err(|e| format!("Invalid schemas found in {section}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuples(s: &Schema) -> Vec<(u32, u32)> {
        s.archives
            .iter()
            .map(|a| (a.seconds_per_point, a.points))
            .collect()
    }

    #[test]
    fn first_match_wins_and_default_is_last() {
        let text = "[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n\n[bad]\npattern = ^bad\\.\nretentions = 10s:1h,15s:1d\n\n[all]\npattern = .*\nretentions = 1h:1y,1m:1d\n";
        let s = Schemas::parse(text, carbon_default_archives()).unwrap();
        assert_eq!(
            s.schemas().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            vec!["carbon", "all", "default"]
        );
        assert_eq!(s.skipped.len(), 1);
        assert!(
            s.skipped[0]
                .reason
                .starts_with("Invalid schemas found in bad: "),
            "{:?}",
            s.skipped
        );
        assert_eq!(s.match_metric("carbon.x").name, "carbon");
        assert_eq!(
            tuples(s.match_metric("xcarbon.y")),
            vec![(3600, 8760), (60, 1440)]
        );
    }

    #[test]
    fn skipped_and_fatal_sections() {
        let s = Schemas::parse(
            "[a]\npattern = x\n[b]\nretentions = 60:1d\n[c]\npattern =\nretentions = 60:1d\n",
            carbonado_default_archives(),
        )
        .unwrap();
        assert_eq!(s.schemas().count(), 1);
        assert_eq!(
            s.skipped
                .iter()
                .map(|k| k.section.as_str())
                .collect::<Vec<_>>(),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            tuples(s.match_metric("anything")),
            vec![(10, 2160), (60, 10080), (600, 262_800)]
        );
        // A bad retention is fatal even in a section that would be skipped for a missing pattern.
        assert!(matches!(
            Schemas::parse("[a]\nretentions = 1min:1d\n", vec![]),
            Err(ConfigError::Retention { .. })
        ));
        assert!(matches!(
            Schemas::parse("[a]\npattern = (\nretentions = 60:1d\n", vec![]),
            Err(ConfigError::Pattern { .. })
        ));
        assert!(matches!(
            Schemas::parse("[a]\npattern = a(?=b)\nretentions = 60:1d\n", vec![]),
            Err(ConfigError::Pattern { .. })
        ));
        assert!(matches!(
            Schemas::parse("[a]\npattern = 5%\nretentions = 60:1d\n", vec![]),
            Err(ConfigError::Ini { .. })
        ));
        assert!(matches!(
            Schemas::parse("[a]\n[a]\n", vec![]),
            Err(ConfigError::Ini { .. })
        ));
        assert!(matches!(
            Schemas::parse("[a]\npattern = x\nretentions = 0:1,60:1\n", vec![]),
            Err(ConfigError::Retention { .. })
        ));
        // carbon's raw header scan sees a section ConfigParser folded into a value: NoSectionError.
        assert!(matches!(
            Schemas::parse("[a]\npattern = x\n  [b]\nretentions = 60:1d\n", vec![]),
            Err(ConfigError::UnknownSection { .. })
        ));
        // ...and does not see a header with trailing text, which is silently unused.
        let s = Schemas::parse("[a] ; note\npattern = x\nretentions = 60:1d\n", vec![]).unwrap();
        assert_eq!(s.schemas().count(), 1);
    }

    #[test]
    fn missing_file_gives_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = Schemas::load(
            &dir.path().join("storage-schemas.conf"),
            carbon_default_archives(),
        )
        .unwrap();
        assert_eq!(tuples(s.match_metric("a.b")), vec![(60, 10080)]);
        std::fs::write(
            dir.path().join("x.conf"),
            b"[a]\npattern = \xff\nretentions = 60:1d\n",
        )
        .unwrap();
        assert!(matches!(
            Schemas::load(&dir.path().join("x.conf"), vec![]),
            Err(ConfigError::NotUtf8 { .. })
        ));
    }
}
