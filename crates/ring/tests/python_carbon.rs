//! Placement compared with Python carbon's own ConsistentHashingRouter (Debian graphite-carbon)
//! on random destination lists and metric names, for replication factors 1 to 3.

mod common;

use ring::{Destination, HashConfig, HashRouter, HashType, RingFlavor, Router};
use serde_json::{json, Value};

use common::{metric_names, rng, run_python};

/// Runs carbon.routers.ConsistentHashingRouter on each case of the job file.
const CARBON_SCRIPT: &str = r#"
import json, sys
from carbon.util import parseDestinations
from carbon.routers import ConsistentHashingRouter

class Settings(dict):
    def __getattr__(self, k):
        return self[k]

job = json.load(open(sys.argv[1], encoding='utf-8'))
out = []
for case in job['cases']:
    r = ConsistentHashingRouter(Settings(REPLICATION_FACTOR=case['rf'], DIVERSE_REPLICAS=case['diverse'],
                                         ROUTER_HASH_TYPE=case['hash']))
    dests = parseDestinations(case['destinations'])
    try:
        for d in dests:
            r.addDestination(d)
    except Exception as e:
        out.append({'parsed': [list(d) for d in dests], 'error': str(e)})
        continue
    owners = [[dests.index(o) for o in r.getDestinations(m)] for m in job['metrics']]
    ring = [[pos, dests.index(next(d for d in dests if (d[0], d[2]) == node))] for pos, node in r.ring.ring]
    out.append({'parsed': [list(d) for d in dests], 'owners': owners, 'ring': ring})
json.dump(out, sys.stdout)
"#;

/// Random destination lists: one host or several, with or without instances, IPv4 or IPv6.
fn random_destinations(r: &mut rand::rngs::StdRng) -> Vec<String> {
    use rand::Rng;
    let n = r.gen_range(1..=7);
    let same_host = r.gen_bool(0.4);
    let instances = r.gen_bool(0.7);
    let v6 = r.gen_bool(0.2);
    (0..n)
        .map(|i| {
            let host = match (v6, same_host) {
                (true, true) => "[::1]".to_owned(),
                (true, false) => format!("[fd00::{:x}]", i + 1),
                (false, true) => "127.0.0.1".to_owned(),
                (false, false) => format!("10.{}.0.{}", r.gen_range(0..3), i + 1),
            };
            let port = 2004 + 100 * i;
            if instances {
                let inst = if r.gen_bool(0.5) {
                    format!("{}", (b'a' + i as u8) as char)
                } else {
                    format!("{}", i + 1)
                };
                format!("{host}:{port}:{inst}")
            } else {
                format!("{host}:{port}")
            }
        })
        .collect()
}

#[test]
fn random_rings_match_python_carbon() {
    let mut r = rng(1);
    let metrics = metric_names(&mut r, 250, true);
    let mut cases = Vec::new();
    // Fixed cases first: a one-node ring (carbon yields it twice) and a duplicate carbon refuses.
    let mut lists: Vec<Vec<String>> = vec![
        vec!["127.0.0.1:2004:a".into()],
        vec!["127.0.0.1:2004".into(), "127.0.0.1:2104".into()],
        // Instances that Python's repr() quotes or escapes (the carbon_ch replica key is the
        // repr of the (server, instance) tuple), and an empty instance from a trailing ':'.
        [
            "10.0.0.1:2004:it's",
            "10.0.0.2:2004:a\"b",
            "10.0.0.3:2004:x\\y",
            "10.0.0.4:2004:\u{e9}t\u{e9}",
            "10.0.0.5:2004:q\u{85}",
            "10.0.0.6:2004:",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    ];
    lists.extend((0..14).map(|_| random_destinations(&mut r)));
    for dests in lists {
        for hash in ["carbon_ch", "fnv1a_ch"] {
            for rf in 1..=3 {
                for diverse in [false, true] {
                    cases.push(
                        json!({"destinations": dests, "hash": hash, "rf": rf, "diverse": diverse}),
                    );
                }
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.json");
    std::fs::write(
        &job,
        json!({"cases": cases, "metrics": metrics}).to_string(),
    )
    .unwrap();
    let out: Value = serde_json::from_str(&run_python(CARBON_SCRIPT, &[&job])).unwrap();
    let results = out.as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    let mut lookups = 0;
    let mut rejected = 0;
    for (case, res) in cases.iter().zip(results) {
        let dests: Vec<Destination> = case["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().parse().unwrap())
            .collect();
        let parsed: Vec<Destination> = res["parsed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                Destination::new(
                    d[0].as_str().unwrap(),
                    d[1].as_u64().unwrap() as u16,
                    d[2].as_str(),
                )
            })
            .collect();
        assert_eq!(dests, parsed, "destination parsing differs for {case}");
        let config = HashConfig {
            flavor: RingFlavor::Carbon,
            hash: case["hash"].as_str().unwrap().parse::<HashType>().unwrap(),
            replication_factor: case["rf"].as_u64().unwrap() as usize,
            diverse_replicas: case["diverse"].as_bool().unwrap(),
        };
        if res.get("error").is_some() {
            // carbon refuses two destinations with the same (server, instance); so must we.
            assert!(
                matches!(
                    HashRouter::new(dests, config),
                    Err(ring::Error::DuplicateDestination(_))
                ),
                "{case}: carbon said {}",
                res["error"]
            );
            rejected += 1;
            continue;
        }
        let router = HashRouter::new(dests, config).unwrap();
        let ring: Vec<(u32, u32)> = res["ring"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_u64().unwrap() as u32, e[1].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(
            router.carbon_ring().unwrap().entries(),
            &ring[..],
            "ring differs for {case}"
        );
        for (m, want) in metrics.iter().zip(res["owners"].as_array().unwrap()) {
            let want: Vec<usize> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(&router.destinations(m)[..], &want[..], "{case}: {m:?}");
            lookups += 1;
        }
    }
    assert_eq!(lookups, (cases.len() - rejected) * metrics.len());
    assert!(
        rejected >= 12,
        "the duplicate case must be refused by both ({rejected})"
    );
}
