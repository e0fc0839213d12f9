//! Tagged series sent to the cache role are in the tag index the moment their file is created,
//! and a restarted node finds them again (name log + hashed files), minus the ones whose file is gone.

mod web_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use web_support::*;

fn config(dir: &Path, line: &str, http: &str) -> String {
    format!(
        "[cache]\nenabled = true\nlocal_data_dir = \"{}\"\nline_receiver = \"{line}\"\npickle_receiver = \"\"\n\
         cache_query = \"127.0.0.1:{}\"\nhttp_listen = \"\"\n\n\
         [web]\nenabled = true\nlisten = \"{http}\"\ndefault_cache_duration = 0\n",
        dir.join("data").display(),
        free_port()
    )
}

fn find(http: &str, expr: &str) -> String {
    get(http, &format!("/tags/findSeries?expr={}", enc(expr))).text()
}

fn wait_for(http: &str, expr: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = find(http, expr);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "findSeries {expr}: {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn created_series_are_indexed_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let (line, http) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let cfg = config(dir.path(), &line, &http);
    let server = start(dir.path(), &cfg, &http);
    // A web-only node over the same tree follows the cache's name log.
    let follower_dir = tempfile::tempdir().expect("tmp");
    let follower_http = format!("127.0.0.1:{}", free_port());
    let follower = start(
        follower_dir.path(),
        &web_only_config(&dir.path().join("data"), &follower_http, 0, ""),
        &follower_http,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut s = TcpStream::connect(&line).expect("connect");
    // Unsorted tags and an OpenMetrics name are normalised before they are indexed.
    write!(
        s,
        "live.disk;server=b;dc=x 1 {now}\nlive.disk;dc=y;server=a 2 {now}\nlive.cpu{{dc=\"x\"}} 3 {now}\nplain.metric 4 {now}\n"
    )
    .expect("send");
    drop(s);
    wait_for(
        &http,
        "dc=x",
        r#"["live.cpu;dc=x", "live.disk;dc=x;server=b"]"#,
    );
    wait_for(
        &http,
        "name=live.disk",
        r#"["live.disk;dc=x;server=b", "live.disk;dc=y;server=a"]"#,
    );
    wait_for(
        &follower_http,
        "dc=x",
        r#"["live.cpu;dc=x", "live.disk;dc=x;server=b"]"#,
    );
    drop(follower);
    // Untagged series stay out of the tag index (SKIP_TAGS_FOR_NONTAGGED).
    assert_eq!(find(&http, "name=plain.metric"), "[]");
    let r = get(
        &http,
        "/render?target=seriesByTag('dc=y')&from=-10min&format=json",
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("render json");
    assert_eq!(v[0]["target"], "live.disk;dc=y;server=a");
    drop(server);

    // The hashed file of one series disappears: after the restart only the others come back.
    let gone = dir
        .path()
        .join("data")
        .join(proto::relative_path("live.disk;dc=y;server=a", true).expect("path"));
    std::fs::remove_file(&gone).expect("hashed file exists");
    // A web-only node over the same tree (no cache, so no WAL replay re-creating the file).
    let web_dir = tempfile::tempdir().expect("tmp");
    let web_cfg = web_only_config(&dir.path().join("data"), &http, 0, "");
    let server = start(web_dir.path(), &web_cfg, &http);
    assert_eq!(
        find(&http, "dc=~."),
        r#"["live.cpu;dc=x", "live.disk;dc=x;server=b"]"#
    );
    drop(server);
}
