//! The tag index against graphite-web's own tag database (`LocalDatabaseTagDB` over SQLite, run
//! with the system python's graphite-web): a few hundred generated series, some deleted, then
//! every expression type, filters, limits and autocomplete, compared answer for answer.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use store::tags::TagIndex;

const GRAPHITE_WEB_TAGDB: &str = r#"
import sys, json
import django
from django.conf import settings
settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=["graphite.tags"],
    TAGDB_AUTOCOMPLETE_LIMIT=100, TAGDB_CACHE_DURATION=0, USE_TZ=False,
)
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from graphite.tags.localdatabase import LocalDatabaseTagDB
db = LocalDatabaseTagDB(settings)
req = json.load(sys.stdin)
out = {"tagged": db.tag_multi_series(req["series"])}
for s in req["delete"]:
    db.del_series(s)
res = []
for q in req["queries"]:
    kind = q[0]
    try:
        if kind == "find":
            r = db.find_series(q[1])
        elif kind == "tags":
            r = db.list_tags(tagFilter=q[1], limit=q[2])
        elif kind == "tag":
            r = db.get_tag(q[1], valueFilter=q[2], limit=q[3])
        elif kind == "ac_tags":
            r = db.auto_complete_tags(q[1], tagPrefix=q[2], limit=q[3])
        else:
            r = db.auto_complete_values(q[1], q[2], valuePrefix=q[3], limit=q[4])
        res.append({"ok": r})
    except Exception as e:
        res.append({"err": str(e)})
out["results"] = res
json.dump(out, sys.stdout)
"#;

fn sys_python() -> PathBuf {
    let p = std::env::var_os("CARBONADO_SYS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
    assert!(p.exists(), "reference python {} is missing", p.display());
    p
}

fn graphite_web(request: &Value) -> Value {
    use std::io::Write;
    let mut child = Command::new(sys_python())
        .arg("-c")
        .arg(GRAPHITE_WEB_TAGDB)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "graphite-web tagdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python json")
}

/// Deterministic series: shared values across tags, optional tags, prefix-related tag names.
fn series() -> Vec<String> {
    let mut out = Vec::new();
    let mut x: u32 = 12345;
    let mut next = |n: u32| {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        (x >> 16) % n
    };
    let names = ["disk.used", "cpu.load", "mem.free", "net.rx", "~tilde.m"];
    for i in 0..300 {
        let mut s = names[(next(5)) as usize].to_string();
        s.push_str(&format!(";dc=dc{}", next(3) + 1));
        if next(3) > 0 {
            s.push_str(&format!(
                ";server={}{:02}",
                ["web", "db", "cache"][next(3) as usize],
                next(12)
            ));
        }
        if next(2) == 0 {
            s.push_str(&format!(
                ";rack={}",
                ["a1", "a2", "b1", "1", "dc1"][next(5) as usize]
            ));
        }
        if next(4) == 0 {
            s.push_str(&format!(";rack-x={}", next(3)));
        }
        if next(5) == 0 {
            s.push_str(&format!(
                ";env={}",
                ["prod", "staging", "dev.1"][next(3) as usize]
            ));
        }
        if i % 50 == 7 {
            // Unsorted input, a duplicate tag (last wins): normalised like graphite-web.
            s = format!("{};zz=1;dc=dc9;dc=dc2", names[0]);
        }
        out.push(s);
    }
    out
}

fn queries() -> Vec<Value> {
    let finds: Vec<Vec<&str>> = vec![
        vec!["dc=dc1"],
        vec!["name=disk.used"],
        vec!["name=tilde.m"],
        vec!["dc=dc1", "server!=web01"],
        vec!["dc!=dc1"],
        vec!["dc!=dc1", "rack!=a1"],
        vec!["server=~web"],
        vec!["server=~eb"],
        vec!["server=~^(web|db)0[12]$"],
        vec!["server=~^web|cache"],
        vec!["name=cpu.load", "server=~^web|cache"],
        vec!["name=cpu.load", "server!=~^web|cache"],
        vec!["rack=~.*", "name=net.rx"],
        vec!["rack=~a.*"],
        vec!["rack!=~a"],
        vec!["rack!=~a", "dc=dc2"],
        vec!["rack!=~.*", "dc=dc2"],
        vec!["rack="],
        vec!["rack=", "dc=dc3"],
        vec!["rack!="],
        vec!["rack!=", "env!=prod"],
        vec!["env=~dev\\.1"],
        vec!["env=~dev.1", "rack-x=2"],
        vec!["rack-x!=", "server=~db0[0-5]"],
        vec!["nosuch=x"],
        vec!["nosuch!=x", "dc=dc3"],
        vec!["nosuch=", "dc=dc3"],
        vec!["zz=1"],
        vec!["dc=~dc[12]", "dc!=dc2"],
        vec!["name=~disk|mem", "rack=~[ab]"],
        vec!["rack"],
        vec!["=x"],
        vec!["a;b=c"],
        vec![],
    ];
    let mut q: Vec<Value> = finds.into_iter().map(|f| json!(["find", f])).collect();
    for (filter, limit) in [
        (None, None),
        (Some("r"), None),
        (Some("ack"), None),
        (Some("^.*x"), None),
        (None, Some(2)),
        (Some("s|e"), Some(1)),
    ] {
        q.push(json!(["tags", filter, limit]));
    }
    for (tag, filter, limit) in [
        ("dc", None, None),
        ("rack", None, None),
        ("rack", Some("a"), None),
        ("server", Some("web|db0"), Some(3)),
        ("server", None, Some(0)),
        ("nosuch", None, None),
        ("zz", None, None),
    ] {
        q.push(json!(["tag", tag, filter, limit]));
    }
    for (exprs, prefix, limit) in [
        (vec![], None, None),
        (vec![], Some("ra"), None),
        (vec![], Some("r"), Some(1)),
        (vec!["dc=dc2"], None, None),
        (vec!["dc=dc2"], Some("r"), None),
        (vec!["dc=dc2", "rack!="], None, Some(2)),
        (vec!["server=~web"], None, Some(0)),
    ] {
        q.push(json!(["ac_tags", exprs, prefix, limit]));
    }
    for (exprs, tag, prefix, limit) in [
        (vec![], "server", None, None),
        (vec![], "server", Some("w"), None),
        (vec![], "server", Some("web0"), Some(3)),
        (vec!["dc=dc2"], "server", None, None),
        (vec!["dc=dc2"], "server", Some("c"), Some(2)),
        (vec!["name=disk.used"], "rack", None, None),
        (vec!["rack="], "dc", None, None),
        (vec!["dc=dc1"], "nosuch", None, None),
    ] {
        q.push(json!(["ac_values", exprs, tag, prefix, limit]));
    }
    q
}

fn ours(idx: &TagIndex, q: &Value) -> Value {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let n = |v: &Value| v.as_i64();
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let exprs = |v: &Value| TagIndex::parse_exprs(&list(v));
    let r: Result<Value, store::tags::TagDbError> = match q[0].as_str() {
        Some("find") => idx.find_series_str(&list(&q[1])).map(|v| json!(v)),
        Some("tags") => idx.tags(s(&q[1]).as_deref(), n(&q[2])).map(|v| {
            json!(v
                .into_iter()
                .map(|t| json!({"id": t.id, "tag": t.tag}))
                .collect::<Vec<_>>())
        }),
        Some("tag") => idx
            .tag_details(&s(&q[1]).unwrap_or_default(), s(&q[2]).as_deref(), n(&q[3]))
            .map(|d| match d {
                None => Value::Null,
                Some(d) => json!({"id": d.id, "tag": d.tag, "values": d.values.into_iter()
                    .map(|v| json!({"id": v.id, "value": v.value, "count": v.count}))
                    .collect::<Vec<_>>()}),
            }),
        Some("ac_tags") => exprs(&q[1])
            .and_then(|e| idx.auto_complete_tags(&e, s(&q[2]).as_deref(), n(&q[3])))
            .map(|v| json!(v)),
        _ => exprs(&q[1])
            .and_then(|e| {
                idx.auto_complete_values(
                    &e,
                    &s(&q[2]).unwrap_or_default(),
                    s(&q[3]).as_deref(),
                    n(&q[4]),
                )
            })
            .map(|v| json!(v)),
    };
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

#[test]
fn tag_index_answers_like_graphite_web() {
    let series = series();
    let delete: Vec<String> = series.iter().step_by(37).cloned().collect();
    let queries = queries();
    let theirs = graphite_web(&json!({"series": series, "delete": delete, "queries": queries}));

    let idx = TagIndex::new();
    let tagged: Vec<String> = series
        .iter()
        .map(|s| idx.tag_series(s).expect("valid series"))
        .collect();
    assert_eq!(json!(tagged), theirs["tagged"]);
    for d in &delete {
        idx.remove(d).expect("delete");
    }
    let results = theirs["results"].as_array().expect("results");
    assert_eq!(results.len(), queries.len());
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for (q, want) in queries.iter().zip(results) {
        let got = ours(&idx, q);
        let same = match (got.get("err"), want.get("err")) {
            // Regex compile messages are Python's own; a failure on both sides is enough there.
            (Some(_), Some(w)) if w.as_str().is_some_and(|w| !w.contains("tagspec")) => true,
            _ => got == *want,
        };
        if want["ok"].as_array().is_some_and(|a| !a.is_empty()) {
            nonempty += 1;
        }
        if !same {
            failures.push(format!("{q}\n  got  {got}\n  want {want}"));
        }
    }
    assert!(
        nonempty > 30,
        "the generated data should make most answers non-empty"
    );
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
