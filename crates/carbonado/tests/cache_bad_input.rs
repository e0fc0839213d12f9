//! Hostile input: malformed lines, unsafe names and garbage pickle frames are counted and skipped; the
//! connection and the process stay up and no file appears outside the data directory.

mod cache_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use cache_support::*;

fn wsp_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "wsp") {
                out.push(p);
            }
        }
    }
    out
}

fn still_open(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn malformed_lines_and_hostile_names_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "carbon_metric_interval = \"0s\"");
    let t = now() - now() % 10 - 600;
    let mut s = TcpStream::connect(("127.0.0.1", srv.line)).unwrap();
    let mut corpus: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"onlyname".to_vec(),
        b"name 1".to_vec(),
        b"name 1 2 3".to_vec(),
        b"name notanumber 1700000000".to_vec(),
        b"name 1 notatime".to_vec(),
        b"name 0x10 1700000000".to_vec(),
        b"name 1 1e400".to_vec(),
        b"name \xff\xfe 1700000000".to_vec(),
        b"\xc3\x28 1 1700000000".to_vec(),
    ];
    let invalid_lines = corpus.len() as f64 - 1.0; // the empty line is a field-count error too
    let hostile = [
        "../../../../tmp/evil",
        "..",
        "a..b",
        ".hidden",
        "trailing.",
        "a/b",
        "/abs/path",
        "a\\b",
        "nul\u{0}byte",
        "ctl\u{7}bell",
    ];
    for h in hostile {
        corpus.push(format!("{h} 1 {t}").into_bytes());
    }
    corpus.push(format!("nan.value nan {t}").into_bytes());
    corpus.push(vec![b'x'; 20_000]);
    let mut stream = Vec::new();
    for (i, line) in corpus.iter().enumerate() {
        stream.extend_from_slice(line);
        stream.push(b'\n');
        stream.extend_from_slice(
            format!("good.line{} {i} {}\n", i % 3, t + 10 * i as i64).as_bytes(),
        );
    }
    s.write_all(&stream).unwrap();
    let m = srv.wait_metrics("all lines seen", |m| {
        m["metricsReceived"] >= corpus.len() as f64
    });
    assert_eq!(m["metricsReceived"], corpus.len() as f64);
    assert_eq!(m["rejected.invalidLines"], invalid_lines + 1.0);
    assert_eq!(m["rejected.invalidNames"], hostile.len() as f64);
    assert_eq!(m["rejected.nanValues"], 1.0);
    assert_eq!(m["rejected.longLines"], 1.0);
    assert!(still_open(&mut s), "connection dropped");
    s.write_all(format!("after.garbage 42 {t}\n").as_bytes())
        .unwrap();
    srv.wait_metrics("line after garbage", |m| {
        m["metricsReceived"] == corpus.len() as f64 + 1.0
    });
    srv.wait_metrics("persisted", |m| {
        m["cache.size"] == 0.0 && m["committedPoints"] == corpus.len() as f64 + 1.0
    });

    let files = wsp_files(dir.path());
    assert!(
        files.iter().all(|f| f.starts_with(&srv.data)),
        "file outside data dir: {files:?}"
    );
    let mut names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&srv.data)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "after/garbage.wsp",
            "good/line0.wsp",
            "good/line1.wsp",
            "good/line2.wsp"
        ]
    );
    assert!(!Path::new("/tmp/evil.wsp").exists());
}

#[test]
fn garbage_pickle_frames_are_counted_and_the_connection_survives() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        "carbon_metric_interval = \"0s\"\npickle_receiver_max_length = 65536",
    );
    let t = (now() - now() % 10 - 600) as f64;
    let mut s = TcpStream::connect(("127.0.0.1", srv.pickle)).unwrap();
    let frame = |body: &[u8]| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let bad_frames: Vec<Vec<u8>> = vec![
        frame(b"not a pickle at all"),
        // GLOBAL os.system + REDUCE: must never be executed, only refused.
        frame(b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."),
        // protocol 4 STACK_GLOBAL
        frame(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93."),
        // truncated list
        frame(b"\x80\x02]q\x00(X\x01\x00\x00\x00a"),
        frame(b""),
        frame(&[0xffu8; 300]),
    ];
    for f in &bad_frames {
        s.write_all(f).unwrap();
    }
    // An oversized frame is skipped without being buffered.
    let big = vec![b'A'; 200_000];
    s.write_all(&frame(&big)).unwrap();
    // Elements that are not (name, (ts, value)) are skipped individually; hostile names are rejected.
    let good: Vec<(String, f64, f64)> = vec![
        ("pk.ok".into(), t, 1.0),
        ("../escape".into(), t, 2.0),
        ("pk..empty".into(), t, 3.0),
        ("pk.ok2".into(), t + 10.0, 4.0),
    ];
    s.write_all(&pickle_frame(&good)).unwrap();
    let m = srv.wait_metrics("good frame accepted", |m| m["metricsReceived"] >= 2.0);
    assert_eq!(m["metricsReceived"], 2.0);
    assert_eq!(
        m["rejected.invalidPickleFrames"],
        bad_frames.len() as f64 + 1.0
    );
    assert_eq!(m["rejected.invalidNames"], 2.0);
    assert!(still_open(&mut s), "connection dropped");
    srv.wait_metrics("persisted", |m| m["committedPoints"] == 2.0);
    let tree = read_tree(&srv.data);
    assert_eq!(tree["pk.ok"].get(&(t as i64)), Some(&1.0));
    assert_eq!(tree["pk.ok2"].get(&(t as i64 + 10)), Some(&4.0));
    assert_eq!(tree.len(), 2);
    assert!(wsp_files(dir.path())
        .iter()
        .all(|f| f.starts_with(&srv.data)));
}
