//! Every case of `vectors/protocols/tags.json` (carbon's TaggedSeries): normalised path, tags,
//! error text, and both on-disk layouts.

mod common;

use std::path::PathBuf;

use common::vectors;
use proto::path::relative_path;
use proto::tags::{normalize_name, parse_tagged};

#[test]
fn every_tags_vector() {
    let v = vectors("tags.json");
    let cases = v.as_array().expect("cases");
    assert!(cases.len() >= 22);
    for case in cases {
        let input = case["input"].as_str().expect("input");
        match case["error"].as_str() {
            Some(err) => {
                let e = parse_tagged(input).expect_err(input);
                assert_eq!(e.to_string(), err, "{input}");
                assert_eq!(
                    normalize_name(input),
                    input,
                    "raw name kept when parsing fails"
                );
            }
            None => {
                let t = parse_tagged(input).unwrap_or_else(|e| panic!("{input}: {e}"));
                let want = case["normalized_path"].as_str().expect("path");
                assert_eq!(t.normalized, want, "{input}");
                assert_eq!(normalize_name(input), want);
                let mut got_tags: Vec<(String, String)> = t.tags.clone();
                let mut want_tags: Vec<(String, String)> = case["tags"]
                    .as_object()
                    .expect("tags")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("v").to_owned()))
                    .collect();
                got_tags.sort();
                want_tags.sort();
                assert_eq!(got_tags, want_tags, "{input}");
                let hashed = case["whisper_relpath_hash_only"].as_str().expect("relpath");
                let plain = case["whisper_relpath"].as_str().expect("relpath");
                assert_eq!(
                    relative_path(&t.normalized, true),
                    Ok(PathBuf::from(hashed)),
                    "{input}"
                );
                assert_eq!(
                    relative_path(&t.normalized, false),
                    Ok(PathBuf::from(plain)),
                    "{input}"
                );
            }
        }
    }
}
