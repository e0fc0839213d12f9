//! End to end through the real binary: plaintext, pickle and UDP in; whisper files and carbonlink out.

mod cache_support;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use cache_support::*;
use proto::pickle::Value;

#[test]
fn lines_pickle_and_udp_reach_whisper_files() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "carbon_metric_interval = \"0s\"");
    let base = now() - now() % 10 - 3600;
    let mut expect: Vec<(String, i64, f64)> = Vec::new();

    // Three concurrent plaintext connections; lines deliberately split across writes.
    let mut handles = Vec::new();
    for c in 0..3 {
        let port = srv.line;
        let pts: Vec<(String, i64, f64)> = (0..200)
            .map(|i| {
                (
                    format!("e2e.line.c{c}.m{}", i % 7),
                    base + 10 * i,
                    c as f64 * 1000.0 + i as f64 + 0.25,
                )
            })
            .collect();
        expect.extend(pts.iter().cloned());
        handles.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let text: String = pts
                .iter()
                .map(|(m, t, v)| format!("{m} {v} {t}\n"))
                .collect();
            for chunk in text.as_bytes().chunks(37) {
                s.write_all(chunk).unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }

    // Pickle frames, as carbon-relay sends them (float timestamps), over one connection.
    let mut s = TcpStream::connect(("127.0.0.1", srv.pickle)).unwrap();
    for f in 0..5 {
        let pts: Vec<(String, f64, f64)> = (0..100)
            .map(|i| {
                (
                    format!("e2e.pickle.f{f}"),
                    (base + 10 * i) as f64,
                    -(i as f64) * 1.5,
                )
            })
            .collect();
        expect.extend(pts.iter().map(|(m, t, v)| (m.clone(), *t as i64, *v)));
        s.write_all(&pickle_frame(&pts)).unwrap();
    }
    drop(s);

    // UDP: a datagram of several lines.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dgram: String = (0..5)
        .map(|i| format!("e2e.udp.x {i} {}\n", base + 10 * i))
        .collect();
    u.send_to(dgram.as_bytes(), ("127.0.0.1", srv.udp)).unwrap();
    expect.extend((0..5).map(|i| ("e2e.udp.x".to_string(), base + 10 * i, i as f64)));

    let total = expect.len() as f64;
    srv.wait_metrics("all points committed", |m| {
        m.get("committedPoints").copied().unwrap_or(0.0) >= total
    });
    let m = srv.metrics();
    assert_eq!(m["metricsReceived"], total);
    assert_eq!(m["cache.size"], 0.0);
    assert_eq!(m["errors"], 0.0);

    let tree = read_tree(&srv.data);
    for (name, ts, v) in &expect {
        let got = tree.get(name).and_then(|f| f.get(ts));
        assert_eq!(got, Some(v), "{name} @{ts}");
    }

    // The files are whisper files as far as the Python reference is concerned.
    let file = srv.data.join("e2e/pickle/f3.wsp");
    let script = "import sys, whisper, json\n(s, e, st), v = whisper.fetch(sys.argv[1], int(sys.argv[2]) - 1, int(sys.argv[2]) + 990)\nprint(json.dumps(v))";
    let o = Command::new(python())
        .args(["-c", script, file.to_str().unwrap(), &base.to_string()])
        .output()
        .expect("CARBONADO_PYTHON with whisper is required");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let vals: Vec<Option<f64>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(vals.len(), 100);
    for (i, v) in vals.iter().enumerate() {
        assert_eq!(*v, Some(-(i as f64) * 1.5));
    }
}

#[test]
fn min_timestamp_lag_holds_recent_points_until_due_or_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(
        dir.path(),
        "carbon_metric_interval = \"0s\"\nmin_timestamp_lag = \"1h\"",
    );
    let recent = now() - now() % 10;
    let old = recent - 7200;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    s.write_all(format!("lag.recent 1.5 {recent}\nlag.backfill 2.5 {old}\n").as_bytes())
        .unwrap();
    // The backfilled point is older than the lag: written at once.
    srv.wait_metrics("backfill written", |m| m["committedPoints"] == 1.0);
    let tree = read_tree(&srv.data);
    assert_eq!(tree["lag.backfill"].get(&old), Some(&2.5));
    // The recent one is held (not even its file exists yet) but served from the cache.
    assert!(!tree.contains_key("lag.recent"), "{tree:?}");
    assert_eq!(srv.metrics()["cache.size"], 1.0);
    let r = srv.carbonlink(&request(&[
        ("type", Value::str("cache-query")),
        ("metric", Value::str("lag.recent")),
    ]));
    assert_eq!(
        datapoints(r.get("datapoints").unwrap()),
        vec![(recent as f64, 1.5)]
    );
    // Shutdown writes what was held.
    srv.term();
    assert_eq!(read_tree(&srv.data)["lag.recent"].get(&recent), Some(&1.5));
}

#[test]
fn carbonlink_serves_points_not_yet_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // One create per minute: the first metric gets a file, the others wait in the cache.
    let srv = Server::start(
        dir.path(),
        "carbon_metric_interval = \"0s\"\nmax_creates_per_minute = 1",
    );
    let t = now() - now() % 10 - 600;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    s.write_all(format!("cl.first 1 {t}\n").as_bytes()).unwrap();
    srv.wait_metrics("first file created", |m| m.get("creates") == Some(&1.0));
    s.write_all(
        format!(
            "cl.waiting 1.5 {t}\ncl.waiting 2.5 {}\ncl.other 7 {t}\n",
            t + 10
        )
        .as_bytes(),
    )
    .unwrap();
    srv.wait_metrics("create deferred", |m| {
        m.get("deferredCreates").copied().unwrap_or(0.0) >= 1.0 && m["cache.size"] == 3.0
    });
    assert!(!srv.data.join("cl/waiting.wsp").exists());

    let r = srv.carbonlink(&request(&[
        ("type", Value::str("cache-query")),
        ("metric", Value::str("cl.waiting")),
    ]));
    assert_eq!(
        datapoints(r.get("datapoints").unwrap()),
        vec![(t as f64, 1.5), ((t + 10) as f64, 2.5)]
    );
    let r = srv.carbonlink(&request(&[
        ("type", Value::str("cache-query")),
        ("metric", Value::str("cl.unknown")),
    ]));
    assert_eq!(datapoints(r.get("datapoints").unwrap()), vec![]);

    // Several requests on one connection, as graphite-web's pool does.
    let mut conn = TcpStream::connect(("127.0.0.1", srv.query)).unwrap();
    let bulk = request(&[
        ("type", Value::str("cache-query-bulk")),
        (
            "metrics",
            Value::List(vec![Value::str("cl.waiting"), Value::str("cl.other")]),
        ),
    ]);
    let r = carbonlink_on(&mut conn, &bulk);
    let by = r.get("datapointsByMetric").unwrap();
    assert_eq!(
        datapoints(by.get("cl.other").unwrap()),
        vec![(t as f64, 7.0)]
    );
    assert_eq!(datapoints(by.get("cl.waiting").unwrap()).len(), 2);
    let meta = request(&[
        ("type", Value::str("get-metadata")),
        ("metric", Value::str("cl.first")),
        ("key", Value::str("aggregationMethod")),
    ]);
    assert_eq!(
        carbonlink_on(&mut conn, &meta)
            .get("value")
            .and_then(Value::as_str),
        Some("average")
    );
    let bad = request(&[("type", Value::str("nonsense"))]);
    assert_eq!(
        carbonlink_on(&mut conn, &bad)
            .get("error")
            .and_then(Value::as_str),
        Some("Invalid request type \"nonsense\"")
    );

    // graphite-web's own client (Debian graphite-web) reads our cache.
    let script = r#"
import sys, json
from django.conf import settings
settings.configure(CARBONLINK_HASHING_KEYFUNC=None, REPLICATION_FACTOR=1, CARBONLINK_HASHING_TYPE='carbon_ch',
    CARBONLINK_RETRY_DELAY=15, CARBONLINK_PICKLE_PROTOCOL=-1, CARBON_METRIC_PREFIX='carbon', LOG_DIR=sys.argv[3],
    LOG_RENDERING_PERFORMANCE=False, LOG_CACHE_PERFORMANCE=False, LOG_INFO_PERFORMANCE=False, LOG_ROTATION=False,
    LOG_ROTATION_COUNT=1, LOG_FILE_INFO='info.log', LOG_FILE_EXCEPTION='exception.log', LOG_FILE_CACHE='cache.log',
    LOG_FILE_RENDERING='rendering.log', DEBUG=False)
from graphite.carbonlink import CarbonLinkPool
pool = CarbonLinkPool([('127.0.0.1', int(sys.argv[1]), 'a')], 5.0)
print(json.dumps({'points': sorted(pool.query(sys.argv[2])), 'method': pool.get_metadata('cl.first', 'aggregationMethod')}))
"#;
    let o = Command::new(sys_python())
        .args([
            "-c",
            script,
            &srv.query.to_string(),
            "cl.waiting",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .expect("Debian graphite-web (CARBONADO_SYS_PYTHON) is required");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["method"], "average");
    assert_eq!(
        v["points"],
        serde_json::json!([[t as f64, 1.5], [(t + 10) as f64, 2.5]])
    );
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(srv.metrics()["cache.queries"], 3.0);
}

#[test]
fn storage_rules_and_tagged_names_decide_new_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("storage-schemas.conf"),
        "[fine]\npattern = ^fine\\.\nretentions = 1s:10m,1m:1d\n\n[default]\npattern = .*\nretentions = 60s:1d\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("storage-aggregation.conf"),
        "[max]\npattern = \\.max$\nxFilesFactor = 0.1\naggregationMethod = max\n",
    )
    .unwrap();
    let srv = Server::start(dir.path(), "carbon_metric_interval = \"0s\"");
    let t = now() - 30;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    s.write_all(
        format!("fine.a.max 1 {t}\nother.b 2 {t}\ntagged.m;zone=b;app=x 3 {t}\n").as_bytes(),
    )
    .unwrap();
    srv.wait_metrics("3 files", |m| m["creates"] == 3.0 && m["cache.size"] == 0.0);

    let h = whisper::Whisper::open(srv.data.join("fine/a/max.wsp"))
        .unwrap()
        .header()
        .clone();
    assert_eq!(
        h.archives
            .iter()
            .map(|a| (a.seconds_per_point, a.points))
            .collect::<Vec<_>>(),
        vec![(1, 600), (60, 1440)]
    );
    assert_eq!(h.aggregation_method, whisper::AggregationMethod::Max);
    assert!((h.x_files_factor - 0.1).abs() < 1e-6);
    let h = whisper::Whisper::open(srv.data.join("other/b.wsp"))
        .unwrap()
        .header()
        .clone();
    assert_eq!(
        h.archives
            .iter()
            .map(|a| (a.seconds_per_point, a.points))
            .collect::<Vec<_>>(),
        vec![(60, 1440)]
    );
    assert_eq!(h.aggregation_method, whisper::AggregationMethod::Average);

    // Tags are normalised (sorted) before caching; the file is carbon's hashed _tagged path.
    let rel = proto::relative_path("tagged.m;app=x;zone=b", true).unwrap();
    assert!(rel.starts_with("_tagged"));
    let f = read_file(&srv.data.join(rel));
    assert_eq!(f.get(&(t - t % 60)), Some(&3.0));
}

#[test]
fn sighup_reloads_storage_rules_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 60s:1d\n",
    )
    .unwrap();
    let srv = Server::start(dir.path(), "carbon_metric_interval = \"0s\"");
    let t = now() - 120;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    s.write_all(format!("hup.before 1 {t}\n").as_bytes())
        .unwrap();
    srv.wait_metrics("first file", |m| m["creates"] == 1.0);
    std::fs::write(
        dir.path().join("storage-schemas.conf"),
        "[all]\npattern = .*\nretentions = 10s:1h\n",
    )
    .unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &srv.child_pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t0 = std::time::Instant::now();
    while !srv.log().contains("storage rules reloaded") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no reload: {}",
            srv.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.write_all(format!("hup.after 1 {t}\n").as_bytes())
        .unwrap();
    srv.wait_metrics("second file", |m| m["creates"] == 2.0);
    let spp = |f: &str| {
        whisper::Whisper::open(srv.data.join(f))
            .unwrap()
            .header()
            .archives[0]
            .seconds_per_point
    };
    assert_eq!(spp("hup/before.wsp"), 60);
    assert_eq!(spp("hup/after.wsp"), 10);
}
