//! Render request parameters as graphite-web's `parseOptions` reads them, turned into a
//! [`RequestContext`]: the one place where `from`/`until`/`now`/`tz`/`xFilesFactor`/
//! `maxDataPoints`/`template[...]` get their graphite meaning, so every caller agrees.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use crate::attime::{parse_at_time, tz_or, TimeRange};
use crate::context::{Fetcher, Limits, RequestContext};
use crate::error::{QueryError, Result};
use crate::eval::Evaluator;
use crate::series::Series;

/// The render parameters the language cares about (graph and output options are the web
/// layer's), as raw strings from the query string / form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderParams {
    /// `target` (or `target[]`) values in order.
    pub targets: Vec<String>,
    /// `from`.
    pub from: Option<String>,
    /// `until`.
    pub until: Option<String>,
    /// `now`.
    pub now: Option<String>,
    /// `tz`.
    pub tz: Option<String>,
    /// `xFilesFactor`.
    pub x_files_factor: Option<String>,
    /// `maxDataPoints`.
    pub max_data_points: Option<String>,
    /// `template[name]=value`.
    pub templates: BTreeMap<String, String>,
    /// `local=1`.
    pub local: bool,
    /// `noCache` present.
    pub no_cache: bool,
}

impl RenderParams {
    /// Collects the parameters from `(key, value)` pairs (query string and form merged, in
    /// order; for single-valued keys the last one wins, as with Django's QueryDict).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RenderParams {
        let mut p = RenderParams::default();
        let mut bracket_targets = Vec::new();
        for (k, v) in pairs {
            match k {
                "target" => p.targets.push(v.to_string()),
                "target[]" => bracket_targets.push(v.to_string()),
                "from" => p.from = Some(v.to_string()),
                "until" => p.until = Some(v.to_string()),
                "now" => p.now = Some(v.to_string()),
                "tz" => p.tz = Some(v.to_string()),
                "xFilesFactor" => p.x_files_factor = Some(v.to_string()),
                "maxDataPoints" => p.max_data_points = Some(v.to_string()),
                "local" => p.local = v == "1",
                "noCache" => p.no_cache = true,
                _ => {
                    if let Some(name) = k
                        .strip_prefix("template[")
                        .and_then(|r| r.strip_suffix(']'))
                    {
                        p.templates.insert(name.to_string(), v.to_string());
                    }
                }
            }
        }
        // graphite reads `target[]` only when there is no plain `target`.
        if p.targets.is_empty() {
            p.targets = bracket_targets;
        }
        p
    }

    /// `maxDataPoints` when it is all digits (graphite ignores anything else); `Some(0)` is
    /// possible and the JSON renderer must reject it (graphite divides by zero: 500).
    pub fn max_data_points(&self) -> Option<usize> {
        let v = self.max_data_points.as_deref()?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(v.parse().unwrap_or(usize::MAX))
    }

    /// Builds the evaluation context: zone (unknown names fall back to `default_tz`), `now`
    /// (parsed relative to `wall_clock_now`), from (default `-1d`) / until (default now),
    /// swapped when reversed, an empty range rejected, and the request xFilesFactor.
    pub fn context(
        &self,
        wall_clock_now: i64,
        default_tz: Tz,
        limits: Limits,
    ) -> Result<RequestContext> {
        let tz = tz_or(self.tz.as_deref(), default_tz);
        let now = match &self.now {
            Some(n) => parse_at_time(n, tz, wall_clock_now)?,
            None => wall_clock_now,
        };
        let range = TimeRange::resolve(self.from.as_deref(), self.until.as_deref(), now, tz)?;
        let mut ctx = RequestContext::new(range.from, range.until, now);
        ctx.tz = tz;
        ctx.server_tz = default_tz;
        if let Some(x) = &self.x_files_factor {
            ctx.x_files_factor = x.trim().parse().map_err(|_| {
                QueryError::InvalidParameter(format!("could not convert string to float: '{x}'"))
            })?;
        }
        ctx.templates = self.templates.clone();
        ctx.max_data_points = self.max_data_points();
        ctx.local = self.local;
        ctx.no_cache = self.no_cache;
        ctx.limits = limits;
        Ok(ctx)
    }
}

/// Evaluates every target of a request (no output-format work: maxDataPoints consolidation and
/// the "all series empty" rule belong to the JSON renderer, see [`crate::consolidate`]).
pub fn evaluate(
    fetcher: &dyn Fetcher,
    ctx: &RequestContext,
    params: &RenderParams,
) -> Result<Vec<Series>> {
    Evaluator::new(fetcher).evaluate_targets(ctx, &params.targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_defaults() {
        let p = RenderParams::from_pairs([
            ("target", "a.b"),
            ("target[]", "ignored"),
            ("from", "-1h"),
            ("template[host]", "web01"),
            ("maxDataPoints", "12x"),
            ("tz", "Not/AZone"),
        ]);
        assert_eq!(p.targets, vec!["a.b".to_string()]);
        assert_eq!(p.max_data_points(), None);
        let ctx = p
            .context(1_700_003_600, Tz::UTC, Limits::default())
            .unwrap();
        assert_eq!((ctx.from, ctx.until), (1_700_000_000, 1_700_003_600));
        assert_eq!(ctx.tz, Tz::UTC);
        assert_eq!(ctx.templates.get("host").map(String::as_str), Some("web01"));
    }

    #[test]
    fn empty_range_and_bad_xff_are_errors() {
        let p = RenderParams::from_pairs([("from", "now"), ("until", "now")]);
        assert_eq!(
            p.context(1_700_000_000, Tz::UTC, Limits::default())
                .unwrap_err(),
            QueryError::EmptyTimeRange
        );
        let p = RenderParams::from_pairs([("xFilesFactor", "half")]);
        assert!(p
            .context(1_700_000_000, Tz::UTC, Limits::default())
            .is_err());
    }
}
