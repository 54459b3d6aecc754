//! The fleet files without root: the alert rules pass `promtool check rules` and their unit
//! tests (`promtool test rules`; promtool comes with Debian's prometheus, installed by
//! scripts/setup.sh); the Grafana dashboard is well-formed for provisioning; the shipped
//! TOML files parse.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) -> String {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(root().join("packaging/prometheus"))
        .output()
        .expect("promtool not found: run bash scripts/setup.sh (Debian package prometheus)");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_check_and_their_tests_pass() {
    let out = promtool(&["check", "rules", "ackscope.rules.yml"]);
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    let out = promtool(&["test", "rules", "ackscope.rules.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert has a unit test that expects it to fire.
    let rules = std::fs::read_to_string(root().join("packaging/prometheus/ackscope.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(root().join("packaging/prometheus/ackscope.rules.test.yml")).unwrap();
    for name in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        let fires = tests.split("alertname: ").skip(1).any(|t| t.starts_with(name) && t.contains("exp_labels"));
        assert!(fires, "no test makes {name} fire");
    }
}

#[test]
fn dashboard_is_provisioning_ready() {
    let d: Value = serde_json::from_str(&std::fs::read_to_string(root().join("packaging/grafana/ackscope.json")).unwrap()).unwrap();
    assert_eq!(d["uid"], "ackscope-fleet");
    assert!(d.get("__inputs").is_none(), "__inputs only work with manual import, not provisioning");
    let vars: Vec<&str> = d["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);
    let mut ids = BTreeSet::new();
    let mut exprs = 0;
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id {}", p["id"]);
        let g = &p["gridPos"];
        assert!(g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24, "{} is wider than the grid", p["title"]);
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            assert!(e.contains("job=~\"$job\"") && e.contains("instance=~\"$instance\""), "{}: {e}", p["title"]);
            exprs += 1;
        }
    }
    assert!(exprs >= 20, "{exprs} queries");
    let titles: String = d["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_lowercase() + "\n").collect();
    for want in ["by cause", "by host", "outcomes", "handshake rtt by server", "reuse", "per queue", "unaccounted"] {
        assert!(titles.contains(want), "no panel about {want}: {titles}");
    }
    // The provisioning file points at where the package installs the dashboard.
    let prov = std::fs::read_to_string(root().join("packaging/grafana/provisioning.yml")).unwrap();
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(prov.contains("path: /usr/share/ackscope/grafana"));
    assert!(cargo.contains(r#"["packaging/grafana/ackscope.json", "usr/share/ackscope/grafana/", "644"]"#));
}

#[test]
fn shipped_toml_files_parse() {
    for f in ["packaging/ackscope.toml", "packaging/interface.toml.example"] {
        let p = root().join(f);
        let file = ackscope::config::RunFile::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(!file.to_args().is_empty(), "{f} sets nothing");
    }
}
