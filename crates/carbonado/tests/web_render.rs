//! `/render` end to end against graphite-web's vectors: every `render_formats.json` case byte for
//! byte, and the `render_functions.json` cases of every function the query crate implements.

mod web_support;

use serde_json::Value;
use web_support::*;

fn url_of(case: &Value) -> String {
    format!(
        "{}?{}",
        case["path"].as_str().expect("path"),
        query_string(&case["params"])
    )
}

#[test]
fn render_formats_vectors_match_byte_for_byte() {
    let (dir, server) = vector_server();
    let cases = vector("render/render_formats.json");
    let cases = cases.as_array().expect("cases");
    assert!(cases.len() >= 20, "vector file looks truncated");
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let url = url_of(case);
        let r = get(&server.http, &url);
        let mut problems = Vec::new();
        if Some(u64::from(r.status)) != case["status"].as_u64() {
            problems.push(format!("status {} != {}", r.status, case["status"]));
        }
        if r.header("content-type") != case["content_type"].as_str() {
            problems.push(format!(
                "content-type {:?} != {}",
                r.header("content-type"),
                case["content_type"]
            ));
        }
        if let Some(want) = case["body"].as_str() {
            if r.text() != want {
                problems.push(format!("body\n  got  {}\n  want {}", r.text(), want));
            }
        } else if let Some(hex) = case["body_hex"].as_str() {
            let want: Vec<u8> = (0..hex.len() / 2)
                .map(|j| u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).expect("hex"))
                .collect();
            if case["content_type"] == "application/pickle" {
                // pickle bytes differ by protocol and memo use; what peers see is the unpickled value
                let f = dir.path().join(format!("render{i}.pickle"));
                std::fs::write(&f, &r.body).expect("write");
                let want_json = serde_json::to_string(&case["body_unpickled"]).expect("json");
                let wf = dir.path().join(format!("render{i}.want.json"));
                std::fs::write(&wf, want_json).expect("write");
                run_python(
                    "import pickle,json,sys; got=pickle.load(open(sys.argv[1],'rb')); want=json.load(open(sys.argv[2])); \
                     assert got==want, (got, want)",
                    &[f.to_str().expect("utf-8"), wf.to_str().expect("utf-8")],
                );
            } else if r.body != want {
                problems.push(format!(
                    "body\n  got  {}\n  want {}",
                    r.text(),
                    String::from_utf8_lossy(&want)
                ));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{url}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// JSON equality as a client parsing it sees it: object key order does not matter (our tags are
/// sorted, graphite's keep insertion order); numbers agree in kind (int vs float) and to 1e-9 relative.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x.is_f64() == y.is_f64()
                && (fx == fy || (fx - fy).abs() <= 1e-9 * fx.abs().max(fy.abs()))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn function_names(target: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = target.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let s = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i < b.len() && b[i] == b'(' {
                out.push(target[s..i].to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn render_functions_vectors_match_for_implemented_functions() {
    let (_dir, server) = vector_server();
    let cases = vector("render/render_functions.json");
    let cases = cases.as_array().expect("cases");
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut skipped = Vec::new();
    for case in cases {
        let target = case["params"]["target"].as_str().expect("target");
        let names = function_names(target);
        let expect_unknown = case["body"]
            .as_str()
            .is_some_and(|b| b.contains("unknown function"));
        let implemented = names.iter().all(|n| {
            n == "seriesByTag" || get(&server.http, &format!("/functions/{n}")).status == 200
        });
        if !implemented && !expect_unknown {
            skipped.push(target.to_string());
            continue;
        }
        checked += 1;
        let url = url_of(case);
        let r = get(&server.http, &url);
        let problem = if case.get("exception").is_some() {
            // graphite-web raised (a 500 under a real server)
            (r.status != 500).then(|| {
                format!(
                    "status {} for a case graphite-web fails with {}",
                    r.status, case["exception"]
                )
            })
        } else if Some(u64::from(r.status)) != case["status"].as_u64() {
            Some(format!(
                "status {} != {}: {}",
                r.status,
                case["status"],
                r.text()
            ))
        } else if case["status"] != 200 {
            (r.text() != case["body"].as_str().unwrap_or_default())
                .then(|| format!("body {:?} != {:?}", r.text(), case["body"]))
        } else {
            let got: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            (!same_json(&got, &case["body_json"]))
                .then(|| format!("\n  got  {}\n  want {}", got, case["body_json"]))
        };
        if let Some(p) = problem {
            failures.push(format!("{target}: {p}"));
        }
    }
    assert!(
        checked >= 90,
        "only {checked} cases checked; unimplemented: {skipped:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
