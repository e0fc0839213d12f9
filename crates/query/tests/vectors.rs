//! Replays spec/vectors/render/render_functions.json (graphite-web 1.1.10) over the same fixture
//! (the oracle fixture contains the vectors' series with the same generator rules and now).

mod common;

use std::path::PathBuf;

/// Vector targets whose answer needs the tag database or the HTTP layer.
const SKIP: &[&str] = &[
    "seriesByTag('name=foo')",
    "timeStack(test.servers.web01.cpu.user,'10min',0,2)",
];
const NOT_YET: &[&str] = &[];

#[test]
fn render_function_vectors() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spec/vectors/render/render_functions.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    let cases: serde_json::Value = serde_json::from_str(&text).expect("vectors json");
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let mut failures = Vec::new();
    for c in cases.as_array().expect("cases") {
        let target = c["params"]["target"].as_str().unwrap_or("");
        if SKIP.contains(&target) || NOT_YET.iter().any(|n| target.contains(n)) {
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
