//! relay-rules.conf and aggregation-rules.conf compared with carbon's own parsers and routers
//! (carbon.relayrules.loadRelayRules + RelayRulesRouter, carbon.aggregator.rules.RuleManager).

mod common;

use ring::{parse_relay_rules, AggregationRule, Destination, Router, RulesRouter};
use serde_json::{json, Value};

use common::run_python;

const RELAY_SCRIPT: &str = r#"
import json, sys
from carbon.util import parseDestinations
from carbon.routers import RelayRulesRouter
job = json.load(open(sys.argv[1], encoding='utf-8'))
out = []
for i, case in enumerate(job['cases']):
    path = '%s/rules%d.conf' % (job['dir'], i)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(case['text'])
    try:
        r = RelayRulesRouter({'relay-rules': path})
    except Exception as e:
        out.append({'error': '%s: %s' % (type(e).__name__, e)})
        continue
    dests = parseDestinations(case['destinations'])
    for d in dests:
        r.addDestination(d)
    out.append({'rules': len(r.rules),
                'owners': [[dests.index(d) for d in r.getDestinations(m)] for m in job['metrics']]})
json.dump(out, sys.stdout)
"#;

const DESTS: [&str; 3] = ["127.0.0.1:2004:a", "127.0.0.1:2104:b", "10.0.0.5:2004"];

fn relay_cases() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "basic",
            "[default]\ndefault = true\ndestinations = 127.0.0.1:2004:a, 127.0.0.1:2104:b\n\n\
             [collectd]\npattern = ^collectd\\.\ndestinations = 127.0.0.1:2104:b\ncontinue = true\n\n\
             [agents]\npattern = carbon\\.agents\ndestinations = 127.0.0.1:2004:a, 10.9.9.9:2004:z\n",
        ),
        (
            "syntax variety",
            "# comment\n; another\n[Web Servers]\nPATTERN: ^servers\\.(web|app)[0-9]+\\.\nDestinations = 127.0.0.1:2004:a,\n    10.0.0.5:2004,\n\n    127.0.0.1:2104:b\nCONTINUE = On\n\
             [cpu]\npattern = \\.cpu\\.\ndestinations = 10.0.0.5:2004\ncontinue = 0\n\
             [ignored]\ndestinations = 127.0.0.1:2004:a\n\
             [off]\ndefault = false\ndestinations = 127.0.0.1:2004:a\n\
             [catchall]\ndefault = yes\ndestinations = 10.0.0.5:2004\n",
        ),
        (
            "DEFAULT section inherited",
            "[DEFAULT]\ndestinations = 127.0.0.1:2104:b\ncontinue = true\n\
             [one]\npattern = ^app\ndestinations = 127.0.0.1:2004:a\n\
             [two]\npattern = requests\n\
             [end]\ndefault = true\n",
        ),
        ("percent", "[p]\npattern = 100%%\ndestinations = 10.0.0.5:2004\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        ("unicode and tags", "[t]\npattern = ;dc=dc1\ndestinations = 127.0.0.1:2104:b\n[u]\npattern = MÉTRIQUE\ndestinations = 10.0.0.5:2004\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        // Error cases: carbon refuses all of these.
        ("no destinations", "[a]\npattern = x\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        ("pattern and default", "[d]\ndefault = true\npattern = x\ndestinations = 127.0.0.1:2004:a\n"),
        ("no default", "[a]\npattern = x\ndestinations = 127.0.0.1:2004:a\n"),
        ("two defaults", "[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n[e]\ndefault = 1\ndestinations = 127.0.0.1:2004:a\n"),
        ("bad boolean", "[d]\ndefault = sure\ndestinations = 127.0.0.1:2004:a\n"),
        ("bad continue", "[a]\npattern = x\ncontinue = maybe\ndestinations = 127.0.0.1:2004:a\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        ("junk port", "[d]\ndefault = true\ndestinations = 127.0.0.1:abc\n"),
        ("duplicate section", "[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n[d]\npattern = x\n"),
        ("duplicate option", "[d]\ndefault = true\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        ("option before section", "destinations = 127.0.0.1:2004:a\n[d]\ndefault = true\n"),
        ("line without delimiter", "[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\nwhat is this\n"),
        ("bad regex", "[a]\npattern = (unclosed\ndestinations = 127.0.0.1:2004:a\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
        ("DEFAULT without destinations", "[DEFAULT]\ncontinue = true\n[d]\ndefault = true\ndestinations = 127.0.0.1:2004:a\n"),
    ]
}

const METRICS: [&str; 12] = [
    "collectd.host1.cpu.user",
    "COLLECTD.host2.load",
    "carbon.agents.a.cache.size",
    "servers.web01.cpu.user",
    "servers.app12.mem.free",
    "app.requests.count",
    "x.100%.y",
    "tagged.m;dc=dc1;host=h",
    "unicode.métrique.1",
    "plain",
    "",
    "a.cpu.b",
];

#[test]
fn relay_rules_match_carbon() {
    let dir = tempfile::tempdir().unwrap();
    let cases = relay_cases();
    let job_cases: Vec<Value> = cases
        .iter()
        .map(|(_, t)| json!({"text": t, "destinations": DESTS}))
        .collect();
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        json!({"cases": job_cases, "metrics": METRICS, "dir": dir.path()}).to_string(),
    )
    .unwrap();
    let out: Value = serde_json::from_str(&run_python(RELAY_SCRIPT, &[&job])).unwrap();
    let dests: Vec<Destination> = DESTS.iter().map(|d| d.parse().unwrap()).collect();
    let (mut ok, mut errors) = (0, 0);
    for ((name, text), res) in cases.iter().zip(out.as_array().unwrap()) {
        let ours = parse_relay_rules(text);
        if let Some(err) = res.get("error") {
            assert!(
                ours.is_err(),
                "{name}: carbon refuses ({err}) but we accept"
            );
            errors += 1;
            continue;
        }
        let rules = ours.unwrap_or_else(|e| panic!("{name}: carbon accepts but we refuse: {e}"));
        assert_eq!(
            rules.len() as u64,
            res["rules"].as_u64().unwrap(),
            "{name}: rule count"
        );
        let router = RulesRouter::new(rules, dests.clone());
        for (m, want) in METRICS.iter().zip(res["owners"].as_array().unwrap()) {
            let want: Vec<usize> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(&router.destinations(m)[..], &want[..], "{name}: {m:?}");
        }
        ok += 1;
    }
    assert_eq!((ok, errors), (5, 13));
}

const AGG_SCRIPT: &str = r#"
import json, sys
from carbon.aggregator.rules import RuleManager
job = json.load(open(sys.argv[1], encoding='utf-8'))
out = []
for line in job['lines']:
    try:
        rule = RuleManager.parse_definition(line)
    except Exception as e:
        out.append({'error': '%s: %s' % (type(e).__name__, e)})
        continue
    results = []
    for m in job['metrics']:
        try:
            results.append({'ok': rule.get_aggregate_metric(m)})
        except Exception as e:
            results.append({'raise': '%s: %s' % (type(e).__name__, e)})
    out.append({'regex': rule.regex.pattern, 'frequency': rule.frequency, 'method': rule.method,
                'results': results})
json.dump(out, sys.stdout)
"#;

const AGG_LINES: [&str; 24] = [
    "<env>.applications.<app>.all.requests (60) = sum <env>.applications.<app>.*.requests",
    "<env>.applications.<app>.all.latency (10) = avg <env>.applications.<app>.*.latency",
    "agg.<path>.total (300) = count <<path>>.requests",
    "stats.<pre>-all.<metric> (60) = max <<pre>>-node*.<metric>",
    "servers.all.cpu.<kind> (5) = p95 servers.web*.cpu.<kind>",
    "x.<a>.<b> (1) = min <a>.foo*bar.<b>",
    "sum.all   (60)   =   sum   servers.*.hits",
    "p.<k> ((60)) = p999 p.<k>.*",
    "prefix.<host>_total (60) = p50 host.prefix<host>suffix.x",
    "u.<a> (60) = p75 unicode.<a>.*",
    "t.<a> (60) = p80 tagged.<a>",
    "u.<a> (60) = p90 <a>.p99",
    // Refused by carbon at parse time.
    "no equals here",
    "a (60) = sum",
    "a b (60) = sum x",
    "a (sixty) = sum x",
    "a (60) = median x",
    "a (60) = sum <x>.<x>",
    "a (60) = sum <x!>.b",
    // Accepted by carbon but broken at match time (KeyError or a garbled name): refused by us.
    "<y>.a (60) = sum <x>.b",
    "<<x>>.a (60) = sum <<x>>.b",
    "a>b (60) = sum <x>.b",
    "a (0) = sum <x>.b",
    "a (-5) = sum <x>.b",
];

const AGG_METRICS: [&str; 16] = [
    "prod.applications.apache.www01.requests",
    "prod.applications.apache.www01.latency",
    "dev.applications.nginx.a.b.requests",
    "a.b.c.requests",
    "requests",
    "web-node12.cpu",
    "a.b-node3.mem",
    "servers.web01.cpu.user",
    "servers.db01.cpu.user",
    "1.fooXbar.2",
    "servers.x.hits",
    "p.k.v",
    "host.prefixABCsuffix.x",
    "unicode.métrique.測試",
    "tagged.m;dc=dc1",
    "x.p99",
];

/// Lines carbon accepts but that cannot work (KeyError at match time, garbled names,
/// zero/negative intervals); we refuse them when parsing.
const STRICTER: [usize; 5] = [19, 20, 21, 22, 23];

#[test]
fn aggregation_rules_match_carbon() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        json!({"lines": AGG_LINES, "metrics": AGG_METRICS}).to_string(),
    )
    .unwrap();
    let out: Value = serde_json::from_str(&run_python(AGG_SCRIPT, &[&job])).unwrap();
    let mut matched = 0;
    for (i, (line, res)) in AGG_LINES.iter().zip(out.as_array().unwrap()).enumerate() {
        let ours = AggregationRule::parse(line);
        if STRICTER.contains(&i) {
            assert!(
                res.get("error").is_none(),
                "{line}: carbon was expected to accept this"
            );
            assert!(
                ours.is_err(),
                "{line}: we should refuse what carbon cannot apply"
            );
            continue;
        }
        if let Some(err) = res.get("error") {
            assert!(
                ours.is_err(),
                "{line}: carbon refuses ({err}) but we accept"
            );
            continue;
        }
        let rule = ours.unwrap_or_else(|e| panic!("{line}: carbon accepts but we refuse: {e}"));
        assert_eq!(
            format!("^(?:{})", res["regex"].as_str().unwrap()),
            rule.regex().as_str(),
            "{line}"
        );
        assert_eq!(
            u64::from(rule.frequency),
            res["frequency"].as_u64().unwrap(),
            "{line}"
        );
        assert_eq!(
            rule.method.name(),
            res["method"].as_str().unwrap(),
            "{line}"
        );
        for (m, r) in AGG_METRICS.iter().zip(res["results"].as_array().unwrap()) {
            let want = r
                .get("ok")
                .unwrap_or_else(|| panic!("{line}: carbon raised on {m:?}: {r}"));
            let ours = rule.matches(m);
            assert_eq!(ours.as_deref(), want.as_str(), "{line}: {m:?}");
            matched += usize::from(ours.is_some());
        }
    }
    assert!(
        matched >= 12,
        "too few matching metrics exercised: {matched}"
    );
}

#[test]
fn rules_files_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("relay-rules.conf");
    std::fs::write(&relay, relay_cases()[0].1).unwrap();
    let dests: Vec<Destination> = DESTS.iter().map(|d| d.parse().unwrap()).collect();
    let r = RulesRouter::from_path(&relay, dests.clone()).unwrap();
    assert_eq!(&r.destinations("collectd.x")[..], &[1, 0, 1]);
    assert!(matches!(
        RulesRouter::from_path(&dir.path().join("missing"), dests),
        Err(ring::Error::Io { .. })
    ));
    let agg = dir.path().join("aggregation-rules.conf");
    std::fs::write(
        &agg,
        format!("# rules\n\n{}\n  {}  \n", AGG_LINES[0], AGG_LINES[1]),
    )
    .unwrap();
    let rules = ring::aggregation::read_aggregation_rules(&agg).unwrap();
    assert_eq!(rules.len(), 2);
    std::fs::write(&agg, format!("{}\n{}\n", AGG_LINES[0], AGG_LINES[13])).unwrap();
    assert!(matches!(
        ring::aggregation::read_aggregation_rules(&agg),
        Err(ring::Error::AggregationRule { line: 2, .. })
    ));
}

const AGGREGATED_SCRIPT: &str = r#"
import json, sys
from carbon.util import parseDestinations
from carbon.routers import AggregatedConsistentHashingRouter

class Settings(dict):
    def __getattr__(self, k):
        return self[k]

from carbon.aggregator.rules import RuleManager

job = json.load(open(sys.argv[1], encoding='utf-8'))
# The rule manager is a process-wide singleton whose reload task can start only once.
RuleManager.read_from(job['rules'])
assert len(RuleManager.rules) == job['rule_count'], RuleManager.rules
out = []
for case in job['cases']:
    r = AggregatedConsistentHashingRouter(Settings({'aggregation-rules': None,
        'REPLICATION_FACTOR': case['rf'], 'DIVERSE_REPLICAS': case['diverse'], 'ROUTER_HASH_TYPE': case['hash']}))
    dests = parseDestinations(job['destinations'])
    for d in dests:
        r.addDestination(d)
    out.append([sorted(dests.index(d) for d in r.getDestinations(m)) for m in job['metrics']])
json.dump(out, sys.stdout)
"#;

#[test]
fn aggregated_router_matches_carbon() {
    use ring::{AggregatedRouter, HashConfig, HashRouter, HashType, RingFlavor};
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("aggregation-rules.conf");
    let rules_text = AGG_LINES[..12].join("\n") + "\n";
    std::fs::write(&rules_path, &rules_text).unwrap();
    let dests = [
        "10.0.0.1:2004:a",
        "10.0.0.2:2004:b",
        "10.0.0.3:2004:c",
        "10.0.0.3:2104:d",
    ];
    let mut cases = Vec::new();
    for hash in ["carbon_ch", "fnv1a_ch"] {
        for rf in 1..=3 {
            for diverse in [false, true] {
                cases.push(json!({"hash": hash, "rf": rf, "diverse": diverse}));
            }
        }
    }
    let job = dir.path().join("job.json");
    let doc = json!({"cases": cases, "rules": rules_path, "rule_count": 12, "destinations": dests, "metrics": AGG_METRICS});
    std::fs::write(&job, doc.to_string()).unwrap();
    let out: Value = serde_json::from_str(&run_python(AGGREGATED_SCRIPT, &[&job])).unwrap();
    let rules = ring::parse_aggregation_rules(&rules_text).unwrap();
    let parsed: Vec<Destination> = dests.iter().map(|d| d.parse().unwrap()).collect();
    for (case, res) in cases.iter().zip(out.as_array().unwrap()) {
        let config = HashConfig {
            flavor: RingFlavor::Carbon,
            hash: case["hash"].as_str().unwrap().parse::<HashType>().unwrap(),
            replication_factor: case["rf"].as_u64().unwrap() as usize,
            diverse_replicas: case["diverse"].as_bool().unwrap(),
        };
        let router = AggregatedRouter::new(
            HashRouter::new(parsed.clone(), config).unwrap(),
            rules.clone(),
        );
        for (m, want) in AGG_METRICS.iter().zip(res.as_array().unwrap()) {
            let want: Vec<usize> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let mut ours = router.destinations(m).to_vec();
            let n = ours.len();
            ours.sort_unstable();
            ours.dedup();
            assert_eq!(ours.len(), n, "{case} {m:?}: repeated destination");
            assert_eq!(ours, want, "{case} {m:?}");
        }
    }
}
