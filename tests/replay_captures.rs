//! Real-kernel captures (made by tests/captures/gen/*.sh on Linux network namespaces) replayed
//! through the `ackscope` binary: every expected event appears, with its evidence, and the
//! controls stay silent. No root needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::control_cut::control_cut;

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn replay(file: &Path) -> (Vec<Value>, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["replay", "--format", "json"])
        .arg(file)
        .output()
        .expect("run ackscope");
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    (events, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn label(e: &Value) -> String {
    let kind = e["kind"].as_str().unwrap();
    match (e.get("cause"), e.get("outcome")) {
        (_, Some(o)) => format!("{kind} {}", o.as_str().unwrap()),
        (Some(c), None) => format!("{kind} {}", c.as_str().unwrap()),
        _ => kind.to_string(),
    }
}

#[test]
fn every_capture_gives_exactly_its_expected_events() {
    let mut checked = 0;
    for entry in std::fs::read_dir(captures()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        // Plain and gzip-compressed captures (read transparently).
        let Some(stem) = name.strip_suffix(".pcap").or_else(|| name.strip_suffix(".pcap.gz")) else { continue };
        let expect = std::fs::read_to_string(captures().join(format!("{stem}.expect")))
            .unwrap_or_else(|_| panic!("{} has no .expect", p.display()));
        let want: Vec<String> = expect.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
        let (events, stderr, code) = replay(&p);
        assert_eq!(code, 0, "{}: {stderr}", p.display());
        let got: Vec<String> = events.iter().map(label).collect();
        assert_eq!(got, want, "{}\n{stderr}", p.display());
        assert!(!stderr.contains("parse problems"), "{}: {stderr}", p.display());
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} captures found");
}

fn one(file: &str, kind: &str) -> Value {
    let (events, _, _) = replay(&captures().join(file));
    events.into_iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("{file}: no {kind}"))
}

#[test]
fn time_wait_evidence_matches_the_kernel() {
    for file in ["tw_repair.pcap", "tw_upload.pcap", "tw_repair_v6.pcap", "rfc1337.pcap"] {
        let e = one(file, "stale_ack");
        assert_eq!(e["cause"], "time_wait", "{file}");
        assert_eq!(e["severity"], "critical");
        // The kernel's TIME_WAIT ACK carries the old receive point.
        assert_eq!(e["ack_matches_prev"], true, "{file}: {e}");
        assert_eq!(e["ack"], e["prev_rcv_nxt"]);
        assert_eq!(e["expected_ack"].as_u64().unwrap(), (e["syn_seq"].as_u64().unwrap() + 1) % (1 << 32));
        assert!(e["ack_delta"].as_i64().unwrap() > 0, "{file}: ISN below the old receive point → delta > 0");
        assert!(e["prev_close_age_ms"].as_u64().unwrap() < 60_000);
        assert_eq!(e["prev_state"], "closed_by_server_first");
        assert!(e["frame"].as_u64().unwrap() > 1);
        assert!(e["explanation"].as_str().unwrap().contains("TIME_WAIT"));
    }
    let v6 = one("tw_repair_v6.pcap", "stale_ack");
    assert!(v6["client"].as_str().unwrap().starts_with("[fd77::1]:"));
}

#[test]
fn outcomes_are_timed_from_the_stale_syn() {
    let r = one("tw_repair.pcap", "stale_ack_outcome");
    assert_eq!(r["outcome"], "recovered");
    let ms = r["recovery_ms"].as_f64().unwrap();
    // Linux retries the SYN after TCP_TIMEOUT_MIN (a few ms) once it has sent its RST.
    assert!(ms > 0.5 && ms < 1000.0, "recovery {ms} ms");
    assert_eq!(r["client_rst"], true);
    let f = one("rfc1337.pcap", "stale_ack_outcome");
    assert_eq!(f["outcome"], "failed");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["rst_ignored"], true, "tcp_rfc1337=1: the server ignores the RST");
    assert!(f["stale_acks"].as_u64().unwrap() >= 2);
}

#[test]
fn lingering_causes_and_the_lower_half_of_the_ack_space() {
    let e = one("lingering_est.pcap", "stale_ack");
    assert_eq!(e["cause"], "lingering_established");
    assert_eq!(e["prev_state"], "open");
    let f = one("lingering_finwait2.pcap", "stale_ack");
    assert_eq!(f["cause"], "lingering_close");
    assert_eq!(f["prev_state"], "half_closed_by_server");
    assert_eq!(f["ack_matches_prev"], true);
    // A challenge ACK of an old connection usually lies below the new ISN: the half of the ack
    // space Wireshark does not flag. Whatever the kernel picked, the sign matches the numbers.
    for e in [e, f] {
        let d = e["ack_delta"].as_i64().unwrap();
        let (ack, exp) = (e["ack"].as_u64().unwrap() as u32, e["expected_ack"].as_u64().unwrap() as u32);
        assert_eq!(d, i64::from(ack.wrapping_sub(exp) as i32));
    }
}

#[test]
fn summary_counts_frames_and_reuses() {
    let (_, stderr, _) = replay(&captures().join("ordinary.pcap"));
    assert!(stderr.contains("200 4-tuples tracked"), "{stderr}");
    assert!(stderr.contains("events: 0"), "{stderr}");
    let (_, stderr, _) = replay(&captures().join("ctl_tw_expired.pcap"));
    assert!(stderr.contains("1 port reuses"), "{stderr}");
}

fn summary(file: &str) -> String {
    replay(&captures().join(file)).1
}

#[test]
fn fast_open_data_on_the_syn_is_sequence_space() {
    // Real TCP Fast Open (tcp_fastopen=3 both sides): SYNs with 209 bytes, SYN-ACKs acking
    // ISN+1+209. Before issue 11: one synack_wrong_ack per data-carrying SYN.
    let (events, stderr, _) = replay(&captures().join("tfo.pcap"));
    assert!(events.is_empty(), "{events:?}");
    assert!(stderr.contains("5 4-tuples tracked"), "{stderr}");
    let md = std::fs::read_to_string(captures().join("tfo.md")).unwrap();
    assert!(md.contains("length 209") || md.contains("len 209"), "the capture's SYNs carry data:\n{md}");
}

#[test]
fn simultaneous_open_keeps_the_first_syn_sender_as_client() {
    let s = summary("simopen.pcap");
    assert!(s.contains("events: 0"), "{s}");
    assert!(s.contains("simultaneous_opens=1"), "{s}");
}

#[test]
fn syn_retries_while_synacks_are_dropped_are_not_port_reuse() {
    // nftables dropped the first SYN-ACKs at the client for 13.5 s: same-ISN SYN retries and
    // repeated SYN-ACKs. Before issue 11: 8 port reuses.
    let s = summary("synack_late.pcap");
    assert!(s.contains("events: 0"), "{s}");
    assert!(s.contains(" 0 port reuses"), "{s}");
    assert!(s.contains("duplicate_synacks="), "{s}");
}

#[test]
fn a_failed_verdict_is_revised_when_the_handshake_completes_later() {
    let (events, _, _) = replay(&captures().join("lingering_late.pcap"));
    let labels: Vec<String> = events.iter().map(label).collect();
    assert_eq!(labels, ["stale_ack lingering_established", "stale_ack_outcome failed", "stale_ack_outcome recovered"]);
    let (stale, failed, rec) = (&events[0], &events[1], &events[2]);
    assert_eq!(stale["roles"], "syn");
    assert!(failed.get("revises").is_none());
    assert_eq!(rec["revises"], "failed");
    assert!(rec["recovery_ms"].as_f64().unwrap() > 13_000.0, "{rec}");
    // Every outcome names the frame that decided it and the attempt's last frame.
    let (sf, ff, rf) = (stale["frame"].as_u64().unwrap(), failed["frame"].as_u64().unwrap(), rec["frame"].as_u64().unwrap());
    assert!(sf < ff && ff < rf, "{sf} {ff} {rf}");
    assert!(failed["last_frame"].as_u64().unwrap() < ff);
    assert!(rec["explanation"].as_str().unwrap().contains("replaces the earlier failed verdict"));
}

#[test]
fn a_capture_started_mid_stream_claims_no_roles() {
    let (events, stderr, _) = replay(&captures().join("midstream.pcap"));
    assert!(events.is_empty(), "{events:?}");
    assert!(stderr.contains("20 4-tuples tracked"), "{stderr}");
}

#[test]
fn gzip_capture_is_read_transparently() {
    let s = summary("busy.pcap.gz");
    assert!(s.contains("3000 4-tuples tracked"), "{s}");
    assert!(s.contains("events: 0"), "{s}");
}

/// The control-only cut of `file` (tests/common/control_cut.rs), written to a temp file.
fn cut(file: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data = std::fs::read(captures().join(file)).unwrap();
    let out = std::env::temp_dir().join(format!("ackscope-cut-{}-{n}-{file}", std::process::id()));
    std::fs::write(&out, control_cut(&data)).unwrap();
    out
}

fn stale(file: &Path) -> Value {
    let (events, stderr, code) = replay(file);
    assert_eq!(code, 0, "{}: {stderr}", file.display());
    events.into_iter().find(|e| e["kind"] == "stale_ack").unwrap_or_else(|| panic!("{}: no stale_ack", file.display()))
}

/// Issue 19: the request data moved the receive point. Replay of the whole capture decides the
/// match exactly; the control-only cut (what host mode steers) says exactly what it can.
#[test]
fn lingering_evidence_whole_capture_and_control_only_cut() {
    // ESTABLISHED: the whole capture shows the request and the server's ACK of it.
    let full = stale(&captures().join("lingering_est_data.pcap"));
    assert_eq!(full["cause"], "lingering_established");
    assert_eq!(full["ack_evidence"], "exact", "{full}");
    assert_eq!(full["ack_matches_prev"], true, "{full}");
    assert_eq!(full["prev_rcv_nxt"], full["ack"]);
    assert!(full["prev_last_seen_ms"].as_u64().unwrap() > 500, "{full}");
    // The cut has only the handshake of connection 1: the receive point is not known, and
    // ackscope says so instead of `false`.
    let c = cut("lingering_est_data.pcap");
    let cu = stale(&c);
    assert_eq!(cu["cause"], "lingering_established");
    assert_eq!(cu["ack_evidence"], "within_window", "{cu}");
    assert!(cu.get("ack_matches_prev").is_none(), "{cu}");
    let (ack, lo) = (cu["ack"].as_u64().unwrap() as u32, cu["prev_rcv_nxt"].as_u64().unwrap() as u32);
    assert_eq!(ack.wrapping_sub(lo), 1009, "9-byte header + 1000 bytes of request after ISN+1: {cu}");
    assert_eq!(cu["ack_window"].as_u64(), Some(u64::from(ackscope::detect::ACK_WINDOW)));
    let _ = std::fs::remove_file(c);

    // FIN_WAIT2: the server's FIN carries the receive point; the cut keeps the FIN.
    for (f, is_cut) in [(captures().join("lingering_finwait2_data.pcap"), false), (cut("lingering_finwait2_data.pcap"), true)] {
        let e = stale(&f);
        assert_eq!(e["cause"], "lingering_close", "{}", f.display());
        assert_eq!(e["ack_evidence"], "exact", "{}: {e}", f.display());
        assert_eq!(e["ack_matches_prev"], true, "{}: {e}", f.display());
        assert_eq!(e["prev_rcv_nxt"], e["ack"]);
        // Only the cut is ours to remove (the checkout itself may live under the temp dir).
        if is_cut {
            let _ = std::fs::remove_file(&f);
        }
    }
}

/// Every capture, cut to its control segments: the same events, and evidence that never
/// contradicts the whole capture's (no `false` where the whole capture says `true`).
#[test]
fn control_only_cut_of_every_capture_agrees() {
    let mut n = 0;
    for entry in std::fs::read_dir(captures()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let (full, _, _) = replay(&p);
        let c = cut(&name);
        let (part, stderr, code) = replay(&c);
        let _ = std::fs::remove_file(&c);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(full.iter().map(label).collect::<Vec<_>>(), part.iter().map(label).collect::<Vec<_>>(), "{name}");
        for (a, b) in full.iter().zip(&part).filter(|(a, _)| a["kind"] == "stale_ack") {
            if let Some(m) = b.get("ack_matches_prev") {
                assert_eq!(Some(m), a.get("ack_matches_prev"), "{name}: cut {b}\nwhole {a}");
            }
            assert!(b["ack_evidence"].is_string(), "{name}: {b}");
        }
        n += 1;
    }
    assert!(n >= 12, "{n}");
}
