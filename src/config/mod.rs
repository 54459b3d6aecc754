//! The configuration file of `ackscope run`: TOML (the `toml` crate, with `serde`), one key per
//! command-line option of `run`, so that a fleet's configuration management can template it.
//!
//! The file is not a second parser: [`expand_args`] turns every `--config FILE` of a `run`
//! command line into the equivalent options and inserts them right after `run`, before
//! everything the user typed. The command is parsed with clap's `args_override_self`, so an
//! option given on the command line wins over the same option from a file, and of several
//! files the later one wins. Keys are the long option names with `_` for `-`
//! (`reorder_window_us = 500` is `--reorder-window-us 500`); an unknown key is an error that
//! names the key and the file. docs/CONFIG.md lists them.
//!
//! [`check_live`] is what `ackscope run --check` runs: it validates the resolved options
//! against the machine (interfaces exist, addresses parse and are free, files and directories
//! writable) without attaching anything.

#![deny(unsafe_code)]

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` without a file name.
    #[error("--config needs a FILE (a TOML file; see docs/CONFIG.md)")]
    MissingPath,
    /// The file could not be read.
    #[error("cannot read config file {path}: {source} (check the path and its permissions)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("config file {path}: {message} (the keys are the options of `ackscope run --help` with _ for -; see docs/CONFIG.md)")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said, with line and column and the key.
        message: String,
    },
    /// A value the options do not accept.
    #[error("config file {path}: `{key}`: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
}

/// `queues = 4` or `queues = "all"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Queues {
    /// Queues 0..N-1.
    Count(u32),
    /// `"all"` (or a number as a string).
    Text(String),
}

/// `iface = "eth1"` or `iface = ["tap0", "tap1"]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Ifaces {
    /// One interface.
    One(String),
    /// Several (mirror mode), one `--iface` each.
    List(Vec<String>),
}

impl Ifaces {
    /// The interfaces, in order.
    pub fn names(&self) -> &[String] {
        match self {
            Ifaces::One(s) => std::slice::from_ref(s),
            Ifaces::List(l) => l,
        }
    }
}

/// `cores = "2-5"` or `cores = [2, 3]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Cores {
    /// A list such as `0,1` or `2-5`.
    Text(String),
    /// Core numbers.
    List(Vec<u32>),
}

/// The options of `ackscope run`, all optional; absent keys leave the command-line default.
/// Field names are the long option names with `_` for `-`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    /// `--mode`: mirror, host or inline.
    pub mode: Option<String>,
    /// `--iface`: one interface, or a list (mirror mode over several: a TAP's two outputs,
    /// several SPAN sessions).
    pub iface: Option<Ifaces>,
    /// `--peer` (inline).
    pub peer: Option<String>,
    /// `--on-exit`: bypass or disconnect.
    pub on_exit: Option<String>,
    /// `--queues`.
    pub queues: Option<Queues>,
    /// `--cores`.
    pub cores: Option<Cores>,
    /// `--xdp-mode`: auto, native or generic.
    pub xdp_mode: Option<String>,
    /// `--bind`: auto, copy or zerocopy.
    pub bind: Option<String>,
    /// `--busy-poll`.
    pub busy_poll: Option<bool>,
    /// `--umem-frames`.
    pub umem_frames: Option<u32>,
    /// `--ring-size`.
    pub ring_size: Option<u32>,
    /// `--reorder-window-us`.
    pub reorder_window_us: Option<u64>,
    /// `--kernel-flows`.
    pub kernel_flows: Option<u32>,
    /// `--duration` in seconds.
    pub duration: Option<f64>,
    /// `--force`.
    pub force: Option<bool>,
    /// `--metrics` address, e.g. `127.0.0.1:9464`.
    pub metrics: Option<String>,
    /// `--metrics-top-servers`.
    pub metrics_top_servers: Option<u32>,
    /// `--summary-json` file (the end-of-run summary as one JSON object).
    pub summary_json: Option<PathBuf>,
    /// `--no-kernel-view`.
    pub no_kernel_view: Option<bool>,
    /// `--output-grace` in seconds.
    pub output_grace: Option<f64>,
    /// `--time-wait` in seconds.
    pub time_wait: Option<u32>,
    /// `--connect-timeout` in seconds.
    pub connect_timeout: Option<u32>,
    /// `--max-flows`.
    pub max_flows: Option<u64>,
    /// `--format`: json or text.
    pub format: Option<String>,
    /// `--events` file.
    pub events: Option<PathBuf>,
    /// `--quiet`.
    pub quiet: Option<bool>,
    /// `--pcap-dir`.
    pub pcap_dir: Option<PathBuf>,
    /// `--pcap-max-files`.
    pub pcap_max_files: Option<u32>,
}

/// Every key the file accepts, in the order of `ackscope run --help`.
pub const KEYS: [&str; 28] = [
    "mode", "iface", "peer", "on_exit", "queues", "cores", "xdp_mode", "bind", "busy_poll", "umem_frames", "ring_size",
    "reorder_window_us", "kernel_flows", "duration", "force", "metrics", "metrics_top_servers", "summary_json", "no_kernel_view", "output_grace",
    "time_wait",
    "connect_timeout", "max_flows", "format", "events", "quiet", "pcap_dir", "pcap_max_files",
];

fn one_of(path: &Path, key: &'static str, v: &Option<String>, allowed: &[&str]) -> Result<(), ConfigError> {
    match v {
        Some(s) if !allowed.contains(&s.as_str()) => Err(ConfigError::Value {
            path: path.to_path_buf(),
            key,
            message: format!("`{s}` is not one of {}", allowed.join(", ")),
        }),
        _ => Ok(()),
    }
}

impl RunFile {
    /// Parse the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<RunFile, ConfigError> {
        let f: RunFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                let col = before.len() - start + 1;
                // The key of that line, for type errors (whose message does not name it).
                let key = text[start..].lines().next().and_then(|l| l.split_once('=')).map(|(k, _)| k.trim()).filter(|k| !k.is_empty());
                match key {
                    Some(k) if !e.message().contains(k) => format!("line {line}, column {col}, `{k}`: "),
                    _ => format!("line {line}, column {col}: "),
                }
            });
            ConfigError::Parse { path: path.to_path_buf(), message: format!("{}{}", at.unwrap_or_default(), e.message().trim_end()) }
        })?;
        one_of(path, "mode", &f.mode, &["mirror", "host", "inline"])?;
        one_of(path, "on_exit", &f.on_exit, &["bypass", "disconnect"])?;
        one_of(path, "xdp_mode", &f.xdp_mode, &["auto", "native", "generic"])?;
        one_of(path, "bind", &f.bind, &["auto", "copy", "zerocopy"])?;
        one_of(path, "format", &f.format, &["json", "text"])?;
        if let Some(Queues::Text(s)) = &f.queues {
            if s != "all" && s.parse::<u32>().is_err() {
                return Err(ConfigError::Value { path: path.into(), key: "queues", message: format!("`{s}`: give a number or \"all\"") });
            }
        }
        if let Some(d) = f.duration {
            if !(d.is_finite() && d > 0.0) {
                return Err(ConfigError::Value { path: path.into(), key: "duration", message: format!("{d}: give a positive number of seconds") });
            }
        }
        if let Some(d) = f.output_grace {
            if !(d.is_finite() && d >= 0.0) {
                return Err(ConfigError::Value { path: path.into(), key: "output_grace", message: format!("{d}: give a number of seconds, 0 or more") });
            }
        }
        if let Some(i) = &f.iface {
            if i.names().is_empty() {
                return Err(ConfigError::Value { path: path.into(), key: "iface", message: "empty list; give at least one interface".into() });
            }
            if i.names().iter().any(String::is_empty) {
                return Err(ConfigError::Value { path: path.into(), key: "iface", message: "empty name; leave it out instead".into() });
            }
        }
        for (key, v) in [("peer", &f.peer), ("metrics", &f.metrics)] {
            if v.as_deref() == Some("") {
                return Err(ConfigError::Value { path: path.into(), key, message: "empty; leave the key out instead".into() });
            }
        }
        Ok(f)
    }

    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<RunFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        RunFile::parse(&text, path)
    }

    /// The equivalent `run` options. `false` booleans give nothing (the command-line default).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut opt = |name: &str, v: Option<OsString>| {
            if let Some(v) = v {
                a.push(format!("--{name}").into());
                a.push(v);
            }
        };
        let s = |v: &Option<String>| v.as_ref().map(OsString::from);
        let n = |v: Option<u64>| v.map(|v| OsString::from(v.to_string()));
        let p = |v: &Option<PathBuf>| v.as_ref().map(|p| p.clone().into_os_string());
        opt("mode", s(&self.mode));
        for i in self.iface.iter().flat_map(|i| i.names()) {
            opt("iface", Some(i.into()));
        }
        opt("peer", s(&self.peer));
        opt("on-exit", s(&self.on_exit));
        opt(
            "queues",
            self.queues.as_ref().map(|q| match q {
                Queues::Count(n) => n.to_string().into(),
                Queues::Text(t) => t.into(),
            }),
        );
        opt(
            "cores",
            self.cores.as_ref().map(|c| match c {
                Cores::Text(t) => t.into(),
                Cores::List(l) => l.iter().map(u32::to_string).collect::<Vec<_>>().join(",").into(),
            }),
        );
        opt("xdp-mode", s(&self.xdp_mode));
        opt("bind", s(&self.bind));
        opt("umem-frames", n(self.umem_frames.map(u64::from)));
        opt("ring-size", n(self.ring_size.map(u64::from)));
        opt("reorder-window-us", n(self.reorder_window_us));
        opt("kernel-flows", n(self.kernel_flows.map(u64::from)));
        opt("duration", self.duration.map(|d| d.to_string().into()));
        opt("metrics", s(&self.metrics));
        opt("metrics-top-servers", n(self.metrics_top_servers.map(u64::from)));
        opt("summary-json", p(&self.summary_json));
        opt("output-grace", self.output_grace.map(|d| d.to_string().into()));
        opt("time-wait", n(self.time_wait.map(u64::from)));
        opt("connect-timeout", n(self.connect_timeout.map(u64::from)));
        opt("max-flows", n(self.max_flows));
        opt("format", s(&self.format));
        opt("events", p(&self.events));
        opt("pcap-dir", p(&self.pcap_dir));
        opt("pcap-max-files", n(self.pcap_max_files.map(u64::from)));
        for (name, on) in [("busy-poll", self.busy_poll), ("force", self.force), ("no-kernel-view", self.no_kernel_view), ("quiet", self.quiet)] {
            if on == Some(true) {
                a.push(format!("--{name}").into());
            }
        }
        a
    }
}

/// Expand the `--config FILE` (or `--config=FILE`) options of a `run` command line: the
/// options of each file, in order, are inserted right after `run`, so everything typed on
/// the command line comes later and wins. The `--config` options themselves stay (clap parses
/// and ignores them, and `--help` lists them). Other subcommands are returned unchanged.
pub fn expand_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Vec<OsString>, ConfigError> {
    let args: Vec<OsString> = args.into_iter().collect();
    // The subcommand is the first argument after the program name that is not a global flag.
    let Some(run_at) = args.iter().enumerate().skip(1).find(|(_, a)| !a.to_string_lossy().starts_with('-')).map(|(i, _)| i) else {
        return Ok(args);
    };
    if args[run_at] != "run" {
        return Ok(args);
    }
    let mut files = Vec::new();
    let mut i = run_at + 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            let p = args.get(i + 1).ok_or(ConfigError::MissingPath)?;
            if p.to_string_lossy().starts_with('-') {
                return Err(ConfigError::MissingPath);
            }
            files.push(PathBuf::from(p));
            i += 2;
            continue;
        }
        if let Some(p) = a.strip_prefix("--config=") {
            if p.is_empty() {
                return Err(ConfigError::MissingPath);
            }
            files.push(PathBuf::from(p));
        }
        i += 1;
    }
    // `--iface` may repeat (mirror mode over several interfaces), so repeating adds instead
    // of overriding: the command line's interfaces replace the files', and a later file's
    // replace an earlier one's.
    let cli_iface = args[run_at + 1..i.min(args.len())].iter().any(|a| a == "--iface" || a.to_string_lossy().starts_with("--iface="));
    let mut loaded = files.iter().map(|f| RunFile::load(f)).collect::<Result<Vec<_>, _>>()?;
    let last_with_iface = loaded.iter().rposition(|f| f.iface.is_some());
    for (k, f) in loaded.iter_mut().enumerate() {
        if cli_iface || Some(k) != last_with_iface {
            f.iface = None;
        }
    }
    let mut inserted = Vec::new();
    for f in &loaded {
        inserted.extend(f.to_args());
    }
    let mut out = Vec::with_capacity(args.len() + inserted.len());
    out.extend_from_slice(&args[..=run_at]);
    out.extend(inserted);
    out.extend_from_slice(&args[run_at + 1..]);
    Ok(out)
}

/// What `ackscope run --check` validates, from the resolved options.
#[derive(Debug, Clone, Default)]
pub struct LiveCheck<'a> {
    /// `--iface`.
    pub iface: &'a str,
    /// Further `--iface`s (mirror mode).
    pub more_ifaces: &'a [String],
    /// `--peer`.
    pub peer: Option<&'a str>,
    /// `--queues` as a count (None: all).
    pub queues: Option<u32>,
    /// `--cores`, resolved.
    pub cores: Option<&'a [usize]>,
    /// `--umem-frames`.
    pub umem_frames: u32,
    /// `--ring-size`.
    pub ring_size: u32,
    /// `--metrics`.
    pub metrics: Option<&'a str>,
    /// `--events`.
    pub events: Option<&'a Path>,
    /// `--pcap-dir`.
    pub pcap_dir: Option<&'a Path>,
}

/// Result of [`check_live`]: problems make the check fail, notes do not.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// What would make `run` fail, each with what to do.
    pub problems: Vec<String>,
    /// Things worth knowing that do not stop `run` (for example missing privileges when the
    /// check itself runs unprivileged).
    pub notes: Vec<String>,
}

fn rx_queues(iface: &str) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{iface}/queues")).ok()?;
    Some(dir.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32)
}

fn online_cpus() -> Option<usize> {
    std::thread::available_parallelism().ok().map(|n| n.get())
}

/// True when a file can be created in `dir` (tried, then removed).
fn dir_writable(dir: &Path) -> Result<(), std::io::Error> {
    let probe = dir.join(format!(".ackscope-check-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The closest ancestor of `p` that exists (`p` itself when it exists).
fn existing_ancestor(p: &Path) -> Option<&Path> {
    let mut cur = Some(p);
    while let Some(c) = cur {
        if c.as_os_str().is_empty() {
            return Some(Path::new("."));
        }
        if c.exists() {
            return Some(c);
        }
        cur = c.parent();
    }
    None
}

/// Validate the options of `run` against this machine without attaching anything.
pub fn check_live(c: &LiveCheck<'_>) -> CheckReport {
    let mut r = CheckReport::default();
    let ifaces = std::iter::once(c.iface).chain(c.more_ifaces.iter().map(String::as_str));
    for (what, dev) in ifaces.map(|i| ("--iface", Some(i))).chain([("--peer", c.peer)]) {
        let Some(dev) = dev else { continue };
        if dev.is_empty() || dev.len() >= 16 || dev.contains('/') {
            r.problems.push(format!("{what} `{dev}` is not a valid interface name (1 to 15 characters, no /)"));
            continue;
        }
        match std::fs::read_to_string(format!("/sys/class/net/{dev}/operstate")) {
            Err(_) => r.problems.push(format!("{what} {dev}: no such interface in this network namespace (see `ip link`)")),
            Ok(state) => {
                let flags = std::fs::read_to_string(format!("/sys/class/net/{dev}/flags")).unwrap_or_default();
                let up = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).map(|f| f & 1 == 1).unwrap_or(false);
                if !up {
                    r.problems.push(format!("{what} {dev} is administratively down (operstate {}): `ip link set dev {dev} up`", state.trim()));
                }
            }
        }
    }
    for iface in std::iter::once(c.iface).chain(c.more_ifaces.iter().map(String::as_str)) {
        if let (Some(n), Some(have)) = (c.queues, rx_queues(iface)) {
            if n > have {
                r.problems.push(format!("--queues {n}: {iface} has {have} rx queue(s); give at most {have} or `all`"));
            }
        }
    }
    if let (Some(cores), Some(cpus)) = (c.cores, online_cpus()) {
        if let Some(bad) = cores.iter().find(|&&k| k >= cpus) {
            r.problems.push(format!("--cores: core {bad} does not exist ({cpus} usable core(s): 0-{})", cpus - 1));
        }
    }
    for (what, v) in [("--umem-frames", c.umem_frames), ("--ring-size", c.ring_size)] {
        if !v.is_power_of_two() {
            r.problems.push(format!("{what} {v} is not a power of two (e.g. {})", v.max(1).next_power_of_two()));
        }
    }
    if c.ring_size > c.umem_frames {
        r.problems.push(format!("--ring-size {} is larger than --umem-frames {}: the fill ring could never be filled", c.ring_size, c.umem_frames));
    }
    if let Some(m) = c.metrics {
        match m.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => check_listen(&mut r, m, addr),
            _ => r.problems.push(format!("--metrics {m}: not a host:port address (e.g. 127.0.0.1:9464 or [::]:9464)")),
        }
    }
    if let Some(p) = c.events {
        if p.is_dir() {
            r.problems.push(format!("--events {}: is a directory; give a file name", p.display()));
        } else if p.exists() {
            if let Err(e) = std::fs::OpenOptions::new().append(true).open(p) {
                r.problems.push(format!("--events {}: cannot append to it: {e} (check its owner and mode)", p.display()));
            }
        } else {
            match p.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) {
                Some(d) if d.is_dir() => {
                    if let Err(e) = dir_writable(d) {
                        r.problems.push(format!("--events {}: cannot create files in {}: {e}", p.display(), d.display()));
                    }
                }
                _ => r.problems.push(format!("--events {}: the directory does not exist; create it first", p.display())),
            }
        }
    }
    if let Some(d) = c.pcap_dir {
        if d.exists() && !d.is_dir() {
            r.problems.push(format!("--pcap-dir {}: exists and is not a directory", d.display()));
        } else if let Some(a) = existing_ancestor(d) {
            if let Err(e) = dir_writable(a) {
                r.problems.push(format!("--pcap-dir {}: cannot write in {}: {e}", d.display(), a.display()));
            }
        }
    }
    privileges(&mut r);
    r
}

fn check_listen(r: &mut CheckReport, m: &str, addr: SocketAddr) {
    if addr.port() == 0 {
        r.notes.push(format!("--metrics {m}: port 0 picks a free port at start; Prometheus needs a fixed one"));
        return;
    }
    if let Err(e) = TcpListener::bind(addr) {
        r.problems.push(format!("--metrics {m}: cannot listen there: {e} (another process, or another ackscope instance, uses the port)"));
    }
}

fn privileges(r: &mut CheckReport) {
    use caps::{CapSet, Capability as C};
    let Ok(eff) = caps::read(None, CapSet::Effective) else { return };
    let need = [C::CAP_NET_ADMIN, C::CAP_NET_RAW, C::CAP_BPF, C::CAP_PERFMON];
    let missing: Vec<String> = need.iter().filter(|c| !eff.contains(c)).map(|c| c.to_string()).collect();
    if !missing.is_empty() {
        r.notes.push(format!("this process lacks {}: `run` itself needs root or those capabilities (the ackscope@ unit grants them)", missing.join(", ")));
    }
}

#[cfg(test)]
mod tests;
