//! Placement compared with the real carbon-c-relay (`carbon-c-relay -t`, test mode: metric names on
//! stdin, the chosen servers printed) on generated clusters, for all three of its hashes.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use ring::{Destination, HashConfig, HashRouter, HashType, RingFlavor, Router};

use common::{metric_names, rng, run_with_stdin};

fn crelay_bin() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("CARBONADO_CRELAY").unwrap_or_else(|_| "/usr/bin/carbon-c-relay".into()),
    );
    assert!(
        p.exists(),
        "carbon-c-relay {} is missing (set CARBONADO_CRELAY)",
        p.display()
    );
    p
}

/// c-relay's server syntax for a destination.
fn crelay_server(d: &Destination) -> String {
    let host = if d.host.contains(':') {
        format!("[{}]", d.host)
    } else {
        d.host.clone()
    };
    match &d.instance {
        Some(i) => format!("{host}:{}={i}", d.port),
        None => format!("{host}:{}", d.port),
    }
}

/// Runs c-relay in test mode; returns, per metric, the servers printed as `host:port`.
fn crelay_placements(
    dests: &[Destination],
    hash: HashType,
    rf: usize,
    metrics: &[String],
) -> Result<Vec<Vec<usize>>, String> {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("relay.conf");
    let mut text = format!("cluster c\n    {} replication {rf}\n", hash.name());
    for d in dests {
        text.push_str(&format!("        {}\n", crelay_server(d)));
    }
    text.push_str("    ;\nmatch * send to c stop;\n");
    std::fs::write(&conf, &text).unwrap();
    // Shown only when the test fails.
    eprintln!("c-relay config:\n{text}");
    let input: String = metrics
        .iter()
        .map(|m| format!("{m} 1 1700000000\n"))
        .collect();
    let (ok, out) = run_with_stdin(
        Command::new(crelay_bin()).arg("-t").arg("-f").arg(&conf),
        input.as_bytes(),
        Duration::from_secs(30),
    );
    if !ok || out.contains("failed to read configuration") {
        return Err(out);
    }
    let by_addr: HashMap<String, usize> = dests
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let host = if d.host.contains(':') {
                format!("[{}]", d.host)
            } else {
                d.host.clone()
            };
            (format!("{host}:{}", d.port), i)
        })
        .collect();
    let mut placed: HashMap<String, Vec<usize>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("* -> ") {
            current = Some(name.to_owned());
            placed.insert(name.to_owned(), Vec::new());
        } else if let (Some(name), Some(&i)) = (&current, by_addr.get(t)) {
            placed.get_mut(name).unwrap().push(i);
        } else if t == "stop" {
            current = None;
        }
    }
    Ok(metrics
        .iter()
        .map(|m| {
            placed
                .remove(m)
                .unwrap_or_else(|| panic!("c-relay printed no placement for {m:?}:\n{text}"))
        })
        .collect())
}

fn random_cluster(r: &mut StdRng) -> Vec<Destination> {
    let n = r.gen_range(1..=7);
    let host_mode = r.gen_range(0..3);
    let inst_mode = r.gen_range(0..4);
    (0..n)
        .map(|i| {
            let host = match host_mode {
                0 => "127.0.0.1".to_owned(),
                1 => format!("10.0.{}.{}", r.gen_range(0..2), i + 1),
                _ => format!("fd00::{:x}", i + 1),
            };
            let instance = match inst_mode {
                0 => None,
                1 => Some(((b'a' + ((i * 5) % 7) as u8) as char).to_string()),
                2 => Some(((i * 7) % 12).to_string()),
                // mixed: some numeric, some named, some without
                _ => match i % 3 {
                    0 => Some((i + 8).to_string()),
                    1 => Some(format!("x{i}")),
                    _ => None,
                },
            };
            Destination {
                host,
                port: 2004 + 100 * i as u16,
                instance,
            }
        })
        .collect()
}

fn has_key_clash(dests: &[Destination], hash: HashType) -> bool {
    dests.iter().enumerate().any(|(i, d)| {
        dests[..i].iter().any(|e| match hash {
            HashType::CarbonCh => e.host == d.host && e.instance == d.instance,
            _ => e.instance.is_some() && e.instance == d.instance,
        })
    })
}

#[test]
fn random_clusters_match_carbon_c_relay() {
    let mut r = rng(2);
    let metrics = metric_names(&mut r, 300, true);
    let mut checked = 0;
    let mut refused = 0;
    for round in 0..12 {
        let dests = random_cluster(&mut r);
        for hash in [HashType::CarbonCh, HashType::Fnv1aCh, HashType::JumpFnv1aCh] {
            for rf in 1..=3 {
                let config = HashConfig {
                    flavor: RingFlavor::CarbonCRelay,
                    hash,
                    replication_factor: rf,
                    diverse_replicas: false,
                };
                let ours = match HashRouter::new(dests.clone(), config) {
                    Err(ring::Error::DuplicateDestination(_)) => {
                        // Identical replica keys: c-relay would hang (rf > 1) or send everything to
                        // one server; we refuse, and do not run it.
                        assert!(
                            hash != HashType::JumpFnv1aCh && has_key_clash(&dests, hash),
                            "{dests:?} {hash}"
                        );
                        refused += 1;
                        continue;
                    }
                    other => other,
                };
                let theirs = crelay_placements(&dests, hash, rf, &metrics);
                match (ours, theirs) {
                    (Ok(router), Ok(theirs)) => {
                        for (m, want) in metrics.iter().zip(&theirs) {
                            assert_eq!(
                                &router.destinations(m)[..],
                                &want[..],
                                "round {round} {hash} rf{rf} {dests:?}: {m:?}"
                            );
                        }
                        checked += 1;
                    }
                    (Err(e), Err(_)) => assert!(rf > dests.len(), "unexpected refusal: {e}"),
                    (Ok(_), Err(out)) => {
                        panic!("c-relay refused {dests:?} {hash} rf{rf} but we accept:\n{out}")
                    }
                    (Err(e), Ok(_)) => {
                        panic!("we refuse {dests:?} {hash} rf{rf} ({e}) but c-relay accepts")
                    }
                }
            }
        }
    }
    eprintln!("compared {checked} clusters, refused {refused}");
    assert!(checked >= 60, "too few clusters compared: {checked}");
}
