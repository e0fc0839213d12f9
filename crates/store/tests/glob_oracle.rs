//! Component globs agree with graphite-web's `match_entries` (brace expansion + Python `fnmatch`) on
//! thousands of random patterns and names built from the characters that matter.

mod common;

use common::{run_sys_python, Rng};
use store::glob::{expand_braces, Glob};

const MATCHER: &str = r#"
import sys, json
from graphite.finders import match_entries
cases = json.load(sys.stdin)
print(json.dumps([bool(match_entries([name], pat)) for pat, name in cases]))
"#;

fn ours(pattern: &str, name: &str) -> bool {
    expand_braces(pattern, 10_000)
        .expect("few variants")
        .iter()
        .any(|v| Glob::new(v).is_match(name))
}

#[test]
fn globs_match_graphite_web_match_entries() {
    let mut rng = Rng::new(0xfeed_beef);
    let pat_chars: Vec<char> = "ab-]![*?{},^\\&~z.é".chars().collect();
    let name_chars: Vec<char> = "ab-]![{},^\\z.é".chars().collect();
    let mut cases = Vec::new();
    for _ in 0..6000 {
        let plen = rng.below(9);
        let pattern: String = (0..plen).map(|_| rng.pick(&pat_chars)).collect();
        let name: String = if rng.below(2) == 0 {
            let nlen = rng.below(6);
            (0..nlen).map(|_| rng.pick(&name_chars)).collect()
        } else {
            // Roughly instantiate the pattern so that many cases are near-matches.
            let mut n = String::new();
            for c in pattern.chars() {
                match c {
                    '*' => (0..rng.below(3)).for_each(|_| n.push(rng.pick(&name_chars))),
                    '?' => n.push(rng.pick(&name_chars)),
                    '{' | '}' | ',' if rng.below(2) == 0 => {}
                    '[' | ']' | '!' | '-' if rng.below(3) == 0 => {}
                    c => n.push(c),
                }
            }
            n
        };
        cases.push((pattern, name));
    }
    let stdout = run_sys_python(MATCHER, &[], &serde_json::to_string(&cases).unwrap());
    let expected: Vec<bool> = serde_json::from_str(stdout.trim()).expect("matcher output is JSON");
    assert_eq!(expected.len(), cases.len());
    let failures: Vec<String> = cases
        .iter()
        .zip(&expected)
        .filter(|((p, n), want)| ours(p, n) != **want)
        .map(|((p, n), want)| format!("pattern {p:?} name {n:?}: python says {want}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let matched = expected.iter().filter(|m| **m).count();
    assert!(
        matched > 300,
        "too few positive cases ({matched}) to be meaningful"
    );
}
