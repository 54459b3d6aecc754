//! Writes tests/captures/encap/*.pcap: the real-kernel stale-ACK captures tw_repair and
//! tw_repair_v6 wrapped, frame by frame and unchanged inside, in each encapsulation and link
//! type ackscope decodes that this kernel cannot make itself (GRE, ERSPAN II/III, GENEVE,
//! IP-in-IP, MPLS, PPPoE, BSD loopback; VXLAN too, beside the kernel-made one). The list is
//! `ackscope::packet::build::encap_fixtures`, the wrapping `build::wrap`; tests/encap_captures.rs
//! regenerates every file in memory and requires it to be byte-identical to the committed one,
//! then checks the events and tshark's decoding.
//!
//!     cargo run --release --example encap_fixtures [-- OUT_DIR]

use std::path::{Path, PathBuf};

use ackscope::packet::build::{encap_fixtures, wrap_capture};
use ackscope::replay::CaptureReader;

fn frames(p: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = CaptureReader::open(p).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        v.push((f.ts_ns, f.data.to_vec()));
    }
    v
}

fn main() {
    let caps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let out: PathBuf = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| caps.join("encap"));
    std::fs::create_dir_all(&out).expect("create the output directory");
    for (name, inner, w) in encap_fixtures() {
        let src = frames(&caps.join(format!("{inner}.pcap")));
        let path = out.join(format!("{name}.pcap"));
        std::fs::write(&path, wrap_capture(&src, &w)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expect = std::fs::read_to_string(caps.join(format!("{inner}.expect"))).expect("inner .expect");
        std::fs::write(path.with_extension("expect"), expect).expect("write .expect");
        println!("{} ({} frames of {inner}.pcap in {w:?})", path.display(), src.len());
    }
}
