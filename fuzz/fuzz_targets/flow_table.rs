//! The shard's open-addressing flow table under arbitrary insert/remove/get/expire sequences
//! with colliding home buckets and a small cap, checked against a HashMap model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackscope_fuzz::harness::flow_table_input(data);
});
