//! Graph options and generated series (constantLine, threshold, identity, timeFunction, ...).

use crate::context::RequestContext;
use crate::error::{param_err, Result};
use crate::eval::{Args, Evaluator, Value};
use crate::functions::Impl;
use crate::pyfmt::{fmt_g, repr_f64};
use crate::series::Series;

pub(super) const DEFS: &[(&str, Impl)] = &[
    ("color", color),
    ("lineWidth", line_width),
    ("dashed", dashed),
    ("secondYAxis", second_y_axis),
    ("drawAsInfinite", draw_as_infinite),
    ("alpha", alpha),
    ("stacked", stacked),
    ("areaBetween", area_between),
    ("constantLine", constant_line),
    ("threshold", threshold),
    ("aggregateLine", aggregate_line),
    ("identity", identity),
    ("timeFunction", time_function),
    ("time", time_function),
    ("sinFunction", sin_function),
    ("sin", sin_function),
    ("randomWalkFunction", random_walk),
    ("randomWalk", random_walk),
    ("verticalLine", vertical_line),
];

fn vertical_line(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let ts = crate::attime::parse_at_time(&a.str("ts")?, ctx.tz, ctx.now)?;
    if ts < ctx.from {
        return param_err(format!(
            "verticalLine(): timestamp {ts} exists before start of range"
        ));
    }
    if ts > ctx.until {
        return param_err(format!(
            "verticalLine(): timestamp {ts} exists after end of range"
        ));
    }
    let mut s = Series::new(
        a.opt_str("label")?.unwrap_or_default(),
        ts,
        ts,
        1,
        vec![Some(1.0), Some(1.0)],
    );
    s.x_files_factor = ctx.xff();
    s.options.draw_as_infinite = true;
    s.options.color = a.opt_str("color")?.filter(|c| !c.is_empty());
    Ok(vec![s])
}

/// graphite's constantLine series (three points over the request range).
pub(crate) fn constant_series(ctx: &RequestContext, v: f64) -> Series {
    constant_named(ctx, v, repr_f64(v))
}

/// constantLine with the name Python's `str(value)` gives (an int stays `0`).
pub(crate) fn constant_named(ctx: &RequestContext, v: f64, name: String) -> Series {
    let step = (ctx.until.saturating_sub(ctx.from) as f64 / 2.0).trunc() as i64;
    let mut s = Series::new(
        name.clone(),
        ctx.from,
        ctx.until,
        step.max(1),
        vec![Some(v); 3],
    );
    s.path_expression = format!("constantLine({})", name);
    s.x_files_factor = ctx.xff();
    s
}

fn color(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let c = a.str("theColor")?;
    list.iter_mut()
        .for_each(|s| s.options.color = Some(c.clone()));
    Ok(list)
}

fn line_width(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let w = a.f64("width")?;
    list.iter_mut().for_each(|s| s.options.line_width = Some(w));
    Ok(list)
}

fn dashed(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let dv = a.opt("dashLength").cloned().unwrap_or(Value::Int(5));
    let d = dv.as_f64().unwrap_or(5.0);
    for s in list.iter_mut() {
        s.set_tag("dashed", dv.py_str());
        s.name = format!("dashed({}, {})", s.name, fmt_g(d));
        s.options.dashed = Some(d);
    }
    Ok(list)
}

fn second_y_axis(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in list.iter_mut() {
        s.options.second_y_axis = true;
        s.set_tag("secondYAxis", "1");
        s.name = format!("secondYAxis({})", s.name);
    }
    Ok(list)
}

fn draw_as_infinite(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    for s in list.iter_mut() {
        s.options.draw_as_infinite = true;
        s.set_tag("drawAsInfinite", "1");
        s.name = format!("drawAsInfinite({})", s.name);
    }
    Ok(list)
}

fn alpha(_: &mut Evaluator<'_>, _: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    let x = a.f64("alpha")?;
    list.iter_mut().for_each(|s| s.options.alpha = Some(x));
    Ok(list)
}

fn stacked(_: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let stack = a.str_or("stack", "__DEFAULT__")?;
    // Stacks continue across calls and targets of the same request, as in graphite.
    let mut stacks = ctx.stacks.lock().unwrap_or_else(|e| e.into_inner());
    let total = stacks.entry(stack.clone()).or_default();
    Ok(list
        .into_iter()
        .map(|mut s| {
            let vals: Vec<Option<f64>> = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if total.len() <= i {
                        total.push(0.0);
                    }
                    v.map(|x| {
                        total[i] += x;
                        total[i]
                    })
                })
                .collect();
            let name = if stack == "__DEFAULT__" {
                s.set_tag("stacked", stack.clone());
                format!("stacked({})", s.name)
            } else {
                s.name.clone()
            };
            let mut out = s.derive(name, vals);
            out.options = Default::default();
            out.options.stacked = Some(stack.clone());
            out
        })
        .collect())
}

fn area_between(
    _: &mut Evaluator<'_>,
    _: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let mut list = a.take_series("seriesList")?;
    if list.len() != 2 {
        return crate::error::eval_err(
            "areaBetween series argument must reference *exactly* 2 series",
        );
    }
    list[0].options.stacked = Some("__DEFAULT__".into());
    list[0].options.invisible = true;
    list[1].options.stacked = Some("__DEFAULT__".into());
    list[1].set_tag("areaBetween", "1");
    list[0].tags = list[1].tags.clone();
    let name = format!("areaBetween({})", list[1].path_expression);
    list[0].name = name.clone();
    list[1].name = name;
    Ok(list)
}

fn constant_line(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    Ok(vec![constant_series(ctx, a.f64("value")?)])
}

fn threshold(_: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let mut s = constant_series(ctx, a.f64("value")?);
    if let Some(l) = a.opt_str("label")?.filter(|l| !l.is_empty()) {
        s.name = l;
    }
    if let Some(c) = a.opt_str("color")?.filter(|c| !c.is_empty()) {
        s.options.color = Some(c);
    }
    Ok(vec![s])
}

fn aggregate_line(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let list = a.take_series("seriesList")?;
    let f = crate::functions::util::agg_func(&a.str_or("func", "average")?)?;
    let keep = a.bool_or("keepStep", false);
    Ok(list
        .into_iter()
        .map(|s| {
            let v = f.apply(&s.values);
            let name = match v {
                Some(x) => format!("aggregateLine({}, {})", s.name, fmt_g(x)),
                None => format!("aggregateLine({}, None)", s.name),
            };
            if keep {
                let n = s.len();
                s.derive(name, vec![v; n])
            } else {
                let mut c = constant_series(ctx, v.unwrap_or(f64::NAN));
                if v.is_none() {
                    c.values = vec![None; 3];
                }
                c.name = name.clone();
                c.path_expression = name;
                c
            }
        })
        .collect())
}

fn gen_series(
    ctx: &RequestContext,
    name: String,
    step: i64,
    f: impl Fn(i64, usize) -> f64,
) -> Result<Vec<Series>> {
    if step <= 0 {
        return param_err("step must be positive");
    }
    let range = ctx.until.saturating_sub(ctx.from).max(0);
    let n = range / step + i64::from(range % step != 0);
    crate::context::check_series_points(n)?;
    let values = (0..n)
        .map(|i| Some(f(ctx.from + i * step, i as usize)))
        .collect();
    let mut s = Series::new(name, ctx.from, ctx.until, step, values);
    s.x_files_factor = ctx.xff();
    Ok(vec![s])
}

fn identity(_: &mut Evaluator<'_>, ctx: &RequestContext, a: &mut Args<'_>) -> Result<Vec<Series>> {
    let name = a.str("name")?;
    let mut out = gen_series(ctx, name.clone(), 60, |t, _| t as f64)?;
    out.iter_mut().for_each(|s| {
        s.path_expression = format!("identity(\"{name}\")");
        s.mark_all_int();
    });
    Ok(out)
}

fn time_function(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    // graphite: values and bounds are mktime() of request-zone wall times (see mktime_local).
    let shift = ctx.mktime_local(ctx.from) - ctx.from;
    let mut out = gen_series(ctx, a.str("name")?, a.i64_or("step", 60)?, |t, _| {
        (t + shift) as f64
    })?;
    for s in &mut out {
        s.start = ctx.mktime_local(ctx.from);
        s.end = ctx.mktime_local(ctx.until);
    }
    Ok(out)
}

fn sin_function(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    let amp = a.f64_or("amplitude", 1.0)?;
    let shift = ctx.mktime_local(ctx.from) - ctx.from;
    gen_series(ctx, a.str("name")?, a.i64_or("step", 60)?, |t, _| {
        ((t + shift) as f64).sin() * amp
    })
}

fn random_walk(
    _: &mut Evaluator<'_>,
    ctx: &RequestContext,
    a: &mut Args<'_>,
) -> Result<Vec<Series>> {
    // Values are random by definition; a xorshift seeded from the request keeps the crate pure.
    let mut state: u64 = (ctx.now as u64) ^ 0x9E37_79B9_7F4A_7C15 | 1;
    let mut cur = 0.0;
    let step = a.i64_or("step", 60)?;
    if step <= 0 {
        return param_err("step must be positive");
    }
    let range = ctx.until.saturating_sub(ctx.from).max(0);
    let n = range / step + i64::from(range % step != 0);
    crate::context::check_series_points(n)?;
    let mut values = Vec::with_capacity(n as usize);
    for _ in 0..n {
        values.push(Some(cur));
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        cur += (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    }
    let mut s = Series::new(a.str("name")?, ctx.from, ctx.until, step, values);
    s.x_files_factor = ctx.xff();
    Ok(vec![s])
}
