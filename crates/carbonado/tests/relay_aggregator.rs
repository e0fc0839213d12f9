//! The relay role with carbon-aggregator's files (aggregation-rules.conf, rewrite-rules.conf,
//! blacklist) against Debian's carbon-aggregator daemon, both live on loopback and fed the same
//! points: the last value each sends for every (aggregate, interval) and the raw points passed
//! on (FORWARD_ALL) must agree.

mod relay_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_support::{free_port, now, Proc};

const RULES: &str = "\
<env>.apps.<app>.all.requests (5) = sum <env>.apps.<app>.*.requests
<env>.apps.all.<app>.latency_avg (5) = avg <env>.apps.<app>.*.latency
<env>.apps.all.<app>.latency_max (10) = max <env>.apps.<app>.*.latency
<env>.hosts.count (5) = count <env>.apps.*.*.requests
";
const REWRITE: &str = "[pre]\n^dev\\. = stage.\n[post]\n^(prod|stage)\\.apps\\. = \\1.A.\n";
const BLACKLIST: &str = "^prod\\.apps\\.secret\\.\n";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A line sink: every line received, in order.
fn sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let rx = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let rx = rx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(conn).lines().map_while(Result::ok) {
                    rx.lock().unwrap().push(line);
                }
            });
        }
    });
    (port, got)
}

fn connect(port: u16) -> TcpStream {
    let t0 = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (last value per (aggregate, interval), raw lines passed on as "name ts").
type Seen = (BTreeMap<(String, i64), String>, BTreeSet<String>);

fn split(lines: &[String], aggregate: &dyn Fn(&str) -> bool) -> Seen {
    let mut last = BTreeMap::new();
    let mut raw = BTreeSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(' ').collect();
        let [m, v, ts] = f[..] else {
            panic!("bad line {l:?}")
        };
        let ts: f64 = ts.parse().unwrap();
        let v: f64 = v.parse().unwrap();
        if aggregate(m) {
            last.insert((m.to_owned(), ts as i64), format!("{v:.9}"));
        } else {
            raw.insert(format!("{m} {}", ts as i64));
        }
    }
    (last, raw)
}

#[test]
fn relay_aggregates_like_carbon_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    for (f, text) in [
        ("aggregation-rules.conf", RULES),
        ("rewrite-rules.conf", REWRITE),
        ("blacklist.conf", BLACKLIST),
        (
            "storage-schemas.conf",
            "[all]\npattern = .*\nretentions = 60:1d\n",
        ),
    ] {
        std::fs::write(dir.path().join(f), text).unwrap();
    }

    // Debian's carbon-aggregator.
    let (their_sink, theirs) = sink();
    let (tl, tp) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("carbon.conf"),
        format!(
            "[aggregator]\nSTORAGE_DIR = {d}\nLOCAL_DATA_DIR = {d}\nCONF_DIR = {d}\nLOG_DIR = {d}\nPID_DIR = {d}\n\
             ENABLE_LOGROTATION = False\nLINE_RECEIVER_INTERFACE = 127.0.0.1\nLINE_RECEIVER_PORT = {tl}\n\
             PICKLE_RECEIVER_INTERFACE = 127.0.0.1\nPICKLE_RECEIVER_PORT = {tp}\n\
             DESTINATIONS = 127.0.0.1:{their_sink}\nDESTINATION_PROTOCOL = line\nFORWARD_ALL = True\n\
             USE_BLACKLIST = True\nMAX_AGGREGATION_INTERVALS = 1000\nCARBON_METRIC_INTERVAL = 0\n\
             MAX_QUEUE_SIZE = 100000\n"
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/carbon-aggregator")
        .arg(format!("--config={d}/carbon.conf"))
        .arg(format!("--pidfile={d}/aggregator.pid"))
        .arg("--nodaemon")
        .arg("start")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's carbon-aggregator (apt-get install graphite-carbon)");
    let _daemon = Killed(child);

    // Carbonado's relay role with the same files.
    let (our_sink, ours) = sink();
    let (ol, oh) = (free_port(), free_port());
    let our_dir = dir.path().join("carbonado");
    std::fs::create_dir_all(&our_dir).unwrap();
    let toml = format!(
        "[cache]\nenabled = false\nlocal_data_dir = \"{od}/data\"\n[web]\nenabled = false\n\
         [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{ol}\"\npickle_receiver = \"\"\n\
         destinations = [\"127.0.0.1:{our_sink}\"]\ndestination_protocol = \"line\"\n\
         aggregation_rules = \"{d}/aggregation-rules.conf\"\nrewrite_rules = \"{d}/rewrite-rules.conf\"\n\
         blacklist = \"{d}/blacklist.conf\"\nforward_all = true\nmax_aggregation_intervals = 1000\n\
         carbon_metric_interval = \"0s\"\nhttp_listen = \"127.0.0.1:{oh}\"\n",
        od = our_dir.display()
    );
    let _relay = Proc::start(&our_dir, &toml, ol);

    // Recent timestamps, shuffled within the last two minutes (late and out of order).
    let t = now();
    let mut text = String::new();
    for k in 0..600i64 {
        let env = ["prod", "dev"][(k % 2) as usize];
        let app = ["web", "api", "db", "secret"][(k % 4) as usize];
        let kind = if k % 5 < 3 { "requests" } else { "latency" };
        let ts = t - 120 + (k * 37) % 115;
        text.push_str(&format!(
            "{env}.apps.{app}.h{}.{kind} {} {ts}\n",
            k % 7,
            (k % 40) as f64 / 4.0
        ));
    }
    for port in [tl, ol] {
        let mut c = connect(port);
        c.write_all(text.as_bytes()).unwrap();
    }

    // Both emit every few seconds as intervals fill; wait until the last values agree.
    let is_aggregate = |m: &str| m.contains(".all.") || m.ends_with(".hosts.count");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = split(&theirs.lock().unwrap(), &is_aggregate);
        let b = split(&ours.lock().unwrap(), &is_aggregate);
        if !a.0.is_empty() && a == b {
            assert!(a.0.len() > 50, "too few aggregates to compare: {:?}", a.0);
            assert!(a
                .1
                .iter()
                .all(|l| !l.contains(".secret.") || l.starts_with("stage")));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "aggregates differ:\n carbon-aggregator {:?}\n carbonado {:?}\n raw {} vs {}",
            a.0,
            b.0,
            a.1.len(),
            b.1.len()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The aggregator's work is counted in the relay's /metrics (as carbon-aggregator's
    // aggregateDatapoints* self-metrics).
    let m = relay_support::http_get(oh, "/metrics");
    let count = |suffix: &str| relay_support::metric_sum(&m, suffix);
    assert!(count(".aggregateDatapointsReceived") >= 600, "{m}");
    assert!(count(".aggregateDatapointsSent") > 50, "{m}");
    assert_eq!(count(".aggregateDatapointsDropped"), 0, "{m}");
}
