//! Debian's carbon-aggregator daemon on loopback, fed the same points as our [`Aggregator`].
//!
//! Emission *times* of the daemon follow the wall clock, so this test compares only what is
//! timing-independent: the final value carbon sends for every (output metric, interval), which
//! is the aggregate of all the interval's points as long as no interval expires during the test
//! (MAX_AGGREGATION_INTERVALS is set high for that), and the raw points passed on (FORWARD_ALL).
//! Late points and the emission schedule are compared exactly in `carbon_oracle.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aggregator::{Aggregator, Pipeline, RegexList, RewriteRules, Settings};

/// `[pre]` renames before aggregation; `[post]` would rename aggregates too if carbon applied it
/// to them (it does not: generated metrics only go through the relay step).
const REWRITE: &str = "[pre]\n^dev\\. = stage.\n[post]\n^(prod|stage)\\.apps\\. = \\1.A.\n";

const RULES: &str = "\
<env>.apps.<app>.all.requests (5) = sum <env>.apps.<app>.*.requests
<env>.apps.all.<app>.latency_avg (5) = avg <env>.apps.<app>.*.latency
<env>.apps.all.<app>.latency_p90 (10) = p90 <env>.apps.<app>.*.latency
<env>.hosts.count (5) = count <env>.apps.*.*.requests
";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn carbon_aggregator_daemon_agrees_on_final_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let rx = received.clone();
    std::thread::spawn(move || {
        for conn in sink.incoming().flatten() {
            let rx = rx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(conn).lines().map_while(Result::ok) {
                    rx.lock().unwrap().push(line);
                }
            });
        }
    });
    let (line_port, pickle_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("carbon.conf"),
        format!(
            "[aggregator]\nSTORAGE_DIR = {d}\nLOCAL_DATA_DIR = {d}\nCONF_DIR = {d}\nLOG_DIR = {d}\nPID_DIR = {d}\n\
             ENABLE_LOGROTATION = False\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {line_port}\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {pickle_port}\n\
             DESTINATIONS = 127.0.0.1:{sink_port}\nDESTINATION_PROTOCOL = line\nFORWARD_ALL = True\n\
             MAX_AGGREGATION_INTERVALS = 1000\nCARBON_METRIC_INTERVAL = 0\nMAX_QUEUE_SIZE = 100000\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("aggregation-rules.conf"), RULES).unwrap();
    std::fs::write(dir.path().join("rewrite-rules.conf"), REWRITE).unwrap();
    std::fs::write(
        dir.path().join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 60:1d\n",
    )
    .unwrap();
    let bin = std::env::var("CARBONADO_CARBON_AGGREGATOR")
        .unwrap_or_else(|_| "/usr/bin/carbon-aggregator".into());
    let child = Command::new(&bin)
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/aggregator.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("Debian's carbon-aggregator ({bin}) is required: {e}"));
    let _daemon = Killed(child);
    let t0 = Instant::now();
    let mut conn = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", line_port)) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "carbon-aggregator did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // Recent timestamps, shuffled within the last few minutes, so no interval expires.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut points = Vec::new();
    for k in 0..600i64 {
        let env = ["prod", "dev"][(k % 2) as usize];
        let app = ["web", "api", "db"][(k % 3) as usize];
        let host = format!("h{}", k % 7);
        let kind = if k % 5 < 3 { "requests" } else { "latency" };
        let ts = now - 120 + (k * 37) % 115;
        points.push((
            format!("{env}.apps.{app}.{host}.{kind}"),
            ts,
            (k % 40) as f64 / 4.0,
        ));
    }
    let mut text = String::new();
    for (m, ts, v) in &points {
        text.push_str(&format!("{m} {v} {ts}\n"));
    }
    conn.write_all(text.as_bytes()).unwrap();
    drop(conn);

    let mut ours = Pipeline {
        whitelist: RegexList::default(),
        blacklist: RegexList::default(),
        rewrite: RewriteRules::parse(REWRITE).unwrap(),
        aggregator: Aggregator::new(
            ring::parse_aggregation_rules(RULES).unwrap(),
            Settings::default(),
        ),
    };
    let mut forwarded = BTreeSet::new();
    for (m, ts, v) in &points {
        if let Some(name) = ours.process(now, m, *ts as f64, *v) {
            forwarded.insert(format!("{name} {ts}"));
        }
    }
    let mut out = Vec::new();
    ours.tick(now + 10, &mut out);
    let expected: BTreeMap<(String, i64), f64> = out
        .into_iter()
        .map(|a| ((a.metric, a.timestamp), a.value))
        .collect();
    assert!(expected.len() > 50);

    // The daemon computes every 5-10 s; wait until its latest value for every key is ours.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = received.lock().unwrap().clone();
        let mut last: BTreeMap<(String, i64), f64> = BTreeMap::new();
        let mut raw = BTreeSet::new();
        for l in &lines {
            let f: Vec<&str> = l.split(' ').collect();
            let [m, v, ts] = f[..] else {
                panic!("bad line from carbon-aggregator: {l:?}")
            };
            let (v, ts): (f64, i64) = (v.parse().unwrap(), ts.parse().unwrap());
            if expected.keys().any(|k| k.0 == m) {
                last.insert((m.to_owned(), ts), v);
            } else {
                raw.insert(format!("{m} {ts}"));
            }
        }
        let same = last.len() == expected.len()
            && last
                .iter()
                .zip(&expected)
                .all(|((ka, va), (kb, vb))| ka == kb && (va - vb).abs() < 1e-9);
        if same && raw == forwarded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "carbon-aggregator's aggregates differ from ours:\n theirs {last:?}\n ours {expected:?}\n raw {} vs {}",
            raw.len(),
            forwarded.len()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
