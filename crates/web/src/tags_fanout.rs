//! Tag queries across a cluster: the node's own answer merged with its peers' answers to the
//! same call made with `local=1`.
//!
//! graphite-web 1.1 asks its remote finders only for autocomplete (`/tags/autoComplete/*` with
//! `local=1`, merged as a sorted set cut at `limit`) and hands them `seriesByTag` patterns to
//! render; `/tags`, `/tags/<tag>` and `/tags/findSeries` read its one shared TagDB. Carbonado
//! nodes each index their own series, so those three are merged here too: series and tag names
//! as sorted sets, `/tags/<tag>` values by value with their series counts summed.

use std::collections::BTreeMap;

use serde_json::Value;
use store::tags::{TagDetails, TagInfo, ValueInfo};

use crate::params::Params;
use crate::source::Sources;

/// Parameters not forwarded to peers: `local` is set to 1, output shaping is the node's.
const NOT_FORWARDED: &[&str] = &["local", "pretty", "jsonp", "format"];

/// `path?query` for a peer: the request's own parameters with `local=1` (and `defaults` for
/// parameters the request left out, as graphite-web's RemoteFinder always sends `limit`).
pub fn peer_target(path: &str, params: &Params, defaults: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.pairs() {
        if !NOT_FORWARDED.contains(&k.as_str()) {
            s.append_pair(k, v);
        }
    }
    for (k, v) in defaults {
        if !params.has(k) {
            s.append_pair(k, v);
        }
    }
    s.append_pair("local", "1");
    format!("{path}?{}", s.finish())
}

/// A URL path segment with everything but unreserved characters percent-encoded.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The peers' JSON answers (the request's sources: none when it carries `local=1`); a peer
/// that fails or answers something else than JSON is left out.
pub async fn peer_answers(sources: &Sources, target: &str) -> Vec<Value> {
    let bodies = match sources.tag_calls(target).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("web: tag query to peers: {e}");
            return Vec::new();
        }
    };
    bodies
        .into_iter()
        .filter_map(|b| match serde_json::from_slice::<Value>(&b) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!("web: peer tag answer is not JSON: {e}");
                None
            }
        })
        .collect()
}

/// The local list and the peers' string lists as one sorted set.
pub fn union(local: Vec<String>, peers: &[Value]) -> Vec<String> {
    let mut all = local;
    for p in peers {
        if let Some(list) = p.as_array() {
            all.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// Python's `results[:int(limit)]` under `if limit:` (graphite-web's `Store` autocomplete cut).
pub fn py_cut<T>(mut list: Vec<T>, limit: Option<i64>) -> Vec<T> {
    match limit {
        Some(n) if n > 0 => list.truncate(usize::try_from(n).unwrap_or(usize::MAX)),
        Some(n) if n < 0 => {
            let keep = list
                .len()
                .saturating_sub(usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX));
            list.truncate(keep);
        }
        _ => {}
    }
    list
}

/// SQL `LIMIT` as the local TagDB applies it (a positive limit cuts, anything else keeps all).
pub fn sql_cut<T>(mut list: Vec<T>, limit: Option<i64>) -> Vec<T> {
    if let Some(n) = limit.filter(|&n| n > 0) {
        list.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    list
}

fn as_id(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// `/tags`: the tags of every node by name (the first node's id kept: local first), sorted.
pub fn merge_tag_list(local: Vec<TagInfo>, peers: &[Value], limit: Option<i64>) -> Vec<TagInfo> {
    let mut by_tag: BTreeMap<String, u64> = BTreeMap::new();
    for t in local {
        by_tag.entry(t.tag).or_insert(t.id);
    }
    for p in peers {
        for t in p.as_array().into_iter().flatten() {
            if let Some(tag) = t["tag"].as_str() {
                by_tag.entry(tag.to_string()).or_insert(as_id(&t["id"]));
            }
        }
    }
    let list = by_tag
        .into_iter()
        .map(|(tag, id)| TagInfo { id, tag })
        .collect();
    sql_cut(list, limit)
}

/// `/tags/<tag>`: values of every node by value, counts summed (a series lives on one node
/// unless replicated), sorted; `None` when no node knows the tag.
pub fn merge_details(
    tag: &str,
    local: Option<TagDetails>,
    peers: &[Value],
    limit: Option<i64>,
) -> Option<TagDetails> {
    let mut id = local.as_ref().map(|d| d.id);
    let mut values: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for v in local.into_iter().flat_map(|d| d.values) {
        values.insert(v.value, (v.id, v.count));
    }
    for p in peers.iter().filter(|p| p.is_object()) {
        id.get_or_insert(as_id(&p["id"]));
        for v in p["values"].as_array().into_iter().flatten() {
            let Some(value) = v["value"].as_str() else {
                continue;
            };
            let count = usize::try_from(v["count"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
            let e = values
                .entry(value.to_string())
                .or_insert((as_id(&v["id"]), 0));
            e.1 = e.1.saturating_add(count);
        }
    }
    let values: Vec<ValueInfo> = values
        .into_iter()
        .map(|(value, (id, count))| ValueInfo { id, value, count })
        .collect();
    Some(TagDetails {
        id: id?,
        tag: tag.to_string(),
        values: sql_cut(values, limit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_as_sorted_sets() {
        let peers = [json!(["b", "d"]), json!({"error": "x"}), json!(["a", "b"])];
        assert_eq!(
            union(vec!["c".into(), "b".into()], &peers),
            ["a", "b", "c", "d"]
        );
        assert_eq!(py_cut(vec![1, 2, 3], Some(2)), [1, 2]);
        assert_eq!(py_cut(vec![1, 2, 3], Some(-1)), [1, 2]);
        assert_eq!(py_cut(vec![1, 2, 3], Some(0)), [1, 2, 3]);
        assert_eq!(py_cut(vec![1, 2, 3], None), [1, 2, 3]);
    }

    #[test]
    fn merges_tag_details_by_value() {
        let local = TagDetails {
            id: 3,
            tag: "dc".into(),
            values: vec![ValueInfo {
                id: 7,
                value: "x".into(),
                count: 2,
            }],
        };
        let peer = json!({"id": 9, "tag": "dc", "values": [
            {"id": 1, "value": "w", "count": 1}, {"id": 2, "value": "x", "count": 5}]});
        let d = merge_details("dc", Some(local), std::slice::from_ref(&peer), None).unwrap();
        assert_eq!(d.id, 3);
        let got: Vec<(&str, usize)> = d
            .values
            .iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect();
        assert_eq!(got, [("w", 1), ("x", 7)]);
        let d = merge_details("dc", None, &[json!(null), peer], Some(1)).unwrap();
        assert_eq!((d.id, d.values.len()), (9, 1));
        assert!(merge_details("dc", None, &[json!(null)], None).is_none());
    }

    #[test]
    fn peer_target_forwards_with_local() {
        let p = Params::from_pairs([("expr", "a=b"), ("pretty", "1"), ("local", "0")]);
        assert_eq!(
            peer_target("/tags/autoComplete/tags", &p, &[("limit", "100")]),
            "/tags/autoComplete/tags?expr=a%3Db&limit=100&local=1"
        );
        assert_eq!(path_segment("a b/é"), "a%20b%2F%C3%A9");
    }
}
