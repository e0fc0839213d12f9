//! Cluster federation between two real nodes (cache + web each, each the other's cluster peer):
//! names and points on one node are found and rendered from the other, copies of one series
//! merge, and a hung (SIGSTOPped) peer leaves answers complete for local data, marked partial.

mod web_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web_support::{enc, free_port, get};

const PARTIAL: &str = "x-carbonado-partial";

/// graphite-web's own RemoteFinder (system python's graphite-web) asking a node, as a
/// graphite-web front end with the node in CLUSTER_SERVERS does.
const GRAPHITE_WEB_REMOTE: &str = r#"
import sys, json, os, tempfile
d = tempfile.mkdtemp()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")
os.environ["GRAPHITE_STORAGE_DIR"] = d
from django.conf import settings
import django
settings.LOG_DIR = d
django.setup()
settings.FIND_CACHE_DURATION = 0
from graphite.finders.remote import RemoteFinder
from graphite.storage import FindQuery
host, pattern, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
f = RemoteFinder(host)
nodes = [{"path": n.path, "leaf": bool(n.is_leaf)} for n in f.find_nodes(FindQuery(pattern, start, end))]
series = f.fetch([pattern], start, end)
out = {"nodes": sorted(nodes, key=lambda n: n["path"]),
       "series": sorted([{"name": s["name"], "values": [v for v in s["values"] if v is not None]} for s in series], key=lambda s: s["name"])}
json.dump(out, sys.stdout)
"#;

fn graphite_web_remote(host: &str, pattern: &str, from: i64, until: i64) -> serde_json::Value {
    let python = std::env::var_os("CARBONADO_SYS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/python3".into());
    assert!(
        python.exists(),
        "reference python {} is missing",
        python.display()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(GRAPHITE_WEB_REMOTE)
        .args([host, pattern, &from.to_string(), &until.to_string()])
        .output()
        .expect("run graphite-web");
    assert!(
        out.status.success(),
        "graphite-web RemoteFinder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("graphite-web json")
}

/// A running `carbonado serve` (cache + web), killed on drop.
struct Node {
    child: Child,
    http: String,
    line: String,
    log: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        // a stopped process must be resumed to die promptly under some kernels' ptrace rules
        signal(self.child.id(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

/// `n` distinct free loopback ports: all held open together while chosen, so that one node's
/// listeners can never be handed a port already promised to another node.
fn distinct_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

fn start(dir: &Path, http: &str, peer: &str) -> Node {
    let p = distinct_ports(2);
    start_on(dir, http, peer, p[0], p[1])
}

fn start_on(dir: &Path, http: &str, peer: &str, line_port: u16, query_port: u16) -> Node {
    let line = format!("127.0.0.1:{line_port}");
    let query = format!("127.0.0.1:{query_port}");
    let cfg = format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"{line}\"\npickle_receiver = \"\"\n\
         cache_query = \"{query}\"\nhttp_listen = \"\"\n\n\
         [web]\nenabled = true\nlisten = \"{http}\"\ndefault_cache_duration = 0\nfind_cache_duration = 0\n\
         cluster_servers = [\"{peer}\"]\nremote_timeout = \"1s\"\n",
        dir.join("data").display()
    );
    let config = dir.join("carbonado.toml");
    std::fs::write(&config, cfg).expect("write config");
    let log = dir.join("carbonado.log");
    let out = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("spawn carbonado");
    let node = Node {
        child,
        http: http.to_string(),
        line,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    // ready when this node says it listens on its address, not merely when something answers
    // there: another process on the machine could hold a port chosen moments ago, and a node
    // that failed to bind would leave the test talking to that process
    let listening = format!("web role listening on {http}");
    while TcpStream::connect(http).is_err()
        || TcpStream::connect(&node.line).is_err()
        || !std::fs::read_to_string(&node.log)
            .unwrap_or_default()
            .contains(&listening)
    {
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            panic!("node on {http} did not come up; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

fn send(node: &Node, lines: &str) {
    let mut s = TcpStream::connect(&node.line).expect("connect line receiver");
    s.write_all(lines.as_bytes()).expect("send lines");
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn find_paths(node: &Node, query: &str, local: bool) -> (Vec<String>, Option<String>) {
    let local = if local { "&local=1" } else { "" };
    let r = get(
        &node.http,
        &format!("/metrics/find?format=completer&query={}{local}", enc(query)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("find json");
    let mut paths: Vec<String> = v["metrics"]
        .as_array()
        .expect("metrics list")
        .iter()
        .filter_map(|m| m["path"].as_str().map(str::to_string))
        .collect();
    paths.sort();
    (paths, r.header(PARTIAL).map(str::to_string))
}

/// `(name, non-null values)` of each rendered series, and the partial header.
fn render(node: &Node, target: &str, from: i64) -> (Vec<(String, Vec<f64>)>, Option<String>) {
    let r = get(
        &node.http,
        &format!("/render?format=json&from={from}&target={}", enc(target)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("render json");
    let series = v
        .as_array()
        .expect("series list")
        .iter()
        .map(|s| {
            let vals = s["datapoints"]
                .as_array()
                .expect("datapoints")
                .iter()
                .filter_map(|p| p[0].as_f64())
                .collect();
            (s["target"].as_str().unwrap_or("").to_string(), vals)
        })
        .collect();
    (series, r.header(PARTIAL).map(str::to_string))
}

/// Polls `f` until it returns `Some` (nodes create files and index names asynchronously).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_nodes_federate_and_survive_a_hung_peer() {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let p = distinct_ports(6);
    let http_a = format!("127.0.0.1:{}", p[0]);
    let http_b = format!("127.0.0.1:{}", p[1]);
    let a = start_on(dir_a.path(), &http_a, &http_b, p[2], p[3]);
    let b = start_on(dir_b.path(), &http_b, &http_a, p[4], p[5]);
    let t = now() - now() % 60;
    send(
        &a,
        &format!("fed.a.cpu 1 {}\nfed.both 10 {}\n", t - 120, t - 180),
    );
    send(
        &b,
        &format!("fed.b.cpu 2 {}\nfed.both 20 {}\n", t - 120, t - 60),
    );

    let all = vec!["fed.a.cpu".to_string(), "fed.b.cpu".to_string()];
    for node in [&a, &b] {
        let found = eventually("both nodes' names found from each node", || {
            let (p, partial) = find_paths(node, "fed.*.cpu", false);
            assert_eq!(partial, None, "healthy peers give full answers");
            (p == all).then_some(p)
        });
        assert_eq!(found, all);
        let series = eventually("both nodes' points rendered from each node", || {
            let (s, _) = render(node, "fed.*.cpu", t - 600);
            (s.iter().all(|(_, v)| !v.is_empty()) && s.len() == 2).then_some(s)
        });
        assert_eq!(series[0], ("fed.a.cpu".to_string(), vec![1.0]));
        assert_eq!(series[1], ("fed.b.cpu".to_string(), vec![2.0]));
        // the same series on both nodes: gaps of one copy are filled from the other
        let both = eventually("merged copies", || {
            let (s, _) = render(node, "fed.both", t - 600);
            s.first().filter(|(_, v)| v.len() == 2).cloned()
        });
        assert_eq!(both, ("fed.both".to_string(), vec![10.0, 20.0]));
    }
    // local=1 is a peer asking: only local data answers, so federation never recurses
    let (local_only, _) = find_paths(&a, "fed.*.cpu", true);
    assert_eq!(local_only, vec!["fed.a.cpu".to_string()]);

    // graphite-web's RemoteFinder reads our local=1 pickles (find and render)
    let gw = graphite_web_remote(&http_a, "fed.*.cpu", t - 600, t + 60);
    assert_eq!(
        gw["nodes"],
        serde_json::json!([{"path": "fed.a.cpu", "leaf": true}])
    );
    assert_eq!(
        gw["series"],
        serde_json::json!([{"name": "fed.a.cpu", "values": [1.0]}])
    );

    // B hangs: A's answers stay complete for A's own data and name B as left out
    signal(b.child.id(), "STOP");
    for _ in 0..4 {
        let (p, partial) = find_paths(&a, "fed.*.cpu", false);
        assert_eq!(p, vec!["fed.a.cpu".to_string()]);
        assert_eq!(partial.as_deref(), Some(http_b.as_str()));
        let (s, partial) = render(&a, "fed.a.cpu", t - 600);
        assert_eq!(s, vec![("fed.a.cpu".to_string(), vec![1.0])]);
        assert_eq!(partial.as_deref(), Some(http_b.as_str()));
    }
    // by now the breaker is open: B is skipped without being asked, still reported
    let log = std::fs::read_to_string(&a.log).expect("log");
    assert!(
        log.contains("skipping it until a probe answers"),
        "breaker never opened:\n{log}"
    );
    let (p, partial) = find_paths(&a, "fed.*", false);
    // completer marks branches with a trailing dot
    assert_eq!(p, vec!["fed.a.".to_string(), "fed.both".to_string()]);
    assert_eq!(partial.as_deref(), Some(http_b.as_str()));

    // B resumes: the background probe closes the breaker and B's data is back
    signal(b.child.id(), "CONT");
    eventually("peer restored after SIGCONT", || {
        let (p, partial) = find_paths(&a, "fed.*.cpu", false);
        (p == all && partial.is_none()).then_some(())
    });
    let (s, partial) = render(&a, "fed.*.cpu", t - 600);
    assert_eq!(partial, None);
    assert_eq!(s.len(), 2);
}

/// A settings module for graphite-web over one whisper tree (Debian's local_settings pins
/// /var/lib/graphite, so the paths are overridden after it is read).
const GRAPHITE_WEB_SETTINGS: &str = r#"
import os
from graphite.settings import *  # noqa
WHISPER_DIR = os.environ["GW_WHISPER"]
STANDARD_DIRS = [WHISPER_DIR]
LOG_DIR = os.environ["GW_LOG"]
STORAGE_FINDERS = ("graphite.finders.standard.StandardFinder",)
SECRET_KEY = "carbonado-test"
"#;

/// A graphite-web development server, killed on drop.
struct GraphiteWeb(Child);

impl Drop for GraphiteWeb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_graphite_web_peer_is_found_and_rendered() {
    let dir = tempfile::tempdir().expect("tmp");
    let python = std::env::var_os("CARBONADO_SYS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/python3".into());
    assert!(
        python.exists(),
        "reference python {} is missing",
        python.display()
    );
    let t = now() - now() % 60;
    let whisper = dir.path().join("gw/whisper");
    std::fs::create_dir_all(whisper.join("gwm")).expect("mkdir");
    let wsp = whisper.join("gwm/cpu.wsp");
    let st = Command::new(&python)
        .arg("-c")
        .arg("import sys,whisper; whisper.create(sys.argv[1], [(60, 1440)]); whisper.update(sys.argv[1], 5.0, int(sys.argv[2]))")
        .arg(&wsp)
        .arg((t - 120).to_string())
        .status()
        .expect("run whisper");
    assert!(st.success(), "whisper file not created");
    std::fs::write(dir.path().join("gw/gwsettings.py"), GRAPHITE_WEB_SETTINGS).expect("settings");
    let gw_addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.path().join("gw/gw.log")).expect("log");
    let _gw = GraphiteWeb(
        Command::new(&python)
            .args(["-m", "django", "runserver", "--noreload", &gw_addr])
            .env("PYTHONPATH", dir.path().join("gw"))
            .env("DJANGO_SETTINGS_MODULE", "gwsettings")
            .env("GW_WHISPER", &whisper)
            .env("GW_LOG", dir.path().join("gw"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn graphite-web"),
    );
    eventually("graphite-web up", || {
        TcpStream::connect(&gw_addr).is_ok().then_some(())
    });
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).expect("mkdir");
    let http = format!("127.0.0.1:{}", free_port());
    let node = start(&node_dir, &http, &gw_addr);
    // graphite-web pickles IntervalSet objects in find answers: the node switches to msgpack
    let (paths, partial) = find_paths(&node, "gwm.*", false);
    assert_eq!(paths, vec!["gwm.cpu".to_string()]);
    assert_eq!(partial, None);
    let (series, partial) = render(&node, "gwm.cpu", t - 600);
    assert_eq!(series, vec![("gwm.cpu".to_string(), vec![5.0])]);
    assert_eq!(partial, None);
}
