//! Evaluator behaviour around the Fetcher: prefetch hook, per-request cache, keyword arguments.

mod common;

use std::sync::Mutex;

use query::memory::MemoryFetcher;
use query::{Evaluator, FetchError, FetchRequest, Fetcher, RequestContext, Series};

/// Wraps the real in-memory store and records what the evaluator asks of it.
struct Recording {
    inner: MemoryFetcher,
    fetched: Mutex<Vec<(String, i64, i64)>>,
    prefetched: Mutex<Vec<Vec<String>>>,
}

impl Fetcher for Recording {
    fn fetch(&self, req: &FetchRequest<'_>) -> Result<Vec<Series>, FetchError> {
        self.fetched
            .lock()
            .unwrap()
            .push((req.path_expression.to_string(), req.from, req.until));
        self.inner.fetch(req)
    }

    fn prefetch(&self, reqs: &[FetchRequest<'_>]) {
        self.prefetched
            .lock()
            .unwrap()
            .push(reqs.iter().map(|r| r.path_expression.to_string()).collect());
    }
}

fn recording() -> Recording {
    let o = common::oracle();
    Recording {
        inner: common::fetcher(&o["fixture"]),
        fetched: Mutex::new(Vec::new()),
        prefetched: Mutex::new(Vec::new()),
    }
}

#[test]
fn repeated_paths_are_fetched_once_per_range() {
    let r = recording();
    let ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    let targets = vec![
        "sumSeries(test.servers.*.cpu.user)".to_string(),
        "test.servers.*.cpu.user".to_string(),
        "movingAverage(test.servers.*.cpu.user,5)".to_string(),
    ];
    let out = Evaluator::new(&r).evaluate_targets(&ctx, &targets).unwrap();
    assert_eq!(out.len(), 1 + 3 + 3);
    let fetched = r.fetched.lock().unwrap().clone();
    // Once for the request range, once for movingAverage's earlier bootstrap range.
    assert_eq!(
        fetched,
        vec![
            (
                "test.servers.*.cpu.user".to_string(),
                1_700_000_000,
                1_700_001_800
            ),
            (
                "test.servers.*.cpu.user".to_string(),
                1_700_000_000 - 300,
                1_700_001_800
            ),
        ]
    );
    let pre = r.prefetched.lock().unwrap().clone();
    assert_eq!(
        pre.first().map(Vec::len),
        Some(1),
        "one distinct positional path: {pre:?}"
    );
}

#[test]
fn keyword_only_paths_are_not_fetched() {
    // graphite prefetches positional arguments only; a path given only as a keyword argument
    // evaluates to an empty list (its transformNull then has no reference series).
    let r = recording();
    let ctx = RequestContext::new(1_700_000_000, 1_700_001_800, 1_700_003_600);
    let out = Evaluator::new(&r)
        .evaluate_target(
            &ctx,
            "transformNull(oracle.sparse.a,referenceSeries=oracle.neg.a)",
        )
        .unwrap();
    assert_eq!(out[0].name, "transformNull(oracle.sparse.a,0)");
    assert!(r
        .fetched
        .lock()
        .unwrap()
        .iter()
        .all(|(p, _, _)| p != "oracle.neg.a"));
}
