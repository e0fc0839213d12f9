//! Plaintext framing and parsing, UDP splitting, tag normalisation and metric paths on
//! arbitrary bytes: must never panic, lines never exceed the limit, paths never escape.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    proto::harness::line_parser(data);
});
