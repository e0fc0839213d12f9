//! Graphs, UI assets and saved dashboards through a real `carbonado serve` over HTTP:
//! format=png|svg, graphType=pie (evaluated and `name:value` targets), clear 4xx for bad
//! graph parameters, the page at `/`, and graphite-web's /dashboard endpoints.

mod web_support;

use web_support::*;

const RANGE: &str = "&from=1699992800&until=1700003600&now=1700003600";

#[test]
fn graphs_ui_and_dashboards_over_http() {
    let (dir, s) = vector_server();
    let http = &s.http;

    // png by default (graphite's default format), with the requested size
    let r = get(
        http,
        &format!("/render?target=test.servers.*.cpu.user&width=400&height=200{RANGE}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.body.starts_with(b"\x89PNG\r\n\x1a\n"));
    // IHDR: width and height as big-endian u32 at bytes 16..24
    assert_eq!(&r.body[16..24], &[0, 0, 1, 144, 0, 0, 0, 200]);

    // svg with the series names as text; functions that style series are honoured
    let r = get(
        http,
        &format!("/render?format=svg&title=cpu&target=color(test.servers.web01.cpu.user,'ff0000'){RANGE}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    let t = r.text();
    assert!(
        t.contains(">cpu</text>") && t.contains(">test.servers.web01.cpu.user</text>"),
        "{t}"
    );
    assert!(t.contains("stroke=\"#ff0000\""));

    // POST form bodies work like GET
    let r = post_form(
        http,
        "/render",
        &format!("target=test.servers.web01.cpu.user&format=svg{RANGE}"),
    );
    assert_eq!(r.status, 200);

    // pie: one evaluated series per slice plus a literal name:value target
    let r = get(
        http,
        &format!("/render?format=svg&graphType=pie&target=test.servers.web01.cpu.user&target=other:25{RANGE}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(
        t.contains(">other</text>") && t.contains(">test.servers.web01.cpu.user</text>"),
        "{t}"
    );
    assert!(t.contains(">%"), "{t}");
    let r = get(
        http,
        &format!("/render?graphType=pie&target=bad:xyz{RANGE}"),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Invalid target"), "{}", r.text());

    // bad graph parameters are a clear 400, not a crash
    for q in [
        "width=0",
        "width=999999",
        "colorList=notacolor",
        "areaMode=sideways",
        "yMin=abc",
        "width=8000&height=8000",
    ] {
        let r = get(
            http,
            &format!("/render?target=test.servers.web01.cpu.user&{q}{RANGE}"),
        );
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert!(!r.text().is_empty());
    }
    let r = get(
        http,
        &format!("/render?target=test.nonexistent&format=svg{RANGE}"),
    );
    assert_eq!(r.status, 200);
    assert!(r.text().contains(">No Data</text>"));

    // the UI: page and assets from the binary, no external references
    let r = get(http, "/");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    let page = r.text();
    assert!(page.contains("/ui/app.js") && page.contains("/ui/app.css"));
    for asset in ["/ui/app.js", "/ui/app.css"] {
        let r = get(http, asset);
        assert_eq!(r.status, 200, "{asset}");
        let body = r.text();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{asset} refers outside"
        );
        assert!(r
            .header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'self'")));
    }
    assert_eq!(get(http, "/ui/nope.js").status, 404);

    // saved dashboards: graphite-web's endpoints and its JSON answers
    let state = r#"{"name": "ops", "graphs": [["a", {"target": ["test.servers.web01.cpu.user"]}, "/render?target=a"]]}"#;
    let r = post_form(
        http,
        "/dashboard/save/ops",
        &format!("state={}", enc(state)),
    );
    assert_eq!(r.text(), r#"{"success":true}"#);
    let r = get(http, "/dashboard/load/ops");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        v["state"]["graphs"][0][1]["target"][0],
        "test.servers.web01.cpu.user"
    );
    let r = post_form(
        http,
        "/dashboard/save/..%2F..%2Fescape",
        &format!("state={}", enc("{}")),
    );
    assert_eq!(r.text(), r#"{"success":true}"#);
    assert!(dir.path().join("whisper/.carbonado/dashboards").is_dir());
    assert!(!dir.path().join("escape.json").exists());
    let r = get(http, "/dashboard/find?query=");
    assert_eq!(
        r.text(),
        r#"{"dashboards":[{"name":"../../escape"},{"name":"ops"}]}"#
    );
    let r = post_form(http, "/dashboard/save/bad", "state=not-json");
    assert!(r.text().contains("\"error\""), "{}", r.text());
    let r = get(http, "/dashboard/delete/ops");
    assert_eq!(r.text(), r#"{"success":true}"#);
    let r = get(http, "/dashboard/load/ops");
    assert_eq!(r.text(), r#"{"error":"Dashboard 'ops' does not exist. "}"#);
    // the dashboards directory is hidden from the metric tree
    let r = get(http, "/metrics/find?query=*");
    assert!(!r.text().contains(".carbonado"), "{}", r.text());
}
