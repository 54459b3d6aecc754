//! docs/events.schema.json describes the JSON lines ackscope really writes: every event of a
//! replay of tests/captures/*.pcap* validates (Python `jsonschema`, Draft 2020-12, installed by
//! scripts/setup.sh as python3-jsonschema), and a wrong line is rejected.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    Command::new("python3")
        .arg(root().join("tests/validate_events.py"))
        .arg(root().join("docs/events.schema.json"))
        .args(files)
        .output()
        .expect("python3 (scripts/setup.sh installs it with python3-jsonschema)")
}

#[test]
fn replayed_events_match_the_schema() {
    let mut caps: Vec<PathBuf> = std::fs::read_dir(root().join("tests/captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    caps.sort();
    assert!(caps.len() >= 5, "captures: {caps:?}");
    let dir = std::env::temp_dir().join(format!("ackscope-schema-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut outs = Vec::new();
    for c in &caps {
        let out = dir.join(format!("{}.jsonl", c.file_name().unwrap().to_string_lossy()));
        let st = Command::new(env!("CARGO_BIN_EXE_ackscope"))
            .args(["replay", "--quiet", "--format", "json", "--events"])
            .arg(&out)
            .arg(c)
            .status()
            .unwrap();
        assert!(st.code() == Some(0) || st.code() == Some(3), "replay {} failed: {st}", c.display());
        outs.push(out);
    }
    let v = validate(&outs);
    let stdout = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "schema violations:\n{stdout}{}", String::from_utf8_lossy(&v.stderr));
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"ok"), "{stdout}");
    let n: usize = words[1].parse().unwrap();
    assert!(n >= 10, "only {n} events validated: {stdout}");
    for kind in ["stale_ack", "stale_ack_outcome", "reuse_in_time_wait", "connection_refused"] {
        assert!(words.contains(&kind), "no {kind} event among the replayed ones: {stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_schema_rejects_wrong_lines() {
    let dir = std::env::temp_dir().join(format!("ackscope-schema-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = r#"{"kind":"stale_ack","severity":"critical","ts":"2026-11-25T04:00:15.115160Z","client":"10.77.0.1:40001","server":"[2001:db8::1]:5000","syn_seq":1,"ack":1000,"expected_ack":2,"ack_delta":998,"cause":"time_wait","prev_state":"closed_by_server_first","roles":"syn","explanation":"x"}"#;
    let f = dir.join("good.jsonl");
    std::fs::write(&f, format!("{good}\n")).unwrap();
    assert!(validate(&[f]).status.success());
    for (what, bad) in [
        ("unknown field", good.replace("\"explanation\"", "\"extra\":1,\"explanation\"")),
        ("ack above 2^32", good.replace("\"ack\":1000", "\"ack\":4294967296")),
        ("unknown cause", good.replace("time_wait", "tw")),
        ("missing cause", good.replace("\"cause\":\"time_wait\",", "")),
        ("outcome fields on a stale_ack", good.replace("\"explanation\"", "\"outcome\":\"failed\",\"explanation\"")),
        ("bad endpoint", good.replace("10.77.0.1:40001", "10.77.0.1")),
    ] {
        let f = dir.join("bad.jsonl");
        std::fs::write(&f, format!("{bad}\n")).unwrap();
        assert!(!validate(&[f]).status.success(), "{what} was accepted: {bad}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
