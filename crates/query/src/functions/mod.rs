//! The function library: one registry entry per graphite function, metadata from graphite-web's
//! own `/functions` catalog (embedded), so parameter binding and the `/functions` endpoint share one source.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::context::RequestContext;
use crate::error::Result;
use crate::eval::{Args, Evaluator};
use crate::series::Series;

pub mod agg;
mod alias;
mod calc;
mod combine;
mod filter;
mod special;
mod transform;
mod util;

/// A function implementation.
pub type Impl = fn(&mut Evaluator<'_>, &RequestContext, &mut Args<'_>) -> Result<Vec<Series>>;

/// One registry entry.
pub struct FuncDef {
    /// The name used in targets.
    pub name: &'static str,
    /// The implementation.
    pub imp: Impl,
}

/// A parameter's binding metadata.
#[derive(Debug, Clone)]
pub struct ParamMeta {
    /// Python parameter name.
    pub name: String,
    /// Takes all remaining positional arguments.
    pub multiple: bool,
    /// graphite's parameter type (`float` values are converted to floats when bound).
    pub ty: String,
}

fn registry() -> &'static HashMap<&'static str, FuncDef> {
    static R: OnceLock<HashMap<&'static str, FuncDef>> = OnceLock::new();
    R.get_or_init(|| {
        let mut m = HashMap::new();
        for list in [
            combine::DEFS,
            transform::DEFS,
            calc::DEFS,
            filter::DEFS,
            alias::DEFS,
            special::DEFS,
        ] {
            for &(name, imp) in list {
                m.insert(name, FuncDef { name, imp });
            }
        }
        m
    })
}

/// Functions that never compute new values (they rename, reorder, filter, shift in time or
/// decorate), so the int flags of their input series stay valid.
const PRESERVES_INTS: &[&str] = &[
    "alias",
    "aliasByNode",
    "aliasByMetric",
    "aliasByTags",
    "aliasSub",
    "aliasQuery",
    "legendValue",
    "cactiStyle",
    "substr",
    "upper",
    "lower",
    "color",
    "lineWidth",
    "dashed",
    "secondYAxis",
    "drawAsInfinite",
    "alpha",
    "areaBetween",
    "consolidateBy",
    "cumulative",
    "setXFilesFactor",
    "xFilesFactor",
    "group",
    "exclude",
    "grep",
    "limit",
    "sortBy",
    "sortByName",
    "sortByTotal",
    "sortByMaxima",
    "sortByMinima",
    "highest",
    "lowest",
    "highestCurrent",
    "highestMax",
    "highestAverage",
    "lowestCurrent",
    "lowestAverage",
    "currentAbove",
    "currentBelow",
    "averageAbove",
    "averageBelow",
    "maximumAbove",
    "maximumBelow",
    "minimumAbove",
    "minimumBelow",
    "filterSeries",
    "removeEmptySeries",
    "unique",
    "fallbackSeries",
    "mostDeviant",
    "timeShift",
    "timeStack",
    "timeSlice",
    "useSeriesAbove",
    "applyByNode",
    "removeAboveValue",
    "removeBelowValue",
    "removeAbovePercentile",
    "removeBelowPercentile",
    "removeBetweenPercentile",
    "averageOutsidePercentile",
    "mapSeries",
    "map",
    // abs() of an int is an int at the same place
    "absolute",
];

/// Functions that set int flags on their results themselves.
const SETS_INTS: &[&str] = &[
    "countSeries",
    "isNonNull",
    "changed",
    "transformNull",
    "identity",
    "delay",
    "keepLastValue",
    "aggregate",
    "sumSeries",
    "sum",
    "averageSeries",
    "avg",
    "minSeries",
    "maxSeries",
    "diffSeries",
    "stddevSeries",
    "rangeOfSeries",
    "multiplySeries",
    "groupByNode",
    "groupByNodes",
    "groupByTags",
    "aggregateWithWildcards",
    "sumSeriesWithWildcards",
    "averageSeriesWithWildcards",
    "multiplySeriesWithWildcards",
    "aggregateSeriesLists",
    "sumSeriesLists",
    "diffSeriesLists",
    "multiplySeriesLists",
    "reduceSeries",
    "reduce",
    "summarize",
    "smartSummarize",
    "movingWindow",
    "movingSum",
    "movingMin",
    "movingMax",
    "movingMedian",
    "movingAverage",
    "derivative",
    "nonNegativeDerivative",
];

/// Whether the int flags on a function's results can be trusted (otherwise the evaluator clears them).
pub(crate) fn keeps_int_flags(name: &str) -> bool {
    PRESERVES_INTS.contains(&name) || SETS_INTS.contains(&name)
}

/// mapSeries grouping: series grouped by node/tag key in first-appearance order.
pub fn map_series(list: Vec<Series>, nodes: &[crate::eval::Value]) -> Vec<Vec<Series>> {
    util::group_by(list, |s| util::agg_key(s, nodes))
        .into_iter()
        .map(|(_, g)| g)
        .collect()
}

/// The function registered under `name`.
pub fn lookup(name: &str) -> Option<&'static FuncDef> {
    registry().get(name)
}

/// Names of every implemented function, sorted.
pub fn implemented() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = registry().keys().copied().collect();
    v.sort_unstable();
    v
}

fn catalog() -> &'static serde_json::Map<String, serde_json::Value> {
    static C: OnceLock<serde_json::Map<String, serde_json::Value>> = OnceLock::new();
    C.get_or_init(|| {
        // serde_json cannot hold graphite's `1e9999` (infinite defaults): park it in a string.
        let text = include_str!("catalog.json")
            .replace(": Infinity", &format!(": {INF_SENTINEL}"))
            .replace("1e9999", INF_SENTINEL);
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    })
}

fn params_table() -> &'static HashMap<String, Vec<ParamMeta>> {
    static P: OnceLock<HashMap<String, Vec<ParamMeta>>> = OnceLock::new();
    P.get_or_init(|| {
        let mut m = HashMap::new();
        for (name, info) in catalog() {
            let params = info
                .get("params")
                .and_then(|p| p.as_array())
                .map(|arr| {
                    arr.iter()
                        .map(|p| ParamMeta {
                            name: p
                                .get("name")
                                .and_then(|n| n.as_str())
                                .unwrap_or("")
                                .to_string(),
                            multiple: p.get("multiple").and_then(|b| b.as_bool()).unwrap_or(false),
                            ty: p
                                .get("type")
                                .and_then(|t| t.as_str())
                                .unwrap_or("")
                                .to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            m.insert(name.clone(), params);
        }
        m
    })
}

/// Parameter list of a function (empty when unknown to the catalog).
pub fn params_of(name: &str) -> &'static [ParamMeta] {
    params_table().get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// `/functions/<name>`: graphite-web's info object for one implemented function.
pub fn function_info(name: &str) -> Option<&'static serde_json::Value> {
    if !is_served(name) {
        return None;
    }
    catalog().get(name)
}

/// seriesByTag is evaluated by the evaluator itself (a Fetcher call), not through the registry.
fn is_served(name: &str) -> bool {
    lookup(name).is_some() || name == "seriesByTag"
}

const INF_SENTINEL: &str = "\"__carbonado_inf__\"";

/// Serializes catalog JSON the way graphite-web does (infinite defaults as `1e9999`).
pub fn to_graphite_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace(INF_SENTINEL, "1e9999")
}

/// `/functions`: `{name: info}` for every implemented function (graphite-web's exact shape).
pub fn functions_json() -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, info) in catalog() {
        if is_served(name) {
            out.insert(name.clone(), info.clone());
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_catalog_metadata() {
        for name in implemented() {
            assert!(
                catalog().contains_key(name),
                "{name} is not in graphite's /functions catalog"
            );
            assert!(function_info(name).is_some());
        }
        assert!(function_info("seriesByTag").is_some());
        assert!(
            function_info("events").is_none(),
            "not implemented, not served"
        );
    }

    #[test]
    fn infinite_defaults_serialise_like_graphite() {
        let info = function_info("keepLastValue").expect("keepLastValue");
        assert!(
            to_graphite_json(info).contains("\"default\":1e9999"),
            "{}",
            to_graphite_json(info)
        );
    }
}
