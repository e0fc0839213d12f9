//! A real Python sender: Debian's carbon-relay (graphite-carbon) relays to our pickle receiver.

mod cache_support;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cache_support::*;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn carbon_relay_delivers_pickle_batches_to_us() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "carbon_metric_interval = \"0s\"");
    let relay_dir = dir.path().join("relay");
    std::fs::create_dir_all(&relay_dir).unwrap();
    let (line, pickle) = (free_port(), free_port());
    let d = relay_dir.display();
    std::fs::write(
        relay_dir.join("carbon.conf"),
        format!(
            "[relay]\nSTORAGE_DIR = {d}\nLOCAL_DATA_DIR = {d}\nCONF_DIR = {d}\nLOG_DIR = {d}\nPID_DIR = {d}\n\
             ENABLE_LOGROTATION = False\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {line}\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {pickle}\n\
             RELAY_METHOD = consistent-hashing\nDESTINATIONS = 127.0.0.1:{}:a\nMAX_DATAPOINTS_PER_MESSAGE = 50\n\
             MAX_QUEUE_SIZE = 100000\nCARBON_METRIC_INTERVAL = 0\nUSE_FLOW_CONTROL = True\n",
            srv.pickle
        ),
    )
    .unwrap();
    // carbon refuses to start without this file, even in a relay.
    std::fs::write(
        relay_dir.join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 60:1d\n",
    )
    .unwrap();
    let bin =
        std::env::var("CARBONADO_CARBON_RELAY").unwrap_or_else(|_| "/usr/bin/carbon-relay".into());
    let child = Command::new(&bin)
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/relay.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Debian's carbon-relay ({bin}) is required: {e}"));
    let _relay = Killed(child);
    let t0 = Instant::now();
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", line)) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "carbon-relay did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let base = now() - now() % 10 - 3600;
    let mut expect = Vec::new();
    let mut text = String::new();
    for i in 0..40 {
        for k in 0..30 {
            let (m, ts, v) = (
                format!("pyrelay.host{:02}.val", i),
                base + 10 * k,
                (i * 100 + k) as f64 / 4.0,
            );
            text.push_str(&format!("{m} {v} {ts}\n"));
            expect.push((m, ts, v));
        }
    }
    s.write_all(text.as_bytes()).unwrap();
    drop(s);
    let total = expect.len() as f64;
    srv.wait_metrics("relayed points persisted", |m| {
        m["committedPoints"] >= total && m["cache.size"] == 0.0
    });
    let m = srv.metrics();
    assert_eq!(m["metricsReceived"], total);
    assert_eq!(
        m["rejected.invalidPickleFrames"] + m["rejected.invalidPickleEntries"],
        0.0
    );
    let tree = read_tree(&srv.data);
    for (name, ts, v) in &expect {
        assert_eq!(
            tree.get(name).and_then(|f| f.get(ts)),
            Some(v),
            "{name}@{ts}"
        );
    }
}
