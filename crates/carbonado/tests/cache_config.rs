//! `carbonado check-config` and the self-metrics the cache role writes into its own store.

mod cache_support;

use std::process::Command;
use std::time::{Duration, Instant};

use cache_support::*;

#[test]
fn check_config_validates_and_describes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[cache]\nline_receiver = \"127.0.0.1:12003\"\nudp_receiver = \"\"\nmax_updates_per_second = 500\ncache_write_strategy = \"sorted\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_carbonado"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("127.0.0.1:12003"), "{out}");
    assert!(out.contains("max_updates_per_second 500"), "{out}");
    assert!(out.contains("cache_write_strategy   sorted"), "{out}");

    for (bad, why) in [
        ("[cache]\nline_receiver = \"nowhere\"\n", "line_receiver"),
        ("[cache]\nmax_cache_memory = \"lots\"\n", "max_cache_memory"),
        (
            "[cache]\ncache_write_strategy = \"random\"\n",
            "cache_write_strategy",
        ),
        ("[cache]\nno_such_key = 1\n", "no_such_key"),
    ] {
        let f = dir.path().join("bad.toml");
        std::fs::write(&f, bad).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_carbonado"))
            .arg("check-config")
            .arg(&f)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn self_metrics_are_written_into_our_own_store() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        "carbon_metric_interval = \"1s\"\ninstance = \"t\"",
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .replace('.', "_");
    let agent = srv.data.join("carbon/agents").join(format!("{host}-t"));
    let t0 = Instant::now();
    while !(agent.join("metricsReceived.wsp").is_file() && agent.join("cache/size.wsp").is_file()) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no self-metrics under {}",
            agent.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for m in [
        "committedPoints",
        "updateOperations",
        "creates",
        "errors",
        "rejected/invalidLines",
        "memUsage",
    ] {
        assert!(agent.join(format!("{m}.wsp")).is_file(), "{m} missing");
    }
}
