//! Shared by the integration tests that need root (network namespaces, tc, XDP, BPF).

#![allow(dead_code)]

pub mod control_cut;
pub mod evidence;

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
