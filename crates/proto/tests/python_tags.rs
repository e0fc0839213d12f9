//! Tag parsing and on-disk paths against carbon's own `TaggedSeries` (Debian's carbon via
//! `CARBONADO_SYS_PYTHON`) on names generated at test time, in both syntaxes.

mod common;

use std::path::PathBuf;

use common::{run_python, sys_python, Rng};
use proto::path::{relative_path, PathError};
use proto::tags::{normalize_name, parse_tagged};

const CARBON_TAGS: &str = r#"
import sys, json
from carbon.util import TaggedSeries
for line in sys.stdin:
    name = json.loads(line)
    try:
        t = TaggedSeries.parse(name)
        print(json.dumps({"path": t.path, "tags": list(t.tags.items()),
                          "enc": TaggedSeries.encode(t.path, "/") + ".wsp",
                          "enc_hash": TaggedSeries.encode(t.path, "/", hash_only=True) + ".wsp"}))
    except Exception as e:
        print(json.dumps({"error": str(e)}))
"#;

const PIECES: &[&str] = &[
    "a", "b", "cpu", "host", "name", "dc", "x1", "a-b", "a1", "é", "💡", " ", ".", "..", "~", "=",
    "!", "^", ";", "{", "}", "\"", "\\", ",", ":", "/", "_DOT_", "0",
];

fn piece(r: &mut Rng, n: u64) -> String {
    (0..r.below(n) + 1)
        .map(|_| PIECES[r.below(PIECES.len() as u64) as usize])
        .collect()
}

fn word(r: &mut Rng) -> String {
    // Mostly tame words so that many names parse, with odd pieces mixed in.
    if r.chance(70) {
        [
            "a", "b", "cpu", "host", "dc", "a1", "a-b", "srv.01", "name", "é",
        ][r.below(10) as usize]
            .to_owned()
    } else {
        piece(r, 3)
    }
}

fn random_name(r: &mut Rng) -> String {
    let mut metric = if r.chance(10) {
        format!("~{}", word(r))
    } else {
        format!("servers.{}", word(r))
    };
    if r.chance(5) {
        metric.clear();
    }
    match r.below(3) {
        0 => {
            let mut s = metric;
            for _ in 0..r.below(5) {
                let sep = if r.chance(90) { "=" } else { "" };
                let value = if r.chance(10) {
                    format!("~{}", word(r))
                } else {
                    word(r)
                };
                s.push_str(&format!(";{}{sep}{value}", word(r)));
            }
            s
        }
        1 => {
            let mut s = format!("{metric}{{");
            for i in 0..r.below(4) + 1 {
                if i > 0 {
                    s.push_str([",", ",", ":,", ";", ""][r.below(5) as usize]);
                }
                let value = if r.chance(20) {
                    "d\\\"q\\\\".to_owned()
                } else {
                    word(r)
                };
                s.push_str(&format!("{}=\"{value}\"", word(r)));
            }
            s.push('}');
            s
        }
        _ => metric + &piece(r, 4),
    }
}

/// Why our path refusal is justified for a name carbon would map anyway.
fn justified(name: &str, err: &PathError) -> bool {
    let tagged = name.contains(';');
    match err {
        PathError::Separator => name.contains('/') || name.contains('\\'),
        PathError::EmptyNode => {
            !tagged && (name.trim_start_matches('.').contains("..") || name.ends_with('.'))
        }
        PathError::Empty => name.trim_start_matches('.').is_empty(),
        PathError::ControlChar => name.chars().any(char::is_control),
        PathError::ComponentTooLong(_) | PathError::TooLong(_) => name.len() > 200,
        _ => false,
    }
}

#[test]
fn generated_names_match_carbon() {
    let mut r = Rng(0x7a95_0003);
    let mut names: Vec<String> = (0..3000).map(|_| random_name(&mut r)).collect();
    names.push("m;a=1;a1=2;a-b=3;b=4".into());
    names.push(format!("long.{}", "n".repeat(300)));
    names.push(format!("long;t={}", "v".repeat(300)));
    let input: String = names
        .iter()
        .map(|n| format!("{}\n", serde_json::Value::from(n.as_str())))
        .collect();
    let out = run_python(&sys_python(), CARBON_TAGS, input.as_bytes());
    let results: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(results.len(), names.len());
    let (mut parsed, mut failed, mut refused_paths) = (0, 0, 0);
    for (name, want) in names.iter().zip(&results) {
        match (parse_tagged(name), want["error"].as_str()) {
            (Err(e), Some(err)) => {
                assert_eq!(e.to_string(), err, "{name:?}");
                assert_eq!(normalize_name(name), name.as_str());
                failed += 1;
            }
            (Ok(t), None) => {
                parsed += 1;
                assert_eq!(
                    t.normalized,
                    want["path"].as_str().expect("path"),
                    "{name:?}"
                );
                assert_eq!(normalize_name(name), t.normalized);
                let want_tags: Vec<(String, String)> = want["tags"]
                    .as_array()
                    .expect("tags")
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_str().expect("k").to_owned(),
                            p[1].as_str().expect("v").to_owned(),
                        )
                    })
                    .collect();
                assert_eq!(t.tags, want_tags, "{name:?}: dict order");
                for (hash, key) in [(true, "enc_hash"), (false, "enc")] {
                    let carbon_path = PathBuf::from(want[key].as_str().expect("enc"));
                    match relative_path(&t.normalized, hash) {
                        Ok(p) => assert_eq!(p, carbon_path, "{name:?}"),
                        Err(e) => {
                            assert!(
                                justified(&t.normalized, &e),
                                "{name:?}: refused without reason: {e}"
                            );
                            refused_paths += 1;
                        }
                    }
                }
            }
            (ours, theirs) => panic!("{name:?}: ours {ours:?}, carbon {theirs:?}"),
        }
    }
    assert!(
        parsed > 1000 && failed > 300 && refused_paths > 10,
        "{parsed} {failed} {refused_paths}"
    );
}
