//! Live faults, as root: the interface goes down or disappears (exit 4, nothing left), the
//! event output is a closed pipe (events counted as not written, the run goes on), SIGHUP
//! reopens the events file. Skips loudly without root unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::{read, root_or_skip, run_span_script, summary};

use std::path::PathBuf;

fn scenario(name: &str) -> Option<PathBuf> {
    if !root_or_skip(&format!("live fault `{name}`")) {
        return None;
    }
    let out = common::out_dir(&format!("ackscope-faults-{name}"));
    run_span_script("faults.sh", 120, &[out.to_str().unwrap(), name], &[]);
    Some(out)
}

#[test]
fn interface_down_stops_with_exit_4() {
    let Some(out) = scenario("down") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "4", "exit code; stderr:\n{err}");
    assert!(err.contains("went down"), "{err}");
    let s = summary(&out.join("summary.json"), &err);
    assert_eq!((s["exit_code"].as_u64(), s["link"].as_str()), (Some(4), Some("down")), "{s:#}");
    assert!(read(&out, "after.txt").contains("xdp_on_tapb=0"));
    assert!(read(&out, "events.jsonl").contains("\"stale_ack\""), "events before the fault are kept");
}

#[test]
fn interface_gone_stops_with_exit_4() {
    let Some(out) = scenario("gone") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "4", "{err}");
    assert!(err.contains("disappeared") || err.contains("went down"), "{err}");
}

#[test]
fn closed_pipe_counts_events_and_keeps_running() {
    let Some(out) = scenario("pipe") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "0", "{err}");
    let s = summary(&out.join("summary.json"), &err);
    assert_eq!(common::num(&s, "/events/stale_ack"), 2, "the engine saw every stale ACK: {s:#}");
    assert_eq!(s["accounting"]["adds_up"], true, "{s:#}");
}

#[test]
fn sighup_reopens_the_events_file() {
    let Some(out) = scenario("hup") else { return };
    let old = read(&out, "events.jsonl.1");
    let new = read(&out, "events.jsonl");
    assert_eq!(read(&out, "rc").trim(), "0");
    assert!(old.contains("10.77.0.1:41001") && !old.contains("10.77.0.1:41002"), "old file: {old}");
    assert!(new.contains("10.77.0.1:41002") && !new.contains("10.77.0.1:41001"), "new file: {new}");
}
