//! carbon-aggregator for Carbonado, as a pure state machine with the clock passed in.
//!
//! [`Aggregator`] buffers points per output metric and interval following aggregation-rules.conf
//! and emits aggregates on carbon's schedule (a periodic compute per output metric, every
//! `min(WRITE_BACK_FREQUENCY, frequency)` seconds from the metric's first point). [`RewriteRules`]
//! is rewrite-rules.conf, [`RegexList`] a whitelist/blacklist file, and [`Pipeline`] chains them
//! the way carbon's aggregator pipeline does.
//!
//! ```
//! use aggregator::{Aggregator, Settings};
//! let rules = ring::parse_aggregation_rules("a.<x>.total (10) = sum a.<x>.*").unwrap();
//! let mut agg = Aggregator::new(rules, Settings::default());
//! assert!(agg.input(100, "a.b.c", 95.0, 1.0).forward);
//! let mut out = Vec::new();
//! agg.tick(110, &mut out);
//! assert_eq!((out[0].metric.as_str(), out[0].timestamp, out[0].value), ("a.b.total", 90, 1.0));
//! ```

#![warn(missing_docs)]

pub mod buffers;
pub mod error;
pub mod lists;
pub mod pipeline;
pub mod rewrite;

pub use buffers::{Aggregate, Aggregator, Input, Settings, Stats};
pub use error::{Error, Result};
pub use lists::RegexList;
pub use pipeline::Pipeline;
pub use rewrite::{RewriteRule, RewriteRules};
