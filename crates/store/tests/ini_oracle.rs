//! The INI reader agrees with Python 3's `configparser.ConfigParser` reading the same files: the same
//! sections, the same interpolated items, and the same exception where Python raises one.

mod common;

use std::fs;

use common::run_sys_python;
use serde_json::{json, Value};
use store::{Ini, IniError};

const READER: &str = r#"
import sys, json, configparser
out = []
for path in json.load(sys.stdin):
    c = configparser.ConfigParser()
    try:
        c.read(path, encoding="utf-8")
    except configparser.Error as e:
        out.append({"error": type(e).__name__})
        continue
    items = {}
    for s in c.sections() + ["DEFAULT"]:
        try:
            items[s] = [list(kv) for kv in c.items(s)]
        except configparser.Error as e:
            items[s] = {"error": type(e).__name__}
    out.append({"sections": c.sections(), "items": items})
print(json.dumps(out))
"#;

const CASES: &[&str] = &[
    "# comment\n[a]\nk = v\nj: w\n; other\n",
    "[s]\nkey = a\n  b\n\n  c\n\n\nother = x\n  # comment inside\n  y\n",
    "[DEFAULT]\nbase = /var\n[a]\npath = %(base)s/lib\n[b]\nbase = /opt\npath = %(BASE)s/x\n",
    "[a]\np = 100%%\n",
    "[a]\np = 5%\n",
    "[a]\np = %(nope)s\n",
    "[a]\np = %(p)s\n",
    "[a]\np = %(q\n",
    "[a]\n[b]\n[a]\n",
    "[a]\nk = 1\nK = 2\n",
    "k = v\n[a]\n",
    "[a]\nnovalue\n= v\n[]\n",
    "[a] trailing\nk = v\n[b]]\nj = w\n",
    "[a]\n  k = v\n  j = w\n    cont\nz = 1\n",
    "[a]\r\nk = v\r\n  more\r\n",
    "[a]\rk = v\rj = w\r",
    "[a]\nmy key = v\nKEY2 = a=b:c\nk3 : x = y\n",
    "[a]\nempty =\ncolon:\n",
    "[a]\nk = \u{a0}v\u{a0}\n",
    "[a]\nk = v\n\tcont\n",
    "[ spaced ]\nk = v\n",
    "[a]\nk = a\n   \n  b\n",
    "[a]\nk = v ; not a comment\nj = w # nor this\n",
    "[a]\nk = a\n# c\n  b\n",
    "[DEFAULT]\nk = 1\n[DEFAULT]\nj = 2\n[x]\n",
    "[DEFAULT]\nk = 1\nk = 2\n",
    "\n\n   \n",
    "[a]\n\n\n",
    "[a]\nk = v\n [b]\nj = w\n",
    "[a]\nk = %(j)s\nj = %(k)s\n",
    "[a]\nk = %%(j)s\n",
    "[a]\nk = %(J)s\nj = ok\n",
    "[a]\nk = x\n\n\n  y\n\n",
    "[sec]\nk\t=\tv\t\n",
];

fn error_name(e: &IniError) -> &'static str {
    match e {
        IniError::MissingSectionHeader { .. } => "MissingSectionHeaderError",
        IniError::DuplicateSection { .. } => "DuplicateSectionError",
        IniError::DuplicateOption { .. } => "DuplicateOptionError",
        IniError::Parsing { .. } => "ParsingError",
        IniError::NoSection { .. } => "NoSectionError",
        IniError::InterpolationSyntax { .. } => "InterpolationSyntaxError",
        IniError::InterpolationMissingOption { .. } => "InterpolationMissingOptionError",
        IniError::InterpolationDepth { .. } => "InterpolationDepthError",
        _ => "unknown",
    }
}

fn ours(text: &str) -> Value {
    let ini = match Ini::parse(text) {
        Ok(i) => i,
        Err(e) => return json!({"error": error_name(&e)}),
    };
    let sections: Vec<&str> = ini.sections();
    let mut items = serde_json::Map::new();
    for s in sections.iter().copied().chain(["DEFAULT"]) {
        let v = match ini.items(s) {
            Ok(kv) => json!(kv
                .into_iter()
                .map(|(k, v)| json!([k, v]))
                .collect::<Vec<_>>()),
            Err(e) => json!({"error": error_name(&e)}),
        };
        items.insert(s.to_string(), v);
    }
    json!({"sections": sections, "items": items})
}

#[test]
fn ini_reads_like_python_configparser() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = CASES
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let p = dir.path().join(format!("case{i}.ini"));
            fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_string()
        })
        .collect();
    let stdout = run_sys_python(READER, &[], &serde_json::to_string(&paths).unwrap());
    let python: Vec<Value> = serde_json::from_str(stdout.trim()).expect("reader output is JSON");
    assert_eq!(python.len(), CASES.len());
    let failures: Vec<String> = CASES
        .iter()
        .zip(&python)
        .filter_map(|(text, want)| {
            let got = ours(text);
            (got != *want).then(|| format!("{text:?}\n  python: {want}\n  ours:   {got}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
