//! Shared helpers of the web role's end-to-end tests: build whisper trees with the reference
//! python whisper, start the real `carbonado serve`, speak HTTP/1.1 over loopback.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The spec directory (vectors), `CARBONADO_SPEC_DIR` or `<workspace>/../shared/spec`.
pub fn spec_dir() -> PathBuf {
    std::env::var_os("CARBONADO_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/spec"))
}

/// Reads a vector file as JSON.
pub fn vector(rel: &str) -> serde_json::Value {
    let p = spec_dir().join("vectors").join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("vector json")
}

/// The venv python with PyPI whisper (tests FAIL without it).
pub fn python() -> PathBuf {
    let p = std::env::var_os("CARBONADO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "reference python {} is missing (run scripts/test.sh)",
        p.display()
    );
    p
}

/// Runs a python script with the venv python; panics with its stderr on failure.
pub fn run_python(script: &str, args: &[&str]) {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Builds graphite-web's render vector tree (`gen_render.py`'s data) under `root`.
pub fn build_vector_tree(root: &Path) {
    let script = r#"
import os, sys, hashlib, whisper
root = sys.argv[1]
FAKE_NOW = 1700003600; T0 = 1700000000
def mk(path, archives, points, agg="average", xff=0.5):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    whisper.create(path, archives, xFilesFactor=xff, aggregationMethod=agg)
    whisper.update_many(path, points, now=FAKE_NOW)
def p(name): return os.path.join(root, *name.split(".")) + ".wsp"
start = T0 - 7200
for si, host in enumerate(["web01", "web02", "db01"]):
    for mi, m in enumerate(["user", "system"]):
        if host == "db01" and m == "system": continue
        pts = []
        for i, ts in enumerate(range(start, FAKE_NOW + 1, 60)):
            if (i + si) % 7 == 3: continue
            pts.append((ts, float((i * (si + 1) + mi * 5) % 17 + si * 10)))
        mk(p("test.servers.%s.cpu.%s" % (host, m)), [(60, 1440)], pts)
cnt, pts = 0.0, []
for i, ts in enumerate(range(start, FAKE_NOW + 1, 60)):
    cnt += 30 + (i % 5) * 6
    if i == 150: cnt = 12.0
    pts.append((ts, cnt))
mk(p("test.counters.req.count"), [(60, 1440)], pts, agg="sum")
pts = [(ts, float(ts % 100)) for ts in range(FAKE_NOW - 3600, FAKE_NOW + 1, 10)]
mk(p("test.fine.sec"), [(10, 360), (60, 1440)], pts, agg="max", xff=0.0)
TAGGED = ["disk.used;datacenter=dc1;rack=a1;server=web01", "disk.used;datacenter=dc1;rack=a2;server=web02",
          "disk.used;datacenter=dc2;rack=b1;server=db01", "cpu.load;datacenter=dc1;server=web01"]
for ti, tname in enumerate(TAGGED):
    h = hashlib.sha256(tname.encode()).hexdigest()
    mk(os.path.join(root, "_tagged", h[:3], h[3:6], h + ".wsp"), [(60, 1440)],
       [(ts, float(ti * 100 + (ts // 60) % 10)) for ts in range(start, FAKE_NOW + 1, 60)])
"#;
    run_python(script, &[root.to_str().expect("utf-8 path")]);
}

/// A running `carbonado serve`, killed on drop.
pub struct Server {
    child: Child,
    /// HTTP address of the web role.
    pub http: String,
    /// The config file used.
    pub config: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `carbonado serve` with `config_toml` (written to `dir`) and waits until `/version` answers.
pub fn start(dir: &Path, config_toml: &str, http: &str) -> Server {
    let config = dir.join("carbonado.toml");
    std::fs::write(&config, config_toml).expect("write config");
    let log = std::fs::File::create(dir.join("carbonado.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn carbonado");
    let mut server = Server {
        child,
        http: http.to_string(),
        config,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = try_request(http, "GET", "/version", &[], b"") {
            if r.status == 200 {
                return server;
            }
        }
        if let Ok(Some(st)) = server.child.try_wait() {
            let log = std::fs::read_to_string(dir.join("carbonado.log")).unwrap_or_default();
            panic!("carbonado exited with {st}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "carbonado web role did not come up on {http}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP answer");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..nl])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Sends a request and returns the answer (panics on socket errors).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// GET `path`.
pub fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

/// POST a form body to `path`.
pub fn post_form(addr: &str, path: &str, form: &str) -> Resp {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

/// Percent-encodes a query component.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from a vector's `params` object (list values repeat the key).
pub fn query_string(params: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(obj) = params.as_object() {
        for (k, v) in obj {
            match v {
                serde_json::Value::Array(items) => {
                    for it in items {
                        parts.push(format!(
                            "{}={}",
                            enc(k),
                            enc(it.as_str().unwrap_or_default())
                        ));
                    }
                }
                serde_json::Value::String(s) => parts.push(format!("{}={}", enc(k), enc(s))),
                other => parts.push(format!("{}={}", enc(k), enc(&other.to_string()))),
            }
        }
    }
    parts.join("&")
}

/// A config running only the web role over `data_dir` on `http` (no caching unless `cache_secs`).
pub fn web_only_config(data_dir: &Path, http: &str, cache_secs: u64, extra_web: &str) -> String {
    format!(
        "[cache]\nenabled = false\n\n[web]\nenabled = true\nlisten = \"{http}\"\nlocal_data_dir = \"{}\"\ndefault_cache_duration = {cache_secs}\ncarbonlink_hosts = []\n{extra_web}\n",
        data_dir.display()
    )
}

/// Starts a web-only server over the render vectors' whisper tree (built once per call).
pub fn vector_server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("whisper");
    std::fs::create_dir_all(&data).expect("mkdir");
    build_vector_tree(&data);
    let http = format!("127.0.0.1:{}", free_port());
    let cfg = web_only_config(&data, &http, 0, "");
    let server = start(dir.path(), &cfg, &http);
    (dir, server)
}

/// Replaces every `intervals` list's numbers (wall-clock dependent) with a marker, keeping the shape.
pub fn blank_intervals(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "intervals" {
                    if let serde_json::Value::Array(items) = x {
                        for it in items.iter_mut() {
                            if let serde_json::Value::Object(o) = it {
                                for (_, n) in o.iter_mut() {
                                    assert!(n.is_f64(), "interval bound must be a float, got {n}");
                                    *n = serde_json::Value::String("t".into());
                                }
                            }
                        }
                    }
                } else {
                    blank_intervals(x);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(blank_intervals),
        _ => {}
    }
}
