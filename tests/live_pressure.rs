//! Issue 14, as root: port pressure with real Linux clients (tests/live/pressure.sh). The
//! clients' ip_local_port_range is narrowed to 8 ports and the server closes first, so every
//! later connect reuses a 4-tuple the server holds in TIME_WAIT (accepted: the ISN clock keeps
//! it above the old receive point). ackscope in host mode on the server's interface warns with
//! `port_pressure` before the one stale ACK the script then provokes; the per-server view is in
//! a metrics scrape and in the JSON summary; a replay of a tcpdump of the interface gives the
//! same warning (the engine's, not the live wing's). A second ackscope on the clients' own
//! interface shows the local-client side: the ephemeral range against the ports cycled, and
//! the stale ACK's SYN-SENT socket with the client's process.
//! Without root this test says so and passes, unless ACKSCOPE_REQUIRE_ROOT=1.

mod common;
use common::{count, read, root_or_skip, run_script, summary};

use serde_json::Value;

const CONNS: u64 = 40;
const PORTS: u64 = 8;
const SERVER: &str = "10.77.0.2:5000";

fn first(evs: &[Value], kind: &str) -> usize {
    evs.iter().position(|e| e["kind"] == kind).unwrap_or_else(|| panic!("no {kind}: {evs:#?}"))
}

/// The value of the metrics sample `name{labels}` (labels exactly as written).
fn sample(metrics: &str, name_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_labels).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name_labels} in\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

fn check_warning(w: &Value) {
    assert_eq!(w["server"], SERVER, "{w}");
    assert!(w["client"].as_str().unwrap().starts_with("10.77.0.1:"), "{w}");
    assert_eq!(w["severity"], "warning", "{w}");
    let p = &w["pressure"];
    let n = p["reuses"].as_u64().unwrap();
    assert!(n >= 8, "the default needs 8 reuses: {w}");
    assert_eq!(p["reuses_in_time_wait"].as_u64(), Some(n), "every reuse lands inside TIME_WAIT: {w}");
    assert_eq!(p["in_time_wait_share"], 1.0, "{w}");
    assert_eq!(p["time_wait_ms"], 60_000, "{w}");
    // One connection about every 52 ms over the ports the kernel picks (Linux prefers one
    // parity for connect(), so 4 of the 8): a port comes back after ~0.2 s.
    let m = p["median_reuse_ms"].as_u64().unwrap();
    assert!((50..=5_000).contains(&m), "median reuse interval {m} ms: {w}");
    assert!(p["ports_seen"].as_u64().unwrap() <= PORTS && p["port_min"].as_u64().unwrap() >= 45_000 && p["port_max"].as_u64().unwrap() < 45_000 + PORTS, "{w}");
    assert_eq!(p["stale_acks"], 0, "the warning comes before the first stale ACK: {w}");
}

#[test]
fn narrow_port_range_warns_before_the_first_stale_ack_live_replay_metrics_summary() {
    if !root_or_skip("narrow_port_range_warns_before_the_first_stale_ack_live_replay_metrics_summary") {
        return;
    }
    let out = common::out_dir("ackscope-pressure-test");
    let log = run_script("pressure.sh", 150, &[out.to_str().unwrap(), &CONNS.to_string(), &PORTS.to_string()], &[]);
    let err = read(&out, "pr.err");
    let evs = common::events(&out.join("pr.jsonl"));

    // Live, on the server's interface: the warning, then the one stale ACK.
    assert_eq!(count(&evs, "stale_ack", None), 1, "{evs:#?}\n{err}\n{}", common::tail(&log, 30));
    assert_eq!(count(&evs, "stale_ack", Some("time_wait")), 1, "{evs:#?}");
    assert_eq!(count(&evs, "port_pressure", None), 1, "{evs:#?}");
    let w = first(&evs, "port_pressure");
    assert!(w < first(&evs, "stale_ack"), "{evs:#?}");
    check_warning(&evs[w]);
    let warning_reuses = evs[w]["pressure"]["reuses"].clone();

    // The per-server view in a scrape taken after the warning, before the stale ACK.
    let m = read(&out, "metrics.txt");
    let l = format!("{{server=\"{SERVER}\"}}");
    let reuses = sample(&m, &format!("ackscope_server_port_reuses_total{l}"));
    assert!(reuses >= (CONNS - PORTS) as f64, "{m}");
    assert_eq!(sample(&m, &format!("ackscope_server_reuses_in_time_wait_total{l}")), reuses, "{m}");
    assert!(sample(&m, &format!("ackscope_server_connections_total{l}")) >= CONNS as f64, "{m}");
    let med = sample(&m, &format!("ackscope_server_reuse_interval_median_seconds{l}"));
    assert!(med > 0.05 && med < sample(&m, "ackscope_time_wait_seconds"), "{m}");
    assert_eq!(sample(&m, &format!("ackscope_server_reuse_interval_seconds_count{l}")), reuses, "{m}");
    assert_eq!(sample(&m, &format!("ackscope_server_port_pressure_warnings_total{l}")), 1.0, "{m}");
    assert_eq!(sample(&m, &format!("ackscope_server_stale_acks_total{{server=\"{SERVER}\",cause=\"time_wait\"}}")), 0.0, "{m}");
    assert_eq!(sample(&m, "ackscope_events_total{kind=\"port_pressure\"}"), 1.0, "{m}");

    // The per-server view in the JSON summary (the end of the run: the stale ACK counted).
    let sum = summary(&out.join("pr.summary.json"), &err);
    let s = &sum["pressure"]["servers"][0];
    assert_eq!(s["server"], SERVER, "{sum:#}");
    assert!(s["reuses"].as_u64().unwrap() >= CONNS - PORTS + 1, "{s:#}");
    assert_eq!(s["reuses_in_time_wait"], s["reuses"], "{s:#}");
    assert_eq!(s["stale_acks"]["time_wait"], 1, "{s:#}");
    assert!(s["stale_acks_per_minute"]["time_wait"].as_f64().unwrap() > 0.0, "{s:#}");
    assert_eq!(s["warnings"], 1, "{s:#}");
    let med = s["median_reuse_ms"].as_u64().unwrap();
    assert!(med > 50 && med < sum["pressure"]["time_wait_ms"].as_u64().unwrap(), "{s:#}");
    let c = &s["clients"][0];
    assert_eq!(c["client"], "10.77.0.1", "{s:#}");
    assert!(c["ports_seen"].as_u64().unwrap() <= PORTS, "{s:#}");
    assert!(c["local_ephemeral_range"].is_null(), "the client is not local to the server's namespace: {s:#}");
    assert!(err.contains("port pressure per server"), "{err}");

    // The clients' host: the same warning, their ephemeral range against the ports cycled, and
    // the stale ACK's local socket: SYN-SENT, owned by the client process (tcpapp.py).
    let cevs = common::events(&out.join("prc.jsonl"));
    let cerr = read(&out, "prc.err");
    let cw = first(&cevs, "port_pressure");
    assert!(cw < first(&cevs, "stale_ack"), "{cevs:#?}\n{cerr}");
    check_warning(&cevs[cw]);
    let st = &cevs[first(&cevs, "stale_ack")];
    if let Some(k) = st.get("kernel") {
        assert_eq!(k["client"]["state"], "SYN-SENT", "{st}");
        assert!(k["client"]["comm"].as_str().unwrap_or("").contains("python"), "{st}");
        assert!(k["client"]["pid"].as_u64().unwrap_or(0) > 1, "{st}");
        assert!(k.get("server").is_none(), "the server is not local here: {st}");
    } else {
        let csum = summary(&out.join("prc.summary.json"), &cerr);
        panic!("no kernel view of the local client's stale ACK: {}\n{st}", csum["kernel"]);
    }
    let csum = summary(&out.join("prc.summary.json"), &cerr);
    let cc = &csum["pressure"]["servers"][0]["clients"][0];
    assert_eq!(cc["client"], "10.77.0.1", "{csum:#}");
    assert_eq!(cc["local_ephemeral_range"], serde_json::json!([45_000, 45_000 + PORTS - 1]), "{csum:#}");
    assert!(cerr.contains("of the local ephemeral range 45000-45007 (8 ports"), "{cerr}");

    // Replay of the tcpdump: the same warning from the engine, before the stale ACK.
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_ackscope")).args(["replay", "--format", "json"]).arg(out.join("s0.pcap")).output().unwrap();
    let rerr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{rerr}");
    let revs: Vec<Value> = String::from_utf8_lossy(&r.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(count(&revs, "port_pressure", None), 1, "{revs:#?}");
    let rw = first(&revs, "port_pressure");
    assert!(rw < first(&revs, "stale_ack"), "{revs:#?}");
    check_warning(&revs[rw]);
    assert_eq!(revs[rw]["pressure"]["reuses"], warning_reuses, "replay and live agree");
    assert!(rerr.contains("port pressure per server") && rerr.contains(SERVER), "{rerr}");
    eprintln!(
        "pressure: live warning {}; summary server {}; replay warning {}",
        evs[w]["pressure"], s, revs[rw]["pressure"]
    );
    let tag = read(&out, "ns-tag");
    assert!(common::no_namespace_like(tag.trim()), "namespaces {tag} left");
    let _ = std::fs::remove_dir_all(&out);
}
