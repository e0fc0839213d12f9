//! The web UI end to end in headless Chromium (Debian's chromium + chromium-driver, driven over
//! WebDriver with fantoccini) against a real `carbonado serve` with whisper data: browse the
//! tree, add a target with a function through completion, see the graph, change the time range,
//! save a dashboard, reload and load it again. Screenshots of each step go to
//! `target/ui-screenshots/`. Fails (does not skip) when chromium or chromedriver is missing.

mod web_support;

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web_support::*;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exe(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        p.exists(),
        "{} is missing (apt-get install chromium chromium-driver; or set {var})",
        p.display()
    );
    p
}

/// Whisper files with points up to the wall clock, so relative ranges (-1d, -6h) show data.
fn build_live_tree(root: &Path) {
    let script = r#"
import os, sys, time, whisper
root = sys.argv[1]
now = int(time.time())
for si, host in enumerate(["web01", "web02", "db01"]):
    for mi, m in enumerate(["user", "system"]):
        p = os.path.join(root, "test", "servers", host, "cpu", m + ".wsp")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        whisper.create(p, [(60, 2880)], aggregationMethod="average")
        pts = [(ts, float((ts // 60 * (si + 1) + mi * 5) % 17 + si * 10)) for ts in range(now - 86400, now, 60)]
        whisper.update_many(p, pts)
"#;
    run_python(script, &[root.to_str().expect("utf-8 path")]);
}

fn shots_dir() -> PathBuf {
    let d = workspace().join("target").join("ui-screenshots");
    std::fs::create_dir_all(&d).expect("screenshot dir");
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.expect("execute script")
}

/// Waits until `script` returns true (bounded).
async fn until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if js(c, script).await == serde_json::Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let status = js(c, "return document.getElementById('status').textContent").await;
            panic!("timed out waiting for {what} (status: {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const GRAPH_LOADED: &str = "const i = document.getElementById('graph'); return !!i.getAttribute('src') && i.complete && i.naturalWidth > 0;";

async fn click_node(c: &Client, id: &str) {
    c.wait()
        .for_element(Locator::Css(&format!("button.node[data-id='{id}']")))
        .await
        .expect("tree node")
        .click()
        .await
        .expect("click node");
}

#[test]
fn ui_browse_graph_range_dashboard_reload() {
    let chromedriver = exe("CARBONADO_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = exe("CARBONADO_CHROMIUM", "/usr/bin/chromium");
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("whisper");
    std::fs::create_dir_all(&data).expect("mkdir");
    build_live_tree(&data);
    let http = format!("127.0.0.1:{}", free_port());
    let server = start(dir.path(), &web_only_config(&data, &http, 0, ""), &http);
    let base = format!("http://{}", server.http);

    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver"),
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let c = loop {
            let conn = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match conn {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };

        // 1. open the UI: the tree shows the top level
        c.goto(&format!("{base}/")).await.expect("open ui");
        c.wait().for_element(Locator::Css("button.node[data-id='test']")).await.expect("tree root");
        shot(&c, "01-open").await;

        // 2. browse the tree down to a leaf, which becomes a target and a graph
        for id in ["test", "test.servers", "test.servers.web01", "test.servers.web01.cpu", "test.servers.web01.cpu.user"] {
            click_node(&c, id).await;
        }
        until(&c, "first target", "return document.querySelectorAll('#targets input').length === 1").await;
        until(&c, "graph of the first target", GRAPH_LOADED).await;
        shot(&c, "02-tree-target").await;

        // 3. a target with a function, picked through completion
        let input = c.find(Locator::Id("target-input")).await.expect("target input");
        input.send_keys("movingAv").await.expect("type");
        until(&c, "function completion", "const s = document.getElementById('suggest'); return !s.hidden && s.textContent.includes('movingAverage');").await;
        input.send_keys("\u{E004}").await.expect("tab picks the completion"); // WebDriver Tab key
        let v = js(&c, "return document.getElementById('target-input').value").await;
        assert_eq!(v, "movingAverage(");
        input.send_keys("test.servers.web02.cpu.user,5)").await.expect("type rest");
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.find(Locator::Css("#target-form button[type='submit']")).await.expect("add").click().await.expect("click add");
        until(&c, "second target", "return document.querySelectorAll('#targets input').length === 2").await;
        let t2 = js(&c, "return document.querySelectorAll('#targets input')[1].value").await;
        assert_eq!(t2, "movingAverage(test.servers.web02.cpu.user,5)");
        until(&c, "graph with the function", &format!("{GRAPH_LOADED} ")).await;
        let url = js(&c, "return document.getElementById('graph').dataset.url").await;
        let url = url.as_str().expect("graph url").to_string();
        assert!(url.contains("movingAverage"), "{url}");
        let r = get(&server.http, &url);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("image/png"));
        let w = js(&c, "return document.getElementById('graph').naturalWidth").await;
        assert_eq!(w, serde_json::json!(800));
        shot(&c, "03-function").await;

        // 4. change the time range
        c.find(Locator::Id("range-preset")).await.expect("range").select_by_value("-6h").await.expect("select range");
        until(&c, "graph for the new range", "return document.getElementById('graph').dataset.url.includes('from=-6h');").await;
        until(&c, "graph loaded", GRAPH_LOADED).await;
        shot(&c, "04-range").await;

        // 5. add the graph to a dashboard and save it on the server
        c.find(Locator::Id("add-to-dash")).await.expect("add to dash").click().await.expect("click");
        c.find(Locator::Id("dash-name")).await.expect("name").send_keys("e2e ops").await.expect("type name");
        c.find(Locator::Id("dash-save")).await.expect("save").click().await.expect("click save");
        until(&c, "saved", "return document.getElementById('status').textContent.startsWith('Saved dashboard');").await;
        let file = data.join(".carbonado/dashboards/e2e%20ops.json");
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("dashboard file")).expect("json");
        assert_eq!(saved["graphs"][0][1]["target"][1], "movingAverage(test.servers.web02.cpu.user,5)");
        assert_eq!(saved["defaultGraphParams"]["from"], "-6h");
        shot(&c, "05-saved").await;

        // 6. a fresh page load, then the dashboard from the server's list
        c.goto(&format!("{base}/")).await.expect("reload");
        until(&c, "dashboard list", "return [...document.querySelectorAll('#dash-list option')].some(o => o.value === 'e2e ops');").await;
        assert_eq!(js(&c, "return document.querySelectorAll('.dash-graph').length").await, serde_json::json!(0));
        c.find(Locator::Id("dash-list")).await.expect("list").select_by_value("e2e ops").await.expect("select");
        c.find(Locator::Id("dash-load")).await.expect("load").click().await.expect("click load");
        until(&c, "dashboard graph", "const i = document.querySelector('.dash-graph img'); return !!i && i.complete && i.naturalWidth > 0;").await;
        let alt = js(&c, "return document.querySelector('.dash-graph img').alt").await;
        assert!(alt.as_str().unwrap_or("").contains("movingAverage"), "{alt}");
        assert_eq!(js(&c, "return document.getElementById('from').value").await, "-6h");
        assert!(c.current_url().await.expect("url").as_str().contains("dashboard=e2e+ops"));
        shot(&c, "06-reloaded-dashboard").await;

        // the graphite-web endpoints answer the same state
        let r = get(&server.http, "/dashboard/find?query=e2e");
        assert_eq!(String::from_utf8_lossy(&r.body), r#"{"dashboards":[{"name":"e2e ops"}]}"#);
        c.close().await.expect("close session");
    });
}
