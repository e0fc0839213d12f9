//! Replays the checked-in vectors generated with python whisper 1.1.10
//! (/work/shared/spec/vectors/whisper, copied path below): same files, same fetches, same errors.

use std::path::PathBuf;

use serde_json::Value;
use whisper::{
    create, parse_precision, parse_retention_def, validate_archive_list, AggregationMethod,
    ArchiveSpec, CreateOptions, Error, Whisper,
};

fn vectors_dir() -> PathBuf {
    std::env::var_os("CARBONADO_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/spec"))
        .join("vectors/whisper")
}

/// serde_json rejects Python's bare NaN/Infinity tokens; quote them first.
fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).expect("vector file readable");
    serde_json::from_str(&quote_bare_floats(&text)).expect("vector JSON parses")
}

fn quote_bare_floats(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string {
            let hit = [
                ("-Infinity", "\"-inf\""),
                ("Infinity", "\"inf\""),
                ("NaN", "\"nan\""),
            ]
            .into_iter()
            .find(|(tok, _)| rest.starts_with(tok));
            if let Some((tok, rep)) = hit {
                out.push_str(rep);
                rest = &rest[tok.len()..];
                continue;
            }
        }
        if in_string && !escaped && c == '\\' {
            escaped = true;
        } else {
            if c == '"' && !escaped {
                in_string = !in_string;
            }
            escaped = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("float string"),
        other => other.as_f64().expect("number"),
    }
}

fn specs(v: &Value) -> Vec<ArchiveSpec> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| ArchiveSpec {
            seconds_per_point: a[0].as_u64().unwrap() as u32,
            points: a[1].as_u64().unwrap() as u32,
        })
        .collect()
}

fn same_value(got: Option<f64>, want: &Value) -> bool {
    match (got, want) {
        (None, Value::Null) => true,
        (Some(g), w) if !w.is_null() => {
            let w = num(w);
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())
        }
        _ => false,
    }
}

#[test]
fn cases_replay_byte_identical() {
    let cases = load("cases.json");
    let dir = tempfile::tempdir().unwrap();
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 29);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let c = &case["create"];
        let path = dir.path().join(format!("{name}.wsp"));
        let method: AggregationMethod = c["aggregationMethod"].as_str().unwrap().parse().unwrap();
        create(
            &path,
            &specs(&c["archives"]),
            num(&c["xFilesFactor"]),
            method,
            CreateOptions::default(),
        )
        .unwrap();
        let mut w = Whisper::open_rw(&path).unwrap();
        for op in case["ops"].as_array().unwrap() {
            let now = op["now"].as_i64().unwrap();
            let res = match op["op"].as_str().unwrap() {
                "update" => w.update(num(&op["value"]), num(&op["timestamp"]) as i64, now),
                "update_many" => {
                    let pts: Vec<(i64, f64)> = op["points"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (num(&p[0]) as i64, num(&p[1])))
                        .collect();
                    w.update_many(&pts, now)
                }
                other => panic!("unknown op {other}"),
            };
            match (&res, op["error"].as_str()) {
                (Ok(()), None) => {}
                (Err(Error::TimestampNotCovered), Some(e))
                    if e.starts_with("TimestampNotCovered") => {}
                _ => panic!("{name}: op {op} gave {res:?}"),
            }
        }
        for f in case["fetches"].as_array().unwrap() {
            let gran = f["archiveToSelect"]
                .as_str()
                .map(|s| parse_precision(s).unwrap());
            let res = w.fetch_with(
                f["from"].as_i64().unwrap(),
                f["until"].as_i64().unwrap(),
                f["now"].as_i64().unwrap(),
                gran,
            );
            match (res, &f["result"], f["error"].as_str()) {
                (Err(Error::InvalidTimeInterval { .. }), _, Some(e)) => {
                    assert!(e.starts_with("InvalidTimeInterval"), "{name}")
                }
                (Ok(None), Value::Null, None) => {}
                (Ok(Some(got)), want, None) => {
                    let ti = &want["timeInfo"];
                    assert_eq!(
                        (got.from, got.until, got.step),
                        (
                            ti[0].as_i64().unwrap(),
                            ti[1].as_i64().unwrap(),
                            ti[2].as_i64().unwrap()
                        ),
                        "{name} {f}"
                    );
                    let wv = want["values"].as_array().unwrap();
                    assert_eq!(got.values.len(), wv.len(), "{name} {f}");
                    for (g, w) in got.values.iter().zip(wv) {
                        assert!(same_value(*g, w), "{name} {f}: {g:?} vs {w}");
                    }
                }
                (got, _, _) => panic!("{name} {f}: got {got:?}"),
            }
        }
        let info = &case["info"];
        let h = w.header();
        assert_eq!(
            h.aggregation_method.name(),
            info["aggregationMethod"].as_str().unwrap()
        );
        assert_eq!(
            i64::from(h.max_retention),
            info["maxRetention"].as_i64().unwrap()
        );
        assert_eq!(h.xff(), num(&info["xFilesFactor"]));
        for (a, wa) in h.archives.iter().zip(info["archives"].as_array().unwrap()) {
            assert_eq!(i64::from(a.offset), wa["offset"].as_i64().unwrap());
            assert_eq!(a.retention(), wa["retention"].as_i64().unwrap());
            assert_eq!(a.size(), wa["size"].as_u64().unwrap());
        }
        let ours = std::fs::read(&path).unwrap();
        let theirs =
            std::fs::read(vectors_dir().join(case["file"]["path"].as_str().unwrap())).unwrap();
        if ours != theirs {
            std::fs::write(format!("/tmp/ours_{name}.wsp"), &ours).unwrap();
        }
        assert!(
            ours == theirs,
            "{name}: file bytes differ from python whisper's"
        );
    }
}

#[test]
fn retention_parsing_matches() {
    let v = load("retention_parsing.json");
    for c in v["parseRetentionDef"].as_array().unwrap() {
        let input = c["input"].as_str().unwrap();
        match (parse_retention_def(input), c["error"].as_str()) {
            (Ok(a), None) => {
                assert_eq!(
                    i64::from(a.seconds_per_point),
                    c["result"][0].as_i64().unwrap(),
                    "{input}"
                );
                assert_eq!(
                    i64::from(a.points),
                    c["result"][1].as_i64().unwrap(),
                    "{input}"
                );
            }
            (Err(e), Some(want)) => assert_eq!(format!("ValueError: {e}"), want, "{input}"),
            (got, _) => panic!("{input}: {got:?}"),
        }
    }
    for c in v["validateArchiveList"].as_array().unwrap() {
        let mut list = specs(&c["archives"]);
        match (validate_archive_list(&mut list), c["error"].as_str()) {
            (Ok(()), None) => assert!(c["valid"].as_bool().unwrap()),
            (Err(e), Some(want)) => assert_eq!(format!("InvalidConfiguration: {e}"), want),
            (got, _) => panic!("{c}: {got:?}"),
        }
    }
}
