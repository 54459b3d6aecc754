//! Live mirror mode through tunnels (issue 12), as root (tests/live/tunnel.sh): the XDP
//! classifier decapsulates, steers the control segments inside the tunnel to AF_XDP and drops
//! the rest; the worker parses the frame with the one Rust parser; the events carry the
//! tunnel. Without root these tests say so and pass, unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::{count, events, num, out_dir, read, root_or_skip, run_span_script, summary};

use serde_json::Value;

fn run(kind: &str) -> (Vec<Value>, Value, String) {
    let out = out_dir(&format!("ackscope-live-tunnel-{kind}"));
    run_span_script("tunnel.sh", 240, &[out.to_str().unwrap(), kind], &[]);
    let stderr = read(&out, "ackscope.err");
    let r = (events(&out.join("events.jsonl")), summary(&out.join("summary.json"), &stderr), stderr);
    let _ = std::fs::remove_dir_all(&out);
    r
}

/// The kernel's own vxlan device: a real client/server pair mirrored by tc (u32 + mirred) into
/// a vxlan device whose remote end is ackscope's interface.
#[test]
fn vxlan_mirror_of_a_real_tcp_pair_detects_stale_acks_with_the_tunnel() {
    if !root_or_skip("vxlan_mirror_of_a_real_tcp_pair_detects_stale_acks_with_the_tunnel") {
        return;
    }
    let (evs, sum, stderr) = run("vxlan");
    let stale: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "stale_ack").collect();
    assert_eq!(stale.len(), 2, "two TIME_WAIT reuses, nothing from the ordinary connections: {evs:#?}\n{stderr}");
    assert_eq!(count(&evs, "stale_ack", Some("time_wait")), 2, "{evs:#?}");
    for e in &stale {
        let t = &e["tunnel"];
        assert_eq!(t["type"], "vxlan", "{e}");
        assert_eq!(t["vni"], 4242, "{e}");
        assert_eq!(t["outer_src"], "10.78.0.1", "{e}");
        assert_eq!(t["outer_dst"], "10.78.0.2", "{e}");
        assert_eq!(e["server"].as_str().map(|s| s.starts_with("10.77.0.2:")), Some(true), "inner addresses: {e}");
    }
    // Every mirrored frame was decapsulated and classified (no parse failure); the control
    // segments were steered and the data segments (and their ACKs) stayed in XDP.
    let frames = num(&sum, "/xdp/frames");
    let steered = num(&sum, "/xdp/steered");
    let not_steered = num(&sum, "/xdp/not_steered_tcp");
    assert_eq!(num(&sum, "/xdp/parse_fail"), 0, "{sum:#}");
    assert!(frames > 300 && steered > 50 && not_steered > 50, "frames {frames} steered {steered} not steered {not_steered}: {sum:#}");
}

/// ERSPAN type II frames made by the project's builder (tests/captures/encap/erspan2.pcap, a
/// real-kernel stale-ACK capture wrapped by src/packet/build.rs) sent live through a veth.
#[test]
fn erspan_frames_sent_live_are_detected_with_the_tunnel() {
    if !root_or_skip("erspan_frames_sent_live_are_detected_with_the_tunnel") {
        return;
    }
    let (evs, sum, stderr) = run("erspan");
    let stale: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "stale_ack").collect();
    assert!(!stale.is_empty(), "no stale_ack: {evs:#?}\n{sum:#}\n{stderr}");
    for e in &stale {
        let t = &e["tunnel"];
        assert_eq!(t["type"], "erspan_ii", "{e}");
        assert_eq!(t["session_id"], 17, "{e}");
        assert_eq!(t["outer_src"], "192.0.2.10", "{e}");
        assert_eq!(t["outer_dst"], "198.51.100.20", "{e}");
    }
}
