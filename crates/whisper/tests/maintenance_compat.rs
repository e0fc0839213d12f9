//! Randomized comparison of resize, fill, merge and diff with python whisper 1.1.10: the same
//! operations on identical files (python runs whisper-resize.py / whisper-fill.py's own code
//! with its clock pinned) must leave byte-identical files and report the same differences.

mod common;

use std::path::Path;
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use whisper::{create, pyfloat, ArchiveSpec, CreateOptions, ResizeOptions, Whisper, ALL_METHODS};

const NOW: i64 = 1_700_000_000;
const CASES: usize = 200;

fn fill_random(path: &Path, rng: &mut StdRng, specs: &[ArchiveSpec], density: f64) {
    let mut w = Whisper::open_rw(path).unwrap();
    let max_ret = specs.iter().map(|a| a.retention()).max().unwrap() as i64;
    let step = specs.iter().map(|a| a.seconds_per_point).min().unwrap() as i64;
    let mut pts = Vec::new();
    let mut t = NOW - max_ret;
    while t <= NOW {
        if rng.gen_bool(density) {
            let v = match rng.gen_range(0..10) {
                0 => 0.0,
                1 => rng.gen_range(-3..3) as f64,
                _ => rng.gen_range(-50.0..50.0),
            };
            pts.push((t, v));
        }
        t += step * rng.gen_range(1..3);
    }
    w.update_many(&pts, NOW).unwrap();
}

fn specs_of(rng: &mut StdRng) -> Vec<ArchiveSpec> {
    let base: u32 = [1, 5, 10, 60][rng.gen_range(0..4)];
    let f1 = rng.gen_range(2..6);
    let p0 = rng.gen_range(f1..40);
    let p1 = (p0 / f1) + rng.gen_range(2..30);
    let mut v = vec![ArchiveSpec {
        seconds_per_point: base,
        points: p0,
    }];
    if rng.gen_bool(0.8) {
        v.push(ArchiveSpec {
            seconds_per_point: base * f1,
            points: p1,
        });
    }
    v
}

fn def(a: &ArchiveSpec) -> String {
    format!("{}:{}", a.seconds_per_point, a.points)
}

#[test]
fn maintenance_operations_match_python_whisper() {
    let mut rng = StdRng::seed_from_u64(0xA11_0CA7E);
    let dir = tempfile::tempdir().unwrap();
    let (rs, py) = (dir.path().join("rs"), dir.path().join("py"));
    std::fs::create_dir_all(&rs).unwrap();
    std::fs::create_dir_all(&py).unwrap();
    let mut ops = Vec::new();
    let mut our_diffs = Vec::new();
    for i in 0..CASES {
        let specs = specs_of(&mut rng);
        let method = ALL_METHODS[rng.gen_range(0..8)];
        let xff = [0.0, 0.3, 0.5, 1.0][rng.gen_range(0..4)];
        let (a, b) = (format!("a{i}.wsp"), format!("b{i}.wsp"));
        for name in [&a, &b] {
            let p = rs.join(name);
            create(&p, &specs, xff, method, CreateOptions::default()).unwrap();
            let density = rng.gen_range(0.2..1.0);
            fill_random(&p, &mut rng, &specs, density);
            std::fs::copy(&p, py.join(name)).unwrap();
        }
        let (pa, pb) = (rs.join(&a), rs.join(&b));
        match rng.gen_range(0..4) {
            0 => {
                let new: Vec<ArchiveSpec> = specs_of(&mut rng);
                let aggregate = rng.gen_bool(0.5);
                let method = rng.gen_bool(0.5).then(|| ALL_METHODS[rng.gen_range(0..8)]);
                let nxff = rng
                    .gen_bool(0.5)
                    .then(|| [0.0, 0.2, 0.5, 0.9][rng.gen_range(0..4)]);
                let mut flags = vec!["--nobackup".to_string()];
                if aggregate {
                    flags.push("--aggregate".into());
                }
                if let Some(m) = method {
                    flags.push(format!("--aggregationMethod={m}"));
                }
                if let Some(x) = nxff {
                    flags.push(format!("--xFilesFactor={x}"));
                }
                let tmp = rs.join(format!("{a}.tmp"));
                let opts = ResizeOptions {
                    xff: nxff,
                    method,
                    aggregate,
                    now: NOW,
                };
                let mut v = new.clone();
                if whisper::validate_archive_list(&mut v).is_err() {
                    continue;
                }
                whisper::resize(&pa, &tmp, &new, &opts).unwrap();
                std::fs::rename(&tmp, &pa).unwrap();
                ops.push(json!({"op": "resize", "path": py.join(&a), "archives": new.iter().map(def).collect::<Vec<_>>(), "flags": flags}));
            }
            1 => {
                whisper::fill(&pb, &pa, NOW).unwrap();
                ops.push(json!({"op": "fill", "src": py.join(&b), "dst": py.join(&a)}));
            }
            2 => {
                let from = rng.gen_bool(0.5).then(|| NOW - rng.gen_range(0..2000));
                let until = from.map(|f| f + rng.gen_range(0..2000));
                whisper::merge(&pb, &pa, from, until, NOW).unwrap();
                ops.push(json!({"op": "merge", "src": py.join(&b), "dst": py.join(&a), "from": from, "until": until}));
            }
            _ => {
                let ignore_empty = rng.gen_bool(0.5);
                let until = rng.gen_bool(0.3).then(|| NOW - rng.gen_range(1..500));
                let d = whisper::diff(&pa, &pb, ignore_empty, until, NOW).unwrap();
                let d: Value = d
                    .iter()
                    .map(|x| {
                        let r = |v: Option<f64>| {
                            v.map_or(Value::Null, |f| Value::from(pyfloat::repr(f)))
                        };
                        json!([
                            x.archive,
                            x.points
                                .iter()
                                .map(|&(t, p, q)| json!([t, r(p), r(q)]))
                                .collect::<Vec<_>>(),
                            x.total
                        ])
                    })
                    .collect();
                our_diffs.push((ops.len(), d));
                ops.push(json!({"op": "diff", "src": py.join(&a), "dst": py.join(&b), "ignore_empty": ignore_empty, "until": until}));
            }
        }
    }
    let job = dir.path().join("job.json");
    let out = dir.path().join("out.json");
    std::fs::write(&job, json!({"now": NOW, "ops": ops}).to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/maintenance_ops.py");
    let st = Command::new(common::python())
        .arg(script)
        .arg(&job)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "python driver failed");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for (i, r) in results.as_array().unwrap().iter().enumerate() {
        assert!(r.get("error").is_none(), "python failed on {}: {r}", ops[i]);
    }
    for (i, d) in &our_diffs {
        assert_eq!(&results[*i]["diff"], d, "diff differs for {}", ops[*i]);
    }
    let kinds: Vec<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    for k in ["resize", "fill", "merge", "diff"] {
        assert!(kinds.contains(&k), "no {k} case generated");
    }
    let mut names: Vec<_> = std::fs::read_dir(&rs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut py_names: Vec<_> = std::fs::read_dir(&py)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    py_names.sort();
    assert_eq!(names, py_names);
    for n in names {
        let (x, y) = (
            std::fs::read(rs.join(&n)).unwrap(),
            std::fs::read(py.join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{n:?} differs from python whisper's after {:?}",
            ops.iter()
                .find(|o| o.to_string().contains(&*n.to_string_lossy()))
        );
    }
}
