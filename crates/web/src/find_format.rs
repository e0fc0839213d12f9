//! `/metrics/find` answer formats (treejson, completer, json, nodelist, pickle, msgpack), as
//! graphite-web's `metrics/views.py` lays them out (render-api.md §4).

use crate::pickle::{msgpack_dumps, PyValue};
use crate::pyjson::PyJson;

/// One node matched by a find.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundNode {
    /// Full dotted path.
    pub path: String,
    /// Whether it is a metric (leaf) rather than a branch.
    pub is_leaf: bool,
    /// For leaves: `(start, end)` epoch seconds of the data the node can answer.
    pub intervals: Vec<(f64, f64)>,
}

impl FoundNode {
    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

/// Sorts matches as graphite-web does before formatting: by node name (stable over path order).
pub fn sort_matches(nodes: &mut [FoundNode]) {
    nodes.sort_by(|a, b| a.name().cmp(b.name()).then_with(|| a.path.cmp(&b.path)));
}

/// Python's `urllib.parse.unquote_plus` (treejson `text`).
fn unquote_plus(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    form_urlencoded::parse(format!("x={}", s.replace('&', "%26").replace('=', "%3D")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// `format=treejson` (Grafana's query editor reads `text`, `id`, `expandable`, `leaf`).
pub fn treejson(w: &mut PyJson, nodes: &[FoundNode], base_path: &str, wildcards: bool) {
    w.begin_array();
    let leaf_attrs = |w: &mut PyJson, leaf: bool| {
        let (a, e, l) = if leaf { (0, 0, 1) } else { (1, 1, 0) };
        w.key("allowChildren");
        w.int(a);
        w.key("expandable");
        w.int(e);
        w.key("leaf");
        w.int(l);
    };
    if nodes.len() > 1 && wildcards {
        w.begin_object();
        w.key("text");
        w.string("*");
        w.key("id");
        w.string(&format!("{base_path}*"));
        leaf_attrs(w, nodes.iter().all(|n| n.is_leaf));
        w.end_object();
    }
    let mut seen = std::collections::HashSet::new();
    let mut branches = Vec::new();
    let mut leaves = Vec::new();
    for n in nodes {
        if !seen.insert(n.name()) {
            continue;
        }
        if n.is_leaf {
            leaves.push(n);
        } else {
            branches.push(n);
        }
    }
    for n in branches.into_iter().chain(leaves) {
        w.begin_object();
        w.key("text");
        w.string(&unquote_plus(n.name()));
        w.key("id");
        w.string(&format!("{base_path}{}", n.name()));
        leaf_attrs(w, n.is_leaf);
        w.end_object();
    }
    w.end_array();
}

/// `format=completer`.
pub fn completer(w: &mut PyJson, nodes: &[FoundNode], wildcards: bool) {
    w.begin_object();
    w.key("metrics");
    w.begin_array();
    for n in nodes {
        w.begin_object();
        w.key("path");
        if n.is_leaf {
            w.string(&n.path);
        } else {
            w.string(&format!("{}.", n.path));
        }
        w.key("name");
        w.string(n.name());
        w.key("is_leaf");
        w.string(if n.is_leaf { "1" } else { "0" });
        w.end_object();
    }
    if nodes.len() > 1 && wildcards {
        w.begin_object();
        w.key("name");
        w.string("*");
        w.end_object();
    }
    w.end_array();
    w.end_object();
}

/// `format=json`: sorted by path, leaves with their intervals.
pub fn json_nodes(w: &mut PyJson, nodes: &[FoundNode]) {
    let mut sorted: Vec<&FoundNode> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    w.begin_array();
    for n in sorted {
        w.begin_object();
        w.key("path");
        w.string(&n.path);
        w.key("is_leaf");
        w.bool(n.is_leaf);
        if n.is_leaf {
            w.key("intervals");
            w.begin_array();
            for (s, e) in &n.intervals {
                w.begin_object();
                w.key("start");
                w.float(*s);
                w.key("end");
                w.float(*e);
                w.end_object();
            }
            w.end_array();
        }
        w.end_object();
    }
    w.end_array();
}

/// `format=nodelist`: sorted unique components at `position` (Python indexing, negative from the end).
pub fn nodelist(w: &mut PyJson, nodes: &[FoundNode], position: i64) -> Result<(), String> {
    let mut found = std::collections::BTreeSet::new();
    for n in nodes {
        let parts: Vec<&str> = n.path.split('.').collect();
        let idx = if position < 0 {
            parts.len() as i64 + position
        } else {
            position
        };
        match usize::try_from(idx).ok().and_then(|i| parts.get(i)) {
            Some(p) => {
                found.insert(*p);
            }
            None => return Err("list index out of range".to_string()),
        }
    }
    w.begin_object();
    w.key("nodes");
    w.begin_array();
    for f in found {
        w.string(f);
    }
    w.end_array();
    w.end_object();
    Ok(())
}

fn node_values(nodes: &[FoundNode]) -> PyValue {
    PyValue::List(
        nodes
            .iter()
            .map(|n| {
                let mut d = vec![
                    (PyValue::Str("path".into()), PyValue::Str(n.path.clone())),
                    (PyValue::Str("is_leaf".into()), PyValue::Bool(n.is_leaf)),
                ];
                if n.is_leaf {
                    let iv = n
                        .intervals
                        .iter()
                        .map(|(s, e)| PyValue::Tuple(vec![PyValue::Float(*s), PyValue::Float(*e)]))
                        .collect();
                    d.push((PyValue::Str("intervals".into()), PyValue::List(iv)));
                }
                PyValue::Dict(d)
            })
            .collect(),
    )
}

/// `format=pickle` (intervals as a list of `(start, end)` tuples).
pub fn pickle_nodes(nodes: &[FoundNode]) -> Vec<u8> {
    crate::pickle::pickle_dumps(&node_values(nodes))
}

/// `format=msgpack`.
pub fn msgpack_nodes(nodes: &[FoundNode]) -> Vec<u8> {
    msgpack_dumps(&node_values(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(path: &str, leaf: bool) -> FoundNode {
        FoundNode {
            path: path.into(),
            is_leaf: leaf,
            intervals: if leaf { vec![(1.0, 2.5)] } else { vec![] },
        }
    }

    #[test]
    fn treejson_dedups_and_lists_branches_first() {
        let mut nodes = vec![
            n("a.x.user", true),
            n("a.y.user", true),
            n("a.y.sys", false),
        ];
        sort_matches(&mut nodes);
        let mut w = PyJson::new(false, false);
        treejson(&mut w, &nodes, "a.*.", true);
        assert_eq!(
            w.finish(),
            r#"[{"text": "*", "id": "a.*.*", "allowChildren": 1, "expandable": 1, "leaf": 0}, {"text": "sys", "id": "a.*.sys", "allowChildren": 1, "expandable": 1, "leaf": 0}, {"text": "user", "id": "a.*.user", "allowChildren": 0, "expandable": 0, "leaf": 1}]"#
        );
    }

    #[test]
    fn completer_and_json() {
        let nodes = vec![n("a.b", false), n("a.c", true)];
        let mut w = PyJson::new(false, false);
        completer(&mut w, &nodes, false);
        assert_eq!(
            w.finish(),
            r#"{"metrics": [{"path": "a.b.", "name": "b", "is_leaf": "0"}, {"path": "a.c", "name": "c", "is_leaf": "1"}]}"#
        );
        let mut w = PyJson::new(false, false);
        json_nodes(&mut w, &nodes);
        assert_eq!(
            w.finish(),
            r#"[{"path": "a.b", "is_leaf": false}, {"path": "a.c", "is_leaf": true, "intervals": [{"start": 1.0, "end": 2.5}]}]"#
        );
    }

    #[test]
    fn nodelist_positions() {
        let nodes = vec![n("a.b.c", true), n("a.d.c", true)];
        let mut w = PyJson::new(false, false);
        nodelist(&mut w, &nodes, 1).unwrap();
        assert_eq!(w.finish(), r#"{"nodes": ["b", "d"]}"#);
        let mut w = PyJson::new(false, false);
        assert!(nodelist(&mut w, &nodes, 7).is_err());
    }
}
