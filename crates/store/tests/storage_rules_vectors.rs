//! Replays `storage_rules.json` (spec vectors generated with carbon 1.1.10's own loader, copied from
//! /work/shared/spec/vectors/config): the loaded schema and aggregation lists, first-match results and
//! carbon's `parseRetentionDef` results and errors.

use serde_json::Value;
use store::retention::parse_retention_def;
use store::schemas::carbon_default_archives;
use store::{Aggregations, Schemas};

fn vectors() -> Value {
    let text = include_str!("vectors/storage_rules.json");
    serde_json::from_str(text).expect("vector JSON parses")
}

fn pairs(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_f64().unwrap() as u64, a[1].as_f64().unwrap() as u64))
        .collect()
}

#[test]
fn loaded_schemas_and_aggregations_match_carbon() {
    let v = vectors();
    let schemas = Schemas::parse(
        v["storage-schemas.conf"].as_str().unwrap(),
        carbon_default_archives(),
    )
    .unwrap();
    let ours: Vec<(String, Vec<(u64, u64)>)> = schemas
        .schemas()
        .map(|s| {
            (
                s.name.clone(),
                s.archives
                    .iter()
                    .map(|a| (a.seconds_per_point.into(), a.points.into()))
                    .collect(),
            )
        })
        .collect();
    let theirs: Vec<(String, Vec<(u64, u64)>)> = v["loaded_schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s[0].as_str().unwrap().to_string(), pairs(&s[1])))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(schemas.skipped.len(), 1);
    assert_eq!(schemas.skipped[0].section, "bad_schema_skipped");

    let aggs = Aggregations::parse(v["storage-aggregation.conf"].as_str().unwrap()).unwrap();
    let ours: Vec<(String, Option<f64>, Option<String>)> = aggs
        .rules()
        .map(|r| {
            (
                r.name.clone(),
                r.x_files_factor,
                r.method.map(|m| m.name().to_string()),
            )
        })
        .collect();
    let theirs: Vec<(String, Option<f64>, Option<String>)> = v["loaded_aggregations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a[0].as_str().unwrap().to_string(),
                a[1][0].as_f64(),
                a[1][1].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(ours, theirs);

    for m in v["matches"].as_array().unwrap() {
        let name = m["normalized"].as_str().unwrap();
        let schema = schemas.match_metric(name);
        assert_eq!(schema.name, m["schema"].as_str().unwrap(), "{name}");
        let archives: Vec<(u64, u64)> = schema
            .archives
            .iter()
            .map(|a| (a.seconds_per_point.into(), a.points.into()))
            .collect();
        assert_eq!(archives, pairs(&m["archives"]), "{name}");
        let rule = aggs.rule_for(name);
        assert_eq!(
            rule.name,
            m["aggregation_section"].as_str().unwrap(),
            "{name}"
        );
        let (method, xff) = aggs.match_metric(name);
        assert_eq!(
            method.name(),
            m["aggregationMethod"].as_str().unwrap_or("average"),
            "{name}"
        );
        assert_eq!(xff, m["xFilesFactor"].as_f64().unwrap_or(0.5), "{name}");
    }
}

#[test]
fn retention_defs_match_carbon() {
    let v = vectors();
    for case in v["carbon_parseRetentionDef"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        match (parse_retention_def(input), case["result"].as_array()) {
            (Ok(a), Some(r)) => {
                assert_eq!(
                    u64::from(a.seconds_per_point),
                    r[0].as_f64().unwrap() as u64,
                    "{input}"
                );
                // carbon keeps the float; Archive() truncates it with int().
                assert_eq!(
                    u64::from(a.points),
                    r[1].as_f64().unwrap().trunc() as u64,
                    "{input}"
                );
            }
            (Err(e), None) => {
                let want = case["error"].as_str().unwrap();
                assert_eq!(format!("ValueError: {e}"), want, "{input}");
            }
            (got, _) => panic!("{input}: got {got:?}, carbon says {case}"),
        }
    }
}
