//! The parser and evaluator never panic on garbage targets (the fuzz target's corpus, replayed).

mod common;

use query::memory::MemoryFetcher;
use query::{parse_target, Evaluator, RequestContext};
use rand::{Rng, SeedableRng};

const PIECES: &[&str] = &[
    "sumSeries(",
    "scale(",
    ")",
    "(",
    ",",
    "'",
    "\"",
    "a.b",
    "*",
    "{a,b}",
    "[1-2]",
    "-1",
    "1e5",
    "2.5",
    "true",
    "None",
    "inf",
    "x=",
    "|",
    "template(",
    "$x",
    "\\",
    "summarize(",
    "'5min'",
    " ",
    "movingAverage(",
    "seriesByTag(",
    ";",
    "=",
    "é",
];

#[test]
fn random_garbage_never_panics() {
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let empty = MemoryFetcher::new();
    let ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut parsed = 0;
    for _ in 0..3000 {
        let n = rng.gen_range(0..12);
        let t: String = (0..n)
            .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
            .collect();
        if parse_target(&t).is_ok() {
            parsed += 1;
        }
        let _ = Evaluator::new(&empty).evaluate_target(&ctx, &t);
        let _ =
            Evaluator::new(&f).evaluate_target(&ctx, &t.replace("a.b", "test.servers.*.cpu.user"));
    }
    for raw in [
        &b"\xff\xfe("[..],
        b"((((((((",
        b"f(,)",
        b")",
        b"'unterminated",
        b"a.b(1",
    ] {
        let _ = parse_target(&String::from_utf8_lossy(raw));
    }
    assert!(
        parsed > 100,
        "generator should produce some valid targets, got {parsed}"
    );
}

#[test]
fn unknown_function_and_bad_syntax_are_typed_errors() {
    let ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    let f = MemoryFetcher::new();
    let e = Evaluator::new(&f)
        .evaluate_target(&ctx, "nope(a.b)")
        .unwrap_err();
    assert!(matches!(e, query::QueryError::UnknownFunction(ref n) if n == "nope"));
    assert!(e.is_client_error());
    assert!(matches!(
        parse_target(")"),
        Err(query::QueryError::Parse { pos: 0, .. })
    ));
}

#[test]
fn limits_are_enforced() {
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let mut ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    ctx.limits.max_series = Some(2);
    let e = Evaluator::new(&f)
        .evaluate_target(&ctx, "sumSeries(test.servers.*.cpu.user)")
        .unwrap_err();
    assert!(matches!(
        e,
        query::QueryError::Limit {
            what: "series",
            got: 3,
            max: 2
        }
    ));
}

/// Every registered function, called with random mixes of extreme arguments, must answer with a
/// result or a typed error, never a panic.
#[test]
fn every_function_survives_hostile_arguments() {
    let o = common::oracle();
    let f = common::fetcher(&o["fixture"]);
    let mut ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    ctx.limits.max_points = Some(2_000_000);
    const ARGS: &[&str] = &[
        "test.servers.*.cpu.*",
        "oracle.sparse.a",
        "test.nonexistent.x",
        "tagged.*",
        "0",
        "1",
        "-1",
        "2",
        "3",
        "7",
        "-9223372036854775808",
        "9223372036854775807",
        "99999999999999999999",
        "1e308",
        "-1e308",
        "0.5",
        "-2.5",
        "'1s'",
        "'-5min'",
        "'0s'",
        "'1y'",
        "'bogus'",
        "''",
        "'sum'",
        "'count'",
        "'avg'",
        "'median'",
        "'max'",
        "'web(\\d+)'",
        "'\\1'",
        "'%d'",
        "'('",
        "true",
        "false",
        "None",
        "inf",
        "'name'",
        "'dc'",
        "'1700000600'",
        "sumSeries(test.servers.*.cpu.user)",
        "isNonNull(oracle.*.*)",
        "constantLine(1)",
        "'<'",
        "'!='",
    ];
    let names = query::functions::implemented();
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        std::env::var("CARBONADO_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(42),
    );
    let mut ok = 0;
    let mut panics = Vec::new();
    for round in 0..rounds() {
        let name = names[round % names.len()];
        let n = rng.gen_range(0..5);
        let args: Vec<String> = (0..n)
            .map(|_| random_arg(&mut rng, &names, ARGS, 2))
            .collect();
        let target = format!("{}({})", name, args.join(","));
        if std::env::var("CARBONADO_FUZZ_TRACE").is_ok() {
            eprintln!("TRY {target}");
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Evaluator::new(&f).evaluate_target(&ctx, &target)
        }));
        match r {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => {}
            Err(_) => panics.push(target),
        }
    }
    assert!(
        panics.is_empty(),
        "{} targets panicked: {:?}",
        panics.len(),
        &panics[..panics.len().min(30)]
    );
    assert!(ok > 200, "some calls should succeed, got {ok}");
}

/// A pool argument, or (sometimes) a nested call of a random function.
fn random_arg(rng: &mut rand::rngs::StdRng, names: &[&str], pool: &[&str], depth: usize) -> String {
    if depth > 0 && rng.gen_range(0..6) == 0 {
        let name = names[rng.gen_range(0..names.len())];
        let n = rng.gen_range(1..4);
        let args: Vec<String> = (0..n)
            .map(|_| random_arg(rng, names, pool, depth - 1))
            .collect();
        return format!("{}({})", name, args.join(","));
    }
    pool[rng.gen_range(0..pool.len())].to_string()
}

/// CARBONADO_FUZZ_ROUNDS raises the effort for a local soak.
fn rounds() -> usize {
    std::env::var("CARBONADO_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}
