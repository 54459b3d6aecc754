//! Live events against a tcpdump of the same interface (issue 19): every stale ACK the
//! capture shows is reported live, with the same cause, and evidence that agrees with the
//! capture — the same as a replay of its control-only cut (what the steering delivers), and
//! never a `false` where the whole capture says `true`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::control_cut::control_cut;

/// `ackscope replay --format json FILE`.
pub fn replay_json(bin: &str, file: &Path) -> Vec<Value> {
    let out = Command::new(bin).args(["replay", "--format", "json"]).arg(file).output().expect("run ackscope replay");
    assert!(out.status.success(), "replay {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn key(e: &Value) -> (String, String, u64) {
    (e["client"].as_str().unwrap().to_string(), e["server"].as_str().unwrap().to_string(), e["syn_seq"].as_u64().unwrap())
}

fn stale(evs: &[Value]) -> HashMap<(String, String, u64), Value> {
    evs.iter().filter(|e| e["kind"] == "stale_ack").map(|e| (key(e), e.clone())).collect()
}

/// What the comparison found.
#[derive(Debug, Default)]
pub struct Agreement {
    /// stale_ack events in the replay of the whole capture.
    pub in_capture: usize,
    /// Of those, reported live with the same cause and agreeing evidence.
    pub agreed: usize,
    /// Live stale_acks by `cause/ack_evidence/ack_matches_prev`.
    pub live_by_evidence: HashMap<String, usize>,
    /// Whole-capture stale_acks by the same.
    pub capture_by_evidence: HashMap<String, usize>,
    /// Every disagreement, described.
    pub problems: Vec<String>,
}

fn ev_label(e: &Value) -> String {
    format!("{}/{}/{}", e["cause"].as_str().unwrap_or("-"), e["ack_evidence"].as_str().unwrap_or("-"), e.get("ack_matches_prev").map_or("-".into(), |v| v.to_string()))
}

/// Compare `live` events with the tcpdump `pcap` of the same interface.
pub fn check_live_against_capture(bin: &str, live: &[Value], pcap: &Path) -> Agreement {
    let whole = stale(&replay_json(bin, pcap));
    let cut_file = pcap.with_extension("cut.pcap");
    std::fs::write(&cut_file, control_cut(&std::fs::read(pcap).unwrap())).unwrap();
    let cut = stale(&replay_json(bin, &cut_file));
    let live = stale(live);
    let mut a = Agreement { in_capture: whole.len(), ..Agreement::default() };
    for e in live.values() {
        *a.live_by_evidence.entry(ev_label(e)).or_default() += 1;
    }
    for (k, w) in &whole {
        *a.capture_by_evidence.entry(ev_label(w)).or_default() += 1;
        let Some(l) = live.get(k) else {
            a.problems.push(format!("not reported live: {w}"));
            continue;
        };
        let mut ok = true;
        if l["cause"] != w["cause"] {
            a.problems.push(format!("cause differs: live {l}\nwhole {w}"));
            ok = false;
        }
        // Never a live match verdict that the whole capture contradicts.
        if let Some(m) = l.get("ack_matches_prev") {
            if Some(m) != w.get("ack_matches_prev") {
                a.problems.push(format!("ack_matches_prev contradicts the capture: live {l}\nwhole {w}"));
                ok = false;
            }
        }
        // The same segments give the same evidence.
        match cut.get(k) {
            Some(c) => {
                for f in ["ack_evidence", "ack_matches_prev", "prev_rcv_nxt", "ack_window", "prev_state"] {
                    if l.get(f) != c.get(f) {
                        a.problems.push(format!("{f} differs from the control-only cut: live {l}\ncut {c}"));
                        ok = false;
                    }
                }
            }
            None => {
                a.problems.push(format!("not in the control-only cut's replay: {w}"));
                ok = false;
            }
        }
        if ok {
            a.agreed += 1;
        }
    }
    for (k, l) in &live {
        if !whole.contains_key(k) {
            a.problems.push(format!("reported live, not in the capture: {l}"));
        }
    }
    let _ = std::fs::remove_file(cut_file);
    a
}
