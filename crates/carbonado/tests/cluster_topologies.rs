//! The cluster guide's topologies (`docs/cluster/<topology>/`), run from the very files the guide
//! shows: each file is copied into a temp dir with its loopback ports replaced by free ones, every
//! `*.toml` is started as one `carbonado serve` process, metrics are sent to the entry relay, and
//! every web role must answer for all of them, completely.

mod web_support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use web_support::{enc, get, workspace};

struct Topology {
    dir: tempfile::TempDir,
    /// Port in the guide's files -> port used here.
    ports: HashMap<u16, u16>,
    procs: Vec<(String, Child)>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for (_, c) in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every `127.0.0.1:<port>` of the text, in order.
fn loopback_ports(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("127.0.0.1:") {
        rest = &rest[i + "127.0.0.1:".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(p) = digits.parse() {
            out.push(p);
        }
    }
    out
}

impl Topology {
    /// Copies `docs/cluster/<name>` with its ports remapped.
    fn load(name: &str) -> Topology {
        let src = workspace().join("docs/cluster").join(name);
        let mut files = Vec::new();
        for e in std::fs::read_dir(&src).expect("topology dir") {
            let p = e.expect("entry").path();
            files.push((
                p.file_name().expect("name").to_owned(),
                std::fs::read_to_string(&p).expect("read"),
            ));
        }
        assert!(files
            .iter()
            .any(|(n, _)| n.to_string_lossy().ends_with(".toml")));
        // Distinct free ports: hold every listener until all are chosen.
        let mut ports = HashMap::new();
        let mut held = Vec::new();
        for (_, text) in &files {
            for p in loopback_ports(text) {
                ports.entry(p).or_insert_with(|| {
                    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
                    let port = l.local_addr().expect("addr").port();
                    held.push(l);
                    port
                });
            }
        }
        drop(held);
        let dir = tempfile::tempdir().expect("tempdir");
        for (n, text) in &files {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(i) = rest.find("127.0.0.1:") {
                out.push_str(&rest[..i + "127.0.0.1:".len()]);
                rest = &rest[i + "127.0.0.1:".len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let p: u16 = digits.parse().expect("port");
                out.push_str(&ports[&p].to_string());
                rest = &rest[digits.len()..];
            }
            out.push_str(rest);
            std::fs::write(dir.path().join(n), out).expect("write");
        }
        Topology {
            dir,
            ports,
            procs: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Starts `carbonado serve --config <file>`.
    fn start(&mut self, file: &str) {
        let log = std::fs::File::create(self.path(&format!("{file}.log"))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("serve")
            .arg("--config")
            .arg(self.path(file))
            .current_dir(self.dir.path())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn carbonado");
        self.procs.push((file.to_string(), child));
    }

    fn logs(&self) -> String {
        self.procs
            .iter()
            .map(|(f, _)| {
                format!(
                    "--- {f}\n{}",
                    std::fs::read_to_string(self.path(&format!("{f}.log"))).unwrap_or_default()
                )
            })
            .collect()
    }

    /// Waits until every port of the topology accepts connections (each is some process's listener).
    fn wait_up(&mut self) {
        let t0 = Instant::now();
        for &p in self.ports.values() {
            while TcpStream::connect(("127.0.0.1", p)).is_err() {
                let exited = self.procs.iter_mut().find_map(|(f, c)| {
                    c.try_wait()
                        .ok()
                        .flatten()
                        .map(|st| format!("{f} exited with {st}"))
                });
                if let Some(what) = exited {
                    panic!("{what}:\n{}", self.logs());
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "port {p} never listened:\n{}",
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The port used here for the guide's `port`.
    fn port(&self, guide: u16) -> u16 {
        self.ports[&guide]
    }

    fn send(&self, guide_port: u16, lines: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port(guide_port))).expect("connect");
        s.write_all(lines.as_bytes()).expect("send");
    }

    /// `name -> non-null values` rendered by the web role on the guide's `web_port`.
    fn render(&self, web_port: u16, target: &str) -> BTreeMap<String, Vec<f64>> {
        let addr = format!("127.0.0.1:{}", self.port(web_port));
        let r = get(
            &addr,
            &format!("/render?format=json&from=-10min&target={}", enc(target)),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        v.as_array()
            .expect("list")
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
            .collect()
    }

    /// Waits until `web_port` renders exactly `want` for `target`.
    fn expect_complete(&self, web_port: u16, target: &str, want: &BTreeMap<String, Vec<f64>>) {
        let t0 = Instant::now();
        loop {
            let got = self.render(web_port, target);
            if &got == want {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(40),
                "web {web_port} renders {target} incompletely:\n got  {got:?}\n want {want:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Lines for `names` with 6 points each (10 s apart, the default schema's finest step), and the
/// values a render must show per name.
fn points(names: &[String]) -> (String, BTreeMap<String, Vec<f64>>) {
    let base = now() - now() % 10 - 60;
    let mut lines = String::new();
    let mut want = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let vals: Vec<f64> = (0..6).map(|k| (i * 100 + k) as f64).collect();
        for (k, v) in vals.iter().enumerate() {
            lines.push_str(&format!("{n} {v} {}\n", base + 10 * k as i64));
        }
        want.insert(n.clone(), vals);
    }
    (lines, want)
}

/// Files below `root` as metric names (`a/b/c.wsp` -> `a.b.c`).
fn stored(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let p = e.path();
            let full = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if p.is_dir() {
                walk(&p, &full, out);
            } else if let Some(m) = full.strip_suffix(".wsp") {
                out.push(m.to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out.sort();
    out
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}.m{i:02}.value")).collect()
}

#[test]
fn two_nodes_behind_a_consistent_hashing_relay() {
    let mut t = Topology::load("two-nodes");
    for f in ["node-a.toml", "node-b.toml", "relay.toml"] {
        t.start(f);
    }
    t.wait_up();
    let (lines, want) = points(&names("demo", 30));
    t.send(2003, &lines);
    for web in [8081, 8082] {
        t.expect_complete(web, "demo.*.value", &want);
    }
    // Consistent hashing spread the metrics: each node stores a part, together all of them once.
    let (a, b) = (stored(&t.path("data-a")), stored(&t.path("data-b")));
    assert!(!a.is_empty() && !b.is_empty(), "{a:?} {b:?}");
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    assert_eq!(all, want.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn rules_based_shards_per_branch() {
    let mut t = Topology::load("rules-shards");
    for f in ["node-sys.toml", "node-apps.toml", "relay.toml"] {
        t.start(f);
    }
    t.wait_up();
    let mut all = names("sys", 10);
    all.extend(names("apps", 10));
    all.extend(names("other", 5));
    let (lines, want) = points(&all);
    t.send(2003, &lines);
    for web in [8081, 8082] {
        for branch in ["sys", "apps", "other"] {
            let part: BTreeMap<String, Vec<f64>> = want
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{branch}.")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            t.expect_complete(web, &format!("{branch}.*.value"), &part);
        }
    }
    let (sys, apps) = (stored(&t.path("data-sys")), stored(&t.path("data-apps")));
    assert!(sys.iter().all(|m| !m.starts_with("apps.")), "{sys:?}");
    assert!(apps.iter().all(|m| !m.starts_with("sys.")), "{apps:?}");
    assert_eq!(sys.iter().filter(|m| m.starts_with("sys.")).count(), 10);
    assert_eq!(apps.iter().filter(|m| m.starts_with("apps.")).count(), 10);
    // The default rule keeps the rest on both shards.
    assert_eq!(sys.iter().filter(|m| m.starts_with("other.")).count(), 5);
    assert_eq!(apps.iter().filter(|m| m.starts_with("other.")).count(), 5);
}

#[test]
fn one_host_with_a_relay_and_several_cache_instances() {
    let mut t = Topology::load("multi-cache");
    for f in ["cache-a.toml", "cache-b.toml", "web.toml", "relay.toml"] {
        t.start(f);
    }
    t.wait_up();
    let (lines, want) = points(&names("host", 30));
    t.send(2003, &lines);
    t.expect_complete(8080, "host.*.value", &want);
    // Both instances wrote into the one tree, each with its own write-ahead log.
    assert_eq!(
        stored(&t.path("data")),
        want.keys().cloned().collect::<Vec<_>>()
    );
    assert!(t.path("data/.carbonado/wal").is_dir());
    assert!(t.path("data/.carbonado/wal-b").is_dir());
}

#[test]
fn two_independent_clusters_fed_by_a_top_relay_with_replication_2() {
    let mut t = Topology::load("two-clusters");
    for f in [
        "c1-node-b.toml",
        "c2-node-b.toml",
        "c1-node-a.toml",
        "c2-node-a.toml",
        "top-relay.toml",
    ] {
        t.start(f);
    }
    t.wait_up();
    let (lines, want) = points(&names("dc", 30));
    t.send(2003, &lines);
    // Every web role of both clusters answers completely.
    for web in [8121, 8131, 8221, 8231] {
        t.expect_complete(web, "dc.*.value", &want);
    }
    // Each cluster holds a full copy, spread over its two nodes.
    for c in ["c1", "c2"] {
        let (a, b) = (
            stored(&t.path(&format!("{c}-data-a"))),
            stored(&t.path(&format!("{c}-data-b"))),
        );
        assert!(!a.is_empty() && !b.is_empty(), "{c}: {a:?} {b:?}");
        let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
        all.sort();
        assert_eq!(all, want.keys().cloned().collect::<Vec<_>>(), "{c}");
    }
}
