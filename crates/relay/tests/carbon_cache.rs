//! A real Python carbon-cache (Debian's /usr/bin/carbon-cache) as a destination: our pickle
//! output must land in its whisper files exactly.

mod common;

use relay::{Destination, Point, Relay, RelayConfig};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_carbon_cache(dir: &Path) -> (Killed, u16) {
    let (line, pickle, query) = (free_port(), free_port(), free_port());
    let d = dir.display();
    std::fs::create_dir_all(dir.join("storage/whisper")).unwrap();
    std::fs::write(
        dir.join("carbon.conf"),
        format!(
            "[cache]\nSTORAGE_DIR = {d}/storage\nLOCAL_DATA_DIR = {d}/storage/whisper\nCONF_DIR = {d}\n\
             LOG_DIR = {d}/log\nPID_DIR = {d}\nENABLE_LOGROTATION = False\nMAX_CACHE_SIZE = inf\n\
             MAX_UPDATES_PER_SECOND = inf\nMAX_CREATES_PER_MINUTE = inf\n\
             LINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {line}\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {pickle}\n\
             CACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = {query}\n\
             ENABLE_TAGS = False\nCARBON_METRIC_INTERVAL = 0\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 1s:1d\n",
    )
    .unwrap();
    let bin =
        std::env::var("CARBONADO_CARBON_CACHE").unwrap_or_else(|_| "/usr/bin/carbon-cache".into());
    let child = Command::new(&bin)
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/carbon.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("reference carbon-cache {bin} is required: {e}"));
    let child = Killed(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", pickle)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "carbon-cache did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, pickle)
}

fn sys_python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// Reads every whisper file under `root` with Python whisper: {path: [[ts, repr(value)], ...]},
/// non-null only (values as text: serde_json's float parsing is not exact).
fn read_tree(root: &Path) -> serde_json::Value {
    let script = r#"
import json, os, sys, time, whisper
root = sys.argv[1]; out = {}
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        try:
            (start, end, step), vals = whisper.fetch(p, time.time() - 3000, time.time() + 10)
        except Exception:
            continue  # carbon is still creating it: read on the next pass
        name = os.path.relpath(p, root)[:-4].replace(os.sep, '.')
        out[name] = [[start + i * step, repr(v)] for i, v in enumerate(vals) if v is not None]
print(json.dumps(out))
"#;
    let o = Command::new(sys_python())
        .arg("-c")
        .arg(script)
        .arg(root)
        .output()
        .expect("python3 is required");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_carbon_cache_stores_our_pickle_output() {
    let dir = tempfile::tempdir().unwrap();
    let (_cache, port) = start_carbon_cache(dir.path());
    let dest = Destination::parse(&format!("127.0.0.1:{port}:a")).unwrap();
    let mut cfg = RelayConfig::default();
    cfg.sender.max_datapoints_per_message = 37; // many messages, odd sizes
    let relay = Relay::start(cfg, common::to_last(vec![dest])).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let names = [
        "relay.test.alpha",
        "relay.test.beta-2",
        "relay.test.ünïcode",
        "relay.test.neg",
    ];
    let mut sent = Vec::new();
    for (k, name) in names.iter().enumerate() {
        for j in 0..120i64 {
            let ts = (now - 600 + j) as f64;
            let v = (k as f64 + 1.0) * -0.1 * j as f64 + 1e-3 * k as f64;
            sent.push(Point::new(*name, ts, v));
        }
    }
    relay.submit(sent.clone()).await.unwrap();
    assert!(relay.drained(Duration::from_secs(10)).await);

    let root = dir.path().join("storage/whisper");
    let t0 = Instant::now();
    let tree = loop {
        let tree = read_tree(&root);
        let complete = names.iter().all(|n| {
            tree.get(*n)
                .and_then(|v| v.as_array())
                .is_some_and(|a| a.len() == 120)
        });
        if complete {
            break tree;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "carbon-cache did not store everything: {tree}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for p in &sent {
        let series = tree[&p.metric].as_array().unwrap();
        let hit = series
            .iter()
            .find(|e| e[0].as_f64() == Some(p.timestamp))
            .unwrap_or_else(|| panic!("{p:?} missing"));
        let v: f64 = hit[1].as_str().unwrap().parse().unwrap();
        assert_eq!(v, p.value, "{p:?}");
    }
    assert_eq!(relay.stats()[0].sent, sent.len() as u64);
    relay.shutdown().await;
}
