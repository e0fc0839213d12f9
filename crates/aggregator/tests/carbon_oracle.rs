//! Same points into Debian carbon's aggregator classes and into ours; same aggregates out.
//!
//! carbon's BufferManager/RuleManager/AggregationProcessor run in-process under /usr/bin/python3
//! with twisted's fake `task.Clock` (tests/oracle/aggregator_oracle.py) rather than as a live
//! carbon-aggregator daemon: the daemon's emission times depend on the wall clock, and this test
//! compares emission *times* too, which only a fake clock makes deterministic.

use std::io::Write;
use std::process::{Command, Stdio};

use aggregator::{Aggregate, Aggregator, Settings};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

const RULES: &str = "\
# realistic-ish rules, several methods and frequencies
<env>.apps.<app>.all.requests (10) = sum <env>.apps.<app>.*.requests
<env>.apps.all.<app>.latency_avg (15) = avg <env>.apps.<app>.*.latency
<env>.apps.all.<app>.latency_max (15) = max <env>.apps.<app>.*.latency
<env>.apps.all.<app>.latency_p90 (30) = p90 <env>.apps.<app>.*.latency
<env>.hosts.count (20) = count <env>.apps.*.*.requests
<env>.apps.<app>.all.requests (10) = sum <env>.apps.<app>.total.<<rest>>
";

fn sys_python() -> String {
    std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

fn run_oracle(job: &Value) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracle/aggregator_oracle.py"
    );
    let mut child = Command::new(sys_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carbon reference python (CARBONADO_SYS_PYTHON) must be runnable");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Traceback"),
        "oracle failed: {stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scenario(seed: u64) -> (Vec<(i64, String, f64, f64)>, i64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points = Vec::new();
    let start = 1_700_000_003;
    for k in 0..400 {
        let arrival = start + k / 4;
        let env = ["prod", "dev"][rng.gen_range(0..2)];
        let app = ["web", "api", "db"][rng.gen_range(0..3)];
        let host = format!("h{}", rng.gen_range(0..4));
        let metric = match rng.gen_range(0..5) {
            0 | 1 => format!("{env}.apps.{app}.{host}.requests"),
            2 | 3 => format!("{env}.apps.{app}.{host}.latency"),
            _ => format!("{env}.apps.{app}.total.x.{host}"),
        };
        // Mostly current, some out of order, some far too late, some fractional.
        let ts = match rng.gen_range(0..10) {
            0 => (arrival - rng.gen_range(30..200)) as f64,
            1 | 2 => (arrival - rng.gen_range(0..25)) as f64,
            3 => arrival as f64 + 0.5,
            _ => arrival as f64,
        };
        let value = f64::from(rng.gen_range(0..1000)) / 8.0;
        points.push((arrival, metric, ts, value));
    }
    let end = start + 100 + 200;
    (points, end)
}

fn run_ours(
    points: &[(i64, String, f64, f64)],
    end: i64,
    settings: Settings,
) -> (Vec<Value>, Vec<Value>) {
    let rules = ring::parse_aggregation_rules(RULES).unwrap();
    let mut agg = Aggregator::new(rules, settings);
    let (mut emitted, mut forwarded) = (Vec::new(), Vec::new());
    let mut out: Vec<Aggregate> = Vec::new();
    let mut i = 0;
    for now in points[0].0..=end {
        while let Some(p) = points.get(i).filter(|p| p.0 <= now) {
            if agg.input(now, &p.1, p.2, p.3).forward {
                forwarded.push(json!([now, p.1]));
            }
            i += 1;
        }
        agg.tick(now + 1, &mut out);
        for a in out.drain(..) {
            emitted.push(json!([now + 1, a.metric, a.timestamp, a.value]));
        }
    }
    (emitted, forwarded)
}

fn canonical(rows: &[Value]) -> Vec<String> {
    // Within one second the order of buffers is a dict/timer detail; compare as sorted rows,
    // with timestamps and values normalised to f64 text.
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            let a = r.as_array().unwrap();
            let nums: Vec<String> = a
                .iter()
                .skip(2)
                .map(|x| format!("{:.9}", x.as_f64().unwrap()))
                .collect();
            format!("{} {} {}", a[0], a[1], nums.join(" "))
        })
        .collect();
    v.sort();
    v
}

fn compare(seed: u64, max_intervals: u32, write_back: Option<u32>) {
    let (points, end) = scenario(seed);
    let job = json!({
        "rules": RULES, "max_intervals": max_intervals, "write_back": write_back, "end": end,
        "points": points.iter().map(|p| json!([p.0, p.1, p.2, p.3])).collect::<Vec<_>>(),
    });
    let theirs = run_oracle(&job);
    let settings = Settings {
        max_aggregation_intervals: max_intervals,
        write_back_frequency: write_back,
        ..Settings::default()
    };
    let (emitted, forwarded) = run_ours(&points, end, settings);
    let their_emitted = canonical(theirs["emitted"].as_array().unwrap());
    assert!(
        their_emitted.len() > 100,
        "scenario too small to mean anything"
    );
    assert_eq!(
        canonical(&emitted),
        their_emitted,
        "emitted aggregates differ (seed {seed})"
    );
    assert_eq!(
        &forwarded,
        theirs["forwarded"].as_array().unwrap(),
        "forwarded metrics differ"
    );
}

#[test]
fn defaults_match_carbon() {
    compare(1, 5, None);
}

#[test]
fn short_memory_makes_late_points_separate() {
    compare(2, 1, None);
}

#[test]
fn write_back_frequency_matches_carbon() {
    compare(3, 3, Some(4));
}
