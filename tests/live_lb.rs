//! Issue 19, as root: a real HTTP load balancer (Debian's haproxy) in front of two real nginx
//! backends, wrk as the load, each in its own network namespace (tests/live/lb.sh). The LB's
//! ephemeral port range is narrowed to 16 ports and wrk uploads 256 KiB bodies, faster than
//! the ISN clock, so the backends' kernels answer reused-port SYNs with stale ACKs by
//! themselves. ackscope runs in host mode on the LB's backend-facing interface; a tcpdump of
//! the same interface is the reference: every stale ACK in it is reported live, with the same
//! cause and evidence that agrees (tests/common/evidence.rs), and nothing else is reported.
//! Without root these tests say so and pass, unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::root_or_skip;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn haproxy_nginx_wrk_every_stale_ack_reported_live_with_agreeing_evidence() {
    if !root_or_skip("haproxy_nginx_wrk_every_stale_ack_reported_live_with_agreeing_evidence") {
        return;
    }
    let out: PathBuf = std::env::temp_dir().join(format!("ackscope-lb-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/lb.sh");
    let st = Command::new("timeout")
        .args(["150", "bash"])
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .args(["15", "16"])
        // Backends close first after two requests; the LB sends no TCP timestamps, so only
        // the ISN decides whether a backend's TIME_WAIT accepts a reused port's SYN. haproxy
        // closes backend connections with RST (option nolinger), and a firewall rule in the
        // LB namespace loses 30 % of the LB's RSTs: the backends' sockets linger ESTABLISHED
        // or in FIN_WAIT2 (the lingering causes).
        .env("LB_NGINX_OPTS", "keepalive_requests 2; keepalive_timeout 2s;")
        .env("LB_SYSCTLS", "net.ipv4.tcp_timestamps=0")
        .env("LB_HAPROXY_OPTS", "option nolinger")
        .env("LB_RST_DROP", "30")
        .output()
        .expect("run tests/live/lb.sh");
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "lb.sh failed ({}):\n{}", st.status, tail(&log));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
    let err = read("ev.err");
    assert!(read("tcpdump.err").lines().any(|l| l == "0 packets dropped by kernel"), "tcpdump lost packets: {}", read("tcpdump.err"));
    // Clone path: nothing lost on the veth; ring path (the default): no record lost to a full ring.
    let none_lost = err.contains("(lost on the veth 0)") || err.contains(" - ring full 0 = records ");
    assert!(err.contains("(adds up)") && err.contains("clone_fail=0") && none_lost, "{err}");
    let wrk = read("wrk.txt");
    assert!(wrk.contains("requests in"), "{wrk}");
    let live: Vec<Value> = read("ev.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let a = common::evidence::check_live_against_capture(env!("CARGO_BIN_EXE_ackscope"), &live, &out.join("lb0.pcap"));
    eprintln!(
        "lb: {} stale ACKs in the tcpdump, {} agreed live; live {:?}; capture {:?}; wrk: {}",
        a.in_capture,
        a.agreed,
        a.live_by_evidence,
        a.capture_by_evidence,
        wrk.lines().filter(|l| l.contains("requests in") || l.contains("Requests/sec")).collect::<Vec<_>>().join(" ")
    );
    assert!(a.in_capture >= 20, "the kernels made too few stale ACKs to judge: {a:#?}\n{}", tail(&log));
    assert!(a.problems.is_empty(), "{} problems, first: {:#?}", a.problems.len(), &a.problems[..a.problems.len().min(5)]);
    assert_eq!(a.agreed, a.in_capture);
    for cause in ["time_wait", "lingering_close", "lingering_established"] {
        let n: usize = a.capture_by_evidence.iter().filter(|(k, _)| k.starts_with(&format!("{cause}/"))).map(|(_, n)| n).sum();
        assert!(n >= 1, "no {cause} stale ACK in this run: {a:#?}");
    }
    // Live, a lingering_established ACK acknowledges request data host mode did not steer:
    // never `false`, and `within_window` unless the server's acks of it were steered.
    for e in live.iter().filter(|e| e["kind"] == "stale_ack") {
        assert_ne!(e["ack_matches_prev"], false, "{e}");
    }
    // Other event kinds: nothing live that the tcpdump does not also give.
    let kinds = |evs: &[Value]| {
        let mut k: Vec<String> = evs.iter().filter(|e| e["kind"] != "stale_ack" && e["kind"] != "stale_ack_outcome").map(|e| e["kind"].to_string()).collect();
        k.sort();
        k
    };
    let whole = common::evidence::replay_json(env!("CARGO_BIN_EXE_ackscope"), &out.join("lb0.pcap"));
    assert_eq!(kinds(&live), kinds(&whole), "other events differ");
    let tag = read("ns-tag");
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!tag.trim().is_empty() && !String::from_utf8_lossy(&ns.stdout).contains(tag.trim()), "namespaces {tag} left");
    let _ = std::fs::remove_dir_all(&out);
}
