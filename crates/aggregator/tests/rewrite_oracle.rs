//! rewrite-rules.conf rules and white/blacklists against carbon's own `RewriteRule` and
//! `RegexList` (Debian carbon, run under /usr/bin/python3).

use std::io::Write;
use std::process::{Command, Stdio};

use aggregator::{RegexList, RewriteRule};
use serde_json::{json, Value};

const RULES: &[(&str, &str)] = &[
    (r"^collectd\.([a-z0-9]+)\.", r"\1.system."),
    (r"\.", "_"),
    (r"(?P<host>web\d+)", r"\g<host>-x.\g<1>"),
    (r"^(a)(b)?", r"\2\1"),
    (r"cpu", "CPU"),
    (r"^servers\.(\w+)\.(\w+)$", r"\2.\1\t$1"),
    (r"(?i)PROD", "prod"),
    (r"^(.*)\.count$", r"stats.\1.n"),
    (r"[^a-z.]+", "_"),
    (r"x*", "-"),
];

const LIST: &[&str] = &[
    "^collectd\\.",
    "# a comment",
    "",
    "web[0-9]+\\.cpu$",
    "  \\.count$  ",
];

const METRICS: &[&str] = &[
    "collectd.host1.cpu.user",
    "servers.web12.cpu",
    "ab.c",
    "a.c",
    "PROD.Web03.requests.count",
    "servers.alpha.beta",
    "plain",
    "x.y.count",
    "UPPER.Case.99",
    "",
];

#[test]
fn rewrite_and_lists_match_carbon() {
    let python =
        std::env::var("CARBONADO_SYS_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracle/rewrite_oracle.py"
    );
    let job = json!({ "rules": RULES, "lists": LIST, "metrics": METRICS });
    let mut child = Command::new(python)
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();

    for (i, (pattern, replacement)) in RULES.iter().enumerate() {
        let rule = RewriteRule::new(pattern, replacement).unwrap();
        for (j, metric) in METRICS.iter().enumerate() {
            assert_eq!(
                rule.apply(metric),
                theirs["rewritten"][i][j],
                "{pattern:?} -> {replacement:?} on {metric:?}"
            );
        }
    }
    let list = RegexList::parse(&LIST.join("\n")).unwrap();
    for (j, metric) in METRICS.iter().enumerate() {
        assert_eq!(
            Value::Bool(list.contains(metric)),
            theirs["listed"][j],
            "list on {metric:?}"
        );
    }
}
