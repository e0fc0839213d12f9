//! The web role: graphite-web 1.1's HTTP API (render, find, expand, index, functions, version)
//! over the local whisper tree and the caches' carbonlink, answering byte-compatible bodies.

pub mod cache;
pub mod carbonlink;
pub mod cluster;
pub mod config;
pub mod encode;
pub mod error;
pub mod find_format;
pub mod functions;
pub mod graph_out;
pub mod local;
pub mod memcache;
pub mod merge;
pub mod multipart;
pub mod params;
pub mod pickle;
pub mod pyfmt;
pub mod pyjson;
pub mod remote;
pub mod render;
pub mod role;
pub mod server;
pub mod source;
pub mod tags;
pub mod tags_fanout;
pub mod transfer;
pub mod ui;

pub use config::WebConfig;
pub use error::WebError;
pub use role::{LocalCacheHook, StartError, WebRole};
pub use server::{router, serve, App};
pub use source::{Source, Sources};
