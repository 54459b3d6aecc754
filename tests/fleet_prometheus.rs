//! The fleet stack, live, as root (tests/live/fleet.sh): the demo's scenarios in network
//! namespaces, ackscope started as the ackscope@ unit starts it (a TOML config file, an
//! unprivileged user, exactly the unit's capabilities), and a real Prometheus (Debian package,
//! loopback port of the test's own namespace, own data directory, killed by PID) scraping it
//! with ackscope's alert rules loaded. Checked through Prometheus's HTTP API: the stale-ACK
//! counters by cause, the outcomes and the events by kind equal the events ackscope wrote;
//! AckscopeStaleAcks fires for exactly the causes seen and no other alert does; every
//! dashboard query runs; every metric the rules and the dashboard use exists. Then
//! `promtool test rules` fires the stale-ACK alert on the series Prometheus recorded.

mod common;
use common::root_or_skip;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find("ackscope_") {
        let start = i + p;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end] == b'_' || b[end].is_ascii_digit()) {
            end += 1;
        }
        out.insert(text[start..end].to_string());
        i = end;
    }
    out
}

#[test]
fn prometheus_counts_alerts_and_dashboard_match_the_events() {
    if !root_or_skip("prometheus_counts_alerts_and_dashboard_match_the_events") {
        return;
    }
    for tool in ["prometheus", "promtool", "setpriv"] {
        assert!(Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap().status.success(), "{tool} not found: run bash scripts/setup.sh");
    }
    let out: PathBuf = std::env::temp_dir().join(format!("ackscope-fleet-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let st = Command::new("timeout")
        .args(["300", "bash"])
        .arg(root().join("tests/live/fleet.sh"))
        .arg(env!("CARGO_BIN_EXE_ackscope"))
        .arg(&out)
        .arg("100")
        .output()
        .expect("run tests/live/fleet.sh");
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    let ackerr = std::fs::read_to_string(out.join("ackscope.err")).unwrap_or_default();
    assert!(st.status.success(), "fleet.sh failed ({}):\n{}\nackscope:\n{ackerr}", st.status, &log[log.len().saturating_sub(4000)..]);
    // Prometheus was killed by PID: nothing runs with our files any more.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(out.to_str().unwrap()), "a process of the test still runs");

    // ackscope ran unprivileged with the unit's capabilities, and its accounting added up.
    let privs = std::fs::read_to_string(out.join("privs.txt")).unwrap();
    assert!(privs.contains("Uid:\t65534") && privs.contains("NoNewPrivs:\t1"), "{privs}");
    assert!(ackerr.contains("(adds up)"), "{ackerr}");

    let text = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let count = |field: &str, kind: &str| -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        for e in events.iter().filter(|e| e["kind"] == kind) {
            *m.entry(e[field].as_str().unwrap().to_string()).or_insert(0.0) += 1.0;
        }
        m
    };
    let causes = count("cause", "stale_ack");
    assert_eq!(causes.keys().map(String::as_str).collect::<Vec<_>>(), ["lingering_close", "lingering_established", "time_wait"], "{text}");

    let prom: Value = serde_json::from_str(&std::fs::read_to_string(out.join("prom.json")).unwrap()).unwrap();
    let series = |name: &str, label: &str| -> BTreeMap<String, f64> {
        prom[name].as_array().unwrap().iter().map(|r| (r["metric"][label].as_str().unwrap_or("").to_string(), r["value"].as_f64().unwrap())).collect()
    };
    let nonzero = |m: BTreeMap<String, f64>| -> BTreeMap<String, f64> { m.into_iter().filter(|(_, v)| *v != 0.0).collect() };
    let by_cause = series("ackscope_stale_acks_total", "cause");
    assert_eq!(by_cause.len(), 4, "every cause has a series: {by_cause:?}");
    assert_eq!(nonzero(by_cause), causes, "Prometheus's stale ACKs by cause differ from the events");
    assert_eq!(nonzero(series("ackscope_stale_ack_outcomes_total", "outcome")), count("outcome", "stale_ack_outcome"));
    let mut kinds = BTreeMap::new();
    for e in &events {
        *kinds.entry(e["kind"].as_str().unwrap().to_string()).or_insert(0.0) += 1.0;
    }
    assert_eq!(nonzero(series("ackscope_events_total", "kind")), kinds);
    assert_eq!(prom["ackscope_events_written_total"][0]["value"].as_f64(), Some(events.len() as f64));

    // The live Prometheus fires AckscopeStaleAcks for each cause seen, and nothing else.
    let alerts = prom["alerts"].as_array().unwrap();
    let firing: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "AckscopeStaleAcks" && a["state"] == "firing")
        .map(|a| a["labels"]["cause"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(firing, causes.keys().cloned().collect::<BTreeSet<_>>(), "{alerts:?}");
    let others: Vec<&Value> = alerts.iter().filter(|a| a["labels"]["alertname"] != "AckscopeStaleAcks").collect();
    assert!(others.is_empty(), "false alarms: {others:?}");

    // Every dashboard query runs, and every metric of the rules and the dashboard exists.
    let dash = prom["dashboard"].as_array().unwrap();
    assert!(dash.len() >= 20, "{dash:?}");
    let failed: Vec<&Value> = dash.iter().filter(|d| d.get("error").is_some()).collect();
    assert!(failed.is_empty(), "dashboard queries failed: {failed:?}");
    let names: BTreeSet<String> = prom["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    for f in ["packaging/grafana/ackscope.json", "packaging/prometheus/ackscope.rules.yml"] {
        let used = metric_names(&std::fs::read_to_string(root().join(f)).unwrap());
        assert!(used.len() >= 8, "{f}: {used:?}");
        let missing: Vec<&String> = used.iter().filter(|n| !names.contains(*n)).collect();
        assert!(missing.is_empty(), "{f} uses metrics ackscope does not export: {missing:?} (exported: {names:?})");
    }

    // promtool test rules on the series Prometheus recorded: at the last sample, the stale-ACK
    // alert fires once per cause with the count of events; at the first, nothing fires.
    let range = prom["range"].as_array().unwrap();
    let mut input = Vec::new();
    let mut n = 0;
    for r in range {
        let vals: Vec<String> = r["values"].as_array().unwrap().iter().map(|v| format!("{}", v[1].as_f64().unwrap())).collect();
        n = n.max(vals.len());
        let m = r["metric"].as_object().unwrap();
        let labels: Vec<String> = m.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={}", v)).collect();
        input.push(json!({"series": format!("ackscope_stale_acks_total{{{}}}", labels.join(",")), "values": vals.join(" ")}));
    }
    assert!(n >= 5, "too few samples: {range:?}");
    let exp: Vec<Value> = causes
        .iter()
        .map(|(cause, c)| {
            let live = alerts.iter().find(|a| a["labels"]["cause"] == cause.as_str()).unwrap();
            let d = live["annotations"]["description"].as_str().unwrap();
            assert!(d.starts_with(&format!("{c} stale ACK(s) with cause {cause}")), "{d}");
            let mut labels = live["labels"].as_object().unwrap().clone();
            labels.remove("alertname");
            json!({"exp_labels": labels, "exp_annotations": live["annotations"]})
        })
        .collect();
    let test = json!({
        "rule_files": [root().join("packaging/prometheus/ackscope.rules.yml")],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": input,
            "alert_rule_test": [
                {"eval_time": "0s", "alertname": "AckscopeStaleAcks", "exp_alerts": []},
                {"eval_time": format!("{}s", n - 1), "alertname": "AckscopeStaleAcks", "exp_alerts": exp},
            ],
        }],
    });
    let tf = out.join("recorded.test.yml");
    std::fs::write(&tf, serde_json::to_string_pretty(&test).unwrap()).unwrap();
    let o = Command::new("promtool").arg("test").arg("rules").arg(&tf).output().unwrap();
    assert!(o.status.success(), "promtool test rules on the recorded series:\n{}\n{}", String::from_utf8_lossy(&o.stdout), std::fs::read_to_string(&tf).unwrap());

    // The live events match the schema too.
    let v = Command::new("python3")
        .arg(root().join("tests/validate_events.py"))
        .arg(root().join("docs/events.schema.json"))
        .arg(out.join("events.jsonl"))
        .output()
        .unwrap();
    assert!(v.status.success(), "live events vs schema: {}", String::from_utf8_lossy(&v.stdout));
    let _ = std::fs::remove_dir_all(&out);
}
