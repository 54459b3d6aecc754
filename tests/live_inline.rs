//! Live inline mode, end to end, as root: a client namespace and a server namespace
//! connected only through `ackscope run --mode inline` (tests/live/inline.sh). Thousands of
//! real connections and a bulk transfer succeed byte-exact, the stale-ACK scenarios are
//! detected inline, no frame is lost by inspection, and the exit behaviour holds: fail-open
//! keeps forwarding (after SIGINT and after kill -9), `--on-exit disconnect` leaves nothing.
//! Without root these tests say so and pass, unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::{count, read, root_or_skip, run_script, summary};

use std::path::Path;

use serde_json::Value;

fn events(dir: &Path, tag: &str) -> Vec<Value> {
    common::events(&dir.join(format!("{tag}.jsonl")))
}

#[test]
fn inline_mode_real_stacks_bulk_and_exit_behaviour() {
    if !root_or_skip("inline_mode_real_stacks_bulk_and_exit_behaviour") {
        return;
    }
    let out = common::out_dir("ackscope-inline-test");
    let (conns, bulk_mb) = (2000u32, 128u32);
    run_script("inline.sh", 600, &[out.to_str().unwrap(), &conns.to_string(), &bulk_mb.to_string()], &[]);

    // Before ackscope: no path between the namespaces.
    assert!(!read(&out, "conn-before.txt").contains("connect=connected"), "{}", read(&out, "conn-before.txt"));

    // The workload: every connection succeeded, the bulk transfer is byte-exact.
    let work = read(&out, "workload.txt");
    assert!(work.contains(&format!("connections={conns} ")), "{work}\n{}", common::tail(&read(&out, "workload.err"), 60));
    let bulk = work.lines().find(|l| l.starts_with("bulk ")).unwrap_or_else(|| panic!("no bulk line: {work}"));
    assert!(bulk.starts_with("bulk ok "), "{bulk}");
    assert!(bulk.contains(&format!("received={}", u64::from(bulk_mb) << 20)), "{bulk}");

    // The scenarios, detected inline.
    let p1 = events(&out, "p1");
    let p1err = read(&out, "p1.err");
    assert_eq!(count(&p1, "stale_ack", Some("time_wait")), 4, "{p1:#?}\n{p1err}");
    assert_eq!(count(&p1, "stale_ack", Some("lingering_established")), 2, "{p1:#?}");
    assert_eq!(count(&p1, "stale_ack", None), 6, "ordinary connections gave stale ACKs: {p1:#?}");
    let recovered = p1.iter().filter(|e| e["kind"] == "stale_ack_outcome" && e["outcome"] == "recovered").count();
    assert_eq!(recovered, 6, "{p1:#?}");
    // No frame lost by inspection: every frame received was sent on, none given up, and the
    // kernel dropped none of the steered ones.
    let sum1 = summary(&out.join("p1.summary.json"), &p1err);
    assert_eq!(common::num(&sum1, "/inline/given_up"), 0, "{sum1:#}");
    assert_eq!(sum1["inline"]["adds_up"], true, "{sum1:#}");
    assert_eq!(common::num(&sum1, "/inline/tx_failed"), 0, "{sum1:#}");
    assert_eq!(common::num(&sum1, "/accounting/kernel_drops"), 0, "{sum1:#}");
    assert_eq!(sum1["accounting"]["adds_up"], true, "{sum1:#}");

    // Fail-open: after SIGINT the program stays on both ports and forwards.
    let p1_after = read(&out, "state-p1-after.txt");
    assert!(p1_after.contains("xdp_ia=1") && p1_after.contains("xdp_ib=1"), "{p1_after}");
    assert!(read(&out, "conn-p1-after.txt").contains("connect=connected"), "{}", read(&out, "conn-p1-after.txt"));
    // The restart replaced it in place, and detected inline again.
    let p2err = read(&out, "p2.err");
    assert!(p2err.contains("replaced leftover ackscope_xdp"), "{p2err}");
    assert_eq!(count(&events(&out, "p2"), "stale_ack", Some("time_wait")), 1, "{p2err}");
    // kill -9: still forwarding.
    assert!(read(&out, "conn-p2-killed.txt").contains("connect=connected"), "{}", read(&out, "conn-p2-killed.txt"));
    // --on-exit disconnect: works while running, leaves nothing, ports disconnected after.
    assert!(read(&out, "conn-p3-running.txt").contains("connect=connected"), "{}", read(&out, "conn-p3-running.txt"));
    let p3_after = read(&out, "state-p3-after.txt");
    assert!(p3_after.contains("xdp_ia=0") && p3_after.contains("xdp_ib=0"), "{p3_after}");
    assert!(!read(&out, "conn-p3-after.txt").contains("connect=connected"), "{}", read(&out, "conn-p3-after.txt"));

    let tag = read(&out, "ns-tag");
    assert!(common::no_namespace_like(tag.trim()), "namespaces {tag} left");
    let _ = std::fs::remove_dir_all(&out);
}
