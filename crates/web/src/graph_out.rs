//! `format=png|svg` (graphite's default is png): hands evaluated series to the graph crate,
//! as a line graph or, with `graphType=pie`, one slice per series or `name:value` target.

use crate::encode::Encoded;
use crate::error::WebError;
use crate::params::Params;
use chrono_tz::Tz;
use query::series::Series;

/// Whether `/render` answers `format` with an image.
pub fn is_graph_format(format: &str) -> bool {
    graph::Format::parse(format).is_some()
}

/// A pie target's literal `name:value` form, which graphite draws without evaluating.
pub fn pie_literal(target: &str) -> Option<Result<(String, f64), WebError>> {
    let (name, value) = target.split_once(':')?;
    Some(
        value
            .trim()
            .parse::<f64>()
            .map(|v| (name.to_string(), v))
            .map_err(|_| {
                WebError::BadRequest(format!("Invalid parameters (Invalid target '{target}')"))
            }),
    )
}

fn graph_error(e: graph::GraphError) -> WebError {
    WebError::BadRequest(e.to_string())
}

/// Pie slices from per-target results (`Err` = a literal, `Ok` = evaluated series).
pub fn encode_pie(
    parts: Vec<Result<Vec<Series>, (String, f64)>>,
    params: &Params,
    format: &str,
) -> Result<Encoded, WebError> {
    let fmt = graph::Format::parse(format).unwrap_or(graph::Format::Png);
    let p = graph::Params::from_lookup(|k| params.get(k));
    let mode = params.get("pieMode").unwrap_or("average");
    let mut slices = Vec::new();
    for part in parts {
        match part {
            Err((name, value)) => slices.push(graph::Slice { name, value }),
            Ok(list) => {
                for s in list {
                    let value = graph::pie_value(&s, mode).map_err(graph_error)?;
                    slices.push(graph::Slice {
                        name: s.name,
                        value,
                    });
                }
            }
        }
    }
    let body = graph::render_pie(&slices, &p, fmt).map_err(graph_error)?;
    Ok(Encoded {
        content_type: fmt.content_type(),
        body,
    })
}

/// A line graph of `series`.
pub fn encode_line(
    series: &[Series],
    params: &Params,
    format: &str,
    tz: Tz,
) -> Result<Encoded, WebError> {
    let fmt = graph::Format::parse(format).unwrap_or(graph::Format::Png);
    let p = graph::Params::from_lookup(|k| params.get(k));
    let body = graph::render_line(series, &p, fmt, tz).map_err(graph_error)?;
    Ok(Encoded {
        content_type: fmt.content_type(),
        body,
    })
}
