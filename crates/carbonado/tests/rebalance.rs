//! `carbonado rebalance` against real `carbonado serve` nodes (cache + web each) on 127.0.0.1.
//! Where each metric belongs is computed by python carbon's own ConsistentHashingRouter (the
//! relay being reproduced), and each file's location is checked on disk after the run: exactly
//! the metrics whose owner changed move, no point is lost or duplicated (every file's points and
//! every render answer are the same before and after), rf 2 and the removal of a node work, a
//! dry run changes nothing, and a run stopped part-way resumes from its journal without redoing
//! the copies it had finished.

mod web_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use web_support::{enc, request};

const TOKEN: &str = "rebalance-test-token";
const SCHEMAS: &str = "[default]\npattern = .*\nretentions = 10s:1h,1m:1d\n";

/// Ports reserved together, so two nodes are never handed the same one.
fn ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// One `carbonado serve` node: cache (line receiver) and web role, its own data directory;
/// killed on drop.
struct Node {
    name: String,
    data: PathBuf,
    http: String,
    line: u16,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `http` answers `/version`, showing the node's log if it exits instead.
fn wait_up(child: &mut Child, http: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = TcpStream::connect(http).is_ok()
            && request(http, "GET", "/version", &[], b"").status == 200;
        if up {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "carbonado exited with {st}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "node {http} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Node {
    fn start(root: &Path, name: &str) -> Node {
        let dir = root.join(name);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(dir.join("storage-schemas.conf"), SCHEMAS).expect("schemas");
        let p = ports(2);
        let (line, http) = (p[0], format!("127.0.0.1:{}", p[1]));
        let cfg = format!(
            r#"[cache]
enabled = true
local_data_dir = "{data}"
line_receiver = "127.0.0.1:{line}"
pickle_receiver = ""
cache_query = ""
http_listen = ""
carbon_metric_interval = "0s"

[web]
enabled = true
listen = "{http}"
default_cache_duration = 0
find_cache_duration = 0
admin_token = "{TOKEN}"
"#,
            data = data.display()
        );
        let config = dir.join("carbonado.toml");
        std::fs::write(&config, cfg).expect("write config");
        let log_path = dir.join("carbonado.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn carbonado serve");
        wait_up(&mut child, &http, &log_path);
        Node {
            name: name.to_string(),
            data,
            http,
            line,
            child,
        }
    }

    /// The relay destination of this node (its instance name is the node's name).
    fn destination(&self) -> String {
        format!("127.0.0.1:{}:{}", self.line, self.name)
    }

    fn file(&self, metric: &str) -> PathBuf {
        self.data
            .join(proto::relative_path(metric, metric.contains(';')).expect("metric path"))
    }

    fn has(&self, metric: &str) -> bool {
        self.file(metric).is_file()
    }

    fn put(&self, metric: &str, bytes: &[u8]) {
        let auth = format!("Bearer {TOKEN}");
        let r = request(
            &self.http,
            "PUT",
            &format!("/transfer/file?metric={}", enc(metric)),
            &[("Authorization", &auth)],
            bytes,
        );
        assert_eq!(
            r.status,
            200,
            "upload {metric} to {}: {}",
            self.name,
            r.text()
        );
    }

    fn list(&self) -> Vec<String> {
        let auth = format!("Bearer {TOKEN}");
        let r = request(
            &self.http,
            "GET",
            "/transfer/list",
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_slice(&r.body).expect("list json")
    }

    fn render(&self, metric: &str, from: i64, until: i64) -> serde_json::Value {
        let r = request(
            &self.http,
            "GET",
            &format!(
                "/render?target={}&format=json&from={from}&until={until}",
                enc(metric)
            ),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "render {metric}: {}", r.text());
        serde_json::from_slice(&r.body).expect("render json")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A value no other metric or time has, never 0 (whisper-fill treats 0 as a gap).
fn value(metric: &str, ts: i64) -> f64 {
    let h = metric
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (h % 1000) as f64 + 1.0 + (ts % 3600) as f64 / 10.0
}

/// Six whole minutes of 10 s points ending before `base` (a multiple of 60); `minutes` of them.
fn points(metric: &str, base: i64, minutes: i64) -> Vec<(i64, f64)> {
    (0..minutes * 6)
        .map(|k| {
            let ts = base - 360 + 10 * k;
            (ts, value(metric, ts))
        })
        .collect()
}

/// A whisper file's bytes holding `pts` (10s:1h,1m:1d, average).
fn whisper_bytes(scratch: &Path, pts: &[(i64, f64)]) -> Vec<u8> {
    let p = scratch.join(format!("seed-{}.wsp", pts.len()));
    let _ = std::fs::remove_file(&p);
    let archives = [
        whisper::parse_retention_def("10s:1h").expect("retention"),
        whisper::parse_retention_def("1m:1d").expect("retention"),
    ];
    whisper::create(
        &p,
        &archives,
        0.5,
        whisper::AggregationMethod::Average,
        whisper::CreateOptions::default(),
    )
    .expect("create");
    whisper::Whisper::open_rw(&p)
        .expect("open")
        .update_many(pts, now())
        .expect("update");
    std::fs::read(&p).expect("read seed")
}

/// Every archive's stored points (slots with a timestamp), sorted: what a file holds.
fn file_points(path: &Path) -> Vec<Vec<(i64, u64)>> {
    let w = whisper::Whisper::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for i in 0.. {
        let Ok(slots) = w.raw_archive(i) else { break };
        let mut pts: Vec<(i64, u64)> = slots
            .into_iter()
            .filter(|(t, _)| *t != 0)
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        pts.sort_unstable();
        out.push(pts);
    }
    assert!(!out.is_empty());
    out
}

/// Every file under the data directories with its bytes: a dry run must leave this unchanged.
fn tree(nodes: &[&Node]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "wsp") {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    for n in nodes {
        walk(&n.data, &mut out);
    }
    out
}

/// Owners by python carbon's ConsistentHashingRouter: metric -> instance names, primary first.
const CARBON_OWNERS: &str = r#"
import json, sys
from carbon.routers import ConsistentHashingRouter
class S: pass
req = json.load(sys.stdin)
s = S(); s.REPLICATION_FACTOR = req["rf"]; s.DIVERSE_REPLICAS = False; s.ROUTER_HASH_TYPE = "carbon_ch"
r = ConsistentHashingRouter(s)
for d in req["dests"]:
    host, port, inst = d.split(":")
    r.addDestination((host, int(port), inst))
print(json.dumps({m: [d[2] for d in r.getDestinations(m)] for m in req["metrics"]}))
"#;

fn carbon_owners(nodes: &[&Node], rf: usize, metrics: &[String]) -> BTreeMap<String, Vec<String>> {
    let py = std::env::var_os("CARBONADO_SYS_PYTHON").unwrap_or_else(|| "/usr/bin/python3".into());
    let req = serde_json::json!({
        "rf": rf,
        "dests": nodes.iter().map(|n| n.destination()).collect::<Vec<_>>(),
        "metrics": metrics,
    });
    let mut child = Command::new(py)
        .arg("-c")
        .arg(CARBON_OWNERS)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn python (graphite-carbon)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(req.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "python carbon failed (is graphite-carbon installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("owners json")
}

/// The rebalance configuration: the relay's ring over `ring`, and nodes `leaving`.
fn cluster_toml(dir: &Path, name: &str, ring: &[&Node], rf: usize, leaving: &[&Node]) -> PathBuf {
    let dests: Vec<String> = ring
        .iter()
        .map(|n| format!("\"{}\"", n.destination()))
        .collect();
    let members: Vec<String> = ring
        .iter()
        .map(|n| {
            format!(
                "  {{ destination = \"{}\", http = \"{}\" }},",
                n.destination(),
                n.http
            )
        })
        .collect();
    let leaving: Vec<String> = leaving.iter().map(|n| format!("\"{}\"", n.http)).collect();
    let text = format!(
        "[relay]\nrelay_method = \"carbon_ch\"\ndestinations = [{}]\nreplication_factor = {rf}\ndiverse_replicas = false\n\n[rebalance]\nadmin_token = \"{TOKEN}\"\nleaving = [{}]\nnodes = [\n{}\n]\n",
        dests.join(", "),
        leaving.join(", "),
        members.join("\n")
    );
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write cluster config");
    p
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON object printed under `key` (`plan` or `summary`).
    fn json(&self, key: &str) -> serde_json::Value {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get(key).cloned())
            .unwrap_or_else(|| panic!("no {key} in output:\n{}\n{}", self.stdout, self.stderr))
    }

    fn n(&self, key: &str, field: &str) -> u64 {
        self.json(key)
            .get(field)
            .and_then(|v| v.as_u64())
            .unwrap_or_else(|| panic!("{key}.{field} missing"))
    }
}

fn rebalance(config: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("rebalance")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("spawn carbonado rebalance");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: Run) -> Run {
    assert_eq!(
        r.code,
        Some(0),
        "rebalance failed:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    r
}

/// Plain names, tagged series, and names written through the cache's line receiver.
fn metric_names(plain: usize, tagged: usize, lines: usize) -> (Vec<String>, Vec<String>) {
    let mut uploaded: Vec<String> = (0..plain)
        .map(|i| format!("rb.host{:02}.cpu.m{}", i / 5, i % 5))
        .collect();
    uploaded.extend((0..tagged).map(|i| format!("disk.used;dc=dc{};host=h{i:02}", i % 2)));
    let by_line = (0..lines).map(|i| format!("rb.line.l{i:02}")).collect();
    (uploaded, by_line)
}

/// Sends `pts` of `metric` to `node`'s line receiver and waits until its cache wrote them.
fn send_lines(node: &Node, metric: &str, pts: &[(i64, f64)]) {
    let mut s = TcpStream::connect(("127.0.0.1", node.line)).expect("connect line receiver");
    let mut text = String::new();
    for (t, v) in pts {
        text.push_str(&format!("{metric} {v} {t}\n"));
    }
    s.write_all(text.as_bytes()).expect("send lines");
}

fn wait_written(node: &Node, metric: &str, expect: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = if node.has(metric) {
            file_points(&node.file(metric))
                .first()
                .map_or(0, |a| a.len())
        } else {
            0
        };
        if n == expect {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{metric}: {n} of {expect} points on disk at {}",
            node.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where each metric's file is: the names of the nodes holding it.
fn locations(nodes: &[&Node], metrics: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    metrics
        .iter()
        .map(|m| {
            let at = nodes
                .iter()
                .filter(|n| n.has(m))
                .map(|n| n.name.clone())
                .collect();
            (m.clone(), at)
        })
        .collect()
}

fn node<'a>(nodes: &[&'a Node], name: &str) -> &'a Node {
    nodes
        .iter()
        .copied()
        .find(|n| n.name == name)
        .expect("node by name")
}

/// Seeds every metric on its owners under `owners` (uploaded files, or line-protocol points
/// through the owner's cache) and returns what each metric's files hold.
fn seed(
    nodes: &[&Node],
    scratch: &Path,
    uploaded: &[String],
    by_line: &[String],
    owners: &BTreeMap<String, Vec<String>>,
    base: i64,
) -> BTreeMap<String, Vec<Vec<(i64, u64)>>> {
    for m in uploaded {
        let bytes = whisper_bytes(scratch, &points(m, base, 6));
        for o in &owners[m] {
            node(nodes, o).put(m, &bytes);
        }
    }
    for m in by_line {
        for o in &owners[m] {
            send_lines(node(nodes, o), m, &points(m, base, 6));
        }
    }
    for m in by_line {
        for o in &owners[m] {
            wait_written(node(nodes, o), m, 36);
        }
    }
    let mut out = BTreeMap::new();
    for m in uploaded.iter().chain(by_line) {
        let o = node(nodes, &owners[m][0]);
        out.insert(m.clone(), file_points(&o.file(m)));
    }
    out
}

fn base_time() -> i64 {
    let n = now();
    n - n % 60
}

#[test]
fn two_to_three_nodes_moves_exactly_the_changed_owners_and_a_dry_run_changes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let a = Node::start(root.path(), "a");
    let b = Node::start(root.path(), "b");
    let c = Node::start(root.path(), "c");
    let all = [&a, &b, &c];
    let (uploaded, by_line) = metric_names(60, 8, 8);
    let metrics: Vec<String> = uploaded.iter().chain(&by_line).cloned().collect();
    let old = carbon_owners(&[&a, &b], 1, &metrics);
    let new = carbon_owners(&all, 1, &metrics);
    let base = base_time();
    let before = seed(&all, root.path(), &uploaded, &by_line, &old, base);
    let (from, until) = (base - 400, base);
    let rendered_before: BTreeMap<String, serde_json::Value> = metrics
        .iter()
        .map(|m| (m.clone(), node(&all, &old[m][0]).render(m, from, until)))
        .collect();
    for (m, r) in &rendered_before {
        let values = r
            .get(0)
            .and_then(|s| s.get("datapoints"))
            .and_then(|d| d.as_array())
            .map_or(0, |d| d.iter().filter(|p| !p[0].is_null()).count());
        assert!(
            values >= 30,
            "{m}: render before shows {values} points: {r}"
        );
    }
    for m in &metrics {
        let at: Vec<String> = locations(&all, std::slice::from_ref(m))[m]
            .iter()
            .cloned()
            .collect();
        assert_eq!(at, old[m], "{m} seeded on its two-node owner only");
    }
    let moving: BTreeSet<&String> = metrics.iter().filter(|m| old[*m] != new[*m]).collect();
    assert!(
        !moving.is_empty() && moving.len() < metrics.len(),
        "{} of {} metrics change owner",
        moving.len(),
        metrics.len()
    );

    let config = cluster_toml(root.path(), "three.toml", &all, 1, &[]);
    let journal = root.path().join("three.journal");
    let journal_arg = journal.to_str().expect("utf-8");

    // a wrong token is refused by the nodes before anything is planned
    let denied = rebalance(&config, &["--token", "wrong", "--json"]);
    assert_ne!(denied.code, Some(0));
    assert!(denied.stderr.contains("401"), "{}", denied.stderr);

    // dry run: the plan names exactly the moving metrics, and no file changes
    let files_before = tree(&all);
    let dry = ok(rebalance(&config, &["--json", "--journal", journal_arg]));
    assert_eq!(dry.n("plan", "metrics"), metrics.len() as u64);
    assert_eq!(dry.n("plan", "moves"), moving.len() as u64);
    assert_eq!(dry.n("plan", "copies"), moving.len() as u64);
    assert_eq!(dry.n("plan", "deletes"), moving.len() as u64);
    assert_eq!(
        dry.n("plan", "in_place"),
        (metrics.len() - moving.len()) as u64
    );
    let excluding = ok(rebalance(
        &config,
        &["--json", "--journal", journal_arg, "--exclude", "rb.line."],
    ));
    assert_eq!(excluding.n("plan", "excluded"), by_line.len() as u64);
    assert_eq!(
        excluding.n("plan", "moves"),
        moving.iter().filter(|m| !m.starts_with("rb.line.")).count() as u64
    );
    assert_eq!(tree(&all), files_before, "a dry run changed files");
    assert!(!journal.exists(), "a dry run wrote a journal");
    for n in &all {
        assert_eq!(
            n.list().len(),
            files_before
                .keys()
                .filter(|p| p.starts_with(&n.data))
                .count()
        );
    }

    let run = ok(rebalance(
        &config,
        &["--apply", "--json", "--journal", journal_arg],
    ));
    assert_eq!(run.n("summary", "moved"), moving.len() as u64);
    assert_eq!(run.n("summary", "deleted"), moving.len() as u64);
    assert_eq!(run.n("summary", "pushes"), moving.len() as u64);
    assert_eq!(run.n("summary", "copied"), 0);
    assert_eq!(run.n("summary", "failed"), 0);
    assert_eq!(
        run.n("summary", "skipped"),
        (metrics.len() - moving.len()) as u64
    );
    assert!(!journal.exists(), "a finished run leaves no journal");

    // every file is exactly on its three-node owner, with the same points
    let at = locations(&all, &metrics);
    for m in &metrics {
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(at[m], want, "{m}: moved={}", moving.contains(m));
        let owner = node(&all, &new[m][0]);
        assert_eq!(
            file_points(&owner.file(m)),
            before[m],
            "{m}: points changed"
        );
        assert_eq!(
            owner.render(m, from, until),
            rendered_before[m],
            "{m}: render answer changed"
        );
    }
    // the nodes' listings (name and tag indexes) follow the files
    for n in &all {
        let listed: BTreeSet<String> = n.list().into_iter().collect();
        let want: BTreeSet<String> = metrics
            .iter()
            .filter(|m| new[*m].contains(&n.name))
            .cloned()
            .collect();
        assert_eq!(listed, want, "listing of {}", n.name);
    }
    // nothing left to do
    let again = ok(rebalance(&config, &["--json", "--journal", journal_arg]));
    assert_eq!(again.n("plan", "in_place"), metrics.len() as u64);
}

#[test]
fn rf2_and_the_removal_of_a_node_keep_every_point_on_both_owners() {
    let root = tempfile::tempdir().expect("tempdir");
    let a = Node::start(root.path(), "a");
    let b = Node::start(root.path(), "b");
    let c = Node::start(root.path(), "c");
    let d = Node::start(root.path(), "d");
    let all = [&a, &b, &c, &d];
    let (uploaded, _) = metric_names(40, 6, 0);
    let old = carbon_owners(&all, 2, &uploaded);
    let new = carbon_owners(&[&a, &b, &c], 2, &uploaded);
    let base = base_time();
    // every metric on its two owners; where d is one, the other replica missed the last two
    // minutes (written while it was down), so only the merge of both copies is complete
    let scratch = root.path();
    let mut full = BTreeMap::new();
    for m in &uploaded {
        let whole = whisper_bytes(scratch, &points(m, base, 6));
        let holed = whisper_bytes(scratch, &points(m, base, 4));
        let has_d = old[m].iter().any(|o| o == "d");
        for o in &old[m] {
            let bytes = if has_d && o != "d" { &holed } else { &whole };
            node(&all, o).put(m, bytes);
        }
        let p = scratch.join("full.wsp");
        std::fs::write(&p, &whole).expect("write");
        full.insert(m.clone(), file_points(&p));
    }
    let on_d = uploaded.iter().filter(|m| d.has(m)).count();
    assert!(on_d > 0, "d holds some metrics");

    let config = cluster_toml(root.path(), "remove-d.toml", &[&a, &b, &c], 2, &[&d]);
    let journal = root.path().join("remove-d.journal");
    let run = ok(rebalance(
        &config,
        &[
            "--apply",
            "--json",
            "--journal",
            journal.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(run.n("summary", "failed"), 0);
    assert_eq!(run.n("summary", "deleted"), on_d as u64);

    let at = locations(&all, &uploaded);
    for m in &uploaded {
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(want.len(), 2);
        assert_eq!(at[m], want, "{m}: old owners {:?}", old[m]);
        for o in &new[m] {
            assert_eq!(
                file_points(&node(&all, o).file(m)),
                full[m],
                "{m} on {o}: not every point of both copies"
            );
        }
    }
    assert!(d.list().is_empty(), "the leaving node still lists metrics");
    assert!(tree(&[&d]).is_empty(), "files left on the leaving node");
}

/// Three nodes with `plain` plain and 4 tagged metrics seeded as a two-node ring (a, b) placed
/// them: what a cluster looks like right after node c joined.
struct Joined {
    root: tempfile::TempDir,
    a: Node,
    b: Node,
    c: Node,
    uploaded: Vec<String>,
    old: BTreeMap<String, Vec<String>>,
    new: BTreeMap<String, Vec<String>>,
    before: BTreeMap<String, Vec<Vec<(i64, u64)>>>,
}

fn c_joined(plain: usize) -> Joined {
    let root = tempfile::tempdir().expect("tempdir");
    let a = Node::start(root.path(), "a");
    let b = Node::start(root.path(), "b");
    let c = Node::start(root.path(), "c");
    let (uploaded, _) = metric_names(plain, 4, 0);
    let old = carbon_owners(&[&a, &b], 1, &uploaded);
    let new = carbon_owners(&[&a, &b, &c], 1, &uploaded);
    let before = seed(
        &[&a, &b, &c],
        root.path(),
        &uploaded,
        &[],
        &old,
        base_time(),
    );
    Joined {
        root,
        a,
        b,
        c,
        uploaded,
        old,
        new,
        before,
    }
}

#[test]
fn an_interrupted_run_resumes_without_redoing_finished_copies() {
    let Joined {
        root,
        a,
        b,
        c,
        uploaded,
        old,
        new,
        before,
    } = c_joined(40);
    let all = [&a, &b, &c];
    let moving = uploaded.iter().filter(|m| old[*m] != new[*m]).count() as u64;
    assert!(moving > 6, "{moving} moves");

    let config = cluster_toml(root.path(), "three.toml", &all, 1, &[]);
    let journal = root.path().join("three.journal");
    let j = journal.to_str().expect("utf-8");
    let planned = ok(rebalance(&config, &["--json", "--journal", j])).n("plan", "copies");
    assert_eq!(planned, moving);

    // stopped (as a kill would: no clean-up) after 5 finished steps
    let first = rebalance(
        &config,
        &[
            "--apply",
            "--json",
            "--journal",
            j,
            "--abort-after-steps",
            "5",
        ],
    );
    assert_eq!(first.code, Some(75), "{}\n{}", first.stdout, first.stderr);
    let text = std::fs::read_to_string(&journal).expect("journal kept");
    let steps: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line"))
        .collect();
    assert_eq!(steps.len(), 6, "start line and 5 steps:\n{text}");
    let copies1 = steps.iter().filter(|s| s["step"] == "copy").count() as u64;
    let deletes1 = steps.iter().filter(|s| s["step"] == "delete").count() as u64;
    assert!(copies1 > 0 && copies1 + deletes1 == 5);

    // one destination loses a file it confirmed (a copy journaled, its source not yet
    // deleted): the resumed run must not trust that journal line, or the delete would lose it
    let lost = steps.iter().find_map(|s| {
        let m = s["metric"].as_str()?;
        let deleted = steps
            .iter()
            .any(|d| d["step"] == "delete" && d["metric"] == m);
        let still_at_source = node(&all, &old[m][0]).has(m);
        (s["step"] == "copy" && !deleted && still_at_source).then(|| m.to_string())
    });
    if let Some(m) = &lost {
        let owner = node(&all, &new[m][0]);
        let auth = format!("Bearer {TOKEN}");
        let q = format!("metric={}", enc(m));
        let file = request(
            &owner.http,
            "GET",
            &format!("/transfer/file?{q}"),
            &[("Authorization", &auth)],
            b"",
        );
        let digest = file
            .header("x-carbonado-digest")
            .expect("digest")
            .to_string();
        let gone = request(
            &owner.http,
            "POST",
            &format!("/transfer/delete?{q}&confirmed_digest={digest}"),
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(gone.status, 200, "{}", gone.text());
        assert!(!owner.has(m));
    }
    let second = ok(rebalance(&config, &["--apply", "--json", "--journal", j]));
    // each copy happens once over both runs: the journaled ones are not pushed again, except
    // the one whose destination lost the file
    assert_eq!(
        second.n("summary", "pushes") + copies1,
        planned + u64::from(lost.is_some())
    );
    assert!(second.n("summary", "resumed_steps") <= copies1 - deletes1.min(copies1));
    assert!(second.n("summary", "deleted") + deletes1 <= planned);
    assert_eq!(second.n("summary", "failed"), 0);
    assert!(!journal.exists());

    // the same end state as an uninterrupted run
    let at = locations(&all, &uploaded);
    for m in &uploaded {
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(at[m], want, "{m}");
        assert_eq!(
            file_points(&node(&all, &new[m][0]).file(m)),
            before[m],
            "{m}: points changed"
        );
    }
}

/// A TCP relay in front of a node's web address: it forwards the first `admit` connections and
/// holds later ones (the caller waits on them) until released, when the held ones are closed
/// unanswered, as a request dies with the client that was killed. After release it forwards all
/// (`admit = usize::MAX` forwards all from the start). While refusing, it closes every
/// connection after the first `admit` at once, as a node that went down.
struct Gate {
    addr: String,
    holding: Arc<AtomicBool>,
    refusing: Arc<AtomicBool>,
}

impl Gate {
    fn new(target: &str, admit: usize) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gate");
        let addr = listener.local_addr().expect("addr").to_string();
        let holding = Arc::new(AtomicBool::new(admit != usize::MAX));
        let refusing = Arc::new(AtomicBool::new(false));
        let (h, r, target) = (holding.clone(), refusing.clone(), target.to_string());
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { continue };
                if i >= admit && r.load(Ordering::SeqCst) {
                    drop(conn); // closed before a byte is read, as a node that is down
                    continue;
                }
                let (h, target) = (h.clone(), target.clone());
                std::thread::spawn(move || {
                    if i >= admit && h.load(Ordering::SeqCst) {
                        while h.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        return; // closed unanswered
                    }
                    let Ok(up) = TcpStream::connect(&target) else {
                        return;
                    };
                    let (mut c1, mut u1) = (conn, up);
                    let (Ok(mut c2), Ok(mut u2)) = (c1.try_clone(), u1.try_clone()) else {
                        return;
                    };
                    let t = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c2, &mut u2);
                        let _ = u2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut u1, &mut c1);
                    let _ = c1.shutdown(std::net::Shutdown::Write);
                    let _ = t.join();
                });
            }
        });
        Gate {
            addr,
            holding,
            refusing,
        }
    }

    fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }

    fn release(&self) {
        self.holding.store(false, Ordering::SeqCst);
    }
}

#[test]
fn a_killed_run_resumes_and_ends_in_the_same_state() {
    let Joined {
        root,
        a,
        b,
        c,
        uploaded,
        old,
        new,
        before,
    } = c_joined(40);
    let all = [&a, &b, &c];
    let moving = |from: &str| {
        uploaded
            .iter()
            .filter(|m| old[*m] != new[*m] && old[*m][0] == from)
            .count() as u64
    };
    assert!(moving("a") > 0 && moving("b") > 0);
    let planned = moving("a") + moving("b");

    // node a is reached through a gate that lets the listing through and then holds every
    // request (the pushes from a), so the run is certainly still busy with a's moves when it
    // is killed, after some of b's have finished
    let gate = Gate::new(&a.http, 1);
    let config = cluster_toml(root.path(), "three.toml", &all, 1, &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&a.http, &gate.addr)).expect("config");
    let journal = root.path().join("three.journal");
    let j = journal.to_str().expect("utf-8");
    let mut run = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("rebalance")
        .arg("--config")
        .arg(&config)
        .args(["--apply", "--json", "--journal", j, "--per-node", "64"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rebalance");
    let deadline = Instant::now() + Duration::from_secs(60);
    let steps = loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| l.contains("\"step\":\"delete\""))
            .count();
        if n > 0 {
            break text;
        }
        assert!(
            run.try_wait().expect("wait").is_none(),
            "rebalance ended early"
        );
        assert!(Instant::now() < deadline, "no step journaled:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    };
    run.kill().expect("kill rebalance");
    let _ = run.wait();
    gate.release();
    assert!(
        !steps.contains(&format!("\"from\":\"{}\"", gate.addr)),
        "a was held: {steps}"
    );
    let text = std::fs::read_to_string(&journal).expect("journal kept");
    let copies1 = text
        .lines()
        .filter(|l| l.contains("\"step\":\"copy\""))
        .count() as u64;
    assert!(copies1 > 0 && copies1 < planned, "{copies1} of {planned}");

    let second = ok(rebalance(&config, &["--apply", "--json", "--journal", j]));
    assert_eq!(second.n("summary", "pushes") + copies1, planned);
    assert_eq!(second.n("summary", "failed"), 0);
    let at = locations(&all, &uploaded);
    for m in &uploaded {
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(at[m], want, "{m}");
        assert_eq!(
            file_points(&node(&all, &new[m][0]).file(m)),
            before[m],
            "{m}: points changed"
        );
    }
}

#[test]
fn raising_the_replication_factor_copies_without_deleting() {
    let root = tempfile::tempdir().expect("tempdir");
    let a = Node::start(root.path(), "a");
    let b = Node::start(root.path(), "b");
    let c = Node::start(root.path(), "c");
    let all = [&a, &b, &c];
    let (uploaded, _) = metric_names(30, 4, 0);
    let old = carbon_owners(&all, 1, &uploaded);
    let new = carbon_owners(&all, 2, &uploaded);
    let before = seed(&all, root.path(), &uploaded, &[], &old, base_time());
    let config = cluster_toml(root.path(), "rf2.toml", &all, 2, &[]);
    let journal = root.path().join("rf2.journal");
    let run = ok(rebalance(
        &config,
        &[
            "--apply",
            "--json",
            "--journal",
            journal.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(run.n("summary", "copied"), uploaded.len() as u64);
    assert_eq!(run.n("summary", "pushes"), uploaded.len() as u64);
    assert_eq!(run.n("summary", "moved"), 0);
    assert_eq!(run.n("summary", "deleted"), 0);
    let at = locations(&all, &uploaded);
    for m in &uploaded {
        // the rf 1 owner is the rf 2 primary, and keeps its file
        assert_eq!(new[m][0], old[m][0]);
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(at[m], want, "{m}");
        for o in &new[m] {
            assert_eq!(file_points(&node(&all, o).file(m)), before[m], "{m} on {o}");
        }
    }
}

#[test]
fn an_unreachable_owner_fails_its_moves_without_deleting_and_a_later_run_finishes() {
    let Joined {
        root,
        a,
        b,
        c,
        uploaded,
        old,
        new,
        before,
    } = c_joined(30);
    let all = [&a, &b, &c];
    let moving = uploaded.iter().filter(|m| old[*m] != new[*m]).count() as u64;
    // c, the new owner, is reached through a gate that lets the listing through and then
    // closes every connection (the pushes of a and b to c), as a node that went down
    let gate = Gate::new(&c.http, 1);
    gate.refuse(true);
    let config = cluster_toml(root.path(), "three.toml", &all, 1, &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&c.http, &gate.addr)).expect("config");
    let journal = root.path().join("three.journal");
    let j = journal.to_str().expect("utf-8");
    let files_before = tree(&all);
    let down = rebalance(&config, &["--apply", "--json", "--journal", j]);
    assert_ne!(down.code, Some(0), "{}", down.stdout);
    assert_eq!(down.n("summary", "failed"), moving);
    assert_eq!(down.n("summary", "moved"), 0);
    assert_eq!(down.n("summary", "deleted"), 0);
    assert!(down.stderr.contains("push"), "{}", down.stderr);
    assert_eq!(tree(&all), files_before, "a failed copy led to a change");
    assert!(journal.exists(), "the journal is kept after failures");

    gate.refuse(false);
    gate.release();
    let run = ok(rebalance(&config, &["--apply", "--json", "--journal", j]));
    assert_eq!(run.n("summary", "moved"), moving);
    let at = locations(&all, &uploaded);
    for m in &uploaded {
        let want: BTreeSet<String> = new[m].iter().cloned().collect();
        assert_eq!(at[m], want, "{m}");
        assert_eq!(
            file_points(&node(&all, &new[m][0]).file(m)),
            before[m],
            "{m}: points changed"
        );
    }
}
