//! Our routing against carbon-c-relay 3.7.3's `-t` test mode on a generated configuration.
//!
//! `carbon-c-relay -t -f conf` prints, for every line on stdin, the rules that matched, the
//! rewrites done, and the servers each cluster picked. Both sides are reduced to one event list
//! per metric and compared. A `SENTINEL` metric caught by the first rule separates the metrics
//! in c-relay's output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crelay::config::ValidateAction;
use crelay::{parse_file_in, ClusterKind, Event, Router};
use rand::{rngs::StdRng, Rng, SeedableRng};

const CRELAY: &str = "/usr/bin/carbon-c-relay";

const MAIN_CONF: &str = r#"# generated test configuration
cluster main
    carbon_ch replication 2
        10.0.0.1:2003=a
        10.0.0.2:2003=b
        10.0.0.3:2003=c
        10.0.0.4:2003=d
    ;
cluster fnv fnv1a_ch replication 2 10.1.0.1:2003 10.1.0.2:2004 10.1.0.3:2005;
cluster jump jump_fnv1a_ch replication 2 10.2.0.1:2003=1 10.2.0.2:2003=2 10.2.0.3:2003=3 10.2.0.4:2003=10;
cluster mirror forward 10.3.0.1:2003 10.3.0.2:2103 proto udp;
cluster lb any_of 10.4.0.1:2003 10.4.0.2:2003 10.4.0.3:2003;
cluster fo failover 10.5.0.1:2003 10.5.0.2:2003;  # trailing comment
listen type linemode 2003 proto tcp 127.0.0.1:2013 proto udp /tmp/crelay-test.sock proto unix;
statistics submit every 60 seconds prefix with carbon.relays.test send to mirror stop;

match ^SENTINEL send to blackhole stop;
rewrite ^servers\.([^.]+)\.(CPU|Mem)\.(.*)$ into servers.\_1.\_2.\3;
rewrite ^legacy\.(.*) into new.\1;
rewrite ^tagged\.([A-Za-z0-9]+)\.(.*)$ into \^1.\.2;
match ^junk\. send to blackhole;
match * validate ^[0-9]+\ [0-9]+$ else drop;
match ^servers\. ^new\.servers\. send to main;
match ^servers\.[^.]+\.cpu\. send to fnv stop;
match ^apps\.(web|api)\.([^.]+)\. route using apps.\1 send to jump lb;
match ^apps\. send to jump stop;
aggregate ^stats\.([^.]+)\.requests$
    every 10 seconds expire after 30 seconds
    compute sum write to stats.\1.requests.sum
    compute percentile95 write to stats.all.p95
    send to mirror
    stop;
aggregate ^counters\.total every 60 seconds expire after 120 seconds timestamp at start of bucket
    compute count write to counters.count send to fo stop;
include conf.d/*.conf;
match * send to mirror fo;
"#;

const INCLUDED: &str = r#"cluster extra fnv1a_ch 10.6.0.1=x1 10.6.0.2=x2 10.6.0.3=x3;
match ^new\. send to lb extra stop;
match ^misc\.1\d send to lb;
rewrite ^other\.host([0-9]+)[\.x] into other.h\1_;
match "^misc\.[0-9]+$" send to extra;
"#;

fn metrics(seed: u64, n: usize) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..n {
        let h = format!("host{:02}", rng.gen_range(0..40));
        let name = match rng.gen_range(0..12) {
            0 => format!(
                "servers.{h}.{}.{}",
                ["CPU", "Mem", "cpu", "disk"][rng.gen_range(0..4)],
                rng.gen_range(0..8)
            ),
            1 => format!("servers.{}.cpu.user", h.to_uppercase()),
            2 => format!("legacy.servers.{h}.cpu.{}", rng.gen_range(0..5)),
            3 => format!("junk.{h}.x"),
            4 => format!(
                "apps.{}.{h}.latency",
                ["web", "api", "db"][rng.gen_range(0..3)]
            ),
            5 => format!("stats.svc{}.requests", rng.gen_range(0..6)),
            6 => "counters.total".to_owned(),
            7 => format!("misc.{}", rng.gen_range(0..1000)),
            8 => format!("tagged.Zone{}.a.b.c", rng.gen_range(0..4)),
            9 => format!("legacy.misc.{}", rng.gen_range(0..100)),
            10 => format!("q.w{};tag=v{}", rng.gen_range(0..50), rng.gen_range(0..3)),
            _ => format!("other.{h}.{}", rng.gen_range(0..100000)),
        };
        let data = if rng.gen_range(0..15) == 0 {
            "1.5 1700000000"
        } else {
            "42 1700000000"
        };
        out.push((name, data.to_owned()));
    }
    out
}

/// c-relay's -t output for the metrics, reduced to one event list per metric.
fn theirs(conf: &Path, input: &[(String, String)]) -> Vec<Vec<String>> {
    let mut child = Command::new(CRELAY)
        .args(["-t", "-f"])
        .arg(conf)
        .current_dir(conf.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carbon-c-relay must be installed (scripts/test.sh installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let mut text = String::new();
    for (i, (m, d)) in input.iter().enumerate() {
        text.push_str(&format!("SENTINEL.{i} 1 1\n{m} {d}\n"));
    }
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "c-relay -t failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Routing output follows the configuration dump and has no blank lines.
    let routing = stdout.rsplit("\n\n").next().unwrap();
    parse_trace(routing)
}

fn parse_trace(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    let mut current = String::new();
    let mut in_aggr = false;
    let mut after_aggr = false;
    let arrow = |l: &str| {
        l.rsplit_once("-> ")
            .map(|x| x.1.to_owned())
            .unwrap_or_default()
    };
    while i < lines.len() {
        let l = lines[i];
        match l {
            "match" | "rewrite" | "aggregation" => {
                in_aggr = l == "aggregation";
                i += 1;
                let mut head = lines[i];
                if !head.contains("-> ") {
                    i += 1;
                    head = lines[i];
                }
                current = arrow(head);
                if current.starts_with("SENTINEL.") {
                    groups.push(Vec::new());
                    after_aggr = false;
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        let ev = groups.last_mut().expect("output before the first sentinel");
        let t = l.trim_start();
        let sentinel = current.starts_with("SENTINEL.");
        if l.starts_with("nothing matched") {
            ev.push("nothing".into());
        } else if t == "blackholed" {
            if !sentinel {
                ev.push(format!("blackhole {current}"));
            }
        } else if t == "stop" {
            if !sentinel {
                ev.push("stop".into());
            }
        } else if let Some(rest) = t.strip_prefix("into(") {
            current = arrow(rest);
            ev.push(format!("rewrite {current}"));
        } else if t == "validate" {
            let verdict = lines[i + 2].trim();
            if verdict != "match" {
                ev.push(format!(
                    "invalid {}",
                    verdict.trim_start_matches("fail -> ")
                ));
            }
            i += 2;
        } else if in_aggr
            && l.starts_with("    ")
            && !l.starts_with("        ")
            && t.contains("-> ")
            && !t.contains('(')
            || in_aggr && t.contains(") -> ")
        {
            let out = arrow(t);
            let name = out.split(' ').next().unwrap_or("");
            let method = t.split('(').next().unwrap().split(' ').next().unwrap();
            ev.push(format!("aggr {current} {method} {name}"));
            after_aggr = true;
        } else if let Some((kind, rest)) = t.split_once('(') {
            let cluster = rest.trim_end_matches(')');
            let mut servers = Vec::new();
            while let Some(s) = lines.get(i + 1).filter(|s| s.starts_with("        ")) {
                let s = s.trim();
                if !s.starts_with("using(") {
                    servers.push(s.to_owned());
                }
                i += 1;
            }
            if !in_aggr {
                let shown = if after_aggr && kind != "forward" {
                    "?".to_owned()
                } else {
                    servers.join(",")
                };
                ev.push(format!("send {cluster} {current} {shown}"));
            }
        } else {
            panic!("unrecognised c-relay -t line: {l:?}");
        }
        i += 1;
    }
    groups
}

fn ours(router: &Router, input: &[(String, String)]) -> Vec<Vec<String>> {
    input
        .iter()
        .map(|(m, d)| {
            let r = router.route(m, d);
            render(router, &r)
        })
        .collect()
}

/// The same notation as [`parse_trace`]; event order follows the rules.
fn render(router: &Router, r: &crelay::Routing) -> Vec<String> {
    if !r.matched {
        return vec!["nothing".into()];
    }
    let mut ev = Vec::new();
    let mut after_aggr = false;
    for e in &r.events {
        match e {
            Event::Send(s) => {
                let kind = router.config().cluster(&s.cluster).unwrap().kind;
                // c-relay -t stops listing hash/any_of/failover servers once an aggregation
                // matched (a test-mode artifact); forward clusters are still listed.
                let shown = if after_aggr && kind != ClusterKind::Forward {
                    "?".to_owned()
                } else {
                    s.servers
                        .iter()
                        .map(|d| format!("{}:{}", d.host, d.port))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                ev.push(format!("send {} {} {shown}", s.cluster, s.metric));
            }
            Event::Rewrite { to, .. } => ev.push(format!("rewrite {to}")),
            Event::Blackhole { metric } => ev.push(format!("blackhole {metric}")),
            Event::Aggregate(a) => {
                for (m, name) in &a.outputs {
                    ev.push(format!("aggr {} {} {name}", a.metric, m.name()));
                }
                after_aggr = true;
            }
            Event::Invalid(a) => ev.push(format!(
                "invalid {}",
                if *a == ValidateAction::Log {
                    "log"
                } else {
                    "drop"
                }
            )),
            Event::Stop => ev.push("stop".into()),
        }
    }
    ev
}

/// Replication 3 on every hash kind, hosts without ports or instances, `route using` on hash
/// clusters, `validate ... else log` with destinations, an aggregate without `stop`, and
/// metrics no rule matches.
const SECOND_CONF: &str = r#"
cluster ch3 carbon_ch replication 3 10.7.0.1 10.7.0.2:2004 10.7.0.3 10.7.0.4:2010;
cluster f3 fnv1a_ch replication 3 10.8.0.1:2003 10.8.0.2:2003 10.8.0.3:2003 10.8.0.4:2003 10.8.0.5:2003;
cluster jn jump_fnv1a_ch replication 3 10.9.0.1 10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5;
cluster many any_of 10.10.0.1 10.10.0.2 10.10.0.3 10.10.0.4 10.10.0.5 10.10.0.6 10.10.0.7;
match ^SENTINEL send to blackhole stop;
match ^servers\. validate ^[0-9]+\ [0-9]+$ else log send to ch3;
match ^(servers|apps)\.([^.]+)\. route using \2 send to f3 jn;
rewrite ^apps\.(web|api) into APPS.\^1;
match ^APPS send to many stop;
aggregate ^stats\.([^.]+)\.requests$ every 10 seconds expire after 30 seconds
    compute sum write to agg.\1 compute max write to agg.max send to many;
match ^stats send to ch3;
"#;

#[test]
fn second_config_routes_like_carbon_c_relay() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("relay.conf");
    std::fs::write(&conf, SECOND_CONF).unwrap();
    let input = metrics(8, 800);
    let router = Router::new(parse_file_in(&conf, dir.path()).unwrap());
    let theirs = theirs(&conf, &input);
    let ours = ours(&router, &input);
    assert_eq!(
        theirs.len(),
        input.len(),
        "one sentinel per metric expected"
    );
    let mut kinds = std::collections::BTreeSet::new();
    for ((m, t), o) in input.iter().zip(&theirs).zip(&ours) {
        assert_eq!(o, t, "metric {m:?}");
        kinds.extend(t.iter().map(|e| e.split(' ').next().unwrap().to_owned()));
    }
    for k in ["send", "rewrite", "aggr", "invalid", "stop", "nothing"] {
        assert!(kinds.contains(k), "no {k} event in the generated set");
    }
}

#[test]
fn routes_like_carbon_c_relay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    std::fs::write(dir.path().join("conf.d/10-more.conf"), INCLUDED).unwrap();
    let conf = dir.path().join("relay.conf");
    std::fs::write(&conf, MAIN_CONF).unwrap();
    let input = metrics(7, 800);
    // Relative includes resolve against c-relay's working directory: run it in the temp dir.
    let router = Router::new(parse_file_in(&conf, dir.path()).unwrap());
    let theirs = theirs(&conf, &input);
    let ours = ours(&router, &input);
    assert_eq!(
        theirs.len(),
        input.len(),
        "one sentinel per metric expected"
    );
    let mut kinds = std::collections::BTreeSet::new();
    for ((m, t), o) in input.iter().zip(&theirs).zip(&ours) {
        assert_eq!(o, t, "metric {m:?}");
        kinds.extend(t.iter().map(|e| e.split(' ').next().unwrap().to_owned()));
    }
    // The metric set must exercise every kind of decision, or the comparison proves little.
    for k in ["send", "rewrite", "blackhole", "aggr", "invalid", "stop"] {
        assert!(kinds.contains(k), "no {k} event in the generated set");
    }
}
