//! The safe pickle decoder (generic values, carbon datapoint batches, carbonlink messages) on
//! arbitrary bytes: must never panic, stay within its memory budget, and re-encode faithfully.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    proto::harness::pickle_decoder(data);
});
