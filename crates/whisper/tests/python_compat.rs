//! Randomized byte-for-byte comparison with python whisper 1.1.10 (the venv's), and
//! cross-reading: our fetch on python's files and python's fetch on ours must agree.

mod common;

use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use whisper::{
    create, AggregationMethod, ArchiveSpec, CreateOptions, Error, Fetched, Whisper, ALL_METHODS,
};

const CASES: usize = 400;

fn hex(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn unhex(v: &Value) -> f64 {
    f64::from_bits(u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
}

/// A valid archive list with small rings so wrap-around and propagation happen often.
fn archives(rng: &mut StdRng) -> Vec<ArchiveSpec> {
    let n = rng.gen_range(1..=4);
    let mut out: Vec<ArchiveSpec> = Vec::new();
    let mut spp: u32 = [1, 2, 5, 10, 60][rng.gen_range(0..5)];
    for _ in 0..n {
        let mut points = rng.gen_range(3..40);
        if let Some(prev) = out.last_mut() {
            // prev must hold one of our points and cover less time than us.
            let per = spp / prev.seconds_per_point;
            if prev.points < per {
                prev.points = per + rng.gen_range(0..3);
            }
            let min_points = prev.retention() / u64::from(spp) + 1;
            points = points.max(min_points as u32 + rng.gen_range(0..5));
        }
        out.push(ArchiveSpec {
            seconds_per_point: spp,
            points,
        });
        spp *= rng.gen_range(2..=6);
    }
    // Fix up earlier archives that the loop enlarged after their successor was sized.
    for i in 1..out.len() {
        let min_points = out[i - 1].retention() / u64::from(out[i].seconds_per_point) + 1;
        if u64::from(out[i].points) < min_points {
            out[i].points = min_points as u32;
        }
    }
    if rng.gen_bool(0.3) {
        out.reverse(); // create() must sort
    }
    out
}

fn value(rng: &mut StdRng) -> f64 {
    match rng.gen_range(0..20) {
        0 => 0.0,
        1 => -0.0,
        2 => f64::NAN,
        3 => f64::INFINITY,
        4 => rng.gen_range(-5..5) as f64,
        5 => rng.gen_range(-1e12..1e12),
        _ => rng.gen_range(-100.0..100.0),
    }
}

fn case(rng: &mut StdRng) -> Value {
    let specs = archives(rng);
    whisper::validate_archive_list(&mut specs.clone()).expect("generator makes valid lists");
    let max_ret = specs.iter().map(|a| a.retention()).max().unwrap() as i64;
    let finest = specs.iter().map(|a| a.seconds_per_point).min().unwrap() as i64;
    let xff = [0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 1.0, rng.gen_range(0.0..1.0)][rng.gen_range(0..8)];
    let method = ALL_METHODS[rng.gen_range(0..8)];
    let mut now: i64 = 1_700_000_000 + rng.gen_range(0..100_000);
    let mut ops = Vec::new();
    for _ in 0..rng.gen_range(1..8) {
        now += rng.gen_range(0..=max_ret / 3 + 1);
        // Future points only rarely and slightly (see the note on over-long runs in file.rs).
        let future = if rng.gen_bool(0.1) { finest } else { 0 };
        let ts = |rng: &mut StdRng| now - rng.gen_range(-future..=max_ret + 3 * finest);
        if rng.gen_bool(0.3) {
            ops.push(
                json!({"op": "update", "timestamp": ts(rng), "value": hex(value(rng)), "now": now}),
            );
        } else {
            let n = rng.gen_range(1..60);
            let mut pts = Vec::new();
            let mut t = ts(rng);
            for _ in 0..n {
                // Mix contiguous runs, duplicates and jumps.
                t = match rng.gen_range(0..4) {
                    0 => t,
                    1 => ts(rng),
                    _ => t - finest * rng.gen_range(1..3),
                };
                pts.push(json!([t, hex(value(rng))]));
            }
            ops.push(json!({"op": "update_many", "points": pts, "now": now}));
        }
    }
    let mut fetches = Vec::new();
    for _ in 0..6 {
        let from = now - rng.gen_range(0..=max_ret + 10 * finest);
        let until = from + rng.gen_range(-finest..=max_ret);
        fetches.push(json!({"from": from, "until": until, "now": now - rng.gen_range(0..3)}));
    }
    json!({
        "archives": specs.iter().map(|a| [a.seconds_per_point, a.points]).collect::<Vec<_>>(),
        "xff": xff, "method": method.name(), "ops": ops, "fetches": fetches,
    })
}

fn apply(path: &std::path::Path, c: &Value) -> Vec<Option<&'static str>> {
    let specs: Vec<ArchiveSpec> = c["archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ArchiveSpec {
            seconds_per_point: a[0].as_u64().unwrap() as u32,
            points: a[1].as_u64().unwrap() as u32,
        })
        .collect();
    let method: AggregationMethod = c["method"].as_str().unwrap().parse().unwrap();
    create(
        path,
        &specs,
        c["xff"].as_f64().unwrap(),
        method,
        CreateOptions::default(),
    )
    .unwrap();
    let mut w = Whisper::open_rw(path).unwrap();
    c["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            let now = op["now"].as_i64().unwrap();
            let r = if op["op"] == "update" {
                w.update(unhex(&op["value"]), op["timestamp"].as_i64().unwrap(), now)
            } else {
                let pts: Vec<(i64, f64)> = op["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_i64().unwrap(), unhex(&p[1])))
                    .collect();
                w.update_many(&pts, now)
            };
            match r {
                Ok(()) => None,
                Err(Error::TimestampNotCovered) => Some("TimestampNotCovered"),
                Err(e) => panic!("unexpected error {e}"),
            }
        })
        .collect()
}

fn same_fetch(ours: &Result<Option<Fetched>, Error>, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Ok(None), Value::Null) => true,
        (Err(Error::InvalidTimeInterval { .. }), t) => t["error"] == "InvalidTimeInterval",
        (Ok(Some(f)), t) if t.get("timeInfo").is_some() => {
            let ti = &t["timeInfo"];
            let vals = t["values"].as_array().unwrap();
            (f.from, f.until, f.step)
                == (
                    ti[0].as_i64().unwrap(),
                    ti[1].as_i64().unwrap(),
                    ti[2].as_i64().unwrap(),
                )
                && f.values.len() == vals.len()
                && f.values.iter().zip(vals).all(|(a, b)| match (a, b) {
                    (None, Value::Null) => true,
                    (Some(x), b) if !b.is_null() => x.to_bits() == unhex(b).to_bits(),
                    _ => false,
                })
        }
        _ => false,
    }
}

#[test]
fn random_operations_write_the_same_bytes_as_python_whisper() {
    let mut rng = StdRng::seed_from_u64(0x5EED_CA5E);
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Value> = (0..CASES).map(|_| case(&mut rng)).collect();
    let mut our_errors = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        our_errors.push(apply(&dir.path().join(format!("rs_{i}.wsp")), c));
    }
    let job = dir.path().join("job.json");
    let out = dir.path().join("out.json");
    std::fs::write(&job, json!({"dir": dir.path(), "cases": cases}).to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/whisper_ops.py");
    let st = Command::new(common::python())
        .arg(script)
        .arg(&job)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "python driver failed");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut mismatched = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let r = &results[i];
        let theirs: Vec<Option<&str>> = r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str())
            .collect();
        assert_eq!(our_errors[i], theirs, "case {i}: op errors differ: {c}");
        let ours = std::fs::read(dir.path().join(format!("rs_{i}.wsp"))).unwrap();
        let py = std::fs::read(dir.path().join(format!("py_{i}.wsp"))).unwrap();
        if ours != py {
            mismatched.push(i);
            continue;
        }
        // Cross-reading: our reader on python's file vs python's reader on ours.
        let w = Whisper::open(dir.path().join(format!("py_{i}.wsp"))).unwrap();
        for (q, want) in c["fetches"]
            .as_array()
            .unwrap()
            .iter()
            .zip(r["fetch_rs"].as_array().unwrap())
        {
            let got = w.fetch(
                q["from"].as_i64().unwrap(),
                q["until"].as_i64().unwrap(),
                q["now"].as_i64().unwrap(),
            );
            assert!(
                same_fetch(&got, want),
                "case {i}: fetch {q} ours {got:?} python {want}"
            );
        }
        assert_eq!(
            r["fetch_rs"], r["fetch_py"],
            "case {i}: python reads our file differently from its own"
        );
    }
    if let Some(&i) = mismatched.first() {
        let keep = std::env::temp_dir().join("whisper-compat-failure");
        let _ = std::fs::create_dir_all(&keep);
        for p in ["rs", "py"] {
            let _ = std::fs::copy(
                dir.path().join(format!("{p}_{i}.wsp")),
                keep.join(format!("{p}.wsp")),
            );
        }
        let _ = std::fs::write(keep.join("case.json"), cases[i].to_string());
        panic!(
            "{} of {CASES} cases differ from python whisper, first: {i} (kept in {})",
            mismatched.len(),
            keep.display()
        );
    }
}
