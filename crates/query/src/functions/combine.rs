//! Combine group: aggregate, *Series, divide, asPercent, grouping by nodes.

use crate::context::RequestContext;
use crate::error::{eval_err, param_err, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::agg::{safe_div, safe_sum, AggFunc};
use crate::functions::util::{
    agg_func, agg_key, aggregate_columns, format_path_expressions, group_by, map_rows, normalize,
    rows,
};
use crate::functions::Impl;
use crate::pyfmt::fmt_g;
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("aggregate", aggregate_fn),
    ("sumSeries", |e, c, a| named(e, c, a, "sum")),
    ("sum", |e, c, a| named(e, c, a, "sum")),
    ("averageSeries", |e, c, a| named(e, c, a, "average")),
    ("avg", |e, c, a| named(e, c, a, "average")),
    ("minSeries", |e, c, a| named(e, c, a, "min")),
    ("maxSeries", |e, c, a| named(e, c, a, "max")),
    ("diffSeries", |e, c, a| named(e, c, a, "diff")),
    ("stddevSeries", |e, c, a| named(e, c, a, "stddev")),
    ("rangeOfSeries", |e, c, a| named(e, c, a, "rangeOf")),
    ("multiplySeries", multiply_series),
    ("countSeries", count_series),
    ("percentileOfSeries", percentile_of_series),
    ("group", group),
    ("divideSeries", divide_series),
    ("divideSeriesLists", divide_series_lists),
    ("asPercent", as_percent),
    ("pct", as_percent),
    ("groupByNode", group_by_node),
    ("groupByNodes", group_by_nodes),
    ("aggregateWithWildcards", aggregate_with_wildcards),
    ("sumSeriesWithWildcards", |e, c, a| {
        wildcards(e, c, a, "sum")
    }),
    ("averageSeriesWithWildcards", |e, c, a| {
        wildcards(e, c, a, "average")
    }),
    ("multiplySeriesWithWildcards", |e, c, a| {
        wildcards(e, c, a, "multiply")
    }),
    ("applyByNode", apply_by_node),
    ("aggregateSeriesLists", aggregate_series_lists),
    ("sumSeriesLists", |e, c, a| series_lists(e, c, a, "sum")),
    ("diffSeriesLists", |e, c, a| series_lists(e, c, a, "diff")),
    ("multiplySeriesLists", |e, c, a| {
        series_lists(e, c, a, "multiply")
    }),
    ("groupByTags", group_by_tags),
    ("weightedAverage", weighted_average),
    ("mapSeries", map_flat),
    ("map", map_flat),
    ("reduceSeries", reduce_series),
    ("reduce", reduce_series),
];

fn all_series(values: Vec<Value>) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for v in values {
        match v {
            Value::Series(s) => out.extend(s),
            other => return param_err(format!("expected a series list, got {other:?}")),
        }
    }
    Ok(out)
}

/// graphite's aggregate(): point-wise combination of a flat list.
pub(crate) fn aggregate_list(
    ctx: &RequestContext,
    mut list: Vec<Series>,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>> {
    let stripped = func.strip_suffix("Series").unwrap_or(func).to_string();
    let f = agg_func(func)?;
    let Some((start, end, step)) = normalize(&mut list) else {
        return Ok(Vec::new());
    };
    let xff = xff.unwrap_or(ctx.xff());
    let name = format!("{}Series({})", stripped, format_path_expressions(&list));
    let values: Vec<Option<f64>> = aggregate_columns(&list, f, xff).unwrap_or_else(|| {
        map_rows(&list, |_, row| {
            let nn = row.iter().flatten().count();
            if crate::functions::agg::xff_ok(nn, row.len(), xff) {
                f.apply(row)
            } else {
                None
            }
        })
    });
    let int_values =
        (f == AggFunc::Count || list.iter().any(|s| s.int_values.is_some())).then(|| {
            map_rows(&list, |i, row| {
                let ints: Vec<bool> = list.iter().map(|s| s.is_int(i)).collect();
                values[i].is_some() && crate::functions::agg::result_is_int(f, row, &ints)
            })
        });
    let mut tags = list[0].tags.clone();
    for s in &list[1..] {
        tags.retain(|k, v| s.tags.get(k) == Some(v));
    }
    tags.entry("name".into()).or_insert_with(|| name.clone());
    tags.insert("aggregatedBy".into(), stripped);
    let mut out = Series::new(name, start, end, step, values);
    out.tags = tags;
    out.x_files_factor = xff;
    out.int_values = int_values;
    Ok(vec![out])
}

fn aggregate_fn(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let func = a.str("func")?;
    agg_func(&func)?;
    aggregate_list(ctx, list, &func, a.opt_f64("xFilesFactor")?)
}

fn named(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
) -> Result<Vec<Series>> {
    aggregate_list(ctx, all_series(a.rest("seriesLists"))?, func, None)
}

fn multiply_series(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let lists = a.rest("seriesLists");
    if lists.len() == 1 {
        if let Value::Series(s) = &lists[0] {
            if s.len() == 1 {
                return Ok(s.clone());
            }
        }
    }
    aggregate_list(ctx, all_series(lists)?, "multiply", None)
}

fn count_series(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let lists = a.rest("seriesLists");
    if lists.is_empty() {
        let mut s = super::special::constant_named(ctx, 0.0, "0".into());
        s.path_expression = "countSeries()".into();
        s.mark_all_int();
        return Ok(vec![s]);
    }
    let mut list = all_series(lists)?;
    let Some((start, end, step)) = normalize(&mut list) else {
        return Ok(Vec::new());
    };
    let name = format!("countSeries({})", format_path_expressions(&list));
    let values = map_rows(&list, |_, r| Some(r.len() as f64));
    let mut s = Series::new(name, start, end, step, values);
    s.x_files_factor = ctx.xff();
    s.mark_all_int();
    Ok(vec![s])
}

/// graphite's _getPercentile.
pub(crate) fn percentile(points: &[Option<f64>], n: f64, interpolate: bool) -> Option<f64> {
    let mut v: Vec<f64> = points.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let frac_rank = n / 100.0 * (v.len() as f64 + 1.0);
    if !frac_rank.is_finite() {
        return None;
    }
    let mut rank = frac_rank.trunc() as i64;
    let rank_fraction = frac_rank - rank as f64;
    if !interpolate {
        rank = rank.saturating_add(rank_fraction.ceil() as i64);
    }
    let len = v.len() as i64;
    let mut p = if rank <= 0 {
        v[0]
    } else if rank > len {
        v[v.len() - 1]
    } else {
        v[(rank - 1) as usize]
    };
    if interpolate && rank != len && rank >= 0 && rank < len {
        p += rank_fraction * (v[rank as usize] - p);
    }
    Some(p)
}

fn percentile_of_series(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let n = a.f64("n")?;
    let interp = a.bool_or("interpolate", false);
    if n <= 0.0 {
        return param_err("The requested percent is required to be greater than 0");
    }
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let name = format!(
        "percentileOfSeries({},{})",
        list[0].path_expression,
        fmt_g(n)
    );
    let Some((start, end, step)) = normalize(&mut list) else {
        return Ok(Vec::new());
    };
    let values = rows(&list)
        .iter()
        .map(|r| percentile(r, n, interp))
        .collect();
    let mut s = Series::new(name, start, end, step, values);
    s.x_files_factor = ctx.xff();
    Ok(vec![s])
}

fn group(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    all_series(a.rest("seriesLists"))
}

fn divide_pair(ctx: &RequestContext, a: &Series, b: &Series) -> Series {
    let name = format!("divideSeries({},{})", a.name, b.name);
    let mut pair = vec![a.clone(), b.clone()];
    let (start, end, step) = normalize(&mut pair).unwrap_or((a.start, a.end, a.step));
    let values = rows(&pair).iter().map(|r| safe_div(r[0], r[1])).collect();
    let mut s = Series::new(name, start, end, step, values);
    s.x_files_factor = ctx.xff();
    s
}

fn divide_series(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let dividends = a.take_series("dividendSeriesList")?;
    let divisors = a.take_series("divisorSeries")?;
    if divisors.is_empty() {
        return Ok(dividends
            .into_iter()
            .map(|mut s| {
                s.name = format!("divideSeries({},MISSING)", s.name);
                s.path_expression = s.name.clone();
                s.values.iter_mut().for_each(|v| *v = None);
                s
            })
            .collect());
    }
    if divisors.len() > 1 {
        return param_err(format!(
            "divideSeries second argument must reference exactly 1 series (got {})",
            divisors.len()
        ));
    }
    Ok(dividends
        .iter()
        .map(|d| divide_pair(ctx, d, &divisors[0]))
        .collect())
}

fn divide_series_lists(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let l1 = a.take_series("dividendSeriesList")?;
    let l2 = a.take_series("divisorSeriesList")?;
    if l1.len() != l2.len() {
        return param_err(
            "dividendSeriesList and divisorSeriesList argument must have equal length",
        );
    }
    Ok(l1
        .iter()
        .zip(&l2)
        .map(|(x, y)| divide_pair(ctx, x, y))
        .collect())
}

fn pct_values(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<Option<f64>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            safe_div(a.get(i).copied().flatten(), b.get(i).copied().flatten()).map(|x| x * 100.0)
        })
        .collect()
}

fn sum_total(ctx: &RequestContext, group: &[Series]) -> Series {
    if group.len() == 1 {
        return group[0].clone();
    }
    let mut g = group.to_vec();
    let name = format!("sumSeries({})", format_path_expressions(&g));
    let (start, end, step) = normalize(&mut g).unwrap_or((0, 0, 1));
    let values = map_rows(&g, |_, r| safe_sum(r));
    let mut s = Series::new(name, start, end, step, values);
    s.x_files_factor = ctx.xff();
    s
}

fn as_percent(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let total = a.opt("total").cloned();
    let nodes = a.rest("nodes");
    let xff = ctx.xff();
    let Some((nstart, nend, nstep)) = normalize(&mut list) else {
        return Ok(Vec::new());
    };
    let mk = |name: String, start, end, step, values| {
        let mut s = Series::new(name, start, end, step, values);
        s.x_files_factor = xff;
        s
    };
    if !nodes.is_empty() {
        let groups = group_by(list, |s| agg_key(s, &nodes));
        let mut keys: Vec<String> = groups.iter().map(|(k, _)| k.clone()).collect();
        let mut totals: Vec<(String, Series)> = Vec::new();
        match &total {
            None => {
                for (k, g) in &groups {
                    totals.push((k.clone(), sum_total(ctx, g)));
                }
            }
            Some(Value::Series(tl)) => {
                for (k, g) in group_by(tl.clone(), |s| agg_key(s, &nodes)) {
                    if !keys.contains(&k) {
                        keys.push(k.clone());
                    }
                    totals.push((k, sum_total(ctx, &g)));
                }
            }
            Some(_) => return param_err("total must be None or a seriesList"),
        }
        let (mut start, mut end, mut step) = (nstart, nend, nstep);
        let mut out = Vec::new();
        for k in &keys {
            let tot = totals.iter().find(|(tk, _)| tk == k).map(|(_, s)| s);
            match groups.iter().find(|(gk, _)| gk == k) {
                None => {
                    if let Some(t) = tot {
                        out.push(mk(
                            format!("asPercent(MISSING,{})", t.name),
                            start,
                            end,
                            step,
                            vec![None; t.len()],
                        ));
                    }
                }
                Some((_, g)) => {
                    for s1 in g {
                        match tot {
                            None => out.push(mk(
                                format!("asPercent({},MISSING)", s1.name),
                                start,
                                end,
                                step,
                                vec![None; s1.len()],
                            )),
                            Some(t) => {
                                let mut pair = vec![s1.clone(), t.clone()];
                                if let Some((a1, b1, c1)) = normalize(&mut pair) {
                                    (start, end, step) = (a1, b1, c1);
                                }
                                out.push(mk(
                                    format!("asPercent({},{})", s1.name, t.name),
                                    start,
                                    end,
                                    step,
                                    pct_values(&pair[0].values, &pair[1].values),
                                ));
                            }
                        }
                    }
                }
            }
        }
        return Ok(out);
    }
    let (total_values, total_text): (Vec<Option<f64>>, String) = match &total {
        None => (
            map_rows(&list, |_, r| safe_sum(r)),
            format!("sumSeries({})", format_path_expressions(&list)),
        ),
        Some(Value::Series(t)) => {
            if t.len() != 1 && t.len() != list.len() {
                return param_err("asPercent second argument must be missing, a single digit, reference exactly 1 series or reference the same number of series as the first argument");
            }
            if t.len() == 1 {
                let mut all = list.clone();
                all.push(t[0].clone());
                normalize(&mut all);
                let tt = all.pop().map(|s| s.values).unwrap_or_default();
                list = all;
                (tt, t[0].name.clone())
            } else {
                let mut l1 = list.clone();
                let mut l2 = t.clone();
                l1.sort_by(|x, y| x.name.cmp(&y.name));
                l2.sort_by(|x, y| x.name.cmp(&y.name));
                let mut out = Vec::new();
                for (s1, s2) in l1.iter().zip(&l2) {
                    let mut pair = vec![s1.clone(), s2.clone()];
                    let (st, en, sp) = normalize(&mut pair).unwrap_or((s1.start, s1.end, s1.step));
                    out.push(mk(
                        format!("asPercent({},{})", s1.name, s2.name),
                        st,
                        en,
                        sp,
                        pct_values(&pair[0].values, &pair[1].values),
                    ));
                }
                return Ok(out);
            }
        }
        Some(v) => match v.as_f64() {
            Some(x) => (
                vec![Some(x); list.first().map_or(0, |s| s.len())],
                v.py_str(),
            ),
            None => return eval_err(format!("unsupported total {v:?}")),
        },
    };
    Ok(list
        .iter()
        .map(|s| {
            let tt = if total_text.is_empty() {
                s.path_expression.clone()
            } else {
                total_text.clone()
            };
            mk(
                format!("asPercent({},{})", s.name, tt),
                s.start,
                s.end,
                s.step,
                pct_values(&s.values, &total_values),
            )
        })
        .collect())
}

fn group_by_nodes_impl(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    list: Vec<Series>,
    callback: &str,
    nodes: &[Value],
) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for (key, g) in group_by(list, |s| agg_key(s, nodes)) {
        let res = if let Some(def) =
            crate::functions::lookup(callback).filter(|_| AggFunc::parse(callback).is_none())
        {
            let mut args = crate::eval::Args::synthetic(callback, vec![Value::Series(g)]);
            (def.imp)(ev, ctx, &mut args)?
        } else {
            aggregate_list(ctx, g, callback, None)?
        };
        if let Some(mut s) = res.into_iter().next() {
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

fn group_by_node(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let node = a.get("nodeNum").cloned().unwrap_or(Value::Int(0));
    let cb = a.str_or("callback", "average")?;
    group_by_nodes_impl(ev, ctx, list, &cb, &[node])
}

fn group_by_nodes(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let cb = a.str("callback")?;
    let nodes = a.rest("nodes");
    group_by_nodes_impl(ev, ctx, list, &cb, &nodes)
}

fn wildcards_impl(
    ctx: &RequestContext,
    list: Vec<Series>,
    func: &str,
    positions: &[i64],
) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for (key, g) in group_by(list, |s| {
        s.name
            .split('.')
            .enumerate()
            .filter(|(i, _)| !positions.contains(&(*i as i64)))
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join(".")
    }) {
        if let Some(mut s) = aggregate_list(ctx, g, func, None)?.into_iter().next() {
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

fn positions(vals: Vec<Value>) -> Vec<i64> {
    vals.iter()
        .filter_map(|v| v.as_f64())
        .map(|f| f as i64)
        .collect()
}

fn aggregate_with_wildcards(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let func = a.str("func")?;
    agg_func(&func)?;
    wildcards_impl(
        ctx,
        a.take_series("seriesList")?,
        &func,
        &positions(a.rest("position")),
    )
}

fn wildcards(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
) -> Result<Vec<Series>> {
    wildcards_impl(
        ctx,
        a.take_series("seriesList")?,
        func,
        &positions(a.rest("position")),
    )
}

fn apply_by_node(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let node = a.i64_or("nodeNum", 0)?;
    let template = a.str("templateFunction")?;
    let new_name = a.opt_str("newName")?;
    let mut prefixes: Vec<String> = list
        .iter()
        .map(|s| {
            let parts: Vec<&str> = s.name.split('.').collect();
            // Python slice [:nodeNum + 1]: a negative end counts from the back.
            let len = parts.len() as i64;
            let mut end = node.saturating_add(1);
            if end < 0 {
                end = end.saturating_add(len);
            }
            let n = end.clamp(0, len) as usize;
            parts[..n].join(".")
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let (last_start, last_end) = list
        .last()
        .map_or((ctx.from, ctx.until), |s| (s.start, s.end));
    let mut out = Vec::new();
    for p in prefixes {
        for mut r in ev.evaluate_target(ctx, &template.replace('%', &p))? {
            if let Some(nn) = new_name.as_ref().filter(|n| !n.is_empty()) {
                r.name = nn.replace('%', &p);
            }
            r.path_expression = p.clone();
            r.start = last_start;
            r.end = last_end;
            out.push(r);
        }
    }
    Ok(out)
}

fn series_lists_impl(
    ctx: &RequestContext,
    l1: Vec<Series>,
    l2: Vec<Series>,
    func: &str,
    xff: Option<f64>,
) -> Result<Vec<Series>> {
    if l1.len() != l2.len() {
        return param_err(
            "seriesListFirstPos and seriesListSecondPos argument must have equal length",
        );
    }
    let mut out = Vec::new();
    for (x, y) in l1.into_iter().zip(l2) {
        let names = format!("{},{}", x.name, y.name);
        if let Some(mut s) = aggregate_list(ctx, vec![x, y], func, xff)?
            .into_iter()
            .next()
        {
            let cut = s.name.find("Series(").unwrap_or(0);
            s.name = format!("{}Series({})", &s.name[..cut], names);
            out.push(s);
        }
    }
    Ok(out)
}

fn aggregate_series_lists(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let func = a.str("func")?;
    agg_func(&func)?;
    series_lists_impl(
        ctx,
        a.take_series("seriesListFirstPos")?,
        a.take_series("seriesListSecondPos")?,
        &func,
        a.opt_f64("xFilesFactor")?,
    )
}

fn series_lists(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
    func: &str,
) -> Result<Vec<Series>> {
    series_lists_impl(
        ctx,
        a.take_series("seriesListFirstPos")?,
        a.take_series("seriesListSecondPos")?,
        func,
        None,
    )
}

fn map_flat(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    // Reached only through synthetic calls; the evaluator builds mapSeries' list of lists itself.
    a.take_series("seriesList")
}

fn reduce_series(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let groups = match a.get("seriesLists") {
        Some(Value::SeriesLists(g)) => g.clone(),
        Some(Value::Series(l)) if l.is_empty() => Vec::new(),
        _ => return eval_err("reduceSeries needs the output of mapSeries as its first argument"),
    };
    let func = a.str("reduceFunction")?;
    let node = a.i64_or("reduceNode", 0)?;
    let matchers: Vec<String> = a
        .rest("reduceMatchers")
        .iter()
        .map(|v| v.py_str())
        .collect();
    let mut keys: Vec<(String, Vec<Option<Series>>)> = Vec::new();
    for s in groups.into_iter().flatten() {
        let parts: Vec<&str> = s.name.split('.').collect();
        let len = parts.len() as i64;
        let idx = if node < 0 { node + len } else { node };
        if !(0..len).contains(&idx) {
            return eval_err("IndexError: list index out of range");
        }
        let n = parts[idx as usize];
        let key = format!("{}.reduce.{}", parts[..idx as usize].join("."), func);
        if let Some(mi) = matchers.iter().position(|m| m == n) {
            let slot = match keys.iter().position(|(k, _)| *k == key) {
                Some(p) => p,
                None => {
                    keys.push((key.clone(), vec![None; matchers.len()]));
                    keys.len() - 1
                }
            };
            keys[slot].1[mi] = Some(s);
        }
    }
    let def = crate::functions::lookup(&func)
        .ok_or_else(|| crate::error::QueryError::UnknownFunction(func.clone()))?;
    let mut out = Vec::new();
    for (key, slots) in keys {
        let pos = slots
            .into_iter()
            .map(|s| Value::Series(s.into_iter().collect()))
            .collect();
        let mut args = Args::synthetic(def.name, pos);
        let Some(mut r) = (def.imp)(ev, ctx, &mut args)?.into_iter().next() else {
            return eval_err("IndexError: list index out of range");
        };
        r.name = key;
        out.push(r);
    }
    Ok(out)
}

fn group_by_tags(
    ev: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let callback = a.str("callback")?;
    let tags: Vec<String> = a.rest("tags").iter().map(|v| v.py_str()).collect();
    if tags.is_empty() {
        return param_err("groupByTags(): no tags specified");
    }
    let with_name = tags.iter().any(|t| t == "name");
    let common_name = {
        let mut names: Vec<&str> = list
            .iter()
            .filter_map(|s| s.tags.get("name").map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.len() == 1 {
            names[0].to_string()
        } else {
            callback.clone()
        }
    };
    let key_of = |s: &Series| -> String {
        let mut parts: Vec<String> = tags
            .iter()
            .filter(|t| !with_name || *t != "name")
            .map(|t| format!("{}={}", t, s.tags.get(t).cloned().unwrap_or_default()))
            .collect();
        parts.sort();
        let head = if with_name {
            s.tags.get("name").cloned().unwrap_or_default()
        } else {
            common_name.clone()
        };
        std::iter::once(head)
            .chain(parts)
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut out = Vec::new();
    for (key, g) in group_by(list, key_of) {
        let res = match crate::functions::lookup(&callback)
            .filter(|_| AggFunc::parse(&callback).is_none())
        {
            Some(def) => (def.imp)(
                ev,
                ctx,
                &mut Args::synthetic(def.name, vec![Value::Series(g)]),
            )?,
            None => aggregate_list(ctx, g, &callback, None)?,
        };
        if let Some(mut s) = res.into_iter().next() {
            s.tags = crate::series::tags_from_name(&key);
            s.path_expression = key.clone();
            s.name = key;
            out.push(s);
        }
    }
    Ok(out)
}

fn weighted_average(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let avgs = a.take_series("seriesListAvg")?;
    let weights = a.take_series("seriesListWeight")?;
    let nodes = a.rest("nodes");
    if avgs.len() != weights.len() {
        return param_err(format!(
            "weightedAverage must receive the same number of series for seriesListAvg and seriesListWeight but received respectively {} and {}",
            avgs.len(),
            weights.len()
        ));
    }
    let mut keyed: Vec<(String, Option<Series>, Option<Series>)> = Vec::new();
    fn slot(keyed: &mut Vec<(String, Option<Series>, Option<Series>)>, k: String) -> usize {
        match keyed.iter().position(|(kk, _, _)| *kk == k) {
            Some(p) => p,
            None => {
                keyed.push((k, None, None));
                keyed.len() - 1
            }
        }
    }
    for (sa, sw) in avgs.iter().zip(&weights) {
        let i = slot(&mut keyed, agg_key(sa, &nodes));
        keyed[i].1 = Some(sa.clone());
        let j = slot(&mut keyed, agg_key(sw, &nodes));
        keyed[j].2 = Some(sw.clone());
    }
    let mut products = Vec::new();
    for (_, avg, w) in &keyed {
        let (Some(avg), Some(w)) = (avg, w) else {
            continue;
        };
        let n = avg.values.len().max(w.values.len());
        let vals = (0..n)
            .map(|i| {
                match (
                    avg.values.get(i).copied().flatten(),
                    w.values.get(i).copied().flatten(),
                ) {
                    (Some(x), Some(y)) => Some(x * y),
                    _ => None,
                }
            })
            .collect();
        let mut p = Series::new(
            format!("product({},{})", w.name, avg.name),
            avg.start,
            avg.end,
            avg.step,
            vals,
        );
        p.x_files_factor = ctx.xff();
        products.push(p);
    }
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let (Some(sp), Some(sw)) = (
        aggregate_list(ctx, products, "sum", None)?
            .into_iter()
            .next(),
        aggregate_list(ctx, weights.clone(), "sum", None)?
            .into_iter()
            .next(),
    ) else {
        return Ok(Vec::new());
    };
    let n = sp.values.len().max(sw.values.len());
    let vals = (0..n)
        .map(|i| {
            safe_div(
                sp.values.get(i).copied().flatten(),
                sw.values.get(i).copied().flatten(),
            )
        })
        .collect();
    let exprs = |l: &[Series]| {
        let mut v: Vec<&str> = l.iter().map(|s| s.path_expression.as_str()).collect();
        v.sort_unstable();
        v.dedup();
        v.join(",")
    };
    let name = format!(
        "weightedAverage({}, {}, {})",
        exprs(&avgs),
        exprs(&weights),
        nodes
            .iter()
            .map(|n| n.py_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut out = Series::new(name, sp.start, sp.end, sp.step, vals);
    out.x_files_factor = ctx.xff();
    Ok(vec![out])
}
