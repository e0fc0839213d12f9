//! The relay role places a tagged series by its normalised name, whatever syntax and tag order it
//! arrived in, on the destination Debian carbon-relay chooses with `TAG_RELAY_NORMALIZED = True`
//! (carbon's `ConsistentHashingRouter` over `TaggedSeries.parse(name).path`), and forwards it
//! under that name, so the caches store one series and the webapps' ring finds it.

mod relay_support;

use relay_support::sinks::CountingSink;
use relay_support::{free_port, Proc};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// For each raw name: carbon's normalised name, its owner and the owner of the raw name itself.
fn carbon_placement(dests: &[String], raw: &[String]) -> Vec<(String, String, String)> {
    let script = r#"
import json, sys
from carbon.routers import ConsistentHashingRouter
from carbon.util import parseDestinations, TaggedSeries
class S(dict):
    def __getattr__(self, k): return self[k]
req = json.load(sys.stdin)
r = ConsistentHashingRouter(S(REPLICATION_FACTOR=1, DIVERSE_REPLICAS=True, ROUTER_HASH_TYPE="carbon_ch"))
for d in parseDestinations(req["dests"]):
    r.addDestination(d)
def owner(m):
    return ["%s:%d:%s" % o for o in r.getDestinations(m)][0]
out = []
for m in req["metrics"]:
    n = TaggedSeries.parse(m).path
    out.append([n, owner(n), owner(m)])
print(json.dumps(out))
"#;
    let py = std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let mut child = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Debian's python3 with carbon is required");
    let req = serde_json::json!({"dests": dests, "metrics": raw});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(req.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "python carbon: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn tagged_series_in_any_syntax_and_order_land_where_carbon_puts_the_normalised_name() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sinks: Vec<CountingSink> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|h| rt.block_on(CountingSink::start_on(h, true)))
        .collect();
    let dests: Vec<String> = sinks
        .iter()
        .zip(["a", "b", "c"])
        .map(|(s, i)| format!("{}:{i}", s.addr))
        .collect();
    // Each series three ways: sorted, reversed tag order, OpenMetrics with reversed order.
    let mut raw = Vec::new();
    for i in 0..200 {
        let (m, dc, host) = (format!("app{}.req", i % 7), i % 3, i);
        raw.push(format!("{m};dc=dc{dc};host=h{host}"));
        raw.push(format!("{m};host=h{host};dc=dc{dc}"));
        raw.push(format!("{m}{{host=\"h{host}\",dc=\"dc{dc}\"}}"));
    }
    let placement = carbon_placement(&dests, &raw);
    // The test tells the two hashings apart: many raw spellings hash elsewhere than their series.
    let differ = placement.iter().filter(|(_, n, r)| n != r).count();
    assert!(
        differ > 100,
        "only {differ} raw names place differently from their normalised name"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let (line, http) = (free_port(), free_port());
    let list: Vec<String> = dests.iter().map(|d| format!("\"{d}\"")).collect();
    let cfg = format!(
        "[cache]\nenabled = false\n\n[relay]\nenabled = true\nline_receiver = \"127.0.0.1:{line}\"\n\
         pickle_receiver = \"\"\nhttp_listen = \"127.0.0.1:{http}\"\nrelay_method = \"carbon_ch\"\n\
         destinations = [{}]\ncarbon_metric_interval = \"0s\"\n",
        list.join(", ")
    );
    let mut relay = Proc::start(&tmp.path().join("relay"), &cfg, line);
    let mut conn = TcpStream::connect(("127.0.0.1", line)).expect("connect");
    let text: String = raw
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{m} {i} 1700000000\n"))
        .collect();
    conn.write_all(text.as_bytes()).expect("send");
    drop(conn);
    let t0 = Instant::now();
    while sinks.iter().map(|s| s.count()).sum::<usize>() < raw.len()
        && t0.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    relay.stop();

    // What each destination got: name -> values (the value is the index of the raw line).
    let mut got: BTreeMap<(String, String), BTreeSet<usize>> = BTreeMap::new();
    for (s, d) in sinks.iter().zip(&dests) {
        for (m, _, v) in s.got.lock().expect("sink").iter() {
            got.entry((d.clone(), m.clone()))
                .or_default()
                .insert(*v as usize);
        }
    }
    let mut want: BTreeMap<(String, String), BTreeSet<usize>> = BTreeMap::new();
    for (i, (name, owner, _)) in placement.iter().enumerate() {
        want.entry((owner.clone(), name.clone()))
            .or_default()
            .insert(i);
    }
    assert_eq!(want.len(), 200, "three spellings per series");
    assert_eq!(got, want);
}
