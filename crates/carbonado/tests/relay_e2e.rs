//! The relay role end to end: real `carbonado serve` processes (relay, caches) on loopback.

mod relay_support;

use relay_support::sinks::{hostile, CountingSink};
use relay_support::{cache_config, free_port, http_get, metric_sum, now, read_tree, Proc};
use ring::{parse_destinations, HashConfig, HashRouter, Router};
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn relay_config(
    extra_sections: &str,
    line: u16,
    http: u16,
    dests: &[String],
    extra: &str,
) -> String {
    let list: Vec<String> = dests.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "{extra_sections}\n[relay]\nenabled = true\nline_receiver = \"127.0.0.1:{line}\"\npickle_receiver = \"\"\n\
         http_listen = \"127.0.0.1:{http}\"\nrelay_method = \"carbon_ch\"\ndestinations = [{}]\n\
         carbon_metric_interval = \"0s\"\nreconnect_max = \"500ms\"\n{extra}\n",
        list.join(", ")
    )
}

fn value(m: usize, j: usize) -> f64 {
    (m * 1000 + j) as f64 + 0.25
}

/// Waits until the relay reports nothing queued for `quiet` in a row.
fn wait_drained(http: u16, quiet: Duration, limit: Duration) -> String {
    let t0 = Instant::now();
    let mut since: Option<Instant> = None;
    loop {
        let body = http_get(http, "/metrics");
        if metric_sum(&body, ".queued") == 0 {
            let s = *since.get_or_insert_with(Instant::now);
            if s.elapsed() >= quiet {
                return body;
            }
        } else {
            since = None;
        }
        assert!(t0.elapsed() < limit, "relay did not drain: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cache_destination_killed_for_15s_under_load_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (la, pa, lb, pb) = (free_port(), free_port(), free_port(), free_port());
    let mut a = Proc::start(
        &tmp.path().join("a"),
        &cache_config(&tmp.path().join("a"), la, pa),
        pa,
    );
    let mut b = Proc::start(
        &tmp.path().join("b"),
        &cache_config(&tmp.path().join("b"), lb, pb),
        pb,
    );
    let dests = vec![format!("127.0.0.1:{pa}:a"), format!("127.0.0.1:{pb}:b")];
    let (rl, rh) = (free_port(), free_port());
    let rdir = tmp.path().join("relay");
    let cfg = relay_config(
        "[cache]\nenabled = false\n",
        rl,
        rh,
        &dests,
        "max_queue_size = 10000\n",
    );
    let mut relay = Proc::start(&rdir, &cfg, rl);

    let (metrics, steps) = (500usize, 200usize);
    let base = now() - 3600;
    // Sustained load: 2 connections, 500 points every 100 ms for 20 s.
    let loader = std::thread::spawn(move || {
        let mut conns: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(("127.0.0.1", rl)).unwrap())
            .collect();
        for j in 0..steps {
            for (c, conn) in conns.iter_mut().enumerate() {
                let mut text = String::new();
                for m in (c..metrics).step_by(2) {
                    text.push_str(&format!(
                        "relay.e2e.m{m} {} {}\n",
                        value(m, j),
                        base + j as i64
                    ));
                }
                conn.write_all(text.as_bytes()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    a.kill();
    std::thread::sleep(Duration::from_secs(15));
    a.spawn();
    loader.join().unwrap();
    let stats = wait_drained(rh, Duration::from_secs(1), Duration::from_secs(120));
    assert!(metric_sum(&stats, ".reconnects") > 0, "{stats}");
    assert_eq!(metric_sum(&stats, ".dropped"), 0, "{stats}");
    eprintln!("relay counters after the outage:\n{stats}");
    relay.stop();
    a.stop();
    b.stop();
    eprintln!(
        "--- cache a log\n{}\n--- cache b log\n{}\n--- relay log\n{}",
        a.log(),
        b.log(),
        relay.log()
    );

    let router = HashRouter::new(
        parse_destinations(&dests.join(",")).unwrap(),
        HashConfig::default(),
    )
    .unwrap();
    let trees = [
        read_tree(&tmp.path().join("a/data")),
        read_tree(&tmp.path().join("b/data")),
    ];
    for m in 0..metrics {
        let name = format!("relay.e2e.m{m}");
        let owner = router.destinations(&name)[0];
        let want: Vec<(i64, f64)> = (0..steps).map(|j| (base + j as i64, value(m, j))).collect();
        assert_eq!(
            trees[owner].get(&name),
            Some(&want),
            "{name} on its owner {owner}"
        );
        assert!(
            !trees[1 - owner].contains_key(&name),
            "{name} must not be on {}",
            1 - owner
        );
    }
}

#[test]
fn counting_sink_killed_for_15s_under_load_gets_every_point() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut a = rt.block_on(CountingSink::start(true));
    let b = rt.block_on(CountingSink::start(true));
    let dests = vec![format!("{}:a", a.addr), format!("{}:b", b.addr)];
    let tmp = tempfile::tempdir().unwrap();
    let (rl, rh) = (free_port(), free_port());
    let cfg = relay_config(
        "[cache]\nenabled = false\n",
        rl,
        rh,
        &dests,
        "max_queue_size = 10000\n",
    );
    let mut relay = Proc::start(&tmp.path().join("relay"), &cfg, rl);
    let (metrics, steps) = (1000usize, 200usize);
    let loader = std::thread::spawn(move || {
        let mut conns: Vec<TcpStream> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", rl)).unwrap())
            .collect();
        for j in 0..steps {
            for (c, conn) in conns.iter_mut().enumerate() {
                let mut text = String::new();
                for m in (c..metrics).step_by(4) {
                    text.push_str(&format!(
                        "sink.fault.m{m} {} {}\n",
                        value(m, j),
                        1_700_000_000 + j
                    ));
                }
                conn.write_all(text.as_bytes()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    a.kill();
    std::thread::sleep(Duration::from_secs(15));
    rt.block_on(a.restart());
    loader.join().unwrap();
    let stats = wait_drained(rh, Duration::from_secs(1), Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    relay.stop();
    assert_eq!(metric_sum(&stats, ".dropped"), 0, "{stats}");
    let router = HashRouter::new(
        parse_destinations(&dests.join(",")).unwrap(),
        HashConfig::default(),
    )
    .unwrap();
    let got = [a.distinct(), b.distinct()];
    for (k, (map, dups)) in got.iter().enumerate() {
        let mut want = HashMap::new();
        for m in 0..metrics {
            let name = format!("sink.fault.m{m}");
            if router.destinations(&name)[0] == k {
                for j in 0..steps {
                    want.insert(
                        (name.clone(), ((1_700_000_000 + j) as f64).to_bits()),
                        value(m, j),
                    );
                }
            }
        }
        assert_eq!(map.len(), want.len(), "destination {k}: distinct points");
        assert!(
            map == &want,
            "destination {k}: exactly its own points, right values"
        );
        eprintln!(
            "destination {k}: {} points, {dups} duplicates (resent after the kill)",
            want.len()
        );
    }
    assert!(metric_sum(&stats, ".spilled") > 0, "{stats}");
}

#[test]
fn relay_and_cache_in_one_process_store_the_local_share() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = rt.block_on(CountingSink::start(true));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let (cl, cp, rl, rh) = (free_port(), free_port(), free_port(), free_port());
    let dests = vec![format!("127.0.0.1:{cp}:a"), format!("{}:b", sink.addr)];
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = relay_config(&cache_config(&dir, cl, cp), rl, rh, &dests, "");
    let mut node = Proc::start(&dir, &cfg, rl);
    let base = now() - 600;
    let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
    let mut text = String::new();
    for m in 0..400 {
        text.push_str(&format!("local.share.m{m} {} {}\n", value(m, 0), base));
    }
    conn.write_all(text.as_bytes()).unwrap();
    drop(conn);
    let stats = wait_drained(rh, Duration::from_millis(500), Duration::from_secs(30));
    assert!(stats.contains(".destinations.127_0_0_1:"), "{stats}");
    node.stop();

    let router = HashRouter::new(
        parse_destinations(&dests.join(",")).unwrap(),
        HashConfig::default(),
    )
    .unwrap();
    let tree = read_tree(&dir.join("data"));
    let remote: HashMap<String, f64> = sink
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _, v)| (m.clone(), *v))
        .collect();
    let (mut local_n, mut remote_n) = (0, 0);
    for m in 0..400 {
        let name = format!("local.share.m{m}");
        if router.destinations(&name)[0] == 0 {
            assert_eq!(
                tree.get(&name),
                Some(&vec![(base, value(m, 0))]),
                "{name} stored locally"
            );
            assert!(!remote.contains_key(&name));
            local_n += 1;
        } else {
            assert_eq!(remote.get(&name), Some(&value(m, 0)), "{name} forwarded");
            assert!(!tree.contains_key(&name));
            remote_n += 1;
        }
    }
    assert!(
        local_n > 50 && remote_n > 50,
        "{local_n} local, {remote_n} forwarded"
    );
}

#[test]
fn hostile_destination_keeps_relay_memory_bounded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, _keep) = rt.block_on(hostile());
    let tmp = tempfile::tempdir().unwrap();
    let (rl, rh) = (free_port(), free_port());
    let cfg = relay_config(
        "[cache]\nenabled = false\n",
        rl,
        rh,
        &[format!("{addr}:h")],
        "max_queue_size = 100000\nmax_queue_memory = \"16MiB\"\nmax_spill_size = \"32MiB\"\nresend_window = \"4MiB\"\n",
    );
    let relay = Proc::start(&tmp.path().join("relay"), &cfg, rl);
    let rss0 = relay.rss_kib();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s2 = sent.clone();
    std::thread::spawn(move || {
        let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
        for round in 0..400 {
            let mut text = String::with_capacity(10_000 * 40);
            for m in 0..10_000 {
                text.push_str(&format!(
                    "hostile.metric.number{m} 1 {}\n",
                    1_700_000_000 + round
                ));
            }
            if conn.write_all(text.as_bytes()).is_err() {
                return;
            }
            s2.fetch_add(10_000, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut peak = 0;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(12) {
        peak = peak.max(relay.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = http_get(rh, "/metrics");
    let n = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n < 4_000_000, "the sender must be held back, sent {n}");
    assert!(metric_sum(&stats, ".queuedOnDisk") > 0, "{stats}");
    assert_eq!(metric_sum(&stats, ".dropped"), 0, "{stats}");
    assert!(metric_sum(&stats, ".queuedInMemory") <= 100_000, "{stats}");
    // Queue 16 MiB + resend window + socket buffers + runtime; far below 4M points (~400 MiB).
    assert!(
        peak - rss0 < 160 * 1024,
        "relay RSS grew by {} KiB",
        peak - rss0
    );
    eprintln!("hostile destination: {n} points accepted, RSS {rss0} -> peak {peak} KiB");
}

#[test]
fn sighup_reload_reroutes_points_of_a_removed_destination() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = rt.block_on(CountingSink::start(true));
    let tmp = tempfile::tempdir().unwrap();
    let gone = free_port();
    let (rl, rh) = (free_port(), free_port());
    let both = vec![format!("{}:a", sink.addr), format!("127.0.0.1:{gone}:b")];
    let dir = tmp.path().join("relay");
    let relay = Proc::start(
        &dir,
        &relay_config("[cache]\nenabled = false\n", rl, rh, &both, ""),
        rl,
    );
    let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
    let mut text = String::new();
    for m in 0..2000 {
        text.push_str(&format!("reload.m{m} {} 1700000000\n", value(m, 1)));
    }
    conn.write_all(text.as_bytes()).unwrap();
    drop(conn);
    let t0 = Instant::now();
    while metric_sum(&http_get(rh, "/metrics"), ".metricsReceived") < 2000 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sink.count() < 2000,
        "part of the metrics belongs to the missing destination"
    );
    std::fs::write(
        &relay.config,
        relay_config("[cache]\nenabled = false\n", rl, rh, &both[..1], ""),
    )
    .unwrap();
    relay.signal("HUP");
    let t0 = Instant::now();
    while sink.distinct().0.len() < 2000 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "only {} of 2000 after reload",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = http_get(rh, "/metrics");
    assert!(
        !body.contains(&format!(":{gone}:b")),
        "removed destination is gone: {body}"
    );
}

#[test]
fn sigterm_spills_and_the_next_start_delivers_in_order() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let (rl, rh) = (free_port(), free_port());
    let dests = vec![format!("127.0.0.1:{port}:x")];
    let cfg = relay_config(
        "[cache]\nenabled = false\n",
        rl,
        rh,
        &dests,
        "max_queue_size = 1000\n",
    );
    let dir = tmp.path().join("relay");
    let mut relay = Proc::start(&dir, &cfg, rl);
    let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
    let mut text = String::new();
    for m in 0..20_000 {
        text.push_str(&format!("spill.m{m} {} 1700000000\n", value(m, 2)));
    }
    conn.write_all(text.as_bytes()).unwrap();
    drop(conn);
    let t0 = Instant::now();
    while metric_sum(&http_get(rh, "/metrics"), ".metricsReceived") < 20_000 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    relay.stop();
    let spill = dir.join("data/.carbonado/spill");
    let on_disk: u64 = std::fs::read_dir(&spill)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk > 0, "queued points kept in {}", spill.display());

    let mut sink = rt.block_on(CountingSink::start(true));
    sink.kill();
    sink.addr = format!("127.0.0.1:{port}").parse().unwrap();
    rt.block_on(sink.restart());
    relay.spawn();
    let t0 = Instant::now();
    while sink.count() < 20_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} of 20000 replayed",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<String> = sink
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.0.clone())
        .collect();
    let want: Vec<String> = (0..20_000).map(|m| format!("spill.m{m}")).collect();
    assert_eq!(got, want, "every point once, in arrival order");
    relay.stop();
}

/// Owners per metric from Debian's python carbon ConsistentHashingRouter, as "host:port:instance".
fn python_owners(dests: &[String], rf: usize, metrics: &[String]) -> Vec<Vec<String>> {
    let script = r#"
import json, sys
from carbon.routers import ConsistentHashingRouter
from carbon.util import parseDestinations
class S(dict):
    def __getattr__(self, k): return self[k]
req = json.load(sys.stdin)
r = ConsistentHashingRouter(S(REPLICATION_FACTOR=req["rf"], DIVERSE_REPLICAS=True, ROUTER_HASH_TYPE="carbon_ch"))
for d in parseDestinations(req["dests"]):
    r.addDestination(d)
print(json.dumps([["%s:%d:%s" % o for o in r.getDestinations(m)] for m in req["metrics"]]))
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
    let req = serde_json::json!({"rf": rf, "dests": dests, "metrics": metrics});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python carbon: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn relay_process_places_like_python_carbon_rf_1_to_3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let metrics: Vec<String> = (0..1500)
        .map(|i| match i % 3 {
            0 => format!("place.host{i}.cpu"),
            1 => format!("place.tagged{i};dc=eu;env=prod"),
            _ => format!("p{i}"),
        })
        .collect();
    for rf in 1..=3 {
        let sinks: Vec<CountingSink> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            .iter()
            .map(|h| rt.block_on(CountingSink::start_on(h, true)))
            .collect();
        let dests: Vec<String> = sinks
            .iter()
            .zip(["a", "b", "c"])
            .map(|(s, i)| format!("{}:{i}", s.addr))
            .collect();
        let want = python_owners(&dests, rf, &metrics);
        let tmp = tempfile::tempdir().unwrap();
        let (rl, rh) = (free_port(), free_port());
        let cfg = relay_config(
            "[cache]\nenabled = false\n",
            rl,
            rh,
            &dests,
            &format!("replication_factor = {rf}\n"),
        );
        let mut relay = Proc::start(&tmp.path().join("relay"), &cfg, rl);
        let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
        let text: String = metrics
            .iter()
            .map(|m| format!("{m} 1 1700000000\n"))
            .collect();
        conn.write_all(text.as_bytes()).unwrap();
        drop(conn);
        let expected: usize = want.iter().map(|o| o.len()).sum();
        let t0 = Instant::now();
        while sinks.iter().map(|s| s.count()).sum::<usize>() < expected
            && t0.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        relay.stop();
        let mut got: HashMap<String, Vec<String>> = HashMap::new();
        for (s, d) in sinks.iter().zip(&dests) {
            for (m, _, _) in s.got.lock().unwrap().iter() {
                got.entry(m.clone()).or_default().push(d.clone());
            }
        }
        for (m, owners) in metrics.iter().zip(&want) {
            let mut w = owners.clone();
            w.sort();
            let mut g = got.get(m).cloned().unwrap_or_default();
            g.sort();
            assert_eq!(g, w, "{m} with replication_factor {rf}");
        }
    }
}

#[test]
fn relay_rules_route_like_carbon() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = rt.block_on(CountingSink::start(true));
    let b = rt.block_on(CountingSink::start(true));
    let dests = vec![format!("{}:a", a.addr), format!("{}:b", b.addr)];
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("relay");
    std::fs::create_dir_all(&dir).unwrap();
    // Rule order is file order, matching is re.search ignoring case, default is evaluated last.
    std::fs::write(
        dir.join("relay-rules.conf"),
        format!(
            "[default]\ndefault = true\ndestinations = {}\n\n[apps]\npattern = ^APPS\\.\ndestinations = {}\n\n\
             [both]\npattern = \\.both$\ndestinations = {}\ncontinue = true\n",
            dests[1], dests[0], dests[0]
        ),
    )
    .unwrap();
    let (rl, rh) = (free_port(), free_port());
    let cfg = relay_config("[cache]\nenabled = false\n", rl, rh, &dests, "")
        .replace("relay_method = \"carbon_ch\"", "relay_method = \"rules\"");
    let mut relay = Proc::start(&dir, &cfg, rl);
    let mut conn = TcpStream::connect(("127.0.0.1", rl)).unwrap();
    conn.write_all(b"apps.web.hits 1 1700000000\nsys.cpu 2 1700000000\nsys.x.both 3 1700000000\napps.y.both 4 1700000000\n")
        .unwrap();
    drop(conn);
    let t0 = Instant::now();
    while a.count() + b.count() < 5 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    relay.stop();
    let names = |s: &CountingSink| {
        let mut v: Vec<String> = s.got.lock().unwrap().iter().map(|p| p.0.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&a), ["apps.web.hits", "apps.y.both", "sys.x.both"]);
    assert_eq!(names(&b), ["sys.cpu", "sys.x.both"]);
}
