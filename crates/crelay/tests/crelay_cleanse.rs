//! Our line cleansing against a live carbon-c-relay 3.7.3 forwarding to a sink on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crelay::cleanse;
use rand::{rngs::StdRng, Rng, SeedableRng};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(seed: u64, n: usize) -> Vec<String> {
    const PIECES: &[&str] = &[
        "a", "b", "Z9", ".", "..", "@", "\u{e9}", "-", "_", ":", "#", ";t=v", "=", "$", "x.y",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for k in 0..n {
        let mut name = String::new();
        for _ in 0..rng.gen_range(1..8) {
            name.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
        }
        let lead = if rng.gen_range(0..8) == 0 { "  " } else { "" };
        let sep = ["  ", "\t", " "][rng.gen_range(0..3)];
        // Every line ends with a unique marker so a dropped line cannot shift the comparison.
        out.push(format!("{lead}{name}{sep}{}   {}", k, 1_700_000_000 + k));
    }
    out
}

#[test]
fn cleanses_like_carbon_c_relay() {
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let listen_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("relay.conf");
    std::fs::write(
        &conf,
        format!(
            "listen type linemode 127.0.0.1:{listen_port} proto tcp;\n\
             cluster sink forward 127.0.0.1:{sink_port};\nmatch * send to sink stop;\n"
        ),
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in sink.incoming().flatten() {
            for line in BufReader::new(conn).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }
    });
    let child = Command::new("/usr/bin/carbon-c-relay")
        .args(["-w", "1", "-s", "-H", "test", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("carbon-c-relay must be installed (scripts/test.sh installs it)");
    let _relay = Killed(child);
    let t0 = Instant::now();
    let mut conn = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", listen_port)) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "carbon-c-relay did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let input = lines(3, 1000);
    let mut text = input.join("\n");
    text.push('\n');
    conn.write_all(text.as_bytes()).unwrap();
    drop(conn);

    let expected: Vec<String> = input
        .iter()
        .filter_map(|l| cleanse(l))
        .map(|(n, d)| format!("{n} {d}"))
        .collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < expected.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    let kept: Vec<&String> = input.iter().filter(|l| cleanse(l).is_some()).collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "output {i}: input {:?}", kept.get(i));
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "c-relay forwarded a different number of lines"
    );
}
