//! Helpers of the relay end-to-end tests: real `carbonado serve` processes on loopback ports.
#![allow(dead_code)]

#[path = "../../../relay/tests/common/mod.rs"]
pub mod sinks;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// A `carbonado serve` process with its config in `dir`.
pub struct Proc {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// The port waited for at start.
    pub wait_port: u16,
}

impl Proc {
    pub fn start(dir: &Path, config: &str, wait_port: u16) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("storage-schemas.conf"),
            "[all]\npattern = .*\nretentions = 1s:1d\n",
        )
        .unwrap();
        let path = dir.join("carbonado.toml");
        std::fs::write(&path, config).unwrap();
        let mut p = Proc {
            child: None,
            dir: dir.to_owned(),
            config: path,
            wait_port,
        };
        p.spawn();
        p
    }

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
            .env("CARBONADO_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.wait_port)).is_err() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("carbonado exited with {st}: {}", self.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "carbonado did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let t0 = Instant::now();
            loop {
                if let Some(st) = c.try_wait().unwrap() {
                    assert!(st.success(), "exit status {st}: {}", self.log());
                    return;
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    let _ = c.kill();
                    panic!("did not stop within 60 s: {}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cache-role config: data in `dir/data`, whisper 1s:1d, no self-metrics.
pub fn cache_config(dir: &Path, line: u16, pickle: u16) -> String {
    format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
         pickle_receiver = \"127.0.0.1:{pickle}\"\ncache_query = \"\"\nhttp_listen = \"\"\n\
         carbon_metric_interval = \"0s\"\nstorage_schemas = \"{}\"\n",
        dir.join("data").display(),
        dir.join("storage-schemas.conf").display()
    )
}

/// GET a path over HTTP/1.0; the body.
pub fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `name value` lines of a `/metrics` body whose name ends with `suffix`, summed.
pub fn metric_sum(body: &str, suffix: &str) -> u64 {
    body.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| k.ends_with(suffix))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// Every whisper file under `root` read with Python whisper: metric -> [(ts, value)] non-null.
pub fn read_tree(root: &Path) -> std::collections::HashMap<String, Vec<(i64, f64)>> {
    let script = r#"
import os, sys, time, whisper
root = sys.argv[1]
for d, _, files in os.walk(root):
    for f in files:
        if not f.endswith('.wsp'): continue
        p = os.path.join(d, f)
        name = os.path.relpath(p, root)[:-4].replace(os.sep, '.')
        try:
            (start, end, step), vals = whisper.fetch(p, time.time() - 80000, time.time() + 10)
        except Exception as e:
            print('!corrupt', name, os.path.getsize(p), repr(e).replace(' ', '_'))
            continue
        print(name, ' '.join('%d:%r' % (start + i * step, v) for i, v in enumerate(vals) if v is not None))
"#;
    let o = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(root)
        .output()
        .expect("python with whisper is required");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = std::collections::HashMap::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let mut it = line.split(' ');
        let name = it.next().unwrap().to_string();
        assert_ne!(
            name,
            "!corrupt",
            "unreadable whisper file under {}: {line}",
            root.display()
        );
        let pts = it
            .filter(|s| !s.is_empty())
            .map(|p| {
                let (t, v) = p.split_once(':').unwrap();
                (t.parse().unwrap(), v.parse().unwrap())
            })
            .collect();
        out.insert(name, pts);
    }
    out
}
