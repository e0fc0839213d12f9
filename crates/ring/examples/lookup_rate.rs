//! Prints lookups per second for each router kind (a rough gauge, not a test).

use std::time::Instant;

use ring::{parse_destinations, HashConfig, HashRouter, HashType, Owners, RingFlavor, Router};

fn main() {
    let dests = parse_destinations(
        "10.0.0.1:2004:a, 10.0.0.2:2004:b, 10.0.0.3:2004:c, 10.0.0.4:2004:d, 10.0.0.5:2004:e, 10.0.0.6:2004:f",
    )
    .expect("valid destinations");
    let names: Vec<String> = (0..200_000)
        .map(|i| format!("servers.host{:05}.cpu.cpu{}.user", i / 8, i % 8))
        .collect();
    for (flavor, hash) in [
        (RingFlavor::Carbon, HashType::CarbonCh),
        (RingFlavor::Carbon, HashType::Fnv1aCh),
        (RingFlavor::CarbonCRelay, HashType::CarbonCh),
        (RingFlavor::CarbonCRelay, HashType::Fnv1aCh),
        (RingFlavor::CarbonCRelay, HashType::JumpFnv1aCh),
    ] {
        for rf in [1, 2] {
            let cfg = HashConfig {
                flavor,
                hash,
                replication_factor: rf,
                diverse_replicas: true,
            };
            let router = HashRouter::new(dests.clone(), cfg).expect("router");
            let mut out = Owners::new();
            let mut sum = 0usize;
            let t = Instant::now();
            for n in &names {
                out.clear();
                router.destinations_into(n, &mut out);
                sum += out[0];
            }
            let rate = names.len() as f64 / t.elapsed().as_secs_f64();
            println!(
                "{flavor:?} {hash} rf{rf}: {:.2} M lookups/s (checksum {sum})",
                rate / 1e6
            );
        }
    }
}
