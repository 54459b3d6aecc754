//! Live host mode, end to end, as root: a real Linux client and server in two network
//! namespaces and `ackscope run --mode host` on the server's own interface
//! (tests/live/host.sh). Stale ACKs are found with their causes, the ordinary workload is
//! untouched, and nothing of ackscope's is left after SIGINT, or after kill -9 plus a restart
//! and stop; an operator's clsact qdisc and filters are left alone and keep seeing every
//! packet. Without root these tests say so and pass, unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::{count, read, root_or_skip, run_script, summary, tail};

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

fn events(dir: &Path, tag: &str) -> Vec<Value> {
    common::events(&dir.join(format!("{tag}.jsonl")))
}

/// `key=value` lines of a state file.
fn state(dir: &Path, name: &str) -> HashMap<String, String> {
    let s = std::fs::read_to_string(dir.join(format!("state-{name}.txt"))).unwrap_or_else(|e| panic!("state-{name}: {e}"));
    s.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

fn num(st: &HashMap<String, String>, k: &str) -> u64 {
    st.get(k).unwrap_or_else(|| panic!("no {k} in {st:?}")).parse().unwrap_or_else(|_| panic!("{k} in {st:?}"))
}

#[test]
fn host_mode_real_stacks_and_cleanup() {
    if !root_or_skip("host_mode_real_stacks_and_cleanup") {
        return;
    }
    let out = common::out_dir("ackscope-host-test");
    let ordinary = 300u64;
    let log = run_script("host.sh", 400, &[out.to_str().unwrap(), &ordinary.to_string(), "50"], &[]);
    let err = |tag: &str| read(&out, &format!("{tag}.err"));

    // Phase 1: the scenarios, with their causes.
    let p1 = events(&out, "p1");
    let p1err = err("p1");
    assert_eq!(count(&p1, "stale_ack", Some("time_wait")), 5, "{p1:#?}\n{p1err}");
    // Every record carries its kernel stamp (a RST's ring record once had 0: 1970 in events).
    assert!(p1.iter().all(|e| e["ts"].as_str().is_some_and(|t| !t.starts_with("1970"))), "{p1:#?}");
    assert_eq!(count(&p1, "stale_ack", Some("lingering_established")), 3, "{p1:#?}");
    assert_eq!(count(&p1, "stale_ack", None), 8, "ordinary connections gave stale ACKs: {p1:#?}");
    assert_eq!(count(&p1, "reuse_in_time_wait", None), 5, "{p1:#?}");
    let recovered = p1.iter().filter(|e| e["kind"] == "stale_ack_outcome" && e["outcome"] == "recovered").count();
    assert_eq!(recovered, 8, "{p1:#?}");
    for e in p1.iter().filter(|e| e["kind"] == "stale_ack" && e["cause"] == "time_wait") {
        assert_eq!(e["ack_matches_prev"], true, "{e}");
    }
    // Both directions were seen through the clones, and the accounting adds up.
    let sum1 = summary(&out.join("p1.summary.json"), &p1err);
    // The kernel's view (ackscope runs in the server's namespace). A stale ACK is reported once
    // the client confirms it; its RST also resets the server's stale socket (tcp_rfc1337=0), so
    // where the RST got through, only the listener matches the 4-tuple (state LISTEN, nothing
    // to check). Where the client's RSTs were lost (ports 41005, 41013), the stale socket is
    // still there: TIME-WAIT with a plausible timer and no owner; ESTABLISHED owned by the
    // test's server process. The kernel never disagrees with a cause.
    let k = &sum1["kernel"];
    let with_kernel: Vec<&Value> = p1.iter().filter(|e| e["kind"] == "stale_ack" && e.get("kernel").is_some()).collect();
    assert_eq!(with_kernel.len() as u64, common::num(&sum1, "/kernel/lookups/found"), "{k:#}");
    if common::num(&sum1, "/kernel/lookups/timed_out") == 0 && common::num(&sum1, "/kernel/lookups/skipped_rate") == 0 {
        assert_eq!(with_kernel.len(), 8, "every stale ACK has its kernel view: {k:#}\n{p1:#?}");
    }
    assert_eq!(common::num(&sum1, "/kernel/lookups/disagree"), 0, "{k:#}");
    let port = |e: &Value| e["client"].as_str().unwrap().rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let mut checked = (0, 0);
    for e in &with_kernel {
        let sv = &e["kernel"]["server"];
        if sv["state"] == "LISTEN" {
            assert!(e["kernel"].get("agrees").is_none(), "{e}");
            assert!(![41005, 41013].contains(&port(e)), "the stale socket was gone although the RSTs were dropped: {e}");
            continue;
        }
        assert_eq!(e["kernel"]["agrees"], true, "{e}");
        if e["cause"] == "time_wait" {
            assert_eq!(sv["state"], "TIME-WAIT", "{e}");
            let t = sv["timer_ms"].as_u64().unwrap_or(0);
            assert!((1_000..=60_000).contains(&t), "implausible TIME-WAIT timer: {e}");
            assert_eq!(sv["owner"], "none", "{e}");
            checked.0 += 1;
        } else {
            assert_eq!(sv["state"], "ESTABLISHED", "{e}");
            assert!(sv["pid"].as_u64().unwrap_or(0) > 1, "{e}");
            assert!(sv["comm"].as_str().unwrap_or("").contains("python"), "the test's server is tcpapp.py: {e}");
            checked.1 += 1;
        }
    }
    assert!(checked.0 >= 1 && checked.1 >= 1, "TIME-WAIT and ESTABLISHED seen {checked:?}: {k:#}\n{with_kernel:#?}");
    // MIB deltas of the server's namespace: each lingering_established stale ACK was a
    // challenge ACK answering a SYN (RFC 5961 §4; TCPSYNChallenge and TCPChallengeACK), one
    // per SYN (retries included); ackscope counts one stale_ack per attempt.
    let le = count(&p1, "stale_ack", Some("lingering_established")) as u64;
    assert!(common::num(&sum1, "/kernel/mib_delta/TCPSYNChallenge") >= le, "{k:#}");
    assert!(common::num(&sum1, "/kernel/mib_delta/TCPChallengeACK") >= le, "{k:#}");
    assert_eq!(sum1["accounting"]["adds_up"], true, "{sum1:#}");
    assert_eq!(common::num(&sum1, "/accounting/lost_user"), 0, "{sum1:#}");
    assert_eq!(common::num(&sum1, "/host/lost_on_veth"), 0, "{sum1:#}");
    assert_eq!(common::num(&sum1, "/host/clone_fail"), 0, "{sum1:#}");
    // The ordinary workload: every connection succeeded, the bulk bytes arrived intact.
    let work = read(&out, "workload.txt");
    assert!(work.contains(&format!("connections={ordinary} ")), "{work}\n{}", read(&out, "workload.err"));
    let bulk = work.lines().find(|l| l.starts_with("bulk ")).unwrap_or_else(|| panic!("no bulk line: {work}"));
    assert!(bulk.starts_with("bulk ok "), "{bulk}");

    // While running: clsact created by us, our two filters, the veth pair, our programs.
    let run = state(&out, "p1-running");
    assert_eq!(num(&run, "clsact"), 1, "{run:?}");
    assert_eq!(num(&run, "our_filters"), 2, "{run:?}");
    assert_eq!(num(&run, "veth"), 2, "{run:?}");
    // After SIGINT: nothing of ackscope's left (qdisc, filters, veth, programs).
    for name in ["p1-after", "p2-after"] {
        let s = state(&out, name);
        for k in ["clsact", "our_filters", "veth", "progs_alive"] {
            assert_eq!(num(&s, k), 0, "{name}: {k} left: {s:?}\n{}", tail(&log, 60));
        }
    }

    // Phase 2: kill -9 leaves the filters, qdisc and veth behind; the restart removes them
    // (and says so), works, and its stop leaves nothing.
    let killed = state(&out, "p2-killed");
    assert_eq!(num(&killed, "our_filters"), 2, "{killed:?}");
    assert_eq!(num(&killed, "veth"), 2, "{killed:?}");
    assert_eq!(num(&killed, "clsact"), 1, "{killed:?}");
    let p2err = err("p2");
    assert!(p2err.contains("removed leftover ackscope_tc filter"), "{p2err}");
    assert!(p2err.contains("veth pair left by a previous run"), "{p2err}");
    assert!(p2err.contains("removed the clsact qdisc a previous run created"), "{p2err}");
    let p2 = events(&out, "p2");
    assert_eq!(count(&p2, "stale_ack", Some("time_wait")), 1, "{p2:#?}\n{p2err}");

    // Phase 3: the operator's qdisc and filters stay, and kept seeing packets while ours ran
    // first (ours returns TC_ACT_UNSPEC).
    let before = state(&out, "p3-before");
    let during = state(&out, "p3-running");
    let after = state(&out, "p3-after");
    assert_eq!(num(&before, "operator_filters"), 2, "{before:?}");
    assert_eq!(num(&during, "our_filters"), 2, "{during:?}");
    assert!(num(&during, "operator_hits_during") >= 50 * 8, "operator filters saw too few packets: {during:?}");
    assert_eq!(num(&after, "clsact"), 1, "the operator's clsact went away: {after:?}");
    assert_eq!(num(&after, "operator_filters"), 2, "{after:?}");
    for k in ["our_filters", "veth", "progs_alive"] {
        assert_eq!(num(&after, k), 0, "p3-after: {k} left: {after:?}");
    }
    assert!(!err("p3").contains("removed the clsact"), "{}", err("p3"));

    let tag = read(&out, "ns-tag");
    assert!(common::no_namespace_like(tag.trim()), "namespaces {tag} left");
    let _ = std::fs::remove_dir_all(&out);
}

/// Issue 19: host mode on the server's interface with the lingering scenarios carrying request
/// data; a tcpdump of the interface is the reference. FIN_WAIT2: the server's FIN (steered)
/// carries the receive point, so the match is exact. ESTABLISHED: the request was not
/// steered, so ackscope says `within_window` instead of a wrong `false`.
#[test]
fn host_mode_lingering_evidence_agrees_with_a_tcpdump() {
    if !root_or_skip("host_mode_lingering_evidence_agrees_with_a_tcpdump") {
        return;
    }
    let out: std::path::PathBuf = std::env::temp_dir().join(format!("ackscope-hostev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/host_evidence.sh");
    let st = std::process::Command::new("timeout")
        .args(["120", "bash"])
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .output()
        .expect("run tests/live/host_evidence.sh");
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "host_evidence.sh failed ({}):\n{}", st.status, tail(&log, 40));
    let live = events(&out, "ev");
    let stale: Vec<&Value> = live.iter().filter(|e| e["kind"] == "stale_ack").collect();
    assert_eq!(stale.len(), 4, "{live:#?}");
    for e in &stale {
        let port: u16 = e["client"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        let nbytes = if port >= 41103 { 20_009u32 } else { 1009 };
        if port % 2 == 0 {
            assert_eq!(e["cause"], "lingering_close", "{e}");
            assert_eq!(e["ack_evidence"], "exact", "{e}");
            assert_eq!(e["ack_matches_prev"], true, "{e}");
            assert_eq!(e["prev_rcv_nxt"], e["ack"], "{e}");
        } else {
            assert_eq!(e["cause"], "lingering_established", "{e}");
            assert_eq!(e["prev_state"], "open", "{e}");
            assert_eq!(e["ack_evidence"], "within_window", "{e}");
            assert!(e.get("ack_matches_prev").is_none(), "{e}");
            let (ack, lo) = (e["ack"].as_u64().unwrap() as u32, e["prev_rcv_nxt"].as_u64().unwrap() as u32);
            assert_eq!(ack.wrapping_sub(lo), nbytes, "the unseen request: {e}");
            assert!(e["prev_last_seen_ms"].as_u64().unwrap() >= 300, "{e}");
        }
    }
    let a = common::evidence::check_live_against_capture(env!("CARGO_BIN_EXE_ackscope"), &live, &out.join("s0.pcap"));
    assert_eq!(a.in_capture, 4, "{a:#?}");
    assert!(a.problems.is_empty(), "{a:#?}");
    assert_eq!(a.agreed, 4, "{a:#?}");
    let _ = std::fs::remove_dir_all(&out);
}
