//! `ackscope demo --format json` (the README's main command) shows all three causes live and
//! leaves nothing behind. Needs root; skips loudly otherwise unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::root_or_skip;

use std::process::Command;


#[test]
fn demo_shows_every_cause_and_cleans_up() {
    if !root_or_skip("demo_shows_every_cause_and_cleans_up") {
        return;
    }
    let report = std::env::temp_dir().join(format!("ackscope-demo-test-report-{}.html", std::process::id()));
    let out = Command::new("timeout")
        .args(["120", env!("CARGO_BIN_EXE_ackscope"), "demo", "--format", "json", "--ordinary", "100", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    let events: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let causes: Vec<&str> = events.iter().filter(|e| e["kind"] == "stale_ack").map(|e| e["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["time_wait", "lingering_established", "lingering_close"], "{stderr}");
    let recovered = events.iter().filter(|e| e["kind"] == "stale_ack_outcome" && e["outcome"] == "recovered").count();
    assert_eq!(recovered, 3);
    assert!(stderr.contains("(adds up)"), "{stderr}");
    assert!(stderr.contains("removed the testbed"), "{stderr}");
    // The report of the run: one ladder per stale ACK, each with the previous connection's
    // segments from the live run's flagged-flow captures.
    let html = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("no report at {}: {e}; {stderr}", report.display()));
    let _ = std::fs::remove_file(&report);
    assert!(stderr.contains(&format!("incident report of this run (3 stale ACKs, 3 ladders): {}", report.display())), "{stderr}");
    let ladders: Vec<&str> = html.split("<section class=\"ladder\"").skip(1).collect();
    assert_eq!(ladders.len(), 3);
    for l in &ladders {
        assert!(l.contains("(--pcap-dir; frame numbers of that file)"), "ladder without its flow capture: {l}");
        assert!(l.contains("previous connection: its last segments"));
    }
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(!ns.contains("ackscope-demo-"), "namespaces left: {ns}");
}
