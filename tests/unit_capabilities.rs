//! The capabilities of packaging/ackscope@.service are exactly what ackscope needs, as root
//! (tests/live/unit_caps.sh): as an unprivileged user with the unit's AmbientCapabilities,
//! host mode starts and reports a TIME_WAIT stale ACK; with any one of them removed, mirror
//! mode's set-up fails, with an error naming the missing permission.

mod common;
use common::root_or_skip;

use std::path::Path;
use std::process::Command;

#[test]
fn unit_capabilities_are_needed_and_enough() {
    if !root_or_skip("unit_capabilities_are_needed_and_enough") {
        return;
    }
    let out = std::env::temp_dir().join(format!("ackscope-unit-caps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new("timeout")
        .args(["180", "bash"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/unit_caps.sh"))
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "unit_caps.sh failed ({}):\n{log}", st.status);
    let result = std::fs::read_to_string(out.join("result.txt")).unwrap();
    let lines: Vec<&str> = result.lines().collect();
    assert_eq!(lines.len(), 6, "{result}");
    assert_eq!(lines[0], "all=started");
    let host = std::fs::read_to_string(out.join("host.jsonl")).unwrap();
    assert!(host.lines().any(|l| l.contains("\"kind\":\"stale_ack\"") && l.contains("\"cause\":\"time_wait\"")), "host mode saw no stale ACK: {host}");
    for l in &lines[1..] {
        let (cap, what) = l.split_once('=').unwrap();
        assert_eq!(what, "failed", "ackscope started without {cap}: the unit grants more than it needs");
        let err = std::fs::read_to_string(out.join(format!("without-{cap}.err"))).unwrap();
        assert!(
            err.contains("cannot start on tapb") && (err.contains("CAP_") || err.contains("memlock")),
            "without {cap}, set-up failed for another reason: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
