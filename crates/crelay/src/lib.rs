//! carbon-c-relay's configuration language for Carbonado.
//!
//! [`parse_file`] / [`parse_str`] read `cluster`, `match`, `rewrite`, `aggregate`, `statistics`,
//! `listen` and `include` statements into a [`Config`], refusing what carbon-c-relay refuses with
//! errors that name file, line and column. [`Router`] evaluates the rules for one metric the way
//! c-relay does: rules in order, `stop` ends processing, `rewrite` changes the name seen by later
//! rules, and each cluster picks its servers with c-relay's hashing.
//!
//! ```
//! use crelay::{parse_str, Router};
//! use std::path::Path;
//! let cfg = parse_str(
//!     "cluster a forward 10.0.0.1:2003; rewrite ^x\\.(.*) into y.\\1; match ^y send to a stop;",
//!     Path::new("<string>"), Path::new("."),
//! ).unwrap();
//! let r = Router::new(cfg);
//! let out = r.route("x.cpu", "1 1700000000");
//! assert_eq!(out.destinations(), vec![("a".to_string(), "y.cpu".to_string())]);
//! ```

#![warn(missing_docs)]

pub mod aggregate;
pub mod cleanse;
pub mod config;
pub mod ere;
pub mod error;
pub mod glob;
pub mod lexer;
pub mod parser;
pub mod replace;
pub mod router;
pub mod table;

pub use aggregate::{Aggregates, Limits, Output, RuleStats};
pub use cleanse::cleanse;
pub use config::{Cluster, ClusterKind, Config, Rule};
pub use error::{Error, Pos, Result};
pub use parser::{parse_file, parse_file_in, parse_str};
pub use router::{AggregateHit, Event, Router, Routing, Send};
pub use table::routing_table;
