//! storage-schemas.conf / storage-aggregation.conf loaded by Debian's carbon (`carbon.storage`) and by
//! us from the same files: the same usable sections in the same order with the same values, the same
//! first match for every metric, and an error from us exactly where carbon refuses to start.

mod common;

use std::fs;

use common::run_sys_python;
use serde_json::{json, Value};
use store::schemas::carbon_default_archives;
use store::{Aggregations, Schemas};

const LOADER: &str = r#"
import os, sys, json, tempfile
conf_dir = sys.argv[1]
from carbon.conf import settings
settings["CONF_DIR"] = conf_dir
settings["LOCAL_DATA_DIR"] = tempfile.mkdtemp()
from carbon import state
from carbon.database import WhisperDatabase
state.database = WhisperDatabase(settings)
import carbon.storage as st
req = json.load(sys.stdin)
metrics = req["metrics"]
out = {"schemas": {}, "aggregations": {}}
for name in req["schemas"]:
    st.STORAGE_SCHEMAS_CONFIG = os.path.join(conf_dir, name)
    try:
        loaded = st.loadStorageSchemas()
        out["schemas"][name] = {
            "loaded": [[s.name, [list(a.getTuple()) for a in s.archives]] for s in loaded],
            "matches": [next(s for s in loaded if s.matches(m)).name for m in metrics]}
    except BaseException as e:
        out["schemas"][name] = {"error": type(e).__name__}
for name in req["aggregations"]:
    st.STORAGE_AGGREGATION_CONFIG = os.path.join(conf_dir, name)
    try:
        loaded = st.loadAggregationSchemas()
        out["aggregations"][name] = {
            "loaded": [[s.name, list(s.archives)] for s in loaded],
            "matches": [next(s for s in loaded if s.matches(m)).name for m in metrics]}
    except BaseException as e:
        out["aggregations"][name] = {"error": type(e).__name__}
# carbon logs to stdout, so the answer goes to a file.
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"#;

const SCHEMAS_OK: &str = r"
[DEFAULT]
retentions = 60s:1d

[carbon]
pattern = ^carbon\.
retentions = 10s:6h,1m:7d

[inherit]
pattern = ^inherit\.

[interp]
base = 1m
pattern = ^interp\.
retentions = %(base)s:1d,1h:30d

[continued]
Pattern = ^cont\.
RETENTIONS = 10s:1h,
  1m:1d

[unsorted]
pattern = ^uns\.
retentions = 1h:1y,1m:1d

[invalid]
pattern = ^inv\.
retentions = 10s:1h,15s:1d

[nopattern]
retentions = 60:100

[emptypattern]
pattern =
retentions = 60:100

[noretentions]
pattern = ^nr\.

[header] ; trailing comment
pattern = ^hdr\.
retentions = 1s:1m

[weeks]
pattern = (?i)^WEEK|\d{3}$|x{|;dc=dc1(;|$)
retentions = 1w:1y,4w:5y

[last]
pattern = .
retentions = 1d:5y
";

const SCHEMAS_PLAIN: &str = "
# Debian's shipped file
[carbon]
pattern = ^carbon\\.
retentions = 60:90d

[default_1min_for_1day]
pattern = .*
retentions = 60s:1d,5m:30d,1h:3y
";

const SCHEMAS_FATAL: &[&str] = &[
    "[a]\npattern = x\nretentions = 1min:1d\n",
    "[a]\npattern = (\nretentions = 60:1d\n",
    "[a]\npattern = 5%\nretentions = 60:1d\n",
    "[a]\n[a]\n",
    "pattern = x\n",
    "[a]\npattern = x\n  [b]\nretentions = 60:1d\n",
    "[a]\npattern = x\nretentions = 1:2:3\n",
    "[a]\npattern = x\nretentions = 0:1d\n",
    "[a]\nnovalue\n",
    "[a]\npattern = x\nretentions = 0:1,60:1\n",
    "[a]\npattern = x\nretentions = 60:1d\nPattern = y\n",
    "[a]\npattern = %(nope)s\nretentions = 60:1d\n",
];

const AGG_OK: &str = r"
[DEFAULT]
xFilesFactor = 0.3

[min]
pattern = \.min$
aggregationMethod = min

[count]
pattern = \.count$
xFilesFactor = 0

[sum]
pattern = \.sum$
aggregationMethod = sum
xFilesFactor = 1_0e-2

[badxff]
pattern = \.bad$
xFilesFactor = lots

[nopat]
aggregationMethod = max

[abs]
pattern = abs
aggregationMethod = absmax

[all]
pattern = .*
aggregationMethod = last
";

const AGG_PLAIN: &str = "
[min]
pattern = \\.min$
xFilesFactor = 0.1
aggregationMethod = min

[max]
pattern = \\.max$
xFilesFactor = 0.1
aggregationMethod = max

[sum]
pattern = \\.count$
xFilesFactor = 0
aggregationMethod = max

[default_average]
pattern = .*
xFilesFactor = 0.5
aggregationMethod = average
";

const AGG_FATAL: &[&str] = &[
    "[a]\npattern = x\nxFilesFactor = 1.5\n",
    "[a]\npattern = x\naggregationMethod = median\n",
    "[a]\npattern = x\nxFilesFactor = nan\n",
    "[a]\npattern = (\n",
    "[a]\npattern = x\nxFilesFactor = -0.1\n",
    "[a]\n[a]\n",
];

const METRICS: &[&str] = &[
    "carbon.agents.a.cpu",
    "inherit.x",
    "interp.y",
    "cont.z",
    "uns.q",
    "inv.r",
    "nr.s",
    "hdr.t",
    "WEEK.x",
    "week.x",
    "abc123",
    "x{",
    "other",
    "",
    "a.min",
    "a.count",
    "a.sum",
    "a.bad",
    "absolute",
    "disk.used;dc=dc1",
    "disk.used;dc=dc10",
    ".",
    "a.min.x",
    "a.max",
    "stats.x.count",
    "xcarbon.y",
    "carbon",
];

fn archives_json(s: &store::Schema) -> Value {
    json!(s
        .archives
        .iter()
        .map(|a| json!([a.seconds_per_point, a.points]))
        .collect::<Vec<_>>())
}

#[test]
fn schemas_and_aggregations_load_like_carbon() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema_files = vec![
        ("ok.conf", SCHEMAS_OK.to_string()),
        ("plain.conf", SCHEMAS_PLAIN.to_string()),
    ];
    for (i, text) in SCHEMAS_FATAL.iter().enumerate() {
        schema_files.push((
            Box::leak(format!("fatal{i}.conf").into_boxed_str()),
            text.to_string(),
        ));
    }
    let mut agg_files = vec![
        ("agg_ok.conf", AGG_OK.to_string()),
        ("agg_plain.conf", AGG_PLAIN.to_string()),
    ];
    for (i, text) in AGG_FATAL.iter().enumerate() {
        agg_files.push((
            Box::leak(format!("agg_fatal{i}.conf").into_boxed_str()),
            text.to_string(),
        ));
    }
    for (name, text) in schema_files.iter().chain(&agg_files) {
        fs::write(dir.path().join(name), text).unwrap();
    }
    let request = json!({
        "schemas": schema_files.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "aggregations": agg_files.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "metrics": METRICS,
    });
    let out_path = dir.path().join("carbon-result.json");
    run_sys_python(
        LOADER,
        &[dir.path().to_str().unwrap(), out_path.to_str().unwrap()],
        &request.to_string(),
    );
    let carbon: Value = serde_json::from_str(&fs::read_to_string(&out_path).unwrap())
        .expect("loader output is JSON");

    for (name, _) in &schema_files {
        let theirs = &carbon["schemas"][name];
        let ours = Schemas::load(&dir.path().join(name), carbon_default_archives());
        match (ours, theirs.get("error")) {
            (Ok(s), None) => {
                let loaded: Vec<Value> = s
                    .schemas()
                    .map(|x| json!([x.name, archives_json(x)]))
                    .collect();
                assert_eq!(json!(loaded), theirs["loaded"], "{name}: loaded schemas");
                let matches: Vec<&str> = METRICS
                    .iter()
                    .map(|m| s.match_metric(m).name.as_str())
                    .collect();
                assert_eq!(json!(matches), theirs["matches"], "{name}: matches");
            }
            (Err(_), Some(_)) => {}
            (ours, _) => panic!("{name}: carbon {theirs}, ours {ours:?}"),
        }
    }
    for (name, _) in &agg_files {
        let theirs = &carbon["aggregations"][name];
        match (
            Aggregations::load(&dir.path().join(name)),
            theirs.get("error"),
        ) {
            (Ok(a), None) => {
                let loaded: Vec<Value> = a
                    .rules()
                    .map(|r| json!([r.name, [r.x_files_factor, r.method.map(|m| m.name())]]))
                    .collect();
                assert_eq!(json!(loaded), theirs["loaded"], "{name}: loaded rules");
                let matches: Vec<&str> = METRICS
                    .iter()
                    .map(|m| a.rule_for(m).name.as_str())
                    .collect();
                assert_eq!(json!(matches), theirs["matches"], "{name}: matches");
            }
            (Err(_), Some(_)) => {}
            (ours, _) => panic!("{name}: carbon {theirs}, ours {ours:?}"),
        }
    }
    // The cases really exercise both outcomes.
    let errors = carbon["schemas"]
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v.get("error").is_some())
        .count();
    assert_eq!(errors, SCHEMAS_FATAL.len(), "{}", carbon["schemas"]);
    let errors = carbon["aggregations"]
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v.get("error").is_some())
        .count();
    assert_eq!(errors, AGG_FATAL.len(), "{}", carbon["aggregations"]);
}
