//! Every case of graphite-web's `metrics_api.json` vectors (find in all formats, expand, index.json,
//! version) reproduced against the real `carbonado serve` over the same whisper tree.

mod web_support;

use web_support::*;

#[test]
fn metrics_api_vectors_match_graphite_web() {
    let (_dir, server) = vector_server();
    let cases = vector("render/metrics_api.json");
    let cases = cases.as_array().expect("list of cases");
    assert!(cases.len() > 40, "vector file looks truncated");
    let mut failures = Vec::new();
    for case in cases {
        let path = case["path"].as_str().expect("path");
        let qs = query_string(&case["params"]);
        let url = if qs.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{qs}")
        };
        let r = get(&server.http, &url);
        let want_body = case["body"].as_str().expect("body");
        let mut problems = Vec::new();
        if u64::from(r.status) != case["status"].as_u64().expect("status") {
            problems.push(format!("status {} != {}", r.status, case["status"]));
        }
        if r.header("content-type") != case["content_type"].as_str() {
            problems.push(format!(
                "content-type {:?} != {}",
                r.header("content-type"),
                case["content_type"]
            ));
        }
        let is_find_json = path.starts_with("/metrics/find") && case["params"]["format"] == "json";
        if is_find_json {
            // interval bounds follow the wall clock and file mtimes: compare everything else exactly
            let mut got: serde_json::Value =
                serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
            let mut want: serde_json::Value = serde_json::from_str(want_body).expect("vector json");
            blank_intervals(&mut got);
            blank_intervals(&mut want);
            if got != want {
                problems.push(format!("json {got} != {want}"));
            }
        } else if r.text() != want_body {
            problems.push(format!("body\n  got  {}\n  want {}", r.text(), want_body));
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

#[test]
fn find_errors_and_other_formats() {
    let (_dir, server) = vector_server();
    let r = get(&server.http, "/metrics/find");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("Missing required parameter 'query'"),
        "{}",
        r.text()
    );
    let r = get(&server.http, "/metrics/find?query=");
    assert_eq!(r.status, 400);
    let r = get(
        &server.http,
        "/metrics/find?query=test.servers.*.cpu.user&format=nodelist&position=2",
    );
    assert_eq!(r.text(), r#"{"nodes": ["db01", "web01", "web02"]}"#);
    let r = get(&server.http, "/metrics/find?query=test.*&jsonp=cb");
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert!(
        r.text().starts_with("cb([{\"text\": \"counters\""),
        "{}",
        r.text()
    );
    let r = get(
        &server.http,
        "/metrics/find?query=test.servers.*&format=bogus",
    );
    assert_eq!(r.status, 400);
    // leavesOnly drops branches
    let r = get(
        &server.http,
        "/metrics/find?query=test.servers.web01.cpu.*&format=completer&leavesOnly=1",
    );
    assert!(r.text().contains("\"is_leaf\": \"1\""), "{}", r.text());
    let r = get(
        &server.http,
        "/metrics/find?query=test.*&format=completer&leavesOnly=1",
    );
    assert_eq!(r.text(), r#"{"metrics": []}"#);
    // POST form works like GET (Grafana sends both)
    let r = post_form(&server.http, "/metrics/find", "query=test.serv*");
    assert_eq!(
        r.text(),
        r#"[{"text": "servers", "id": "test.servers", "allowChildren": 1, "expandable": 1, "leaf": 0}]"#
    );
    // pickle answers unpickle in python to the same nodes
    let r = get(
        &server.http,
        "/metrics/find?query=test.servers.web01.cpu.*&format=pickle",
    );
    assert_eq!(r.header("content-type"), Some("application/pickle"));
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("nodes.pickle");
    std::fs::write(&f, &r.body).expect("write");
    run_python(
        "import pickle,sys; n=pickle.load(open(sys.argv[1],'rb')); \
         assert [x['path'] for x in n]==['test.servers.web01.cpu.system','test.servers.web01.cpu.user'], n; \
         assert all(x['is_leaf'] for x in n) and all(len(x['intervals'])==1 for x in n), n",
        &[f.to_str().expect("utf-8")],
    );
}
