//! The detection engine on a decoded sequence of segments (see `harness::decode_engine`),
//! with a small flow cap; invariants checked after every segment and after `finish()`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackscope_fuzz::harness::engine_input(data);
});
