//! `ackscope demo`: a throw-away testbed of network namespaces with real Linux TCP client
//! and server, a software SPAN port, and ackscope running live on it.
//!
//! ```text
//!  client ns  c0 ──veth── s0  server ns ── tc mirred (ingress+egress) ──► tapa ══ tapb ◄── ackscope run --mode mirror
//! ```
//!
//! The client and server behaviours are the ones the real-kernel captures were made with
//! (`tests/captures/gen/tcpapp.py`, embedded here and run with python3): a reconnect from the
//! same port with an ISN forced below the server's TIME_WAIT receive point (TCP_REPAIR), a
//! connection whose RST nftables drops (lingering ESTABLISHED), and one whose client vanishes
//! after the server's FIN (lingering FIN_WAIT2), among ordinary connections. Everything the demo
//! creates is removed when it ends, also on Ctrl-C.

#![deny(unsafe_code)]

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario driver, shared with the capture generators.
const TCPAPP: &str = include_str!("../../tests/captures/gen/tcpapp.py");

const CLI_IP: &str = "10.88.0.1";
const SRV_IP: &str = "10.88.0.2";

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Not root.
    #[error("the demo creates network namespaces and attaches XDP: run it as root (sudo)")]
    NotRoot,
    /// A tool is missing.
    #[error("`{0}` not found: run `bash scripts/setup.sh` (or apt-get install iproute2 nftables ethtool python3)")]
    MissingTool(&'static str),
    /// A set-up command failed.
    #[error("`{cmd}` failed: {detail}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its stderr or exit status.
        detail: String,
    },
    /// ackscope itself did not start or failed.
    #[error("ackscope did not run: {0}")]
    Ackscope(String),
    /// Interrupted by the user.
    #[error("interrupted; everything the demo created was removed")]
    Interrupted,
    /// File-system trouble in the scratch directory.
    #[error("scratch files: {0}")]
    Io(#[from] io::Error),
}

/// Demo settings.
pub struct DemoOptions {
    /// The ackscope binary to run live (normally the current executable).
    pub exe: PathBuf,
    /// `json` or `text`, passed to `ackscope run --format`.
    pub format: &'static str,
    /// Ordinary connections in the background.
    pub ordinary: u32,
    /// Write the incident report of the run here at the end (its events and flagged-flow
    /// captures are kept for it while the demo runs).
    pub report: Option<PathBuf>,
}

/// The testbed; dropping it removes everything.
struct Testbed {
    ns_c: String,
    ns_s: String,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            // ackscope first gets SIGINT so it detaches cleanly and prints its summary.
            if let Ok(None) = c.try_wait() {
                let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).stderr(Stdio::null()).status();
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.ns_c, &self.ns_s] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stderr(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn say(msg: &str) {
    use std::io::IsTerminal;
    let mut e = io::stderr().lock();
    if e.is_terminal() {
        let _ = writeln!(e, "\x1b[1m== {msg}\x1b[0m");
    } else {
        let _ = writeln!(e, "== {msg}");
    }
}

fn sh(args: &[&str]) -> Result<(), DemoError> {
    let out = Command::new(args[0]).args(&args[1..]).stdout(Stdio::null()).output().map_err(|e| DemoError::Command { cmd: args.join(" "), detail: e.to_string() })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DemoError::Command { cmd: args.join(" "), detail: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

impl Testbed {
    fn create(tag: &str) -> Result<Testbed, DemoError> {
        let dir = std::env::temp_dir().join(format!("{tag}-files"));
        fs::create_dir_all(&dir)?;
        let tb = Testbed { ns_c: format!("{tag}-c"), ns_s: format!("{tag}-s"), dir, children: Vec::new() };
        let (c, s) = (tb.ns_c.as_str(), tb.ns_s.as_str());
        sh(&["ip", "netns", "add", c])?;
        sh(&["ip", "netns", "add", s])?;
        sh(&["ip", "-n", c, "link", "add", "c0", "type", "veth", "peer", "name", "s0", "netns", s])?;
        sh(&["ip", "-n", s, "link", "add", "tapa", "type", "veth", "peer", "name", "tapb"])?;
        sh(&["ip", "-n", c, "addr", "add", &format!("{CLI_IP}/24"), "dev", "c0"])?;
        sh(&["ip", "-n", s, "addr", "add", &format!("{SRV_IP}/24"), "dev", "s0"])?;
        for (ns, dev) in [(c, "lo"), (c, "c0"), (s, "lo"), (s, "s0"), (s, "tapa"), (s, "tapb")] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        sh(&["ip", "netns", "exec", s, "sysctl", "-qw", "net.ipv6.conf.tapa.disable_ipv6=1", "net.ipv6.conf.tapb.disable_ipv6=1"])?;
        // veth leaves TCP checksums partial; real checksums on the wire.
        sh(&["ip", "netns", "exec", c, "ethtool", "-K", "c0", "tx", "off"])?;
        sh(&["ip", "netns", "exec", s, "ethtool", "-K", "s0", "tx", "off"])?;
        // The client does not use TCP timestamps, so Linux's TIME_WAIT check relies on the ISN
        // alone (with timestamps a newer TSval would be accepted).
        sh(&["ip", "netns", "exec", c, "sysctl", "-qw", "net.ipv4.tcp_timestamps=0"])?;
        sh(&["tc", "-n", s, "qdisc", "add", "dev", "s0", "clsact"])?;
        for dir in ["ingress", "egress"] {
            sh(&["tc", "-n", s, "filter", "add", "dev", "s0", dir, "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "tapa"])?;
        }
        fs::write(tb.dir.join("tcpapp.py"), TCPAPP)?;
        Ok(tb)
    }

    fn spawn(&mut self, ns: &str, args: &[&str], stdout: Stdio, stderr: Stdio) -> Result<(), DemoError> {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| DemoError::Command { cmd: args.join(" "), detail: e.to_string() })?;
        self.children.push(child);
        Ok(())
    }

    fn tcpapp(&self) -> String {
        self.dir.join("tcpapp.py").display().to_string()
    }

    fn client(&self, args: &[&str]) -> Result<String, DemoError> {
        let app = self.tcpapp();
        let mut full = vec!["ip", "netns", "exec", &self.ns_c, "python3", &app];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--src", CLI_IP, "--dst", SRV_IP]);
        let out = Command::new(full[0]).args(&full[1..]).output()?;
        if !out.status.success() {
            return Err(DemoError::Command { cmd: full.join(" "), detail: String::from_utf8_lossy(&out.stderr).trim().to_string() });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn wait_for(path: &Path, needle: &str, secs: u64, stop: &AtomicBool) -> Result<(), DemoError> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            return Err(DemoError::Interrupted);
        }
        if fs::read_to_string(path).map(|s| s.contains(needle)).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(DemoError::Ackscope(format!("`{needle}` did not appear in {} within {secs} s", path.display())))
}

fn kv(out: &str, key: &str) -> String {
    out.split_whitespace().filter_map(|w| w.strip_prefix(&format!("{key}="))).last().unwrap_or("?").to_string()
}

/// Run the demo. `stop` is set by the caller's SIGINT/SIGTERM handler.
pub fn run(opts: &DemoOptions, stop: Arc<AtomicBool>) -> Result<(), DemoError> {
    if !is_root() {
        return Err(DemoError::NotRoot);
    }
    for tool in ["ip", "tc", "nft", "ethtool", "python3", "sysctl"] {
        if !have(tool) {
            return Err(DemoError::MissingTool(tool));
        }
    }
    let started = Instant::now();
    let tag = format!("ackscope-demo-{}", std::process::id());
    say(&format!("building a throw-away testbed: namespaces {tag}-c (client {CLI_IP}) and {tag}-s (server {SRV_IP})"));
    eprintln!("   the server's veth is copied (tc mirred, both directions) to a tap veth: a software SPAN port");
    let mut tb = Testbed::create(&tag)?;
    let check = |stop: &AtomicBool| if stop.load(Ordering::Relaxed) { Err(DemoError::Interrupted) } else { Ok(()) };

    let ready = tb.dir.join("server.ready");
    let (ns_s, app) = (tb.ns_s.clone(), tb.tcpapp());
    let ready_s = ready.display().to_string();
    tb.spawn(&ns_s, &["python3", &app, "server", "--addr", SRV_IP, "--ready-file", &ready_s, "--max-seconds", "300"], Stdio::null(), Stdio::null())?;
    wait_for(&ready, "ready", 10, &stop)?;

    say("starting ackscope live on the tap: ackscope run --mode mirror --iface tapb (XDP + AF_XDP)");
    let err_path = tb.dir.join("ackscope.err");
    let err_file = fs::File::create(&err_path)?;
    let exe = opts.exe.display().to_string();
    // With a report to write, ackscope's JSON events are copied to a file on their way to the
    // terminal (shown in the format asked for) and flagged flows are captured for the ladders.
    let (events_path, pcap_dir) = (tb.dir.join("events.jsonl"), tb.dir.join("pcaps"));
    let pcap_arg = pcap_dir.display().to_string();
    let mut args = vec![exe.as_str(), "run", "--mode", "mirror", "--iface", "tapb"];
    let mut copier = None;
    if opts.report.is_some() {
        args.extend_from_slice(&["--format", "json", "--pcap-dir", &pcap_arg]);
        tb.spawn(&ns_s, &args, Stdio::piped(), Stdio::from(err_file))?;
        let out = tb.children.last_mut().and_then(|c| c.stdout.take()).ok_or_else(|| DemoError::Ackscope("no stdout pipe".into()))?;
        let mut file = io::BufWriter::new(fs::File::create(&events_path)?);
        let text = opts.format == "text";
        copier = Some(std::thread::spawn(move || {
            use io::BufRead;
            for line in io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                let _ = file.flush();
                let mut stdout = io::stdout().lock();
                match crate::report::events::parse_line(&line) {
                    Ok(ev) if text => {
                        let _ = crate::output::write_text(&mut stdout, &ev, 0);
                    }
                    _ => {
                        let _ = writeln!(stdout, "{line}");
                    }
                }
                let _ = stdout.flush();
            }
        }));
    } else {
        args.extend_from_slice(&["--format", opts.format]);
        tb.spawn(&ns_s, &args, Stdio::inherit(), Stdio::from(err_file))?;
    }
    if let Err(e) = wait_for(&err_path, "inspecting", 20, &stop) {
        let log = fs::read_to_string(&err_path).unwrap_or_default();
        return Err(match e {
            DemoError::Interrupted => e,
            _ => DemoError::Ackscope(log.trim().to_string()),
        });
    }
    check(&stop)?;

    say(&format!("ordinary traffic: {} short connections in the background (must stay silent)", opts.ordinary));
    let ns_c = tb.ns_c.clone();
    let count = opts.ordinary.to_string();
    tb.spawn(&ns_c, &["python3", &app, "many", "--sport", "43000", "--count", &count, "--gap", "0.01", "--src", CLI_IP, "--dst", SRV_IP], Stdio::null(), Stdio::null())?;

    say("scenario 1/3 (time_wait): the server closes first and sits in TIME_WAIT; the client reconnects from the same port with an ISN below the old receive point");
    let o = tb.client(&["reuse", "--sport", "41001", "--nbytes", "20000", "--isn", "below", "--isn-offset", "5000"])?;
    eprintln!("   old receive point {}, new ISN {}: the reconnect took {} ms", kv(&o, "old_rcv_point"), kv(&o, "isn2"), kv(&o, "connect2_ms"));
    check(&stop)?;
    std::thread::sleep(Duration::from_millis(300));

    say("scenario 2/3 (lingering_established): the client aborts but nftables drops its RST, so the server keeps the connection; the client reconnects from the same port");
    let o = tb.client(&["lingering", "--sport", "41002", "--nbytes", "3000"])?;
    eprintln!("   the reconnect took {} ms", kv(&o, "connect2_ms"));
    check(&stop)?;
    std::thread::sleep(Duration::from_millis(300));

    say("scenario 3/3 (lingering_close): the server closes, the client vanishes without its FIN (dropped), the server waits in FIN_WAIT2; the client reconnects from the same port");
    let o = tb.client(&["lingering", "--sport", "41003", "--nbytes", "3000", "--server-closes"])?;
    eprintln!("   the reconnect took {} ms", kv(&o, "connect2_ms"));
    check(&stop)?;

    // Let the background traffic finish (bounded), then stop ackscope for its summary.
    let bg_deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < bg_deadline {
        check(&stop)?;
        if matches!(tb.children.last_mut().map(|c| c.try_wait()), Some(Ok(Some(_)))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    say("stopping ackscope (SIGINT): its summary and loss accounting");
    let ack = tb.children.remove(1);
    let pid = ack.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let mut ack = ack;
    let status = ack.wait()?;
    let log = fs::read_to_string(&err_path).unwrap_or_default();
    for line in log.lines().filter(|l| !l.contains("inspecting")) {
        eprintln!("   {line}");
    }
    if !status.success() {
        return Err(DemoError::Ackscope(format!("exited with {status}")));
    }
    if let Some(c) = copier {
        let _ = c.join();
    }
    if let Some(path) = &opts.report {
        let ropts = crate::report::ReportOptions { pcap_dir: Some(pcap_dir.clone()), ..crate::report::ReportOptions::default() };
        let w = crate::report::write_report(std::slice::from_ref(&events_path), &ropts, path)
            .map_err(|e| DemoError::Ackscope(format!("cannot write the report: {e}")))?;
        say(&format!("incident report of this run ({} stale ACKs, {} ladders): {}", w.stale_acks, w.ladders, path.display()));
    }
    drop(tb);
    say(&format!("removed the testbed; the demo took {:.1} s", started.elapsed().as_secs_f64()));
    Ok(())
}
