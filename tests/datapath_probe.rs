//! The kernel half of the live datapath, as root, through examples/test_probe.sh and the
//! xsk_probe example: exact BPF counters on hand-made frames (QinQ, IPv6 extension headers,
//! fragments, malformed headers), native/generic/2-queue steering with kernel timestamps,
//! SIGKILL leaves nothing attached, a leftover ackscope program is removed, a foreign one is
//! refused unless forced. Skips loudly without root unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::root_or_skip;

use std::path::PathBuf;
use std::process::Command;


#[test]
fn xdp_and_af_xdp_datapath_scenarios() {
    if !root_or_skip("xdp_and_af_xdp_datapath_scenarios") {
        return;
    }
    // target/<profile>/deps/<this test> → target/<profile>/examples/xsk_probe (cargo test builds examples).
    let exe = std::env::current_exe().unwrap();
    let probe: PathBuf = exe.parent().unwrap().parent().unwrap().join("examples/xsk_probe");
    assert!(probe.exists(), "{} missing: cargo test builds examples; run `cargo build --examples`", probe.display());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/test_probe.sh");
    let out = Command::new("timeout").args(["600", "bash"]).arg(&script).arg(&probe).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let fails: Vec<&str> = log.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(out.status.success() && fails.is_empty(), "test_probe.sh failed ({}):\n{}", out.status, fails.join("\n"));
    assert!(log.matches("ok:").count() > 50, "too few checks ran:\n{log}");
}
