//! `ackscope run --config FILE --check` at the command line: every option of `run` has its
//! key, the command line wins over the file, unknown keys are named with the file. Needs no
//! root (the check attaches nothing; `lo` exists in every network namespace).

use std::path::PathBuf;
use std::process::{Command, Output};

fn ackscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ackscope")).args(args).output().unwrap()
}

/// A file in the temp directory, removed when dropped.
struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
impl Tmp {
    fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

fn tmp(name: &str, text: &str) -> Tmp {
    let p = std::env::temp_dir().join(format!("ackscope-config-file-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    Tmp(p)
}

#[test]
fn every_run_option_has_a_key() {
    let help = String::from_utf8(ackscope(&["run", "--help"]).stdout).unwrap();
    let mut opts: Vec<String> = help
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| w.trim_start_matches("--").chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>().replace('-', "_"))
        .filter(|o| !["help", "config", "check", "verbose"].contains(&o.as_str()))
        .collect();
    opts.sort();
    opts.dedup();
    let mut keys: Vec<String> = ackscope::config::KEYS.iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(opts, keys, "`ackscope run --help` options and config::KEYS differ: add the new option to src/config/");
}

#[test]
fn command_line_wins_and_check_attaches_nothing() {
    let file = tmp("lo.toml", "iface = \"lo\"\nqueues = 99\nmetrics = \"127.0.0.1:0\"\n");
    let f = file.s();
    let out = ackscope(&["run", "--config", f, "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--queues 99: lo has 1 rx queue(s)"), "{err}");
    let out = ackscope(&["run", "--config", f, "--queues", "1", "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("check passed for lo"), "{err}");
    // A second file overrides the first; the command line overrides both.
    let g = tmp("more.toml", "queues = 1\n");
    let out = ackscope(&["run", "--config", f, "--config", g.s(), "--check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ackscope(&["run", "--config", f, "--config", g.s(), "--iface", "acks-nosuch0", "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--iface acks-nosuch0: no such interface"), "{err}");
}

#[test]
fn unknown_keys_and_missing_files_are_usage_errors() {
    let f = tmp("typo.toml", "iface = \"lo\"\nmetric = \"127.0.0.1:9464\"\n");
    let out = ackscope(&["run", "--config", f.s(), "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown field `metric`") && err.contains(f.s()) && err.contains("line 2"), "{err}");
    let out = ackscope(&["run", "--config", "/nonexistent/ackscope.toml", "--check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read config file /nonexistent/ackscope.toml"), "{err}");
}
