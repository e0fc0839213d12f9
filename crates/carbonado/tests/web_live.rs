//! The web role with live caches: points still in a cache show up in /render (in the same process
//! and over carbonlink from another process), Grafana's requests, memcached caching, request limits.

mod web_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use web_support::*;

fn wsp(root: &Path, name: &str, points: &[(i64, f64)], now: i64) {
    let script = "import os,sys,json,whisper\n\
                  p=sys.argv[1]; os.makedirs(os.path.dirname(p), exist_ok=True)\n\
                  whisper.create(p, [(60, 1440)])\n\
                  whisper.update_many(p, [tuple(x) for x in json.loads(sys.argv[2])], now=int(sys.argv[3]))";
    let path = root.join(name.replace('.', "/") + ".wsp");
    let pts = serde_json::to_string(
        &points
            .iter()
            .map(|(t, v)| vec![*t as f64, *v])
            .collect::<Vec<_>>(),
    )
    .expect("json");
    run_python(
        script,
        &[path.to_str().expect("utf-8"), &pts, &now.to_string()],
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn send_lines(addr: &str, lines: &str) {
    let mut s = TcpStream::connect(addr).expect("connect line receiver");
    s.write_all(lines.as_bytes()).expect("send lines");
}

fn datapoints(body: &[u8]) -> Vec<(Option<f64>, i64)> {
    let v: serde_json::Value = serde_json::from_slice(body).expect("render json");
    v[0]["datapoints"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| (p[0].as_f64(), p[1].as_i64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn cache_config(
    dir: &Path,
    line: &str,
    query: &str,
    web: Option<&str>,
    extra_cache: &str,
) -> String {
    let web = match web {
        Some(http) => {
            format!("[web]\nenabled = true\nlisten = \"{http}\"\ndefault_cache_duration = 0\n")
        }
        None => "[web]\nenabled = false\n".to_string(),
    };
    format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"{line}\"\npickle_receiver = \"\"\n\
         cache_query = \"{query}\"\nhttp_listen = \"\"\n{extra_cache}\n\n{web}",
        dir.join("data").display()
    )
}

#[test]
fn cached_points_not_yet_on_disk_are_rendered_over_carbonlink() {
    // Cache process A may create one file per minute: a throwaway metric takes the only token, so
    // points for live.cpu stay in A's memory. Web process B has live.cpu's file on disk and asks A.
    let t = now() - now() % 60;
    let a_dir = tempfile::tempdir().expect("tmp");
    let (line, query) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let a_http = format!("127.0.0.1:{}", free_port());
    let mut cfg_a = cache_config(
        a_dir.path(),
        &line,
        &query,
        Some(&a_http),
        "max_creates_per_minute = 1",
    );
    cfg_a = cfg_a.replace(
        "[web]\nenabled = true",
        "[web]\nenabled = true\ncarbonlink_hosts = []",
    );
    let _a = start(a_dir.path(), &cfg_a, &a_http);
    send_lines(&line, &format!("zz.first 1 {}\n", t - 600));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a_dir.path().join("data/zz/first.wsp").exists() {
        assert!(
            Instant::now() < deadline,
            "cache never created its first file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    send_lines(
        &line,
        &format!("live.cpu 7 {}\nlive.cpu 8 {}\n", t - 120, t - 60),
    );

    let b_dir = tempfile::tempdir().expect("tmp");
    let data = b_dir.path().join("whisper");
    wsp(
        &data,
        "live.cpu",
        &[(t - 300, 1.0), (t - 240, 2.0), (t - 120, 3.0)],
        t,
    );
    let b_http = format!("127.0.0.1:{}", free_port());
    let cfg_b = web_only_config(
        &data,
        &b_http,
        0,
        &format!("carbonlink_hosts = [\"{query}:a\"]"),
    )
    .replace("carbonlink_hosts = []\n", "");
    let b = start(b_dir.path(), &cfg_b, &b_http);
    let url = format!(
        "/render?target=live.cpu&from={}&until={}&format=json",
        t - 360,
        t
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let pts = loop {
        let r = get(&b.http, &url);
        assert_eq!(r.status, 200, "{}", r.text());
        let pts = datapoints(&r.body);
        if pts.iter().any(|p| p.0 == Some(8.0)) || Instant::now() > deadline {
            break pts;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let at = |ts: i64| pts.iter().find(|p| p.1 == ts).and_then(|p| p.0);
    assert_eq!(at(t - 300), Some(1.0), "disk value kept: {pts:?}");
    assert_eq!(at(t - 240), Some(2.0), "disk value kept: {pts:?}");
    assert_eq!(
        at(t - 120),
        Some(7.0),
        "cached value wins over disk: {pts:?}"
    );
    assert_eq!(at(t - 60), Some(8.0), "cache-only point shown: {pts:?}");
    assert!(
        !a_dir.path().join("data/live/cpu.wsp").exists(),
        "points must still be only in A's cache"
    );
}

#[test]
fn lines_sent_to_the_cache_render_at_once_in_the_same_process() {
    let t = now() - now() % 60;
    let dir = tempfile::tempdir().expect("tmp");
    // the metric exists on disk already, as a running metric does
    wsp(&dir.path().join("data"), "app.req", &[(t - 600, 1.0)], t);
    let (line, query, http) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let s = start(
        dir.path(),
        &cache_config(dir.path(), &line, &query, Some(&http), ""),
        &http,
    );
    send_lines(&line, &format!("app.req 42 {}\n", t - 60));
    let url = format!(
        "/render?target=app.req&from={}&until={}&format=json",
        t - 900,
        t
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pts = datapoints(&get(&s.http, &url).body);
        if pts.iter().any(|p| p == &(Some(42.0), t - 60)) {
            assert!(pts.iter().any(|p| p == &(Some(1.0), t - 600)), "{pts:?}");
            break;
        }
        assert!(Instant::now() < deadline, "point never appeared: {pts:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // a metric the cache creates is findable without a restart
    send_lines(&line, &format!("app.fresh 5 {}\n", t - 60));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(&s.http, "/metrics/find?query=app.*&format=completer");
        if r.text().contains("app.fresh") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new metric never indexed: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn grafana_requests_get_the_shapes_grafana_parses() {
    let (_dir, s) = vector_server();
    let r = get(&s.http, "/version");
    assert_eq!(r.text(), "1.1.10\n");
    // query editor: treejson find
    let r = get(
        &s.http,
        "/metrics/find?query=test.servers.*&from=-6h&until=now",
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    for n in v.as_array().expect("list") {
        assert!(n["text"].is_string() && n["id"].is_string(), "{n}");
        assert!(
            n["expandable"].is_i64() && n["leaf"].is_i64() && n["allowChildren"].is_i64(),
            "{n}"
        );
    }
    // panel query: POST form, several targets, maxDataPoints; Grafana sends Accept with several types
    let form = "target=test.servers.web01.cpu.user&target=aliasByNode(test.servers.*.cpu.user%2C2)\
                &from=1699996400&until=1700003600&now=1700003600&format=json&maxDataPoints=20";
    let r = request(
        &s.http,
        "POST",
        "/render",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json, text/plain, */*"),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let list = v.as_array().expect("list");
    let names: Vec<&str> = list
        .iter()
        .map(|x| x["target"].as_str().expect("target"))
        .collect();
    assert_eq!(
        names,
        ["test.servers.web01.cpu.user", "db01", "web01", "web02"]
    );
    for x in list {
        let dps = x["datapoints"].as_array().expect("datapoints");
        assert!(!dps.is_empty() && dps.len() <= 20, "{} points", dps.len());
        for p in dps {
            assert!(p[0].is_null() || p[0].is_number());
            assert!(p[1].is_i64());
        }
    }
    // query string targets and POST targets are both rendered, GET first
    let r = request(
        &s.http,
        "POST",
        "/render?target=test.servers.web02.cpu.user&format=json&from=1700000000&until=1700000300&now=1700003600",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"target=test.servers.db01.cpu.user",
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v[0]["target"], "test.servers.web02.cpu.user");
    assert_eq!(v[1]["target"], "test.servers.db01.cpu.user");
    // function editor
    let r = get(&s.http, "/functions");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["movingAverage"]["params"][0]["type"], "seriesList");
    assert_eq!(v["aliasByNode"]["group"], "Alias");
    let r = get(&s.http, "/functions/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"error": "Function not found: nope"}"#);
    // graphs come from the graph crate
    let r = get(
        &s.http,
        "/render?target=test.servers.web01.cpu.user&format=png",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"\x89PNG"), "{}", r.text());
}

#[test]
fn request_limits_answer_clear_4xx() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("whisper");
    std::fs::create_dir_all(&data).expect("mkdir");
    build_vector_tree(&data);
    let http = format!("127.0.0.1:{}", free_port());
    let extra = "max_find_results = 2\nmax_series_per_request = 2\nmax_points_per_request = 100\nmax_body_bytes = 1000";
    let s = start(dir.path(), &web_only_config(&data, &http, 0, extra), &http);
    let r = get(&s.http, "/metrics/find?query=test.servers.*");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("more than 2"), "{}", r.text());
    let q = "&from=1700000000&until=1700001800&now=1700003600&format=json";
    let r = get(
        &s.http,
        &format!("/render?target=test.servers.web0*.cpu.user{q}"),
    );
    assert_eq!(
        r.status,
        200,
        "two series are within the limit: {}",
        r.text()
    );
    let r = get(
        &s.http,
        &format!("/render?target=test.servers.web0*.cpu.user&target=test.servers.db01.cpu.user{q}"),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("series"), "{}", r.text());
    let r = get(&s.http, "/render?target=test.servers.web01.cpu.user&from=1699917300&until=1700003600&now=1700003600&format=json");
    assert_eq!(r.status, 400, "1440 points are over the 100-point limit");
    assert!(
        r.text().contains("points") || r.text().contains("datapoints"),
        "{}",
        r.text()
    );
    let big = format!("target={}", "x".repeat(5000));
    let r = post_form(&s.http, "/render", &big);
    assert_eq!(r.status, 413);
    let r = get(
        &s.http,
        "/render?target=sumSeries(test.servers.web01.cpu.user&format=json&from=-1h",
    );
    assert_eq!(
        r.status, 200,
        "unbalanced target is a path matching nothing, as graphite-web"
    );
    assert_eq!(r.text(), "[]");
    let r = get(
        &s.http,
        "/render?target=test.a&format=json&from=1700000000&until=1700000000",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "Invalid parameters (Invalid empty time range)")
    );
}

struct Memcached(std::process::Child);

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn memcached_items(addr: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("memcached");
    s.write_all(b"stats\r\nquit\r\n").expect("stats");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines()
        .find_map(|l| {
            l.strip_prefix("STAT curr_items ")
                .and_then(|n| n.trim().parse().ok())
        })
        .expect("curr_items in stats")
}

#[test]
fn render_results_are_cached_in_a_real_memcached() {
    let bin = Path::new("/usr/bin/memcached");
    assert!(
        bin.exists(),
        "memcached is missing (scripts/test.sh installs it)"
    );
    let port = free_port();
    let mc = Memcached(
        std::process::Command::new(bin)
            .args([
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "0",
                "-u",
                "root",
            ])
            .spawn()
            .expect("spawn memcached"),
    );
    let mc_addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&mc_addr).is_err() {
        assert!(Instant::now() < deadline, "memcached did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("whisper");
    let t = 1_700_003_600;
    wsp(&data, "mc.value", &[(t - 120, 1.0)], t);
    let http = format!("127.0.0.1:{}", free_port());
    let s = start(
        dir.path(),
        &web_only_config(
            &data,
            &http,
            60,
            &format!("memcache_hosts = [\"{mc_addr}\"]"),
        ),
        &http,
    );
    assert_eq!(memcached_items(&mc_addr), 0);
    let url = format!(
        "/render?target=mc.value&from={}&until={}&now={t}&format=json",
        t - 300,
        t
    );
    let first = get(&s.http, &url);
    assert_eq!(first.status, 200);
    assert!(
        memcached_items(&mc_addr) >= 1,
        "the answer was stored in memcached"
    );
    // change the data on disk: the cached answer is served until it expires
    run_python(
        "import whisper,sys; whisper.update(sys.argv[1], 9.0, int(sys.argv[2]) - 120, now=int(sys.argv[2]))",
        &[data.join("mc/value.wsp").to_str().expect("utf-8"), &t.to_string()],
    );
    let second = get(&s.http, &url);
    assert_eq!(second.text(), first.text(), "served from memcached");
    let fresh = get(&s.http, &format!("{url}&noCache=1"));
    assert!(
        fresh.text().contains("[9.0, "),
        "noCache bypasses the cache: {}",
        fresh.text()
    );
    drop(mc);
    // memcached gone: requests still succeed (cache failures are misses)
    let r = get(&s.http, &format!("{url}&x=1"));
    assert_eq!(r.status, 200);
}
