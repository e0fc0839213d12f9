//! Helpers shared by the integration tests that run the reference implementations.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Debian's python3 (sees graphite-carbon); a missing interpreter fails the test.
pub fn sys_python() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into()),
    );
    assert!(
        p.exists(),
        "reference python {} is missing (set CARBONADO_SYS_PYTHON)",
        p.display()
    );
    p
}

/// Runs `script` with the system python, `args` appended; returns stdout, panics with stderr on failure.
pub fn run_python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(sys_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python output is utf-8")
}

/// Runs a program with `input` on stdin and returns (exit success, stdout+stderr); kills it and
/// panics if it has not finished within `limit` (a hung reference must not hang the suite).
pub fn run_with_stdin(cmd: &mut Command, input: &[u8], limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let partial = out_reader.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish in {limit:?}; output so far:\n{}",
                String::from_utf8_lossy(&partial)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    writer.join().expect("writer thread");
    let mut text = String::from_utf8_lossy(&out_reader.join().expect("reader")).into_owned();
    text.push_str(&String::from_utf8_lossy(
        &err_reader.join().expect("reader"),
    ));
    (status.success(), text)
}

/// A reproducible generator; CARBONADO_RING_SEED picks another sequence.
pub fn rng(salt: u64) -> StdRng {
    let seed = std::env::var("CARBONADO_RING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_123u64);
    StdRng::seed_from_u64(seed ^ salt)
}

/// A random metric name: dotted words, sometimes with non-ASCII parts or tags.
pub fn metric_name(rng: &mut StdRng, unicode: bool) -> String {
    const WORDS: &[&str] = &[
        "servers", "web", "cpu", "user", "app", "requests", "count", "db", "latency", "p99",
    ];
    const UNI: &[&str] = &["métrique", "測試", "данные", "ü"];
    let parts = rng.gen_range(1..7);
    let mut out = String::new();
    for i in 0..parts {
        if i > 0 {
            out.push('.');
        }
        match rng.gen_range(0..10) {
            0 if unicode => out.push_str(UNI[rng.gen_range(0..UNI.len())]),
            1..=3 => out.push_str(&format!(
                "{}{}",
                WORDS[rng.gen_range(0..WORDS.len())],
                rng.gen_range(0..1000)
            )),
            4 => out.push_str(&format!("h-{}_x", rng.gen_range(0..100))),
            _ => out.push_str(WORDS[rng.gen_range(0..WORDS.len())]),
        }
    }
    if rng.gen_range(0..8) == 0 {
        out.push_str(&format!(
            ";dc=dc{};host=h{}",
            rng.gen_range(0..3),
            rng.gen_range(0..50)
        ));
    }
    out
}

/// Distinct random metric names.
pub fn metric_names(rng: &mut StdRng, n: usize, unicode: bool) -> Vec<String> {
    let mut v: Vec<String> = Vec::with_capacity(n);
    while v.len() < n {
        let m = metric_name(rng, unicode);
        if !v.contains(&m) {
            v.push(m);
        }
    }
    v
}
