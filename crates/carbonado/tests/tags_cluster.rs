//! Tag queries fan out to cluster peers and merge: two real nodes (cache + web each, each the
//! other's cluster peer) hold different tagged series; either node answers `/tags`,
//! `/tags/<tag>`, `/tags/findSeries`, autocomplete and `seriesByTag` renders for both, and only
//! its own under `local=1`. Autocomplete and renders are checked against graphite-web's own
//! `Store` over two RemoteFinders (one per node), which is how a graphite-web front end merges.

mod web_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use web_support::{enc, get};

/// graphite-web's Store over RemoteFinders for the given nodes, asked what argv[2] says.
const GRAPHITE_WEB_STORE: &str = r#"
import sys, json, os, tempfile
d = tempfile.mkdtemp()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")
os.environ["GRAPHITE_STORAGE_DIR"] = d
from django.conf import settings
import django
settings.LOG_DIR = d
django.setup()
settings.FIND_CACHE_DURATION = 0
req = json.loads(sys.argv[1])
# POSTed peer calls are multipart forms (urllib3 `fields=`), as graphite-web sends them.
settings.REMOTE_STORE_USE_POST = req.get("post", False)
from graphite.finders.remote import RemoteFinder
from graphite.storage import Store
from graphite.tags.base import DummyTagDB
store = Store(finders=[RemoteFinder(h) for h in req["hosts"]], tagdb=DummyTagDB(settings))
if req["op"] == "tags":
    out = store.tagdb_auto_complete_tags(req["exprs"], tagPrefix=req.get("prefix"), limit=req.get("limit"))
elif req["op"] == "values":
    out = store.tagdb_auto_complete_values(req["exprs"], req["tag"], valuePrefix=req.get("prefix"), limit=req.get("limit"))
else:
    from graphite.render.datalib import _merge_results
    results = store.fetch([req["pattern"]], req["from"], req["until"], None, {})
    prefetched = [(r["name"], (r["time_info"], r["values"])) for r in results]
    series = _merge_results(req["pattern"], req["from"], req["until"], prefetched, {}, {})
    out = sorted([[s.name, [v for v in s if v is not None]] for s in series], key=json.dumps)
json.dump(out, sys.stdout)
"#;

fn graphite_web(req: serde_json::Value) -> serde_json::Value {
    let python =
        std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(GRAPHITE_WEB_STORE)
        .arg(req.to_string())
        .output()
        .expect("run graphite-web");
    assert!(
        out.status.success(),
        "graphite-web Store failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("graphite-web json")
}

/// A running `carbonado serve`, killed on drop.
struct Node {
    child: Child,
    http: String,
    line: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn distinct_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

fn start(dir: &Path, http: &str, line: u16, query: u16, peer: &str) -> Node {
    start_with(
        dir,
        http,
        line,
        query,
        &format!("cluster_servers = [\"{peer}\"]"),
    )
}

/// A node whose `[web]` section ends with `web_extra` (its cluster settings).
fn start_with(dir: &Path, http: &str, line: u16, query: u16, web_extra: &str) -> Node {
    std::fs::create_dir_all(dir).expect("mkdir");
    let cfg = format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
         pickle_receiver = \"\"\ncache_query = \"127.0.0.1:{query}\"\nhttp_listen = \"\"\n\n\
         [web]\nenabled = true\nlisten = \"{http}\"\ndefault_cache_duration = 0\nfind_cache_duration = 0\n\
         remote_timeout = \"2s\"\n{web_extra}\n",
        dir.join("data").display()
    );
    let config = dir.join("carbonado.toml");
    std::fs::write(&config, cfg).expect("write config");
    let log = std::fs::File::create(dir.join("carbonado.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn carbonado");
    let node = Node {
        child,
        http: http.to_string(),
        line: format!("127.0.0.1:{line}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(http).is_err() || TcpStream::connect(&node.line).is_err() {
        assert!(
            Instant::now() < deadline,
            "node on {http} did not come up: {}",
            std::fs::read_to_string(dir.join("carbonado.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

fn send(node: &Node, lines: &str) {
    let mut s = TcpStream::connect(&node.line).expect("connect line receiver");
    s.write_all(lines.as_bytes()).expect("send lines");
}

fn text(node: &Node, path: &str) -> String {
    let r = get(&node.http, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.text()
}

fn json(node: &Node, path: &str) -> serde_json::Value {
    serde_json::from_str(&text(node, path)).expect("json")
}

fn wait_for(node: &Node, path: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = text(node, path);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: {got}, want {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find(expr: &[&str], local: bool) -> String {
    let mut q: Vec<String> = expr.iter().map(|e| format!("expr={}", enc(e))).collect();
    if local {
        q.push("local=1".into());
    }
    format!("/tags/findSeries?{}", q.join("&"))
}

/// Series names and non-null values of a JSON render.
fn render(node: &Node, target: &str, from: i64, until: i64) -> serde_json::Value {
    let v = json(
        node,
        &format!(
            "/render?format=json&from={from}&until={until}&target={}",
            enc(target)
        ),
    );
    let mut out: Vec<serde_json::Value> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let vals: Vec<serde_json::Value> = s["datapoints"]
                .as_array()
                .expect("datapoints")
                .iter()
                .filter(|p| !p[0].is_null())
                .map(|p| p[0].clone())
                .collect();
            serde_json::json!([s["target"], vals])
        })
        .collect();
    out.sort_by_key(|a| a.to_string());
    serde_json::Value::Array(out)
}

#[test]
fn two_nodes_answer_tag_queries_for_each_other() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = distinct_ports(6);
    let (http_a, http_b) = (format!("127.0.0.1:{}", p[0]), format!("127.0.0.1:{}", p[1]));
    let a = start(&dir.path().join("a"), &http_a, p[2], p[3], &http_b);
    let b = start(&dir.path().join("b"), &http_b, p[4], p[5], &http_a);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let t = t - t % 60 - 120;
    send(
        &a,
        &format!(
            "disk.used;dc=dc1;server=web01 1 {t}\ndisk.used;dc=dc1;server=web02 2 {t}\n\
             cpu.load;dc=dc1;server=web01;core=0 3 {t}\n"
        ),
    );
    send(
        &b,
        &format!(
            "disk.used;dc=dc2;server=web03 4 {t}\ndisk.used;server=web01;dc=dc1 5 {}\n\
             mem.free;dc=dc2;server=web03;rack=r7 6 {t}\n",
            t + 60
        ),
    );
    wait_for(
        &a,
        &find(&["name=~.+"], true),
        r#"["cpu.load;core=0;dc=dc1;server=web01", "disk.used;dc=dc1;server=web01", "disk.used;dc=dc1;server=web02"]"#,
    );
    wait_for(
        &b,
        &find(&["name=~.+"], true),
        r#"["disk.used;dc=dc1;server=web01", "disk.used;dc=dc2;server=web03", "mem.free;dc=dc2;rack=r7;server=web03"]"#,
    );

    // findSeries: the union, from either side; one series on both nodes is listed once.
    let both = r#"["disk.used;dc=dc1;server=web01", "disk.used;dc=dc1;server=web02", "disk.used;dc=dc2;server=web03"]"#;
    assert_eq!(text(&a, &find(&["name=disk.used"], false)), both);
    assert_eq!(text(&b, &find(&["name=disk.used"], false)), both);
    assert_eq!(
        text(&a, &find(&["server=web03", "rack!="], false)),
        r#"["mem.free;dc=dc2;rack=r7;server=web03"]"#
    );

    // /tags and /tags/<tag>: tags by name, values with counts summed over nodes.
    let tags: Vec<String> = json(&a, "/tags")
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["tag"].as_str().map(str::to_string))
        .collect();
    assert_eq!(tags, ["core", "dc", "name", "rack", "server"]);
    let local_tags = json(&a, "/tags?local=1");
    assert_eq!(local_tags.as_array().map(Vec::len), Some(4), "{local_tags}");
    let limited: Vec<String> = json(&b, "/tags?filter=r&limit=1")
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["tag"].as_str().map(str::to_string))
        .collect();
    assert_eq!(limited, ["rack"]);
    let server = json(&a, "/tags/server");
    assert_eq!(server["tag"], "server");
    let counts: Vec<(String, u64)> = server["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or("").to_string(),
                v["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("web01".to_string(), 3),
            ("web02".to_string(), 1),
            ("web03".to_string(), 2)
        ]
    );
    assert_eq!(text(&a, "/tags/rack?local=1"), "null");
    assert_eq!(json(&a, "/tags/rack")["values"][0]["value"], "r7");

    // Autocomplete: as graphite-web's Store merges its two remote finders.
    let hosts = serde_json::json!([http_a, http_b]);
    let cases: Vec<(String, serde_json::Value)> = vec![
        (
            "/tags/autoComplete/tags?expr=dc%3Ddc2".into(),
            serde_json::json!({"op": "tags", "exprs": ["dc=dc2"]}),
        ),
        (
            "/tags/autoComplete/tags?tagPrefix=r".into(),
            serde_json::json!({"op": "tags", "exprs": [], "prefix": "r"}),
        ),
        (
            "/tags/autoComplete/tags?limit=3".into(),
            serde_json::json!({"op": "tags", "exprs": [], "limit": "3"}),
        ),
        (
            "/tags/autoComplete/values?tag=server".into(),
            serde_json::json!({"op": "values", "exprs": [], "tag": "server"}),
        ),
        (
            "/tags/autoComplete/values?tag=server&expr=name%3Ddisk.used&valuePrefix=web0&limit=2"
                .into(),
            serde_json::json!({"op": "values", "exprs": ["name=disk.used"], "tag": "server", "prefix": "web0", "limit": "2"}),
        ),
    ];
    for (path, mut req) in cases {
        req["hosts"] = hosts.clone();
        let want = graphite_web(req.clone());
        req["post"] = serde_json::json!(true);
        assert_eq!(graphite_web(req), want, "{path} asked with POST");
        assert_eq!(json(&a, &path), want, "{path} on node a");
        assert_eq!(json(&b, &path), want, "{path} on node b");
    }
    assert_eq!(text(&a, "/tags/autoComplete/values?tag=rack&local=1"), "[]");

    // seriesByTag renders include the peer's series; a series on both nodes merges.
    for target in [
        "seriesByTag('name=disk.used')",
        "seriesByTag('dc=~dc[12]','server!=web02')",
    ] {
        let mut req = serde_json::json!({
            "op": "fetch", "hosts": hosts, "pattern": target, "from": t - 300, "until": t + 120
        });
        let want = graphite_web(req.clone());
        req["post"] = serde_json::json!(true);
        assert_eq!(graphite_web(req), want, "{target} fetched with POST");
        assert_eq!(render(&a, target, t - 300, t + 120), want, "{target} on a");
        assert_eq!(render(&b, target, t - 300, t + 120), want, "{target} on b");
    }
    let merged = render(
        &a,
        "seriesByTag('server=web01','name=disk.used')",
        t - 300,
        t + 120,
    );
    assert_eq!(
        merged,
        serde_json::json!([["disk.used;dc=dc1;server=web01", [1.0, 5.0]]])
    );

    // A peer that is gone: the node answers its own series and names the peer left out.
    drop(b);
    for path in [
        find(&["name=disk.used"], false),
        "/tags/autoComplete/values?tag=server".to_string(),
    ] {
        let r = get(&a.http, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            r.header("x-carbonado-partial"),
            Some(http_b.as_str()),
            "{path}"
        );
        let local = get(&a.http, &format!("{path}&local=1"));
        assert_eq!(r.text(), local.text(), "{path}");
    }
}

/// With `cluster_ring` (the ring source instead of cluster_servers peers), tag queries and
/// seriesByTag renders still reach every other member.
#[test]
fn ring_members_answer_tag_queries_for_each_other() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = distinct_ports(6);
    let (http_a, http_b) = (format!("127.0.0.1:{}", p[0]), format!("127.0.0.1:{}", p[1]));
    let ring = format!(
        "cluster_ring = [{{ destination = \"127.0.0.1:{}:a\", http = \"{http_a}\" }}, \
         {{ destination = \"127.0.0.1:{}:b\", http = \"{http_b}\" }}]\ncluster_replication_factor = 1\n",
        p[2], p[4]
    );
    let a = start_with(
        &dir.path().join("a"),
        &http_a,
        p[2],
        p[3],
        &format!("{ring}cluster_self = \"{http_a}\""),
    );
    let b = start_with(
        &dir.path().join("b"),
        &http_b,
        p[4],
        p[5],
        &format!("{ring}cluster_self = \"{http_b}\""),
    );
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let t = t - t % 60 - 120;
    send(&a, &format!("disk.used;dc=dc1;server=web01 1 {t}\n"));
    send(&b, &format!("disk.used;dc=dc2;server=web03 4 {t}\n"));
    wait_for(
        &a,
        &find(&["name=~.+"], true),
        r#"["disk.used;dc=dc1;server=web01"]"#,
    );
    wait_for(
        &b,
        &find(&["name=~.+"], true),
        r#"["disk.used;dc=dc2;server=web03"]"#,
    );
    let both = r#"["disk.used;dc=dc1;server=web01", "disk.used;dc=dc2;server=web03"]"#;
    assert_eq!(text(&a, &find(&["name=disk.used"], false)), both);
    assert_eq!(text(&b, &find(&["name=disk.used"], false)), both);
    let r = render(&a, "seriesByTag('name=disk.used')", t - 60, t + 60);
    let mut names: Vec<String> = r
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s[0].as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "disk.used;dc=dc1;server=web01",
            "disk.used;dc=dc2;server=web03"
        ],
        "{r}"
    );
}
