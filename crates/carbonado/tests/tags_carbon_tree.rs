//! Whisper trees of tagged series move between Debian's carbon-cache (graphite-carbon 1.1) and
//! Carbonado in both directions:
//! - carbon-cache with hashed file names (its default) tags each new series by posting
//!   `/tags/tagMultiSeries` (urllib3 multipart) to its `GRAPHITE_URL`, here a Carbonado web node;
//!   a restarted Carbonado over the tree still serves the series;
//! - carbon-cache with `TAG_HASH_FILENAMES = False` and a `GRAPHITE_URL` where nothing listens:
//!   a Carbonado started afterwards finds the series from the file names alone;
//! - a tree written by Carbonado's cache is read by python whisper at the path carbon computes.

mod web_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use web_support::*;

/// A process killed on drop.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Tagged lines as collectors send them (unsorted tags, both syntaxes), with the normalised names.
const SERIES: &[(&str, &str, f64)] = &[
    (
        "disk.used;server=web01;dc=dc1",
        "disk.used;dc=dc1;server=web01",
        1.5,
    ),
    (
        "disk.used{server=\"web02\",dc=\"dc2\"}",
        "disk.used;dc=dc2;server=web02",
        2.5,
    ),
    (
        "cpu.load;dc=dc1;server=web01",
        "cpu.load;dc=dc1;server=web01",
        3.5,
    ),
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Starts `/usr/bin/carbon-cache` on loopback ports, writing under `dir/whisper`.
fn carbon_cache(dir: &Path, line: u16, hashed: bool, graphite_url: &str) -> Killed {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("whisper")).expect("mkdir");
    std::fs::create_dir_all(dir.join("log")).expect("mkdir");
    std::fs::write(
        dir.join("carbon.conf"),
        format!(
            "[cache]\nSTORAGE_DIR = {d}\nLOCAL_DATA_DIR = {d}/whisper\nCONF_DIR = {d}\nLOG_DIR = {d}/log\n\
             PID_DIR = {d}\nENABLE_LOGROTATION = False\nLINE_RECEIVER_INTERFACE = 127.0.0.1\n\
             LINE_RECEIVER_PORT = {line}\nPICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {}\n\
             CACHE_QUERY_INTERFACE = 127.0.0.1\nCACHE_QUERY_PORT = {}\nENABLE_UDP_LISTENER = False\n\
             MAX_CACHE_SIZE = inf\nMAX_UPDATES_PER_SECOND = inf\nMAX_CREATES_PER_MINUTE = inf\n\
             CARBON_METRIC_INTERVAL = 0\nENABLE_TAGS = True\nTAG_HASH_FILENAMES = {}\n\
             GRAPHITE_URL = {graphite_url}\n",
            free_port(),
            free_port(),
            if hashed { "True" } else { "False" },
        ),
    )
    .expect("carbon.conf");
    std::fs::write(
        dir.join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 10s:1h\n",
    )
    .expect("schemas");
    let bin =
        std::env::var("CARBONADO_CARBON_CACHE").unwrap_or_else(|_| "/usr/bin/carbon-cache".into());
    let child = Command::new(&bin)
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/cache.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Debian's carbon-cache ({bin}) is required: {e}"));
    Killed(child)
}

fn carbon_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log/console.log")).unwrap_or_default()
}

/// Sends every series once to a line receiver (retrying until it listens); returns the timestamp.
fn send_series(line: u16, log_of: impl Fn() -> String) -> u64 {
    let ts = now() / 10 * 10 - 20;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", line)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "line receiver on {line}: {e}\n{}",
                    log_of()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let mut text = String::new();
    for (raw, _, v) in SERIES {
        text.push_str(&format!("{raw} {v} {ts}\n"));
    }
    text.push_str(&format!("plain.metric 9 {ts}\n"));
    s.write_all(text.as_bytes()).expect("send");
    ts
}

/// The file carbon computes for a normalised name (python's `TaggedSeries.encode`).
fn carbon_paths(root: &Path, hashed: bool) -> Vec<PathBuf> {
    let script = "import os, sys\nfrom carbon.util import TaggedSeries\n\
                  for n in sys.argv[2:]:\n    print(os.path.join(sys.argv[1], TaggedSeries.encode(n, os.sep, hash_only=HASH) + '.wsp'))\n"
        .replace("HASH", if hashed { "True" } else { "False" });
    let mut cmd = Command::new(sys_python());
    cmd.arg("-c").arg(script).arg(root);
    for (_, n, _) in SERIES {
        cmd.arg(n);
    }
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "carbon's TaggedSeries: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn sys_python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

fn wait_files(paths: &[PathBuf], log_of: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !paths.iter().all(|p| p.exists()) {
        assert!(
            Instant::now() < deadline,
            "carbon did not write {paths:?}\n{}",
            log_of()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until python whisper reads every series' value at `ts`: files are created before their
/// first points land, and a file still being created cannot be read yet.
fn wait_values(paths: &[PathBuf], ts: u64) {
    wait_files(paths, String::new);
    let script = "import sys, whisper\nts = int(sys.argv[1])\n\
                  for p in sys.argv[2:]:\n    try:\n        (s, e, step), vals = whisper.fetch(p, ts - 5, ts + 5)\n        print(vals[(ts - s) // step])\n    except Exception as e:\n        print(repr(e))\n";
    let want: Vec<String> = SERIES.iter().map(|(_, _, v)| v.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(sys_python())
            .arg("-c")
            .arg(script)
            .arg(ts.to_string())
            .args(paths)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "whisper: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "whisper read {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_answer(http: &str, path: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = get(http, path).text();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: {got}, want {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tag API and a seriesByTag render answer the three series with the values carbon stored.
fn check_served(http: &str, ts: u64) {
    wait_answer(
        http,
        &format!("/tags/findSeries?expr={}", enc("dc=dc1")),
        r#"["cpu.load;dc=dc1;server=web01", "disk.used;dc=dc1;server=web01"]"#,
    );
    let tags: serde_json::Value =
        serde_json::from_slice(&get(http, "/tags").body).expect("/tags json");
    let names: Vec<&str> = tags
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["tag"].as_str())
        .collect();
    assert_eq!(names, ["dc", "name", "server"]);
    assert_eq!(
        get(http, "/tags/autoComplete/values?tag=server").text(),
        r#"["web01", "web02"]"#
    );
    assert_eq!(
        get(
            http,
            &format!(
                "/tags/autoComplete/tags?expr={}&tagPrefix=s",
                enc("name=disk.used")
            )
        )
        .text(),
        r#"["server"]"#
    );
    let r = get(
        http,
        &format!(
            "/render?target={}&from={}&until={}&format=json",
            enc("seriesByTag('name=~.*','server=~web0[12]')"),
            ts - 10,
            ts + 10
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("render json");
    let mut got: Vec<(String, Option<f64>)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let point = s["datapoints"]
                .as_array()
                .and_then(|d| d.iter().find(|p| p[1].as_u64() == Some(ts)))
                .and_then(|p| p[0].as_f64());
            (s["target"].as_str().unwrap_or("").to_string(), point)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, Option<f64>)> = SERIES
        .iter()
        .map(|(_, n, v)| (n.to_string(), Some(*v)))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want, "render: {}", r.text());
}

#[test]
fn carbon_cache_tags_through_carbonado_and_its_hashed_tree_is_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let carbon_dir = dir.path().join("carbon");
    let data = carbon_dir.join("whisper");
    std::fs::create_dir_all(&data).expect("mkdir");
    let http = format!("127.0.0.1:{}", free_port());
    let web_dir = dir.path().join("web");
    std::fs::create_dir_all(&web_dir).expect("mkdir");
    let web = start(&web_dir, &web_only_config(&data, &http, 0, ""), &http);
    let line = free_port();
    let carbon = carbon_cache(&carbon_dir, line, true, &format!("http://{http}"));
    let ts = send_series(line, || carbon_log(&carbon_dir));
    let paths = carbon_paths(&data, true);
    assert!(paths.iter().all(|p| p.starts_with(data.join("_tagged"))));
    wait_files(&paths, || carbon_log(&carbon_dir));
    wait_values(&paths, ts);
    check_served(&http, ts);
    drop(carbon);
    drop(web);
    // A fresh Carbonado over the tree: the names it was told are kept while their files exist.
    let web = start(&web_dir, &web_only_config(&data, &http, 0, ""), &http);
    check_served(&http, ts);
    drop(web);
}

#[test]
fn tree_of_carbon_cache_without_tagdb_is_served_from_file_names() {
    let dir = tempfile::tempdir().expect("tmp");
    let carbon_dir = dir.path().join("carbon");
    let data = carbon_dir.join("whisper");
    let line = free_port();
    // Nothing listens there: carbon logs "Error tagging" and goes on writing.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let carbon = carbon_cache(&carbon_dir, line, false, &nowhere);
    let ts = send_series(line, || carbon_log(&carbon_dir));
    let paths = carbon_paths(&data, false);
    wait_files(&paths, || carbon_log(&carbon_dir));
    wait_values(&paths, ts);
    drop(carbon);
    let http = format!("127.0.0.1:{}", free_port());
    let web_dir = dir.path().join("web");
    std::fs::create_dir_all(&web_dir).expect("mkdir");
    let web = start(&web_dir, &web_only_config(&data, &http, 0, ""), &http);
    check_served(&http, ts);
    drop(web);
}

#[test]
fn tree_written_by_carbonado_is_read_by_whisper_at_carbons_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let (line, http) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let cfg = format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"127.0.0.1:{line}\"\n\
         pickle_receiver = \"\"\ncache_query = \"127.0.0.1:{}\"\nhttp_listen = \"\"\n\n\
         [web]\nenabled = true\nlisten = \"{http}\"\ndefault_cache_duration = 0\n",
        data.display(),
        free_port()
    );
    let server = start(dir.path(), &cfg, &http);
    let ts = send_series(line, String::new);
    let paths = carbon_paths(&data, true);
    wait_values(&paths, ts);
    drop(server);
}
