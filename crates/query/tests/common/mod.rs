//! Shared helpers: load the oracle fixture into a MemoryFetcher, run a render request, compare.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use query::memory::{Archive, MemoryFetcher, Metric};
use query::{consolidate_max_data_points, RenderParams, Series};
use serde_json::Value as J;

pub fn oracle() -> J {
    oracle_file("expected.json")
}

pub fn oracle_file(name: &str) -> J {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text).expect("oracle json")
}

pub fn fetcher(fixture: &J) -> MemoryFetcher {
    let mut f = MemoryFetcher::new();
    for (name, m) in fixture.as_object().expect("fixture object") {
        let archives = m["archives"]
            .as_array()
            .expect("archives")
            .iter()
            .map(|a| Archive {
                step: a["step"].as_i64().expect("step"),
                retention: a["retention"].as_i64().expect("retention"),
                start: a["start"].as_i64().expect("start"),
                values: a["values"]
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(|v| v.as_f64())
                    .collect(),
            })
            .collect();
        let metric = Metric {
            name: name.clone(),
            archives,
        };
        if m.get("tagdb").and_then(|t| t.as_bool()).unwrap_or(false) {
            f.insert_tagged(metric);
        } else {
            f.insert(metric);
        }
    }
    f
}

fn s(params: &J, k: &str) -> Option<String> {
    params.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

/// Runs a render request the way graphite-web's view and JSON renderer would.
pub fn render(f: &MemoryFetcher, params: &J) -> Result<Vec<Series>, query::QueryError> {
    let obj = params.as_object().expect("params");
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in obj {
        match v {
            J::String(s) => pairs.push((k.clone(), s.clone())),
            J::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str())
                .for_each(|s| pairs.push((k.clone(), s.to_string()))),
            _ => {}
        }
    }
    let p = RenderParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(p.now.is_some(), "oracle requests always pass now");
    let ctx = p.context(0, query::Tz::UTC, query::Limits::default())?;
    let mut out = query::evaluate(f, &ctx, &p)?;
    if query::consolidate::all_empty(&out) {
        return Ok(Vec::new());
    }
    if let Some(m) = p.max_data_points() {
        consolidate_max_data_points(&mut out, m);
    }
    Ok(out)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Compares our series with graphite's JSON output; returns a description of the first difference.
pub fn compare(ours: &[Series], theirs: &J) -> Result<(), String> {
    let arr = theirs.as_array().ok_or("expected array")?;
    if arr.len() != ours.len() {
        return Err(format!(
            "count {} vs {}: ours {:?} theirs {:?}",
            ours.len(),
            arr.len(),
            ours.iter().map(|s| &s.name).collect::<Vec<_>>(),
            arr.iter().map(|s| &s["target"]).collect::<Vec<_>>()
        ));
    }
    for (s, t) in ours.iter().zip(arr) {
        let tname = t["target"].as_str().unwrap_or("");
        if s.name != tname {
            return Err(format!("name {:?} vs {:?}", s.name, tname));
        }
        let tags: std::collections::BTreeMap<String, String> = t["tags"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if s.tags != tags {
            return Err(format!("{}: tags {:?} vs {:?}", s.name, s.tags, tags));
        }
        let dps = t["datapoints"].as_array().ok_or("datapoints")?;
        let ourdp = s.datapoints();
        if ourdp.len() != dps.len() {
            return Err(format!(
                "{}: {} points vs {}; ours {:?}",
                s.name,
                ourdp.len(),
                dps.len(),
                &ourdp[..ourdp.len().min(4)]
            ));
        }
        for (i, ((v, ts), d)) in ourdp.iter().zip(dps).enumerate() {
            let tts = d[1].as_i64().unwrap_or(i64::MIN);
            let tv = d[0].as_f64();
            // Python ints (`2`) and floats (`2.0`) must come out as the same JSON number kind.
            if v.is_some() && (d[0].is_i64() || d[0].is_u64()) != s.is_int(i) {
                return Err(format!(
                    "{}: point {} int/float kind: ours int={} theirs {}",
                    s.name,
                    i,
                    s.is_int(i),
                    d[0]
                ));
            }
            let same = match (v, tv) {
                (None, None) => true,
                (Some(a), Some(b)) => close(*a, b),
                (Some(a), None) => a.is_nan() && d[0].is_null(),
                _ => false,
            };
            if *ts != tts || !same {
                return Err(format!(
                    "{}: point {} ours ({:?},{}) theirs ({:?},{})",
                    s.name, i, v, ts, d[0], tts
                ));
            }
        }
    }
    Ok(())
}

/// randomWalk: values are random, so only names, tags and timestamps are compared.
pub fn compare_shape(ours: &[Series], theirs: &J) -> Result<(), String> {
    let arr = theirs.as_array().ok_or("expected array")?;
    if arr.len() != ours.len() {
        return Err(format!("count {} vs {}", ours.len(), arr.len()));
    }
    for (s, t) in ours.iter().zip(arr) {
        if t["target"].as_str() != Some(s.name.as_str()) {
            return Err(format!("name {:?} vs {:?}", s.name, t["target"]));
        }
        let ts: Vec<i64> = t["datapoints"]
            .as_array()
            .ok_or("datapoints")?
            .iter()
            .filter_map(|d| d[1].as_i64())
            .collect();
        let ours_ts: Vec<i64> = s.datapoints().iter().map(|d| d.1).collect();
        if ts != ours_ts {
            return Err(format!("{}: timestamps differ", s.name));
        }
    }
    Ok(())
}
