//! Live mirror mode, end to end, as root: real Linux client and server in two network
//! namespaces, a software SPAN port (tc mirred into a tap veth), `ackscope run --mode mirror`
//! on it (tests/live/mirror.sh). Without root these tests say so and pass, unless
//! ACKSCOPE_REQUIRE_ROOT=1 demands them (CI runs as root).

mod common;
use common::root_or_skip;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;



struct Run {
    events: Vec<Value>,
    stderr: String,
    after: String,
    metrics: String,
    pcaps: usize,
    privs: String,
}

fn run_mirror(queues: u32, ordinary: u32) -> Run {
    run_mirror_with(queues, ordinary, None)
}

fn run_mirror_with(queues: u32, ordinary: u32, metrics_port: Option<u16>) -> Run {
    let out: PathBuf = std::env::temp_dir().join(format!("ackscope-live-test-{}-q{queues}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/mirror.sh");
    let st = Command::new("timeout")
        .args(["300", "bash"])
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .arg(queues.to_string())
        .arg(ordinary.to_string())
        .env("METRICS_PORT", metrics_port.map(|p| p.to_string()).unwrap_or_default())
        .output()
        .expect("run tests/live/mirror.sh");
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "mirror.sh failed ({}):\n{}", st.status, tail(&log));
    let events = std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect();
    let r = Run {
        events,
        stderr: std::fs::read_to_string(out.join("ackscope.err")).unwrap_or_default(),
        after: std::fs::read_to_string(out.join("after.txt")).unwrap_or_default(),
        metrics: std::fs::read_to_string(out.join("metrics.txt")).unwrap_or_default(),
        pcaps: std::fs::read_dir(out.join("pcaps")).map(|d| d.count()).unwrap_or(0),
        privs: std::fs::read_to_string(out.join("privs.txt")).unwrap_or_default(),
    };
    let _ = std::fs::remove_dir_all(&out);
    r
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn count(r: &Run, kind: &str, cause: Option<&str>) -> usize {
    r.events.iter().filter(|e| e["kind"] == kind && cause.is_none_or(|c| e["cause"] == c)).count()
}

fn field(stderr: &str, line_prefix: &str, name: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with(line_prefix)).unwrap_or_else(|| panic!("no `{line_prefix}` line in\n{stderr}"));
    let at = line.find(name).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len();
    line[at..].trim_start_matches([' ', '=']).split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn check(r: &Run, ordinary: u64) {
    // The scenarios: 4 TIME_WAIT reuses, 2 lingering ESTABLISHED.
    assert_eq!(count(r, "stale_ack", Some("time_wait")), 4, "{:#?}\n{}", r.events, r.stderr);
    assert_eq!(count(r, "stale_ack", Some("lingering_established")), 2, "{:#?}", r.events);
    assert_eq!(count(r, "stale_ack", None), 6, "ordinary connections must not give stale ACKs: {:#?}", r.events);
    assert_eq!(count(r, "reuse_in_time_wait", None), 4);
    let recovered = r.events.iter().filter(|e| e["kind"] == "stale_ack_outcome" && e["outcome"] == "recovered").count();
    assert_eq!(recovered, 6, "{:#?}", r.events);
    for e in r.events.iter().filter(|e| e["cause"] == "time_wait" && e["kind"] == "stale_ack") {
        assert_eq!(e["ack_matches_prev"], true, "{e}");
    }
    // After set-up only CAP_NET_ADMIN (12), CAP_PERFMON (38) and CAP_BPF (39) remain, and
    // no_new_privs is set.
    let cap = |k: &str| {
        let line = r.privs.lines().find(|l| l.starts_with(k)).unwrap_or_else(|| panic!("no {k} in {}", r.privs));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(cap("CapEff:"), (1 << 12) | (1 << 38) | (1 << 39), "{}", r.privs);
    assert_eq!(cap("CapBnd:"), (1 << 12) | (1 << 38) | (1 << 39), "{}", r.privs);
    assert!(r.privs.contains("NoNewPrivs:\t1"), "{}", r.privs);
    // One flagged-flow pcap per flagged 4-tuple (4 TIME_WAIT reuses, 2 lingering).
    assert_eq!(r.pcaps, 6, "{}", r.stderr);
    // Counters add up: steered - redirect failures = received + kernel drops.
    assert!(r.stderr.contains("(adds up)"), "{}", r.stderr);
    assert!(r.stderr.contains("lost in user space (hand-off full) 0"), "{}", r.stderr);
    let flows = r.stderr.lines().find(|l| l.contains("4-tuples tracked")).unwrap();
    assert!(flows.contains(&format!("{} 4-tuples tracked", ordinary + 6)), "{flows}");
    // Nothing left: no XDP program on the tap after the run (and the script removed the
    // namespaces; checked by the caller).
    assert!(r.after.contains("xdp_on_tapb=0"), "{}", r.after);
}

fn no_namespaces_left() {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let me = format!("ackscope-live-{}", std::process::id());
    assert!(!s.contains(&me), "namespaces left: {s}");
}

fn metric(text: &str, series: &str) -> u64 {
    let line = text.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' ')).unwrap_or_else(|| panic!("no {series} in metrics:\n{text}"));
    line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
}

#[test]
fn mirror_one_queue_real_stacks_with_metrics() {
    if !root_or_skip("mirror_one_queue_real_stacks_with_metrics") {
        return;
    }
    // The metrics endpoint lives in the test's own server namespace: any fixed port is free.
    let r = run_mirror_with(1, 300, Some(9464));
    check(&r, 300);
    // Scraped during the run: the counters agree with the events written.
    let m = &r.metrics;
    assert_eq!(metric(m, "ackscope_stale_acks_total{cause=\"time_wait\"}"), count(&r, "stale_ack", Some("time_wait")) as u64, "{m}");
    assert_eq!(
        metric(m, "ackscope_stale_acks_total{cause=\"lingering_established\"}"),
        count(&r, "stale_ack", Some("lingering_established")) as u64
    );
    assert_eq!(metric(m, "ackscope_events_total{kind=\"reuse_in_time_wait\"}"), count(&r, "reuse_in_time_wait", None) as u64);
    assert_eq!(metric(m, "ackscope_stale_ack_outcomes_total{outcome=\"recovered\"}"), 6);
    assert_eq!(metric(m, "ackscope_port_reuses_total"), 6);
    assert!(metric(m, "ackscope_queue_rx_frames_total{queue=\"0\"}") > 0);
    assert_eq!(metric(m, "ackscope_xsk_rx_dropped_total{queue=\"0\"}"), 0);
    assert!(metric(m, "ackscope_handshake_rtt_seconds_count{server=\"10.77.0.2:5000\"}") >= 300, "{m}");
    assert!(m.contains("ackscope_xdp_steered_total{class=\"syn\"}"));
    no_namespaces_left();
}

#[test]
fn mirror_two_queues_directions_split() {
    if !root_or_skip("mirror_two_queues_directions_split") {
        return;
    }
    let r = run_mirror(2, 200);
    check(&r, 200);
    // Both queues received frames and segments crossed between the workers: the two
    // directions of flows landed on different queues, and detections are still right.
    let q0 = field(&r.stderr, "queue 0:", "received");
    let q1 = field(&r.stderr, "queue 1:", "received");
    assert!(q0 > 0 && q1 > 0, "{}", r.stderr);
    assert!(field(&r.stderr, "queue 0:", "handed off") + field(&r.stderr, "queue 1:", "handed off") > 0, "{}", r.stderr);
    no_namespaces_left();
}

#[test]
fn clear_error_for_a_missing_interface() {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["run", "--mode", "mirror", "--iface", &format!("nosuch{}", std::process::id() % 100_000)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not found") || err.contains("root") || err.contains("CAP_"), "{err}");
}
