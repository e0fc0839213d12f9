#![no_main]
//! Any byte string must parse to a target or a typed error, never panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = query::parse_target(text);
    }
});
