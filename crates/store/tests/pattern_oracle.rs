//! Schema patterns mean the same in our `regex` translation as in Python's `re.search`, including the
//! spots where the two dialects' syntax differs.

mod common;

use common::run_sys_python;

const SEARCH: &str = r#"
import sys, json, re, warnings
warnings.simplefilter("ignore")
req = json.load(sys.stdin)
out = []
for p in req["patterns"]:
    try:
        r = re.compile(p)
    except re.error:
        out.append(None)
        continue
    out.append([bool(r.search(n)) for n in req["names"]])
print(json.dumps(out))
"#;

const PATTERNS: &[&str] = &[
    r"^carbon\.",
    r"\.min$",
    r"(?i)stats",
    r"a{",
    r"{foo}",
    r"x{,2}y$",
    r"^x{2,}y",
    r"[[:alpha:]]",
    r"[]a]",
    r"[a&&b]",
    r"[a~~b]",
    r"[a--b]",
    r"\d+",
    r"\w+\.\w+",
    r"^$",
    r"a|b",
    r"(?P<n>x)y",
    r"\bfoo\b",
    r"[^.]+$",
    r"^[a-z]+\.(cpu|mem)\.",
    r"é",
    r"foo\Z",
    r".{3}",
    r"\s",
    r"[\d]",
    r"(?x) a \  b # comment",
    r"(?s)a.b",
    r"(?m)^b",
    r"\.",
    r"[.]",
    r"a*?b",
    r"\Afoo",
    r";dc=dc1(;|$)",
    r"x}",
    r"]",
    r"[\]]",
    r"[\\]",
    r"\\",
    r"a{1}b",
    r"a{1,2}?",
    r"[-a]",
    r"[a-]",
    r"\W",
    r"(?i)É",
    r"^(a|ab)(c|bcd)(d*)$",
    r"[\w.]+",
    r"^.*$",
];

const NAMES: &[&str] = &[
    "carbon.agents",
    "a.min",
    "stats.X",
    "STATS",
    "a{",
    "x{foo}",
    "xy",
    "xxy",
    "xxxy",
    ":",
    "]",
    "&",
    "~",
    "-",
    "abc123",
    "foo bar",
    "foo.bar",
    "",
    "é",
    "É",
    "a b",
    "ab",
    "x.cpu.y",
    "foo",
    "afoo",
    "a\nb",
    "x}",
    "\\",
    "abcd",
    "disk;dc=dc1",
    "disk;dc=dc10",
    "a_b.c_d",
    "ünï.x",
];

#[test]
fn patterns_search_like_python_re() {
    let req = serde_json::json!({"patterns": PATTERNS, "names": NAMES});
    let stdout = run_sys_python(SEARCH, &[], &req.to_string());
    let expected: Vec<Option<Vec<bool>>> =
        serde_json::from_str(stdout.trim()).expect("JSON answer");
    let mut failures = Vec::new();
    for (p, want_row) in PATTERNS.iter().zip(&expected) {
        let Some(want_row) = want_row else {
            // Python rejects it, so carbon would not start: we must refuse it too.
            if store::pyre::compile(p).is_ok() {
                failures.push(format!("pattern {p:?}: python rejects it, we accept it"));
            }
            continue;
        };
        let re = store::pyre::compile(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        for (n, want) in NAMES.iter().zip(want_row) {
            if re.is_match(n) != *want {
                failures.push(format!("pattern {p:?} name {n:?}: python {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
