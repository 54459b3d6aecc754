//! Shared by the integration tests that need root (network namespaces, tc, XDP, BPF).

#![allow(dead_code)]

pub mod control_cut;
pub mod evidence;
pub mod malformed;

/// True when the effective uid is 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// True when test `name` can run. Without root it says SKIPPED and returns false, unless
/// ACKSCOPE_REQUIRE_ROOT=1 demands the test (CI runs as root), then it fails.
pub fn root_or_skip(name: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var("ACKSCOPE_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{name} needs root (network namespaces, tc, XDP) and ACKSCOPE_REQUIRE_ROOT=1");
    }
    eprintln!("SKIPPED {name}: needs root (network namespaces, tc, XDP); run as root or set ACKSCOPE_REQUIRE_ROOT=1 to fail instead");
    false
}

/// Tests of one binary that hold this run one after the other, not side by side: tests that
/// saturate the machine (a generator at its top rate) or that count frames exactly (no veth
/// drop, a share of frames received). On two cores, two such tests at once starve each other's
/// receivers: CI 2026-12-03 saw 86 veth drops in the inline kill test's baseline beside the
/// other inline test's bulk transfer, the event storm's engine saw 46 % of its stale ACKs
/// beside the two SYN floods, the two-port TAP test had a segment arrive later than its
/// reorder window, and the port scan's queue dropped 1 552 SYNs (fill ring empty). Each test binary has its own lock (a static of this module).
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the lock of the heavy tests of this binary (see `HEAVY`); a test that panicked
/// holding it does not block the others.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// File `name` in `dir`, or "" when it is missing.
pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// The events of a JSON-lines file (none when it is missing).
pub fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

/// Events of `kind` (and `cause`, when given).
pub fn count(evs: &[Value], kind: &str, cause: Option<&str>) -> usize {
    evs.iter().filter(|e| e["kind"] == kind && cause.map_or(true, |c| e["cause"] == c)).count()
}

/// The end-of-run summary ackscope wrote with `--summary-json` (panics, with `context`, when
/// it is missing or not JSON).
pub fn summary(path: &Path, context: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("no summary {}: {e}\n{context}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad summary {}: {e}\n{text}", path.display()))
}

/// An unsigned number at `pointer` (e.g. `/accounting/lost_user`) in a summary.
pub fn num(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no number at {pointer} in {v:#}"))
}

/// A fresh output directory `<tmp>/<name>-<pid>`.
pub fn out_dir(name: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    out
}

/// Runs `bash tests/live/<script> ACKSCOPE_BIN args...` under `timeout secs`, with `env`;
/// panics with the log's tail when it fails. Returns the script's stderr (its log).
pub fn run_script(script: &str, secs: u32, args: &[&str], env: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live").join(script);
    let mut cmd = Command::new("timeout");
    cmd.arg(secs.to_string()).arg("bash").arg(&path).arg(env!("CARGO_BIN_EXE_ackscope")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let st = cmd.output().unwrap_or_else(|e| panic!("run {}: {e}", path.display()));
    let log = String::from_utf8_lossy(&st.stderr).into_owned();
    assert!(st.status.success(), "{script} failed ({}):\n{}", st.status, tail(&log, 60));
    log
}

/// [`run_script`] for a scenario fed by the software SPAN of tests/live/lib.sh (tc mirred on
/// s0), whose first argument is the output directory: when the script's `span.txt` says the
/// SPAN itself missed frames (s0's packet counters above the mirred actions' counts, so those
/// frames never reached ackscope's port), the scenario runs once more in a fresh directory —
/// a lossless feed is the precondition of an exact-detection test, not something ackscope
/// controls. The second run is taken as it comes: the test's assertions decide, with the
/// SPAN's accounting in the test's output.
pub fn run_span_script(script: &str, secs: u32, args: &[&str], env: &[(&str, String)]) -> String {
    let out = Path::new(args[0]);
    let span = |out: &Path| std::fs::read_to_string(out.join("span.txt")).unwrap_or_default();
    let lost = |line: &str| {
        line.split_whitespace().find_map(|t| t.strip_prefix("span_lost=")).and_then(|v| v.parse::<u64>().ok())
    };
    let log = run_script(script, secs, args, env);
    let first = span(out);
    eprintln!("{script}: SPAN {}", first.trim());
    if !lost(&first).is_some_and(|n| n > 0) {
        return log;
    }
    eprintln!("{script}: the test's software SPAN missed frames before ackscope's port ({}); running the scenario once more",
              first.trim());
    let _ = std::fs::remove_dir_all(out);
    let again = run_script(script, secs, args, env);
    eprintln!("{script}: second run: SPAN {}", span(out).trim());
    format!("{log}\n--- second run (the first one's SPAN missed frames: {}) ---\n{again}", first.trim())
}

/// True when no network namespace whose name contains `tag` is left.
pub fn no_namespace_like(tag: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    !tag.is_empty() && !String::from_utf8_lossy(&out.stdout).contains(tag)
}
