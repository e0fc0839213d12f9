//! `carbonado whisper <verb>` against the real `whisper-*.py` scripts of python whisper 1.1.10:
//! each verb runs on identical copies of the same files, in twin directories with the same
//! relative paths, with the clock pinned (scripts: `time.time` patched; ours:
//! CARBONADO_WHISPER_NOW) and TZ=UTC; stdout, exit status, `[ERROR]` messages and the
//! resulting files must be identical.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NOW: i64 = 1_700_000_000;

fn venv() -> PathBuf {
    let py = std::env::var_os("CARBONADO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    assert!(
        py.exists(),
        "reference python not found at {} (set CARBONADO_PYTHON)",
        py.display()
    );
    py
}

fn script(name: &str) -> PathBuf {
    let p = venv().parent().unwrap().join(format!("whisper-{name}.py"));
    assert!(p.exists(), "missing reference script {}", p.display());
    p
}

/// Runs whisper-<name>.py with time.time() pinned to NOW.
fn py(dir: &Path, name: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let shim = "import sys,time,runpy\nT=float(sys.argv[1]); time.time=lambda: T\ns=sys.argv[2]; sys.argv=sys.argv[2:]\nrunpy.run_path(s, run_name='__main__')";
    let mut c = Command::new(venv());
    c.arg("-c")
        .arg(shim)
        .arg(NOW.to_string())
        .arg(script(name))
        .args(args);
    run(c, dir, stdin)
}

fn rs(dir: &Path, verb: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_carbonado"));
    c.arg("whisper")
        .arg(verb)
        .args(args)
        .env("CARBONADO_WHISPER_NOW", NOW.to_string());
    run(c, dir, stdin)
}

fn run(mut c: Command, dir: &Path, stdin: Option<&str>) -> Output {
    c.current_dir(dir)
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Two directories holding identical files: one for the script, one for us.
struct Twins {
    _tmp: tempfile::TempDir,
    py: PathBuf,
    rs: PathBuf,
}

impl Twins {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (py, rs) = (tmp.path().join("py"), tmp.path().join("rs"));
        std::fs::create_dir(&py).unwrap();
        std::fs::create_dir(&rs).unwrap();
        Twins { _tmp: tmp, py, rs }
    }

    /// Creates and fills a file the same way in both directories (with python whisper).
    fn seed(&self, name: &str, archives: &[&str], points: &[(i64, f64)]) {
        let pts: Vec<String> = points.iter().map(|(t, v)| format!("{t}:{v}")).collect();
        for d in [&self.py, &self.rs] {
            let mut args = vec![name];
            args.extend_from_slice(archives);
            assert!(py(d, "create", &args, None).status.success());
            if !pts.is_empty() {
                let mut up = vec![name];
                up.extend(pts.iter().map(String::as_str));
                let o = py(d, "update", &up, None);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            }
        }
    }

    /// Runs the verb on both sides and asserts identical observable behaviour.
    fn check(&self, name: &str, verb: &str, args: &[&str]) -> Output {
        self.check_in(name, verb, args, None)
    }

    fn check_in(&self, name: &str, verb: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let p = py(&self.py, name, args, stdin);
        let r = rs(&self.rs, verb, args, stdin);
        let ctx = format!("{verb} {args:?}");
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&p.stdout),
            "stdout of {ctx}"
        );
        assert_eq!(
            r.status.code(),
            p.status.code(),
            "exit status of {ctx}: python stderr {}",
            String::from_utf8_lossy(&p.stderr)
        );
        let pe = String::from_utf8_lossy(&p.stderr);
        if pe.starts_with("[ERROR]") || pe.starts_with("No data") {
            assert_eq!(String::from_utf8_lossy(&r.stderr), pe, "stderr of {ctx}");
        }
        self.same_files(&ctx);
        r
    }

    /// For calls where the script prints its optparse help: only the exit status and the
    /// `[ERROR]` line must match (our help text is clap's).
    fn check_usage(&self, name: &str, verb: &str, args: &[&str]) {
        let p = py(&self.py, name, args, None);
        let r = rs(&self.rs, verb, args, None);
        assert_eq!(
            r.status.code(),
            p.status.code(),
            "exit status of {verb} {args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&r.stderr),
            String::from_utf8_lossy(&p.stderr),
            "stderr of {verb} {args:?}"
        );
        self.same_files(verb);
    }

    fn same_files(&self, ctx: &str) {
        let list = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let names = list(&self.py);
        assert_eq!(list(&self.rs), names, "files after {ctx}");
        for n in names {
            let (a, b) = (
                std::fs::read(self.py.join(&n)).unwrap(),
                std::fs::read(self.rs.join(&n)).unwrap(),
            );
            assert!(a == b, "{n} differs after {ctx}");
        }
    }
}

fn series(from: i64, step: i64, n: usize, f: impl Fn(usize) -> f64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (from + i as i64 * step, f(i))).collect()
}

#[test]
fn create_and_estimate() {
    let t = Twins::new();
    t.check("create", "create", &["a.wsp", "10s:6h", "1m:7d"]);
    t.check(
        "create",
        "create",
        &[
            "b.wsp",
            "60:1440",
            "1h:1y",
            "--xFilesFactor=0.1",
            "--aggregationMethod=max",
        ],
    );
    t.check("create", "create", &["c.wsp", "1s:1m", "--sparse"]);
    t.check(
        "create",
        "create",
        &[
            "d.wsp",
            "1s:1m",
            "--fallocate",
            "--aggregationMethod",
            "absmin",
        ],
    );
    t.check("create", "create", &["a.wsp", "1m:1d", "--overwrite"]);
    t.check("create", "create", &["--estimate", "10s:6h,1m:7d,10m:5y"]);
    t.check("create", "create", &["--estimate", "1s:1d", "1m:30d"]);
    // Errors: existing file, invalid archive list, xFilesFactor out of range, missing args.
    t.check("create", "create", &["a.wsp", "1m:1d"]);
    t.check("create", "create", &["e.wsp", "10s:1h", "10s:2h"]);
    // whisper-create leaves an empty file behind when the method or xFilesFactor is invalid
    // (its cleanup only covers IOError); we leave no broken file, so only the message and the
    // status are compared.
    for (f, opt) in [
        ("x.wsp", "--xFilesFactor=1.5"),
        ("y.wsp", "--aggregationMethod=median"),
    ] {
        let args = [f, "10s:1h", opt];
        let (p, r) = (
            py(&t.py, "create", &args, None),
            rs(&t.rs, "create", &args, None),
        );
        assert_eq!(
            (r.status.code(), String::from_utf8_lossy(&r.stderr)),
            (p.status.code(), String::from_utf8_lossy(&p.stderr)),
            "create {opt}"
        );
        assert!(!t.rs.join(f).exists());
        std::fs::remove_file(t.py.join(f)).unwrap();
    }
    t.check_usage("create", "create", &["g.wsp"]);
}

#[test]
fn update_info_fetch_dump() {
    let t = Twins::new();
    t.seed("m.wsp", &["10s:10m", "1m:2h", "10m:1d"], &[]);
    t.check("update", "update", &["m.wsp", &format!("{}:1.5", NOW - 95)]);
    let many: Vec<String> = series(NOW - 900, 10, 80, |i| (i as f64 * 0.37).sin() * 10.0)
        .iter()
        .map(|(ts, v)| format!("{ts}:{v}"))
        .collect();
    let mut args = vec!["m.wsp"];
    args.extend(many.iter().map(String::as_str));
    t.check("update", "update", &args);
    t.check(
        "update",
        "update",
        &["m.wsp", "N:42", &format!("{}:0", NOW - 20)],
    );
    let stdin = format!("{}:7\n{}:8.25\n{}:-3\n", NOW - 40, NOW - 30, NOW - 12_000);
    t.check_in("update", "update", &["m.wsp"], Some(&stdin));
    t.check_in("update", "update", &["m.wsp"], Some(""));
    t.check_in("update", "update", &["absent.wsp"], Some(""));
    t.check("update", "update", &["m.wsp", &format!("{}:1", NOW + 100)]);
    t.check(
        "update",
        "update",
        &["m.wsp", &format!("{}:1", NOW - 100_000)],
    );

    for extra in [
        &[][..],
        &["--json"],
        &["maxRetention"],
        &["archives"],
        &["xFilesFactor"],
        &["nope"],
    ] {
        let mut a = vec!["m.wsp"];
        a.extend_from_slice(extra);
        t.check("info", "info", &a);
    }
    let (f300, f3000, f30000) = (
        format!("--from={}", NOW - 300),
        format!("--from={}", NOW - 3000),
        format!("--from={}", NOW - 30000),
    );
    let until = format!("--until={}", NOW);
    for a in [
        vec!["m.wsp", &f300, &until],
        vec!["m.wsp", &f300, "--json"],
        vec!["m.wsp", &f3000, "--pretty"],
        vec!["m.wsp", &f3000, "--pretty", "-t", "%Y-%m-%d %H:%M:%S"],
        vec!["m.wsp", &f30000, "--drop=nulls"],
        vec!["m.wsp", &f300, "--drop=zeroes", "--json"],
        vec!["m.wsp", &f300, "--drop=empty"],
        vec!["m.wsp"],
        vec!["m.wsp", "--from=1800000000"],
        vec!["m.wsp", &f300, "--until=1699990000"],
        vec!["missing.wsp"],
    ] {
        t.check("fetch", "fetch", &a);
    }
    for a in [
        vec!["m.wsp"],
        vec!["m.wsp", "--pretty"],
        vec!["m.wsp", "-r"],
        vec!["m.wsp", "--pretty", "-t", "%H:%M"],
        vec!["nope.wsp"],
    ] {
        t.check("dump", "dump", &a);
    }
}

#[test]
fn set_aggregation_and_xff() {
    let t = Twins::new();
    t.seed(
        "s.wsp",
        &["1m:1h", "5m:1d"],
        &series(NOW - 600, 60, 10, |i| i as f64),
    );
    t.check(
        "set-aggregation-method",
        "set-aggregation",
        &["s.wsp", "max"],
    );
    t.check(
        "set-aggregation-method",
        "set-aggregation",
        &["s.wsp", "sum", "0.25"],
    );
    t.check(
        "set-aggregation-method",
        "set-aggregation",
        &["s.wsp", "median"],
    );
    t.check(
        "set-aggregation-method",
        "set-aggregation",
        &["s.wsp", "min", "abc"],
    );
    t.check(
        "set-aggregation-method",
        "set-aggregation",
        &["s.wsp", "min", "3"],
    );
    t.check_usage(
        "set-aggregation-method",
        "set-aggregation",
        &["none.wsp", "min"],
    );
    t.check("set-xfilesfactor", "set-xff", &["s.wsp", "0.75"]);
    t.check("set-xfilesfactor", "set-xff", &["s.wsp", "0"]);
    t.check("set-xfilesfactor", "set-xff", &["s.wsp", "1.5"]);
    t.check("info", "info", &["s.wsp", "--json"]);
}

#[test]
fn resize_variants() {
    let t = Twins::new();
    let pts = series(NOW - 7000, 10, 700, |i| ((i * 7) % 13) as f64 - 4.0);
    for f in ["r1.wsp", "r2.wsp", "r3.wsp", "r4.wsp"] {
        t.seed(f, &["10s:1h", "1m:1d"], &pts);
    }
    t.check("resize", "resize", &["r1.wsp", "30s:2h", "5m:2d"]);
    t.check(
        "resize",
        "resize",
        &["r2.wsp", "1m:12h", "1h:7d", "--aggregate", "--nobackup"],
    );
    t.check(
        "resize",
        "resize",
        &[
            "r3.wsp",
            "10s:30m",
            "1m:1d",
            "--newfile=new3.wsp",
            "--xFilesFactor=0.1",
            "--aggregationMethod=max",
        ],
    );
    t.check(
        "resize",
        "resize",
        &[
            "r4.wsp",
            "10s:2h",
            "2m:3d",
            "--aggregate",
            "--aggregationMethod=avg_zero",
            "--force",
        ],
    );
    t.check_usage("resize", "resize", &["gone.wsp", "1m:1d"]);
}

#[test]
fn fill_merge_diff() {
    let t = Twins::new();
    let full = series(NOW - 3500, 10, 350, |i| 1.0 + i as f64);
    let holes: Vec<(i64, f64)> = full
        .iter()
        .copied()
        .filter(|(ts, _)| (ts / 10) % 7 != 0 && (ts / 600) % 3 != 1)
        .collect();
    let other: Vec<(i64, f64)> = full
        .iter()
        .map(|&(ts, v)| (ts, if (ts / 10) % 5 == 0 { -v } else { v }))
        .collect();
    t.seed("src.wsp", &["10s:1h", "1m:1d"], &full);
    t.seed("dst.wsp", &["10s:1h", "1m:1d"], &holes);
    t.seed("dst2.wsp", &["10s:1h", "1m:1d"], &holes);
    t.seed("oth.wsp", &["10s:1h", "1m:1d"], &other);
    t.seed("odd.wsp", &["10s:2h", "1m:1d"], &[]);
    for a in [
        vec!["src.wsp", "dst.wsp"],
        vec!["src.wsp", "dst.wsp", "--summary"],
        vec!["src.wsp", "dst.wsp", "--columns"],
        vec![
            "src.wsp",
            "dst.wsp",
            "--columns",
            "--no-headers",
            "--summary",
        ],
        vec!["src.wsp", "oth.wsp", "--ignore-empty"],
        vec!["src.wsp", "oth.wsp", "--json"],
        vec!["src.wsp", "oth.wsp", "--json", "--summary"],
        vec!["src.wsp", "dst.wsp", "--until=1699999000"],
    ] {
        t.check("diff", "diff", &a);
    }
    let before = t.check(
        "diff",
        "diff",
        &[
            "src.wsp",
            "dst.wsp",
            "--summary",
            "--columns",
            "--no-headers",
        ],
    );
    t.check("fill", "fill", &["src.wsp", "dst.wsp"]);
    let after = t.check(
        "diff",
        "diff",
        &[
            "src.wsp",
            "dst.wsp",
            "--summary",
            "--columns",
            "--no-headers",
        ],
    );
    assert_ne!(before.stdout, after.stdout, "fill must have copied points");
    t.check(
        "merge",
        "merge",
        &[
            "oth.wsp",
            "dst2.wsp",
            "--from=1699998000",
            "--until=1699999000",
        ],
    );
    t.check("merge", "merge", &["oth.wsp", "dst2.wsp"]);
    t.check("merge", "merge", &["oth.wsp", "nothere.wsp"]);
    let r = rs(&t.rs, "merge", &["oth.wsp", "odd.wsp"], None);
    assert_eq!(
        r.status.code(),
        Some(1),
        "merging unlike archives must fail"
    );
}

#[test]
fn corrupt_files_give_the_same_errors() {
    let t = Twins::new();
    let mut bad_agg = vec![0u8; 16 + 12 + 12 * 10];
    bad_agg[..4].copy_from_slice(&9u32.to_be_bytes());
    for d in [&t.py, &t.rs] {
        std::fs::write(d.join("short.wsp"), b"abcde").unwrap();
        std::fs::write(d.join("agg.wsp"), &bad_agg).unwrap();
    }
    for f in ["short.wsp", "agg.wsp"] {
        t.check("info", "info", &[f]);
        t.check("fetch", "fetch", &[f]);
        t.check("update", "update", &[f, &format!("{NOW}:1")]);
    }
}

#[test]
fn special_floats_print_like_python() {
    let t = Twins::new();
    let vals = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e308,
        5e-324,
        0.1,
        1e16,
        1e-5,
    ];
    let pts: Vec<(i64, f64)> = vals
        .iter()
        .enumerate()
        .map(|(i, &v)| (NOW - 30 + i as i64, v))
        .collect();
    t.seed("sf.wsp", &["1s:1m", "10s:10m"], &pts);
    let (from, until) = (format!("--from={}", NOW - 40), format!("--until={NOW}"));
    for a in [
        vec!["sf.wsp"],
        vec!["sf.wsp", "-r"],
        vec!["sf.wsp", "--pretty"],
    ] {
        t.check("dump", "dump", &a);
    }
    for extra in [
        &[][..],
        &["--json"],
        &["--drop=empty"],
        &["--drop=zeroes", "--json"],
    ] {
        let mut a = vec!["sf.wsp", from.as_str(), until.as_str()];
        a.extend_from_slice(extra);
        t.check("fetch", "fetch", &a);
    }
    t.seed("sf2.wsp", &["1s:1m", "10s:10m"], &pts[..4]);
    for extra in [&[][..], &["--json"], &["--columns"]] {
        let mut a = vec!["sf.wsp", "sf2.wsp"];
        a.extend_from_slice(extra);
        t.check("diff", "diff", &a);
    }
}
