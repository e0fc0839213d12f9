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
    // Python's own re.error text cannot be reproduced; the status can.
    let r = get(
        &server.http,
        &format!("/tags/findSeries?expr={}", enc("k=~(")),
    );
    assert_eq!(r.status, 500);
    assert!(
        r.text().starts_with(r#"{"error": "invalid regex"#),
        "{}",
        r.text()
    );
    let r = get(&server.http, "/tags/nosuchtag");
    assert_eq!((r.status, r.text().as_str()), (200, "null"));
    let r = post_form(
        &server.http,
        "/tags/tagSeries",
        &format!("path={}", enc("x;=1")),
    );
    assert_eq!(r.status, 500);
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

const LIVE_GRAPHITE_WEB: &str = r#"
import os, sys, json, tempfile
store = tempfile.mkdtemp()
os.makedirs(store + "/whisper"); os.makedirs(store + "/log/webapp")
os.environ["GRAPHITE_STORAGE_DIR"] = store
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
import django; django.setup()
from django.conf import settings
# A fresh database of our own, never the system's graphite.db.
settings.DATABASES["default"]["NAME"] = os.path.join(store, "graphite.db")
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from django.test import Client
c = Client()
out = []
for method, path, params in json.load(sys.stdin):
    r = c.post(path, params) if method == "POST" else c.get(path, params)
    out.append([r.status_code, r.content.decode()])
json.dump(out, sys.stdout)
"#;

/// The same requests through graphite-web's Django app (system python) and through carbonado.
#[test]
fn edge_cases_answer_like_live_graphite_web() {
    use serde_json::json;
    let requests = json!([
        ["POST", "/tags/tagSeries", {"path": "x;=1"}],
        ["POST", "/tags/tagSeries", {"path": "~m;k=1;j=v;k=2"}],
        ["POST", "/tags/tagMultiSeries", {"path[]": ["a.b;k=1", "a.c;k=3;z=0"]}],
        ["POST", "/tags/tagMultiSeries", {}],
        ["GET", "/tags/tagSeries", {}],
        ["GET", "/tags/findSeries", {"expr": "bad"}],
        ["GET", "/tags/findSeries", {"expr[]": ["k!=2", "name=~a"]}],
        ["GET", "/tags/findSeries", {"expr": ["k=~^1|3"], "pretty": "1"}],
        ["GET", "/tags", {"limit": ""}],
        ["GET", "/tags", {"limit": "2", "filter": "[jk]"}],
        ["GET", "/tags", {"limit": "x"}],
        ["GET", "/tags/autoComplete/tags", {"limit": ""}],
        ["GET", "/tags/autoComplete/tags", {"limit": "x"}],
        ["GET", "/tags/autoComplete/tags", {"expr": "k=~.", "limit": "1"}],
        ["GET", "/tags/autoComplete/values", {"tag": "k", "expr": "name!=m"}],
        ["GET", "/tags/autoComplete/values", {"tag": "k", "valuePrefix": ""}],
        ["GET", "/tags/k", {"pretty": "1"}],
        ["GET", "/tags/k", {"filter": "[12]", "limit": "1"}],
        ["GET", "/tags/nosuch", {}],
        ["POST", "/tags/delSeries", {"path": ["m;k=2;j=v", "never;seen=1"]}],
        ["GET", "/tags/findSeries", {"expr": "k=~."}],
        ["GET", "/tags/k", {}],
        ["POST", "/tags/delSeries", {}],
        ["POST", "/tags", {}],
    ]);
    let theirs = {
        use std::io::Write;
        let python = std::env::var_os("CARBONADO_SYS_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/usr/bin/python3".into());
        let mut child = std::process::Command::new(&python)
            .arg("-c")
            .arg(LIVE_GRAPHITE_WEB)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("reference python {}: {e}", python.display()));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(requests.to_string().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("python");
        assert!(
            out.status.success(),
            "graphite-web failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let (_dir, server) = vector_server();
    let mut failures = Vec::new();
    for (req, want) in requests
        .as_array()
        .expect("list")
        .iter()
        .zip(theirs.as_array().expect("list"))
    {
        let path = req[1].as_str().expect("path");
        let qs = query_string(&req[2]);
        let r = if req[0] == "POST" {
            post_form(&server.http, path, &qs)
        } else {
            get(&server.http, &format!("{path}?{qs}"))
        };
        let got = json!([r.status, r.text()]);
        if got != *want {
            failures.push(format!("{req}\n  got  {got}\n  want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
