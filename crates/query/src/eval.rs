//! Lazy evaluation of parsed targets against a [`Fetcher`].

use std::collections::BTreeMap;

use crate::context::{FetchRequest, Fetcher, RequestContext};
use crate::error::{eval_err, param_err, QueryError, Result};
use crate::functions::{self, ParamMeta};
use crate::parser::{parse_target, Expr};
use crate::pyfmt::repr_f64;
use crate::series::Series;

/// The value of an evaluated argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A list of series.
    Series(Vec<Series>),
    /// A list of series lists (what `mapSeries` produces for `reduceSeries`).
    SeriesLists(Vec<Vec<Series>>),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// None.
    None,
}

impl Value {
    /// Python `str()` of a scalar (used by template substitution and names).
    pub fn py_str(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => repr_f64(*f),
            Value::Str(s) => s.clone(),
            Value::Bool(b) => {
                if *b {
                    "True".into()
                } else {
                    "False".into()
                }
            }
            Value::None => "None".into(),
            Value::Series(_) | Value::SeriesLists(_) => "<series>".into(),
        }
    }

    /// The numeric value of an Int or Float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

type Replacements = BTreeMap<String, Value>;

/// The arguments of one call, bound to the function's parameter names.
pub struct Args<'a> {
    /// Positional values.
    pub pos: Vec<Value>,
    /// Keyword values.
    pub kw: Vec<(String, Value)>,
    /// The unevaluated positional arguments (bootstrapping functions re-evaluate the first).
    pub raw: &'a [Expr],
    /// Template replacements in force.
    pub(crate) repl: Option<&'a Replacements>,
    /// The function name (for messages).
    pub func: &'a str,
    params: &'static [ParamMeta],
}

impl<'a> Args<'a> {
    /// Arguments built by a function calling another one (groupByNode's callback).
    pub fn synthetic(func: &'a str, pos: Vec<Value>) -> Args<'a> {
        Args {
            pos,
            kw: Vec::new(),
            raw: &[],
            repl: None,
            func,
            params: functions::params_of(func),
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }

    /// The argument bound to parameter `name`, positional or keyword.
    pub fn get(&self, name: &str) -> Option<&Value> {
        debug_assert!(
            self.params.is_empty() || self.index_of(name).is_some(),
            "{} has no parameter {name:?} in the catalog",
            self.func
        );
        if let Some(i) = self.index_of(name) {
            if let Some(v) = self.pos.get(i) {
                return Some(v);
            }
        }
        self.kw.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Like get, but None when the value is Python None.
    pub fn opt(&self, name: &str) -> Option<&Value> {
        self.get(name).filter(|v| !matches!(v, Value::None))
    }

    /// The positional values from parameter `name` on (a `*args` parameter).
    pub fn rest(&self, name: &str) -> Vec<Value> {
        debug_assert!(
            self.params.is_empty() || self.index_of(name).is_some(),
            "{} has no parameter {name:?} in the catalog",
            self.func
        );
        let i = self.index_of(name).unwrap_or(self.pos.len());
        let mut out: Vec<Value> = self.pos.iter().skip(i).cloned().collect();
        if out.is_empty() {
            if let Some((_, v)) = self.kw.iter().find(|(k, _)| k == name) {
                out.push(v.clone());
            }
        }
        out
    }

    /// A required series list.
    pub fn series(&self, name: &str) -> Result<Vec<Series>> {
        match self.get(name) {
            Some(Value::Series(s)) => Ok(s.clone()),
            Some(Value::None) | None => param_err(format!(
                "Missing required parameter \"{}\" for function \"{}\"",
                name, self.func
            )),
            Some(other) => param_err(format!(
                "Invalid \"seriesList\" value specified for function \"{}\" parameter \"{}\": {:?}",
                self.func, name, other
            )),
        }
    }

    /// A required series list, moved out of the arguments (no copy); reading the same
    /// parameter again afterwards finds it missing.
    pub fn take_series(&mut self, name: &str) -> Result<Vec<Series>> {
        let slot = match self.index_of(name).filter(|&i| i < self.pos.len()) {
            Some(i) => self.pos.get_mut(i),
            None => self.kw.iter_mut().find(|(k, _)| k == name).map(|(_, v)| v),
        };
        match slot {
            Some(v @ Value::Series(_)) => match std::mem::replace(v, Value::None) {
                Value::Series(s) => Ok(s),
                _ => Ok(Vec::new()),
            },
            _ => self.series(name),
        }
    }

    /// An optional series list.
    pub fn opt_series(&self, name: &str) -> Result<Option<Vec<Series>>> {
        match self.opt(name) {
            None => Ok(None),
            Some(Value::Series(s)) => Ok(Some(s.clone())),
            Some(other) => param_err(format!(
                "Invalid \"seriesList\" value for \"{}\": {:?}",
                name, other
            )),
        }
    }

    /// A number, with a default when absent or None.
    pub fn f64_or(&self, name: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(name)?.unwrap_or(default))
    }

    /// An optional number.
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) => Ok(Some(x)),
                None => match v {
                    Value::Str(s) => s.trim().parse::<f64>().map(Some).map_err(|_| {
                        QueryError::Evaluation(format!("could not convert string to float: '{s}'"))
                    }),
                    _ => param_err(format!(
                        "Invalid number for \"{}\" of \"{}\"",
                        name, self.func
                    )),
                },
            },
        }
    }

    /// A required number.
    pub fn f64(&self, name: &str) -> Result<f64> {
        self.opt_f64(name)?.map_or_else(
            || {
                param_err(format!(
                    "Missing required parameter \"{}\" for function \"{}\"",
                    name, self.func
                ))
            },
            Ok,
        )
    }

    /// An integer (floats truncated like Python's int()).
    pub fn i64_or(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.opt_f64(name)?.map(|x| x as i64).unwrap_or(default))
    }

    /// An optional string.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>> {
        match self.opt(name) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Int(_) | Value::Float(_))) => Ok(Some(v.py_str())),
            Some(other) => param_err(format!(
                "Invalid string for \"{}\" of \"{}\": {:?}",
                name, self.func, other
            )),
        }
    }

    /// A string with a default.
    pub fn str_or(&self, name: &str, default: &str) -> Result<String> {
        Ok(self.opt_str(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// A required string.
    pub fn str(&self, name: &str) -> Result<String> {
        self.opt_str(name)?.map_or_else(
            || {
                param_err(format!(
                    "Missing required parameter \"{}\" for function \"{}\"",
                    name, self.func
                ))
            },
            Ok,
        )
    }

    /// A boolean with a default (Python truthiness for numbers).
    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        match self.opt(name) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(Value::Int(i)) => *i != 0,
            Some(Value::Float(f)) => *f != 0.0,
            Some(Value::Str(s)) => !s.is_empty(),
            Some(Value::Series(s)) => !s.is_empty(),
            Some(Value::SeriesLists(s)) => !s.is_empty(),
            Some(Value::None) => false,
        }
    }

    /// True when the argument was given (and not None).
    pub fn has(&self, name: &str) -> bool {
        self.opt(name).is_some()
    }
}

/// Evaluates targets; holds the fetcher and per-request accounting.
pub struct Evaluator<'f> {
    fetcher: &'f dyn Fetcher,
    fetched_series: usize,
    fetched_points: usize,
    /// Path expressions graphite would have prefetched (positional ones of every target seen).
    prefetched: Vec<String>,
    /// > 0 while evaluating a keyword argument.
    kw_depth: usize,
    /// Fetch results by (expression, from, until) for the life of the request.
    fetch_cache: std::collections::HashMap<(String, i64, i64), Vec<Series>>,
}

impl<'f> Evaluator<'f> {
    /// An evaluator over `fetcher`.
    pub fn new(fetcher: &'f dyn Fetcher) -> Evaluator<'f> {
        Evaluator {
            fetcher,
            fetched_series: 0,
            fetched_points: 0,
            prefetched: Vec::new(),
            kw_depth: 0,
            fetch_cache: Default::default(),
        }
    }

    /// Parses and evaluates every target; results are concatenated in target order.
    pub fn evaluate_targets(
        &mut self,
        ctx: &RequestContext,
        targets: &[String],
    ) -> Result<Vec<Series>> {
        let mut exprs = Vec::new();
        for t in targets {
            if let Ok(e) = parse_target(t) {
                crate::parser::path_expressions(&e, &mut exprs);
            }
        }
        self.prefetch(ctx, &exprs);
        let mut out = Vec::new();
        for t in targets {
            if t.trim().is_empty() {
                continue;
            }
            out.extend(self.evaluate_target(ctx, t)?);
        }
        Ok(out)
    }

    /// Parses and evaluates one target.
    pub fn evaluate_target(&mut self, ctx: &RequestContext, target: &str) -> Result<Vec<Series>> {
        let expr = parse_target(target)?;
        let mut exprs = Vec::new();
        crate::parser::path_expressions(&expr, &mut exprs);
        self.prefetch(ctx, &exprs);
        match self.eval(ctx, &expr, None)? {
            Value::Series(s) => Ok(s),
            Value::SeriesLists(_) => {
                eval_err("a list of series lists (mapSeries) cannot be rendered; use reduceSeries")
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Evaluates an expression to a series list (scalars are an error).
    pub fn eval_series(
        &mut self,
        ctx: &RequestContext,
        expr: &Expr,
        repl: Option<&Replacements>,
    ) -> Result<Vec<Series>> {
        match self.eval(ctx, expr, repl)? {
            Value::Series(s) => Ok(s),
            other => param_err(format!("expected a series list, got {other:?}")),
        }
    }

    /// Evaluates any expression.
    pub fn eval(
        &mut self,
        ctx: &RequestContext,
        expr: &Expr,
        repl: Option<&Replacements>,
    ) -> Result<Value> {
        match expr {
            Expr::Int(i) => Ok(Value::Int(*i)),
            Expr::Float(f) => Ok(Value::Float(*f)),
            Expr::Str(s) => Ok(Value::Str(s.clone())),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::None => Ok(Value::None),
            Expr::Inf => Ok(Value::Float(f64::INFINITY)),
            Expr::Template(t) => {
                let mut r: Replacements = BTreeMap::new();
                for (k, v) in &t.kwargs {
                    r.insert(k.clone(), self.eval(ctx, v, None)?);
                }
                for (i, v) in t.args.iter().enumerate() {
                    r.insert((i + 1).to_string(), self.eval(ctx, v, None)?);
                }
                for (k, v) in &ctx.templates {
                    r.insert(k.clone(), Value::Str(v.clone()));
                }
                self.eval(ctx, &t.inner, Some(&r))
            }
            Expr::Path(p) => {
                let mut expression = p.clone();
                if let Some(r) = repl {
                    for (name, val) in r {
                        let var = format!("${name}");
                        if expression == var {
                            return Ok(match val {
                                Value::Str(s) if is_plain_number(s) => match s.parse::<f64>() {
                                    Ok(f) => Value::Float(f),
                                    Err(_) => val.clone(),
                                },
                                other => other.clone(),
                            });
                        }
                        expression = expression.replace(&var, &val.py_str());
                    }
                }
                if self.kw_depth > 0 && !self.prefetched.contains(&expression) {
                    // graphite only fetches what it prefetched, and its prefetch skips keyword
                    // arguments: a path that appears only there evaluates to an empty list.
                    return Ok(Value::Series(Vec::new()));
                }
                Ok(Value::Series(self.fetch(ctx, &expression)?))
            }
            Expr::Call(c) => {
                if c.name == "template" {
                    return param_err(
                        "invalid template() syntax, only string/numeric arguments are allowed",
                    );
                }
                if c.name == "seriesByTag" {
                    return Ok(Value::Series(self.fetch(ctx, &c.raw)?));
                }
                let def = functions::lookup(&c.name)
                    .ok_or_else(|| QueryError::UnknownFunction(c.name.clone()))?;
                if c.name == "map" || c.name == "mapSeries" {
                    // The only function whose value is a list of lists; reduceSeries consumes it.
                    let Some(first) = c.args.first() else {
                        return param_err(
                            "Missing required parameter \"seriesList\" for function \"mapSeries\"",
                        );
                    };
                    let list = self.eval_series(ctx, first, repl)?;
                    let mut nodes = Vec::new();
                    for a in c.args.iter().skip(1) {
                        nodes.push(self.eval(ctx, a, repl)?);
                    }
                    return Ok(Value::SeriesLists(functions::map_series(list, &nodes)));
                }
                let mut pos = Vec::with_capacity(c.args.len());
                for a in &c.args {
                    pos.push(self.eval(ctx, a, repl)?);
                }
                let mut kw = Vec::with_capacity(c.kwargs.len());
                self.kw_depth += 1;
                let mut kw_result = Ok(());
                for (k, v) in &c.kwargs {
                    match self.eval(ctx, v, repl) {
                        Ok(val) => kw.push((k.clone(), val)),
                        Err(e) => {
                            kw_result = Err(e);
                            break;
                        }
                    }
                }
                self.kw_depth -= 1;
                kw_result?;
                let params = functions::params_of(&c.name);
                validate_counts(&c.name, params, &pos, &kw)?;
                // graphite's validateParams turns ints given to float parameters into floats.
                let to_float = |p: Option<&ParamMeta>, v: &mut Value| {
                    if let (Some(p), Value::Int(i)) = (p, &*v) {
                        if p.ty == "float" {
                            *v = Value::Float(*i as f64);
                        }
                    }
                };
                for (i, v) in pos.iter_mut().enumerate() {
                    to_float(params.get(i).or(params.last().filter(|p| p.multiple)), v);
                }
                for (k, v) in kw.iter_mut() {
                    to_float(params.iter().find(|p| &p.name == k), v);
                }
                let mut args = Args {
                    pos,
                    kw,
                    raw: &c.args,
                    repl,
                    func: &c.name,
                    params,
                };
                let mut out = (def.imp)(self, ctx, &mut args)?;
                if !functions::keeps_int_flags(&c.name) {
                    out.iter_mut().for_each(|s| s.int_values = None);
                }
                Ok(Value::Series(out))
            }
        }
    }

    /// Records what graphite would prefetch and lets the fetcher fetch it in one go.
    fn prefetch(&mut self, ctx: &RequestContext, exprs: &[String]) {
        let fresh: Vec<&String> = exprs
            .iter()
            .filter(|e| !self.prefetched.contains(e))
            .collect();
        let reqs: Vec<FetchRequest<'_>> = exprs
            .iter()
            .map(|e| FetchRequest {
                path_expression: e,
                from: ctx.from,
                until: ctx.until,
                now: ctx.now,
                local: ctx.local,
            })
            .collect();
        if !reqs.is_empty() {
            self.fetcher.prefetch(&reqs);
        }
        for e in fresh {
            self.prefetched.push(e.clone());
        }
    }

    /// Fetches one path expression, sorted by name, enforcing the limits.
    pub fn fetch(&mut self, ctx: &RequestContext, expression: &str) -> Result<Vec<Series>> {
        let req = FetchRequest {
            path_expression: expression,
            from: ctx.from,
            until: ctx.until,
            now: ctx.now,
            local: ctx.local,
        };
        let key = (expression.to_string(), ctx.from, ctx.until);
        // The same expression and range again (another target, a bootstrap) is answered from
        // this request's cache, as graphite answers from its prefetch; it still counts toward
        // the limits, which bound what a request materialises.
        let mut list = match self.fetch_cache.get(&key) {
            Some(hit) => hit.clone(),
            None => {
                let mut fresh = self
                    .fetcher
                    .fetch(&req)
                    .map_err(|e| QueryError::Fetch(e.0))?;
                for s in &mut fresh {
                    s.path_expression = expression.to_string();
                }
                fresh.sort_by(|a, b| a.name.cmp(&b.name));
                self.fetch_cache.insert(key, fresh.clone());
                fresh
            }
        };
        self.fetched_series += list.len();
        self.fetched_points += list.iter().map(|s| s.values.len()).sum::<usize>();
        if let Some(max) = ctx.limits.max_series {
            if self.fetched_series > max {
                return Err(QueryError::Limit {
                    what: "series",
                    got: self.fetched_series,
                    max,
                });
            }
        }
        if let Some(max) = ctx.limits.max_points {
            if self.fetched_points > max {
                return Err(QueryError::Limit {
                    what: "points",
                    got: self.fetched_points,
                    max,
                });
            }
        }
        for s in &mut list {
            // graphite-web's fetchData builds every series with the request's xFilesFactor.
            s.x_files_factor = ctx.xff();
        }
        Ok(list)
    }
}

fn is_plain_number(s: &str) -> bool {
    let t = s.strip_prefix('-').unwrap_or(s);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn validate_counts(
    func: &str,
    params: &[ParamMeta],
    pos: &[Value],
    kw: &[(String, Value)],
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    if pos.len() + kw.len() > params.len() && !params.last().is_some_and(|p| p.multiple) {
        return param_err(format!(
            "Too many parameters specified for function \"{func}\""
        ));
    }
    for (k, _) in kw {
        if !params.iter().any(|p| &p.name == k) {
            return param_err(format!("Unexpected key word arguments: {k}"));
        }
    }
    Ok(())
}
