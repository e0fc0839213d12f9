//! Replays spec/vectors/render/render_functions.json (graphite-web 1.1.10) over the same fixture
//! (the oracle fixture contains the vectors' series with the same generator rules and now).

mod common;

use std::path::PathBuf;

/// spec/vectors/render: `CARBONADO_SPEC_DIR` (the spec directory) or shared/ beside the checkout.
fn render_vectors() -> PathBuf {
    std::env::var_os("CARBONADO_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec"))
        .join("vectors/render")
}

/// Vector targets that cannot be replayed here (none at the moment).
const SKIP: &[&str] = &[];

#[test]
fn render_function_vectors() {
    let p = render_vectors().join("render_functions.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    let cases: serde_json::Value = serde_json::from_str(&text).expect("vectors json");
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let mut failures = Vec::new();
    for c in cases.as_array().expect("cases") {
        let target = c["params"]["target"].as_str().unwrap_or("");
        if SKIP.contains(&target) {
            continue;
        }
        let ours = common::render(&f, &c["params"]);
        let res = match (&ours, c["status"].as_i64(), c.get("body_json")) {
            (Ok(l), Some(200), Some(j)) => common::compare(l, j),
            (Err(_), st, _) if st != Some(200) => Ok(()),
            (Ok(_), st, _) => Err(format!(
                "graphite answered {st:?} {:?}",
                c.get("exception").or(c.get("body"))
            )),
            (Err(e), _, _) => Err(format!("we failed: {e}")),
        };
        if let Err(m) = res {
            failures.push(format!("{target}: {m}"));
        }
    }
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(failures.is_empty(), "{} vectors differ", failures.len());
}

fn replay_vector_file(
    name: &str,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> (usize, Vec<String>) {
    let p = render_vectors().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    let cases: serde_json::Value = serde_json::from_str(&text).expect("vectors json");
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let (mut n, mut failures) = (0, Vec::new());
    for c in cases.as_array().expect("cases") {
        if c["path"] != "/render" || !keep(c) {
            continue;
        }
        n += 1;
        let target = c["params"]["target"].to_string();
        let res = match (
            common::render(&f, &c["params"]),
            c["status"].as_i64(),
            c.get("body_json"),
        ) {
            (Ok(l), Some(200), Some(j)) => common::compare(&l, j),
            (Err(_), st, _) if st != Some(200) => Ok(()),
            (Ok(_), st, _) => Err(format!("graphite answered {st:?}")),
            (Err(e), _, _) => Err(format!("we failed: {e}")),
        };
        if let Err(m) = res {
            failures.push(format!("{target} {}: {m}", c["params"]));
        }
    }
    (n, failures)
}

/// The JSON-format cases of render_formats.json: relative and absolute time specs in several
/// zones, swapped from/until, maxDataPoints 7 and 1, xFilesFactor 0.9.
#[test]
fn render_format_vectors_json() {
    let (n, failures) = replay_vector_file("render_formats.json", |c| {
        let p = &c["params"];
        p["format"] == "json"
            && p.get("jsonp").is_none()
            && p.get("noNullPoints").is_none()
            && c.get("body_json").is_some()
    });
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(n >= 12, "expected the json cases, found {n}");
    assert!(
        failures.is_empty(),
        "{} format vectors differ",
        failures.len()
    );
}

/// The /render cases of tags_api.json (seriesByTag, groupByTags, aliasByTags over the tag index).
#[test]
fn tag_render_vectors() {
    let (n, failures) = replay_vector_file("tags_api.json", |_| true);
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(n >= 10, "expected the tag render cases, found {n}");
    assert!(failures.is_empty(), "{} tag vectors differ", failures.len());
}
