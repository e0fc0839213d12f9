//! Shared helpers of the cache-role tests: spawn the real binary on free loopback ports, talk to it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A loopback port free now and never handed out before in this test process (tests run in parallel).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut g = GIVEN.lock().unwrap();
        if !g.contains(&p) {
            g.push(p);
            return p;
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `CARBONADO_PYTHON` (PyPI whisper) or the workspace venv.
pub fn python() -> String {
    std::env::var("CARBONADO_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python").to_string()
    })
}

/// `CARBONADO_SYS_PYTHON` (Debian's carbon and graphite-web).
pub fn sys_python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// A running `carbonado serve` with its own data dir and ports.
pub struct Server {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
    pub line: u16,
    pub pickle: u16,
    pub query: u16,
    pub http: u16,
    pub udp: u16,
}

impl Server {
    /// Writes a config (`extra` lines are appended to `[cache]`) and starts the binary.
    pub fn start(dir: &Path, extra: &str) -> Server {
        let data = dir.join("data");
        let (line, pickle, query, http, udp) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let config = dir.join("carbonado.toml");
        std::fs::write(
            &config,
            format!(
                "[cache]\nlocal_data_dir = \"{}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
                 pickle_receiver = \"127.0.0.1:{pickle}\"\ncache_query = \"127.0.0.1:{query}\"\n\
                 http_listen = \"127.0.0.1:{http}\"\nudp_receiver = \"127.0.0.1:{udp}\"\n{extra}\n",
                data.display()
            ),
        )
        .unwrap();
        let mut s = Server {
            child: None,
            dir: dir.to_owned(),
            data,
            config,
            line,
            pickle,
            query,
            http,
            udp,
        };
        s.spawn();
        s
    }

    /// Starts (again) with the same config and ports, waiting until the line port accepts.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        // Listeners are bound one after the other: wait for the first and the last.
        while TcpStream::connect(("127.0.0.1", self.line)).is_err()
            || TcpStream::connect(("127.0.0.1", self.http)).is_err()
        {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("carbonado exited with {st}: {}", self.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "carbonado did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn term(&mut self) {
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        let st = self.child.take().unwrap().wait().unwrap();
        assert!(
            st.success(),
            "carbonado exited with {st} after SIGTERM: {}",
            self.log()
        );
    }

    /// Kills with SIGKILL (a crash).
    pub fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// GET /metrics as a map of the names after the agent prefix (`metricsReceived`, `cache.size`...).
    pub fn metrics(&self) -> HashMap<String, f64> {
        let mut s = match TcpStream::connect(("127.0.0.1", self.http)) {
            Ok(s) => s,
            Err(e) => panic!("cannot reach /metrics ({e}); server log:\n{}", self.log()),
        };
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        let body = body.split("\r\n\r\n").nth(1).unwrap_or("");
        body.lines()
            .filter_map(|l| {
                let (name, v) = l.rsplit_once(' ')?;
                let short = name.splitn(4, '.').nth(3)?.to_string();
                Some((short, v.parse().ok()?))
            })
            .collect()
    }

    /// Waits until `f(metrics)` holds.
    pub fn wait_metrics(
        &self,
        what: &str,
        f: impl Fn(&HashMap<String, f64>) -> bool,
    ) -> HashMap<String, f64> {
        let t0 = Instant::now();
        loop {
            let m = self.metrics();
            if f(&m) {
                return m;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}: {m:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One carbonlink request/response (u32 length + pickle both ways).
    pub fn carbonlink(&self, req: &proto::pickle::Value) -> proto::pickle::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.query)).unwrap();
        carbonlink_on(&mut s, req)
    }
}

pub fn carbonlink_on(s: &mut TcpStream, req: &proto::pickle::Value) -> proto::pickle::Value {
    let body = proto::pickle::encode(req).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    proto::pickle::decode(&resp).unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A carbonlink request dict.
pub fn request(entries: &[(&str, proto::pickle::Value)]) -> proto::pickle::Value {
    proto::pickle::Value::Dict(
        entries
            .iter()
            .map(|(k, v)| (proto::pickle::Value::str(*k), v.clone()))
            .collect(),
    )
}

/// `(timestamp, value)` pairs of a carbonlink `datapoints` list.
pub fn datapoints(v: &proto::pickle::Value) -> Vec<(f64, f64)> {
    v.as_seq()
        .unwrap_or(&[])
        .iter()
        .filter_map(|p| {
            let s = p.as_seq()?;
            Some((s.first()?.to_f64()?, s.get(1)?.to_f64()?))
        })
        .collect()
}

/// A pickle frame (length prefix + protocol-2 list of (name, (ts, value))) as carbon-relay sends.
pub fn pickle_frame(points: &[(String, f64, f64)]) -> Vec<u8> {
    let body = proto::pickle::encode_datapoints(points);
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}

/// Every non-null point of every whisper file under `root`, read by our whisper crate: name -> {ts: value}.
pub fn read_tree(root: &Path) -> HashMap<String, HashMap<i64, f64>> {
    let mut out = HashMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "wsp") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let name = rel.to_string_lossy().replace('/', ".");
                out.insert(name, read_file(&p));
            }
        }
    }
    out
}

/// Non-null points of the finest archive of one file.
pub fn read_file(p: &Path) -> HashMap<i64, f64> {
    let w = whisper::Whisper::open(p).unwrap();
    let raw = w.raw_archive(0).unwrap();
    raw.into_iter().filter(|&(t, _)| t != 0).collect()
}

/// Resident set size of a process in bytes (Linux /proc).
pub fn rss_of(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl Server {
    /// The child's pid.
    pub fn child_pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}
