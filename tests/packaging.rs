//! The Debian package, as root: `scripts/deb.sh` builds it with cargo-deb (installing cargo-deb
//! when missing), `dpkg -i` installs it, every path of README "Deploying on a fleet" is there,
//! `systemd-analyze verify` accepts an instance of the unit, the shipped rule tests pass where
//! they are installed, the shipped configuration passes `--check`; then `dpkg -r` and
//! `dpkg --purge` remove it (also when an assertion fails).

mod common;
use common::root_or_skip;

use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &str, args: &[&str]) -> Output {
    // dpkg refuses to start while another dpkg/apt holds its lock (e.g. an unattended apt run, or
    // another test installing packages): wait for it, up to 3 minutes, instead of failing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let o = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let locked = cmd.starts_with("dpkg") && !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("lock");
        if !locked || std::time::Instant::now() > deadline {
            return o;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(o.status.success(), "{cmd} {args:?} failed ({}):\n{}{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn installed() -> bool {
    let o = run("dpkg-query", &["-W", "-f=${Status}", "ackscope"]);
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("install ok installed")
}

/// Purges the package on every exit path.
struct Purge;
impl Drop for Purge {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", "ackscope"]);
    }
}

/// The absolute paths in backquotes of the README's "Deploying on a fleet" table.
fn documented_paths() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let sec = readme.split("## Deploying on a fleet").nth(1).expect("README has a Deploying on a fleet section");
    let table = sec.split("| path | what |").nth(1).expect("the section has the path table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn deb_installs_verifies_and_purges() {
    if !root_or_skip("deb_installs_verifies_and_purges") {
        return;
    }
    assert!(!installed(), "an ackscope package is already installed on this machine; the test would replace it. `dpkg --purge ackscope` first");
    let root = env!("CARGO_MANIFEST_DIR");
    let out = ok("bash", &[&format!("{root}/scripts/deb.sh")]);
    let deb = out.lines().rev().find(|l| l.ends_with(".deb")).expect("deb.sh prints the .deb path").trim().to_string();
    let deb = Path::new(root).join(deb);
    assert!(deb.is_file(), "{}", deb.display());

    let _purge = Purge;
    ok("dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(installed());

    // Every documented path is installed, and owned by the package.
    let listed = ok("dpkg", &["-L", "ackscope"]);
    let paths = documented_paths();
    assert!(paths.len() >= 12, "README table: {paths:?}");
    for p in &paths {
        assert!(Path::new(p).exists(), "{p} (README) is not installed");
        assert!(listed.lines().any(|l| l == p), "{p} exists but is not from the package");
    }
    let conffiles = std::fs::read_to_string("/var/lib/dpkg/info/ackscope.conffiles").unwrap();
    for c in ["/etc/ackscope/ackscope.toml", "/etc/default/ackscope", "/etc/logrotate.d/ackscope"] {
        assert!(conffiles.lines().any(|l| l == c), "{c} is not a conffile: {conffiles}");
    }
    assert!(ok("/usr/bin/ackscope", &["--version"]).starts_with("ackscope "));
    assert!(ok("getent", &["passwd", "ackscope"]).starts_with("ackscope:"), "no ackscope user");
    let man = ok("man", &["-P", "cat", "ackscope"]);
    assert!(man.contains("--metrics-top-servers") && man.contains("/etc/ackscope/ackscope.toml"), "man page: {man}");

    // The unit: an instance verifies (binary, man page and syntax; no warnings at all).
    let unit = std::fs::read_to_string("/lib/systemd/system/ackscope@.service").unwrap();
    for want in ["AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_PERFMON CAP_IPC_LOCK", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID", "ProtectSystem=strict", "NoNewPrivileges=yes"] {
        assert!(unit.contains(want), "unit lacks {want}");
    }
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let dir = std::env::temp_dir().join(format!("ackscope-pkg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inst = dir.join("ackscope@eth1.service");
        std::fs::write(&inst, &unit).unwrap();
        let o = run("systemd-analyze", &["verify", inst.to_str().unwrap()]);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(o.status.success() && text.trim().is_empty(), "systemd-analyze verify: {}\n{text}", o.status);
    } else {
        eprintln!("systemd-analyze not found: unit not verified");
    }

    // The shipped rules and their tests, where they are installed.
    if Path::new("/usr/bin/promtool").exists() {
        ok("promtool", &["check", "rules", "/usr/share/ackscope/prometheus/ackscope.rules.yml"]);
        let o = Command::new("promtool").args(["test", "rules", "ackscope.rules.test.yml"]).current_dir("/usr/share/ackscope/prometheus").output().unwrap();
        assert!(o.status.success(), "promtool test rules: {}", String::from_utf8_lossy(&o.stdout));
    }
    // The dashboard and the schema are JSON.
    for j in ["/usr/share/ackscope/grafana/ackscope.json", "/usr/share/ackscope/events.schema.json"] {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(j).unwrap()).unwrap_or_else(|e| panic!("{j}: {e}"));
        assert!(v.is_object());
    }
    // The shipped configuration and the example, as the unit uses them, pass --check
    // (the example's events path is overridden: /var/log/ackscope appears with the unit).
    let check = ok(
        "/usr/bin/ackscope",
        &["run", "--config", "/etc/ackscope/ackscope.toml", "--config", "/usr/share/ackscope/interface.toml.example", "--iface", "lo", "--metrics", "127.0.0.1:0", "--events", "/tmp/ackscope-pkg-check.jsonl", "--check"],
    );
    assert!(check.contains("check passed for lo"), "{check}");
    assert!(!Path::new("/tmp/ackscope-pkg-check.jsonl").exists(), "--check created the events file");
    let logrotate = std::fs::read_to_string("/etc/logrotate.d/ackscope").unwrap();
    if Path::new("/usr/sbin/logrotate").exists() {
        ok("logrotate", &["--debug", "/etc/logrotate.d/ackscope"]);
    }
    assert!(logrotate.contains("/var/log/ackscope/*.jsonl") && logrotate.contains("systemctl reload"));

    // Remove: the binary goes, the conffiles stay; purge: they go too.
    ok("dpkg", &["-r", "ackscope"]);
    assert!(!Path::new("/usr/bin/ackscope").exists());
    assert!(!Path::new("/lib/systemd/system/ackscope@.service").exists());
    assert!(Path::new("/etc/ackscope/ackscope.toml").exists(), "dpkg -r removed a conffile");
    ok("dpkg", &["--purge", "ackscope"]);
    assert!(!Path::new("/etc/ackscope/ackscope.toml").exists() && !Path::new("/etc/default/ackscope").exists());
    assert!(!installed());
}
