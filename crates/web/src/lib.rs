//! The web role: graphite-web 1.1's HTTP API (render, find, expand, index, functions, version)
//! over the local whisper tree and the caches' carbonlink, answering byte-compatible bodies.

pub mod cache;
pub mod encode;
pub mod find_format;
pub mod memcache;
pub mod merge;
pub mod params;
pub mod pickle;
pub mod pyfmt;
pub mod pyjson;
