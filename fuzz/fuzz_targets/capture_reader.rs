//! The pcap/pcapng reader on arbitrary file contents (written to a tmpfs file per input),
//! every frame read and parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackscope_fuzz::harness::capture_reader_input(data);
});
