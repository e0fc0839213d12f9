//! Arbitrary text never panics the lexer, parser, cleanser or router.

use std::path::Path;

use crelay::{cleanse, parse_str, Router};
use rand::{rngs::StdRng, Rng, SeedableRng};

const WORDS: &[&str] = &[
    "cluster",
    "match",
    "rewrite",
    "into",
    "aggregate",
    "every",
    "seconds",
    "expire",
    "after",
    "compute",
    "sum",
    "percentile95",
    "write",
    "to",
    "send",
    "stop",
    "blackhole",
    "validate",
    "else",
    "drop",
    "route",
    "using",
    "listen",
    "type",
    "linemode",
    "proto",
    "udp",
    "tcp",
    "unix",
    "statistics",
    "include",
    "forward",
    "any_of",
    "carbon_ch",
    "jump_fnv1a_ch",
    "replication",
    "2",
    "0",
    "300",
    "a",
    "b",
    ";",
    ";",
    "\"",
    "#",
    "\n",
    "*",
    "^a\\.(b)",
    "\\",
    "[",
    "1.2.3.4:2003=x",
    "[::1]:2004",
    "timestamp",
    "at",
    "start",
    "of",
    "bucket",
    "\\_1\\^2\\.3",
    "é",
    "{",
    "(",
];

#[test]
fn random_configs_and_lines_do_not_panic() {
    let mut rng = StdRng::seed_from_u64(42);
    let valid = parse_str(
        "cluster a carbon_ch replication 2 1.2.3.4=x 1.2.3.5=y;\n\
         rewrite ^(.)(.*)$ into \\_2\\^1\\.9;\nmatch ^(x)? route using \\1\\3 send to a;\n",
        Path::new("v.conf"),
        Path::new("."),
    )
    .unwrap();
    let router = Router::new(valid);
    let mut refused = 0;
    for _ in 0..3000 {
        let n = rng.gen_range(0..30);
        let text: Vec<&str> = (0..n)
            .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
            .collect();
        if let Err(e) = parse_str(
            &text.join(" "),
            Path::new("r.conf"),
            Path::new("/nonexistent"),
        ) {
            // Every refusal names where it happened (or the include that failed).
            let msg = e.to_string();
            assert!(
                msg.starts_with("r.conf:") || msg.starts_with("/nonexistent"),
                "{msg}"
            );
            refused += 1;
        }
        let line: String = (0..rng.gen_range(0..40))
            .map(|_| char::from_u32(rng.gen_range(0..0x250)).unwrap_or(' '))
            .collect();
        if let Some((name, data)) = cleanse(&line) {
            let _ = router.route(&name, &data);
        }
        let r = router.route(&line, &line);
        assert!(r.destinations().len() <= 2);
    }
    assert!(
        refused > 1000,
        "the generator should mostly produce invalid configurations ({refused})"
    );
}
