//! A carbon-c-relay configuration run live by Debian's carbon-c-relay 3.7.3 and by Carbonado's
//! relay role (`relay_method = "carbon-c-relay"`), each into its own set of counting sinks: the
//! same generated metrics must reach the same sinks under the same (rewritten) names, and the
//! aggregates must carry the same values.

mod relay_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relay_support::sinks::CountingSink;
use relay_support::{free_port, now, Proc};

const CRELAY: &str = "/usr/bin/carbon-c-relay";

/// Sinks: three carbon_ch members (replication 2), one archive, one for aggregates.
const SINKS: usize = 5;

/// The configuration under test; `{L}` is the listen port, `{S0}`..`{S4}` the sinks' ports.
const CONF: &str = r#"
listen type linemode 127.0.0.1:{L} proto tcp;
cluster main
    carbon_ch replication 2
        127.0.0.1:{S0}=a
        127.0.0.1:{S1}=b
        127.0.0.1:{S2}=c
    ;
cluster archive forward 127.0.0.1:{S3};
cluster aggregates forward 127.0.0.1:{S4};
match ^carbon\.relays\. send to blackhole stop;
rewrite ^old\.(.*) into new.\1;
aggregate ^new\.app\.([^.]+)\.[^.]+\.requests$
    every 3 seconds
    expire after 4 seconds
    timestamp at end of bucket
    compute sum write to agg.\1.requests.sum
    compute count write to agg.\1.requests.count
    compute max write to agg.\1.requests.max
    send to aggregates
    ;
match ^new\.app\. send to main archive stop;
match ^new\. send to main stop;
match ^drop\. send to blackhole stop;
match ^tmp\.(cpu|mem)\. send to archive;
match * send to archive stop;
"#;

fn config(listen: u16, sinks: &[CountingSink]) -> String {
    let mut c = CONF.replace("{L}", &listen.to_string());
    for (i, s) in sinks.iter().enumerate() {
        c = c.replace(&format!("{{S{i}}}"), &s.addr.port().to_string());
    }
    c
}

/// The generated input: (metric, value) pairs, all sent with one timestamp.
fn metrics() -> Vec<(String, i64)> {
    let mut v = Vec::new();
    for app in ["web", "api", "db"] {
        for host in 0..6 {
            // Half the inputs arrive under the old name and are rewritten first.
            let prefix = if host % 2 == 0 { "old" } else { "new" };
            v.push((
                format!("{prefix}.app.{app}.h{host}.requests"),
                10 * host + 1,
            ));
            v.push((format!("{prefix}.app.{app}.h{host}.latency"), 100 + host));
        }
    }
    for h in 0..40 {
        v.push((format!("new.host.h{h}.cpu"), h));
        v.push((format!("old.host.h{h}.disk.used"), 1000 + h));
    }
    for i in 0..10 {
        v.push((format!("drop.me.{i}"), i));
        v.push((format!("tmp.cpu.{i}"), i));
        v.push((format!("misc.{i}.value"), i));
    }
    v
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_crelay(dir: &Path, conf: &str, port: u16) -> Killed {
    std::fs::write(dir.join("relay.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("relay.log")).unwrap();
    let child = Command::new(CRELAY)
        .arg("-f")
        .arg(dir.join("relay.conf"))
        .arg("-H")
        .arg("testhost")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("carbon-c-relay (apt-get install carbon-c-relay)");
    let c = Killed(child);
    let t0 = Instant::now();
    // c-relay listens before its workers run; lines sent earlier are lost.
    while TcpStream::connect(("127.0.0.1", port)).is_err()
        || !std::fs::read_to_string(dir.join("relay.log"))
            .is_ok_and(|l| l.contains("startup sequence complete"))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "carbon-c-relay did not start: {}",
            std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    c
}

fn start_carbonado(dir: &Path, conf: &str, port: u16) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("relay.conf"), conf).unwrap();
    let toml = format!(
        "[cache]\nenabled = false\nlocal_data_dir = \"{d}/data\"\n\
         [web]\nenabled = false\n\
         [relay]\nenabled = true\nline_receiver = \"127.0.0.1:{port}\"\npickle_receiver = \"\"\n\
         relay_method = \"carbon-c-relay\"\ncrelay_config = \"relay.conf\"\n\
         carbon_metric_interval = \"0s\"\n",
        d = dir.display()
    );
    Proc::start(dir, &toml, port)
}

fn send(port: u16, ts: i64) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut buf = String::new();
    for (m, v) in metrics() {
        buf.push_str(&format!("{m} {v} {ts}\n"));
    }
    s.write_all(buf.as_bytes()).unwrap();
}

/// sink index -> sorted (metric, value) lines received (timestamps checked separately).
type Seen = BTreeMap<usize, Vec<(String, String)>>;

fn seen(sinks: &[CountingSink]) -> (Seen, Vec<(String, f64, f64)>) {
    let mut out = Seen::new();
    let mut aggregates = Vec::new();
    for (i, s) in sinks.iter().enumerate() {
        let got = s.got.lock().unwrap().clone();
        for (m, t, v) in got {
            if i == 4 {
                aggregates.push((m, t, v));
            } else {
                out.entry(i).or_default().push((m, format!("{v}")));
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    aggregates.sort_by(|a, b| a.0.cmp(&b.0));
    (out, aggregates)
}

fn wait_for(sinks: &[CountingSink], want_plain: usize, want_aggr: usize) {
    let t0 = Instant::now();
    loop {
        let plain: usize = sinks[..4].iter().map(|s| s.count()).sum();
        let aggr = sinks[4].count();
        if plain >= want_plain && aggr >= want_aggr {
            // Anything still in flight would be a duplicate: give it a moment to show.
            std::thread::sleep(Duration::from_millis(500));
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {plain}/{want_plain} points and {aggr}/{want_aggr} aggregates arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbonado_routes_rewrites_and_aggregates_like_carbon_c_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let mut theirs = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..SINKS {
        theirs.push(CountingSink::start(false).await);
        ours.push(CountingSink::start(false).await);
    }
    let (pt, po) = (free_port(), free_port());
    let ctheirs = config(pt, &theirs);
    let cours = config(po, &ours);
    let dir_t = tmp.path().join("crelay");
    let dir_o = tmp.path().join("carbonado");
    std::fs::create_dir_all(&dir_t).unwrap();
    let (relay_t, relay_o) = tokio::task::spawn_blocking(move || {
        (
            start_crelay(&dir_t, &ctheirs, pt),
            start_carbonado(&dir_o, &cours, po),
        )
    })
    .await
    .unwrap();

    let ts = now();
    tokio::task::spawn_blocking(move || {
        send(pt, ts);
        send(po, ts);
    })
    .await
    .unwrap();

    // What carbon-c-relay delivered sets the expectation; it must be non-trivial.
    let (t, o) = (&theirs, &ours);
    let n_plain = {
        let want = 3 * 6 * 2 * 3 + 40 * 2 * 2 + 10 * 2 + 10; // app (main x2 + archive), host, tmp, misc
        tokio::task::block_in_place(|| wait_for(t, want, 9));
        want
    };
    tokio::task::block_in_place(|| wait_for(o, n_plain, 9));
    let (plain_t, aggr_t) = seen(&theirs);
    let (plain_o, aggr_o) = seen(&ours);
    assert_eq!(
        plain_t.values().map(Vec::len).sum::<usize>(),
        n_plain,
        "carbon-c-relay delivered an unexpected number of points: {plain_t:?}"
    );
    assert_eq!(plain_o, plain_t, "different deliveries per sink");

    // Aggregates: same names and values; the timestamp is the end of the bucket holding `ts`.
    let end = (ts / 3) * 3 + 3;
    assert_eq!(aggr_t.len(), 9, "{aggr_t:?}");
    for (m, t, _) in aggr_t.iter().chain(aggr_o.iter()) {
        assert_eq!(*t as i64, end, "{m} at {t}");
    }
    let values = |a: &[(String, f64, f64)]| -> Vec<(String, String)> {
        a.iter()
            .map(|(m, _, v)| (m.clone(), format!("{v:.6}")))
            .collect()
    };
    assert_eq!(values(&aggr_o), values(&aggr_t));
    drop(relay_t);
    drop(relay_o);
}
