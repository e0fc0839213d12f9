//! The render language of Carbonado: graphite-web 1.1 compatible time specs, target grammar,
//! series model, function library and maxDataPoints consolidation. Pure: no I/O, no async.
//!
//! How the web role uses it:
//! 1. [`RenderParams::from_pairs`] takes the request's query/form pairs; [`RenderParams::context`]
//!    resolves `from`/`until`/`now`/`tz`/`xFilesFactor`/`template[...]` into a [`RequestContext`]
//!    (set [`Limits`] there).
//! 2. [`evaluate`] (or an [`Evaluator`]) parses and evaluates the targets against a [`Fetcher`]
//!    the web crate implements (local store, carbonlink, peers). It is called with glob path
//!    expressions and with the raw text of `seriesByTag(...)` calls; [`Fetcher::prefetch`] gets
//!    every positional path first so they can be fetched in parallel.
//! 3. For JSON output: drop everything when [`consolidate::all_empty`], then
//!    [`consolidate_max_data_points`]. Values that graphite holds as Python ints are flagged
//!    ([`Series::is_int`]) so encoders can print `2` rather than `2.0`.
//! 4. `/functions` and `/functions/<name>`: [`functions::functions_json`],
//!    [`functions::function_info`], serialised with [`functions::to_graphite_json`].
//!
//! [`memory::MemoryFetcher`] is an in-memory store that slices archives like whisper's fetch and
//! answers `seriesByTag` like graphite's tag database; tests here and elsewhere use it.
//!
//! ```
//! use query::{memory::{Archive, MemoryFetcher, Metric}, Evaluator, RequestContext};
//! let mut store = MemoryFetcher::new();
//! store.insert(Metric { name: "a.b".into(), archives: vec![Archive {
//!     step: 60, retention: 600, start: 1_000_020, values: vec![Some(1.0); 10] }] });
//! let ctx = RequestContext::new(1_000_000, 1_000_300, 1_000_600);
//! let out = Evaluator::new(&store).evaluate_target(&ctx, "scale(a.b,2)").unwrap();
//! assert_eq!(out[0].name, "scale(a.b,2)");
//! assert_eq!(out[0].values[0], Some(2.0));
//! ```

#![warn(missing_docs)]

pub mod attime;
pub mod consolidate;
pub mod context;
pub mod error;
pub mod eval;
pub mod functions;
pub mod memory;
pub mod parser;
pub mod pyfmt;
pub mod request;
pub mod series;

pub use attime::{parse_at_time, parse_time_offset, parse_tz, tz_or, TimeRange};
/// IANA time zones (re-exported so callers need no chrono-tz dependency of their own).
pub use chrono_tz::Tz;
pub use consolidate::consolidate_max_data_points;
pub use context::{FetchError, FetchRequest, Fetcher, Limits, RequestContext};
pub use error::{QueryError, Result};
pub use eval::{Evaluator, Value};
pub use parser::{parse_target, Expr};
pub use request::{evaluate, RenderParams};
pub use series::{RenderOptions, Series};
