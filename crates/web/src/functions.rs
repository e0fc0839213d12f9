//! `/functions` and `/functions/<name>`: the function library's metadata (the query crate's catalog
//! of graphite-web's own `/functions` answer) in graphite-web's JSON shape.

use crate::error::WebError;
use crate::params::Params;
use crate::pyjson::PyJson;

/// Writes a JSON value with Python spacing; infinite defaults come out as `1e9999`.
fn write_value(w: &mut PyJson, v: &serde_json::Value) {
    match v {
        serde_json::Value::Null => w.null(),
        serde_json::Value::Bool(b) => w.bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => w.int(i),
            (None, Some(f)) => w.float_replaced(f),
            _ => w.null(),
        },
        serde_json::Value::String(s) => w.string(s),
        serde_json::Value::Array(items) => {
            w.begin_array();
            for it in items {
                write_value(w, it);
            }
            w.end_array();
        }
        serde_json::Value::Object(m) => {
            w.begin_object();
            for (k, x) in m {
                w.key(k);
                write_value(w, x);
            }
            w.end_object();
        }
    }
}

/// `/functions[?grouped=1|group=G|type=pie]` as JSON text.
pub fn list(params: &Params) -> Result<String, WebError> {
    let mut w = PyJson::new(params.truthy("pretty"), false);
    if params.get("type") == Some("pie") {
        // no pie functions yet (graphs are a later issue)
        w.begin_object();
        w.end_object();
        return Ok(w.finish());
    }
    let grouped = params
        .get("grouped")
        .is_some_and(|g| matches!(g.to_ascii_lowercase().as_str(), "1" | "true"));
    let group = params.get("group");
    let all = query::functions::functions_json();
    let Some(map) = all.as_object() else {
        return Err(WebError::Internal(
            "function catalog is not an object".into(),
        ));
    };
    let group_of = |info: &serde_json::Value| {
        info.get("group")
            .and_then(|g| g.as_str())
            .unwrap_or("")
            .to_string()
    };
    let selected: Vec<(&String, &serde_json::Value)> = map
        .iter()
        .filter(|(_, info)| group.is_none_or(|g| g == group_of(info)))
        .collect();
    w.begin_object();
    if grouped {
        let mut groups: Vec<String> = selected.iter().map(|(_, i)| group_of(i)).collect();
        groups.sort();
        groups.dedup();
        for g in groups {
            w.key(&g);
            w.begin_object();
            for (name, info) in selected.iter().filter(|(_, i)| group_of(i) == g) {
                w.key(name);
                write_value(&mut w, info);
            }
            w.end_object();
        }
    } else {
        for (name, info) in selected {
            w.key(name);
            write_value(&mut w, info);
        }
    }
    w.end_object();
    Ok(w.finish())
}

/// `/functions/<name>` as JSON text; unknown names are [`WebError::NotFound`].
pub fn one(name: &str, params: &Params) -> Result<String, WebError> {
    let info = query::functions::function_info(name)
        .ok_or_else(|| WebError::NotFound(format!("Function not found: {name}")))?;
    let mut w = PyJson::new(params.truthy("pretty"), false);
    write_value(&mut w, info);
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_lists_sum_series_and_filters_groups() {
        let all: serde_json::Value =
            serde_json::from_str(&list(&Params::default()).unwrap()).unwrap();
        assert_eq!(all["sumSeries"]["group"], "Combine");
        let combine = list(&Params::from_pairs([("group", "Combine")])).unwrap();
        let combine: serde_json::Value = serde_json::from_str(&combine).unwrap();
        assert!(combine
            .as_object()
            .unwrap()
            .values()
            .all(|i| i["group"] == "Combine"));
        let grouped: serde_json::Value =
            serde_json::from_str(&list(&Params::from_pairs([("grouped", "1")])).unwrap()).unwrap();
        assert!(grouped["Combine"]["sumSeries"].is_object());
        assert!(matches!(
            one("noSuchFunction", &Params::default()),
            Err(WebError::NotFound(_))
        ));
        let one: serde_json::Value =
            serde_json::from_str(&one("sumSeries", &Params::default()).unwrap()).unwrap();
        assert_eq!(one["function"], "sumSeries(*seriesLists)");
    }
}
