//! Live faults, as root: the interface goes down or disappears (exit 4, nothing left), the
//! event output is a closed pipe (events counted as not written, the run goes on), SIGHUP
//! reopens the events file. Skips loudly without root unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::root_or_skip;

use std::path::{Path, PathBuf};
use std::process::Command;


fn scenario(name: &str) -> Option<(PathBuf, String)> {
    if !root_or_skip(&format!("live fault `{name}`")) {
        return None;
    }
    let out = std::env::temp_dir().join(format!("ackscope-faults-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/faults.sh");
    let st = Command::new("timeout")
        .args(["120", "bash"])
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .arg(name)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "faults.sh {name} failed:\n{log}");
    Some((out, log))
}

fn read(out: &Path, f: &str) -> String {
    std::fs::read_to_string(out.join(f)).unwrap_or_default()
}

#[test]
fn interface_down_stops_with_exit_4() {
    let Some((out, _)) = scenario("down") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "4", "exit code; stderr:\n{err}");
    assert!(err.contains("went down"), "{err}");
    assert!(read(&out, "after.txt").contains("xdp_on_tapb=0"));
    assert!(read(&out, "events.jsonl").contains("\"stale_ack\""), "events before the fault are kept");
}

#[test]
fn interface_gone_stops_with_exit_4() {
    let Some((out, _)) = scenario("gone") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "4", "{err}");
    assert!(err.contains("disappeared") || err.contains("went down"), "{err}");
}

#[test]
fn closed_pipe_counts_events_and_keeps_running() {
    let Some((out, _)) = scenario("pipe") else { return };
    let err = read(&out, "ackscope.err");
    assert_eq!(read(&out, "rc").trim(), "0", "{err}");
    assert!(err.contains("stale_ack=2"), "the engine saw every stale ACK: {err}");
    assert!(err.contains("(adds up)"), "{err}");
}

#[test]
fn sighup_reopens_the_events_file() {
    let Some((out, _)) = scenario("hup") else { return };
    let old = read(&out, "events.jsonl.1");
    let new = read(&out, "events.jsonl");
    assert_eq!(read(&out, "rc").trim(), "0");
    assert!(old.contains("10.77.0.1:41001") && !old.contains("10.77.0.1:41002"), "old file: {old}");
    assert!(new.contains("10.77.0.1:41002") && !new.contains("10.77.0.1:41001"), "new file: {new}");
}
