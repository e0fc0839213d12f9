//! Every case of graphite-web's `tags_api.json` vectors (tagSeries, /tags, findSeries,
//! autocomplete, seriesByTag renders) replayed in order against the real `carbonado serve`.

mod web_support;

use web_support::*;

fn form(params: &serde_json::Value) -> String {
    query_string(params)
}

#[test]
fn tags_api_vectors_match_graphite_web() {
    let (_dir, server) = vector_server();
    let cases = vector("render/tags_api.json");
    let cases = cases.as_array().expect("list of cases");
    assert!(cases.len() >= 30, "vector file looks truncated");
    let mut failures = Vec::new();
    for case in cases {
        let path = case["path"].as_str().expect("path");
        let qs = form(&case["params"]);
        let r = if case["method"] == "POST" {
            post_form(&server.http, path, &qs)
        } else if qs.is_empty() {
            get(&server.http, path)
        } else {
            get(&server.http, &format!("{path}?{qs}"))
        };
        let mut problems = Vec::new();
        if u64::from(r.status) != case["status"].as_u64().expect("status") {
            problems.push(format!("status {} != {}", r.status, case["status"]));
        }
        if let Some(ct) = case["content_type"].as_str() {
            if r.header("content-type") != Some(ct) {
                problems.push(format!(
                    "content-type {:?} != {ct}",
                    r.header("content-type")
                ));
            }
        }
        let want = case["body"].as_str().expect("body");
        if r.text() != want {
            problems.push(format!("body\n  got  {}\n  want {}", r.text(), want));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} {path}?{qs}: {}",
                case["method"],
                problems.join("; ")
            ));
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

#[test]
fn tag_endpoint_errors_and_methods() {
    let (_dir, server) = vector_server();
    let r = get(&server.http, "/tags/tagSeries?path=a;b=c");
    assert_eq!(r.status, 405);
    let r = post_form(&server.http, "/tags/tagSeries", "");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"error": "no path specified"}"#);
    let r = get(&server.http, "/tags/findSeries");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"error": "no tag expressions specified"}"#);
    let r = get(&server.http, "/tags/findSeries?expr=nooperator");
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"error": "Invalid tagspec nooperator"}"#);
    let r = get(&server.http, "/tags/autoComplete/values");
    assert_eq!(r.text(), r#"{"error": "no tag specified"}"#);
    let r = get(&server.http, "/tags/nosuchtag");
    assert_eq!((r.status, r.text().as_str()), (200, "null"));
    let r = post_form(
        &server.http,
        "/tags/tagSeries",
        &format!("path={}", enc("x;=1")),
    );
    assert_eq!(r.status, 400);
    // delSeries forgets a series; findSeries stops returning it.
    let r = post_form(
        &server.http,
        "/tags/tagMultiSeries",
        &format!("path={}&path={}", enc("m;k=1"), enc("m;k=2")),
    );
    assert_eq!(r.text(), r#"["m;k=1", "m;k=2"]"#);
    let r = post_form(
        &server.http,
        "/tags/delSeries",
        &format!("path={}", enc("m;k=1")),
    );
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    let r = get(
        &server.http,
        &format!("/tags/findSeries?expr={}", enc("name=m")),
    );
    assert_eq!(r.text(), r#"["m;k=2"]"#);
}
