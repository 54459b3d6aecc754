//! The `ackscope` command: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use ackscope::app::{live, Signals};
use ackscope::detect::Config;
use ackscope::output::{EventWriter, Format, Summary};
use ackscope::replay;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (events found or not)
  1  error: unreadable input, not a capture, cannot write events, setup failed
  2  usage error
  3  some input was damaged (truncated or corrupt); everything before the damage was processed
  4  live: the interface went down or disappeared (everything was detached)";

#[derive(Parser)]
#[command(name = "ackscope", version, about = "Catch stale ACKs on reused TCP 4-tuples", after_help = EXIT_CODES)]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay pcap/pcapng captures through the engine and report events.
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayArgs),
    /// Inspect live traffic on an interface (XDP + AF_XDP), as root.
    #[command(after_help = EXIT_CODES, args_override_self = true)]
    Run(RunArgs),
    /// Build a throw-away testbed of network namespaces with real Linux TCP client and server,
    /// reproduce every stale-ACK cause among ordinary traffic, and run ackscope live on it (root).
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
    /// Send a realistic TCP control-segment mix with a known number of stale-ACK exchanges out
    /// of an interface (BPF_PROG_RUN live frames), to measure ackscope on it (root).
    #[command(after_help = EXIT_CODES)]
    Gen(GenArgs),
    /// Write an incident report (one self-contained HTML file: summary, time series, reuse
    /// intervals, top servers/clients, a ladder diagram per stale ACK) from captures or events files.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// Captures (pcap/pcapng, replayed through the engine) or events files (JSON lines of `run`/`replay`).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(short, long, value_name = "REPORT.html")]
    output: PathBuf,
    /// Flagged-flow captures of the run (its --pcap-dir): ladders of events inputs use their segments.
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<PathBuf>,
    #[command(flatten)]
    report: ReportOpts,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct ReportOpts {
    /// Ladders drawn at most (beyond: the earliest of each cause in turn; the tables count all).
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_ladders: usize,
    /// Rows of the per-server and per-client tables.
    #[arg(long, default_value_t = 20, value_name = "N")]
    top: usize,
}

fn write_report(inputs: &[PathBuf], out: &std::path::Path, pcap_dir: Option<PathBuf>, r: &ReportOpts, engine: &EngineArgs) -> Result<ExitCode> {
    let opts = ackscope::report::ReportOptions { engine: engine.config(), max_ladders: r.max_ladders, top: r.top, pcap_dir };
    let w = ackscope::report::write_report(inputs, &opts, out).with_context(|| format!("cannot write the report {}", out.display()))?;
    eprintln!("ackscope: report written to {} ({} stale ACKs, {} ladders, {} KiB)", out.display(), w.stale_acks, w.ladders, w.bytes.div_ceil(1024));
    for d in &w.damaged {
        eprintln!("ackscope: damaged input (the report covers what came before it): {d}");
    }
    Ok(if w.damaged.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

#[derive(Args)]
struct DemoArgs {
    /// Event format: json or text; default text on a terminal, json otherwise.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Ordinary connections made in the background.
    #[arg(long, default_value_t = 200, value_name = "N")]
    ordinary: u32,
    /// At the end, write the incident report of the run (HTML) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn run_demo(a: &DemoArgs, signals: &Signals) -> Result<ExitCode> {
    let format = match a.format {
        Some(FormatArg::Json) => "json",
        Some(FormatArg::Text) => "text",
        None if std::io::stdout().is_terminal() => "text",
        None => "json",
    };
    let exe = std::env::current_exe().context("cannot find the ackscope executable")?;
    ackscope::demo::run(&ackscope::demo::DemoOptions { exe, format, ordinary: a.ordinary, report: a.report.clone() }, signals.stop.clone())?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// The interface receives copies (SPAN/TAP port, tc mirred): non-control frames are dropped in XDP.
    Mirror,
    /// The interface carries production traffic: a tc program clones control segments (both
    /// directions) to a private veth pair; the originals are untouched (docs/MODES.md).
    Host,
    /// Bump-in-the-wire between --iface and --peer: other frames are forwarded in the kernel,
    /// control frames pass through ackscope (docs/MODES.md).
    Inline,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnExitArg {
    /// Fail-open: the XDP program stays attached and forwards between the ports (also after a
    /// crash); the next start replaces it, `ip link set dev IF xdp off` on both ports removes it.
    Bypass,
    /// Fail-closed: the program goes with ackscope; the ports are disconnected afterwards.
    Disconnect,
}

#[derive(Clone, Copy, ValueEnum)]
enum XdpModeArg {
    Auto,
    Native,
    Generic,
}

#[derive(Clone, Copy, ValueEnum)]
enum BindArg {
    Auto,
    Copy,
    Zerocopy,
}

#[derive(Args)]
struct RunArgs {
    /// Deployment mode.
    #[arg(long, value_enum, default_value = "mirror")]
    mode: ModeArg,
    /// Interface to inspect (inline: the first port). Mirror mode: repeat it for several
    /// interfaces (the two outputs of a passive TAP, several SPAN sessions), one engine over all.
    #[arg(long, value_name = "IF", required = true)]
    iface: Vec<String>,
    /// Inline mode: the second port.
    #[arg(long, value_name = "IF")]
    peer: Option<String>,
    /// Inline mode: what happens to the traffic between the ports when ackscope stops.
    #[arg(long, value_enum, default_value = "bypass")]
    on_exit: OnExitArg,
    /// Queues to open: a count N (queues 0..N-1) or `all`.
    #[arg(long, default_value = "all", value_name = "N|all")]
    queues: String,
    /// Cores to pin the workers to, e.g. `0,1` or `2-5` (default: worker i on core i).
    #[arg(long, value_name = "LIST")]
    cores: Option<String>,
    /// XDP attach mode: native with fallback to generic (auto), or forced.
    #[arg(long, value_enum, default_value = "auto")]
    xdp_mode: XdpModeArg,
    /// AF_XDP bind: zero-copy where the driver offers it, else copy (auto), or forced.
    #[arg(long, value_enum, default_value = "auto")]
    bind: BindArg,
    /// Busy-poll the sockets (SO_PREFER_BUSY_POLL; for NICs with NAPI busy polling set up).
    #[arg(long)]
    busy_poll: bool,
    /// UMEM frames per queue (power of two).
    #[arg(long, default_value_t = 4096, value_name = "N")]
    umem_frames: u32,
    /// Rx and fill ring entries per queue (power of two).
    #[arg(long, default_value_t = 2048, value_name = "N")]
    ring_size: u32,
    /// How long a segment waits for earlier ones from other queues, µs.
    #[arg(long, default_value_t = 2000, value_name = "US")]
    reorder_window_us: u64,
    /// Entries of the in-kernel handshake/teardown table.
    #[arg(long, default_value_t = 65536, value_name = "N")]
    kernel_flows: u32,
    /// Stop after SECS seconds (default: until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Replace an XDP program that is not ackscope's already attached to the interface.
    #[arg(long)]
    force: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Servers with their own handshake-RTT histogram in the metrics (the rest: "other").
    #[arg(long, default_value_t = 20, value_name = "N")]
    metrics_top_servers: usize,
    /// Also write the end-of-run summary as one JSON object to FILE (for scripts and tests).
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
    /// No sock_diag lookups of stale ACKs' sockets (no `kernel` object in events).
    #[arg(long)]
    no_kernel_view: bool,
    /// At the stop, seconds the event output may take to write what is queued; events a
    /// blocked sink (a reader that stopped reading) has not taken by then are counted as
    /// dropped, and ackscope exits anyway.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    output_grace: f64,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Read options from a TOML file (keys: these options with _ for -; docs/CONFIG.md); options
    /// given on the command line win; of several files the later wins.
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Validate the configuration and options against this machine (interfaces, queues,
    /// cores, metrics address, files) and exit 0 without attaching anything.
    #[arg(long)]
    check: bool,
}

fn parse_cores(s: &str) -> Result<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
            anyhow::ensure!(a <= b, "core range {part} is backwards");
            v.extend(a..=b);
        } else {
            v.push(part.parse()?);
        }
    }
    anyhow::ensure!(!v.is_empty(), "empty core list");
    Ok(v)
}

fn run_live(a: &RunArgs, signals: &Signals) -> Result<ExitCode> {
    use ackscope::datapath::{AttachMode, BindMode, BusyPoll, LiveConfig, LiveMode, OnExit, PoolConfig, SteerConfig, XskConfig};

    let mode = match (a.mode, &a.peer) {
        (ModeArg::Mirror, None) => LiveMode::Mirror,
        (ModeArg::Host, None) => LiveMode::Host,
        (ModeArg::Inline, Some(peer)) => LiveMode::Inline {
            peer: peer.clone(),
            on_exit: match a.on_exit {
                OnExitArg::Bypass => OnExit::Bypass,
                OnExitArg::Disconnect => OnExit::Disconnect,
            },
        },
        (ModeArg::Inline, None) => anyhow::bail!("--mode inline needs --peer IF (the second port)"),
        (_, Some(_)) => anyhow::bail!("--peer is for --mode inline only"),
    };
    let (iface, more_ifaces) = a.iface.split_first().context("--iface IF is required")?;
    if !more_ifaces.is_empty() && !matches!(a.mode, ModeArg::Mirror) {
        anyhow::bail!(
            "--iface is given {} times: only --mode mirror takes several interfaces (a TAP's two outputs, several SPAN sessions); \
             give one --iface",
            a.iface.len()
        );
    }
    if let Some(dup) = more_ifaces.iter().find(|m| *m == iface || more_ifaces.iter().filter(|x| x == m).count() > 1) {
        anyhow::bail!("--iface {dup} is given twice; name each interface once");
    }
    let queues = match a.queues.as_str() {
        "all" => None,
        n => {
            let n: u32 = n.parse().with_context(|| format!("--queues {n}: give a number or `all`"))?;
            anyhow::ensure!(n > 0, "--queues must be at least 1");
            Some((0..n).collect())
        }
    };
    let cores = a.cores.as_deref().map(parse_cores).transpose().context("--cores: give a list like 0,1 or 2-5")?;
    anyhow::ensure!(a.output_grace >= 0.0 && a.output_grace.is_finite(), "--output-grace {}: give a number of seconds, 0 or more", a.output_grace);
    if a.check {
        let r = ackscope::config::check_live(&ackscope::config::LiveCheck {
            iface,
            more_ifaces,
            peer: a.peer.as_deref(),
            queues: queues.as_ref().map(|q: &Vec<u32>| q.len() as u32),
            cores: cores.as_deref(),
            umem_frames: a.umem_frames,
            ring_size: a.ring_size,
            metrics: a.metrics.as_deref(),
            events: a.output.events.as_deref(),
            pcap_dir: a.output.pcap_dir.as_deref(),
        });
        r.notes.iter().for_each(|n| eprintln!("ackscope: note: {n}"));
        anyhow::ensure!(r.problems.is_empty(), "the check failed:\n  {}", r.problems.join("\n  "));
        eprintln!("ackscope: check passed for {}: nothing was attached", a.iface.join(", "));
        return Ok(ExitCode::SUCCESS);
    }
    let session = LiveConfig {
        mode,
        iface: iface.clone(),
        more_ifaces: more_ifaces.to_vec(),
        queues,
        steer: SteerConfig {
            attach_mode: match a.xdp_mode {
                XdpModeArg::Auto => AttachMode::Auto,
                XdpModeArg::Native => AttachMode::Native,
                XdpModeArg::Generic => AttachMode::Generic,
            },
            flow_table_size: a.kernel_flows,
            force: a.force,
            ..SteerConfig::default()
        },
        xsk: XskConfig {
            frame_count: a.umem_frames,
            fill_ring: a.ring_size,
            rx_ring: a.ring_size,
            bind_mode: match a.bind {
                BindArg::Auto => BindMode::Auto,
                BindArg::Copy => BindMode::Copy,
                BindArg::Zerocopy => BindMode::ZeroCopy,
            },
            busy_poll: a.busy_poll.then(BusyPoll::default),
            ..XskConfig::default()
        },
        pool: PoolConfig {
            engine: a.engine.config(),
            reorder_window_ns: a.reorder_window_us * 1000,
            recorder: a.output.recorder_config(),
            ..PoolConfig::default()
        },
        cores,
    };
    let cfg = live::LiveRunConfig {
        session,
        events_path: a.output.events.clone(),
        quiet: a.output.quiet,
        status_line: std::io::stderr().is_terminal() && !a.output.quiet,
        pcap_dir: a.output.pcap_dir.clone(),
        metrics: a.metrics.clone(),
        metrics_top_servers: a.metrics_top_servers,
        duration: a.duration.map(std::time::Duration::from_secs_f64),
        summary_json: a.summary_json.clone(),
        kernel_view: !a.no_kernel_view,
        output_grace: std::time::Duration::from_secs_f64(a.output_grace),
    };
    let end = live::run(&cfg, a.output.writer()?, signals)?;
    Ok(ExitCode::from(end.exit_code()))
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Text,
}

#[derive(Args)]
struct EngineArgs {
    /// Server TIME_WAIT length in seconds (Linux: 60).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    time_wait: u32,
    /// Seconds after a stale-ACKed SYN within which a handshake must complete, else `failed`.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    connect_timeout: u32,
    /// Cap on tracked 4-tuples (open flows and tombstones); oldest tombstones go first.
    #[arg(long, default_value_t = 2_000_000, value_name = "N")]
    max_flows: usize,
}

impl EngineArgs {
    fn config(&self) -> Config {
        Config {
            time_wait_ms: self.time_wait.saturating_mul(1000),
            connect_timeout_ms: self.connect_timeout.saturating_mul(1000),
            max_flows: self.max_flows,
            ..Config::default()
        }
    }
}

#[derive(Args)]
struct OutputArgs {
    /// Event format: json (one object per line) or text; default json unless stdout is a terminal.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Write events to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Write a pcap per flagged 4-tuple (stale ACK, reuse in TIME_WAIT, wrong SYN-ACK, acked
    /// unseen) into DIR: its frames around the event, the previous teardown when still held.
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<PathBuf>,
    /// At most N flagged-flow files (per worker when live).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pcap_max_files: u32,
}

impl OutputArgs {
    fn recorder_config(&self) -> Option<ackscope::output::RecorderConfig> {
        self.pcap_dir.as_ref().map(|d| ackscope::output::RecorderConfig {
            max_files: self.pcap_max_files,
            ..ackscope::output::RecorderConfig::new(d.clone())
        })
    }
}

impl OutputArgs {
    fn writer(&self) -> Result<EventWriter> {
        let (out, tty): (Box<dyn std::io::Write + Send>, bool) = match &self.events {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("cannot open events file {} (check the directory exists and is writable)", p.display()))?;
                (Box::new(f), false)
            }
            None => (Box::new(std::io::stdout()), std::io::stdout().is_terminal()),
        };
        let format = match self.format {
            Some(FormatArg::Json) => Format::Json,
            Some(FormatArg::Text) => Format::Text,
            None if tty => Format::Text,
            None => Format::Json,
        };
        let mut w = EventWriter::new(out, format);
        w.line_buffered = tty;
        Ok(w)
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// Capture files (pcap or pcapng), read in this order.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Also write an incident report (HTML) of the captures to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[command(flatten)]
    report_opts: ReportOpts,
}

#[derive(Args)]
struct GenArgs {
    /// Interface to send out of (on a veth, the peer needs an XDP program or GRO for NAPI).
    #[arg(long, value_name = "IF")]
    iface: String,
    /// Target rate in frames per second; 0 sends as fast as possible.
    #[arg(long, default_value_t = 0, value_name = "PPS")]
    rate: u64,
    /// Seconds to send.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    duration: f64,
    /// Stop after N frames (before the duration if reached first).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Distinct 4-tuples; each runs one connection story per lap of the mix.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    flows: u32,
    /// Fraction of the stories that are stale-ACK exchanges (split over the four causes).
    #[arg(long, default_value_t = 0.01, value_name = "R")]
    stale_ack_rate: f64,
    /// Times the server answers each stale-ACK exchange's retried SYN with the same stale ACK
    /// again (it ignored the client's RST, RFC 1337) before it accepts the SYN: 1 + N stale
    /// ACK segments per exchange, one `stale_ack` event and one outcome.
    #[arg(long, default_value_t = 0, value_name = "N")]
    stale_ack_repeats: u32,
    /// Fraction of the 4-tuples that are IPv6.
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    ipv6: f64,
    /// Add one request/response data exchange (24/48 bytes) to every connection.
    #[arg(long)]
    data: bool,
    /// Share of all frames that are SYN-flood frames (0..1): SYNs from random IPv4 4-tuples,
    /// a new source address and port per slot every lap, never answered.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    syn_flood: f64,
    /// Stories in flight at a time (how deeply 4-tuples interleave).
    #[arg(long, default_value_t = 256, value_name = "N")]
    concurrency: u32,
    /// 802.1Q tag on every frame.
    #[arg(long, value_name = "VID")]
    vlan: Option<u16>,
    /// Destination MAC of every frame (default 02:00:00:00:00:02).
    #[arg(long, value_name = "MAC")]
    dst_mac: Option<String>,
    /// Source MAC of every frame (default 02:00:00:00:00:01).
    #[arg(long, value_name = "MAC")]
    src_mac: Option<String>,
    /// Frames per kernel batch of BPF_PROG_RUN (1..=256).
    #[arg(long, default_value_t = 64, value_name = "N")]
    batch: u32,
    /// Frames per BPF_PROG_RUN call (default: ~100 ms worth); smaller paces more smoothly.
    #[arg(long, value_name = "N")]
    chunk: Option<u32>,
    /// Sending threads, each with its own part of the 4-tuples (default: one per --cpus
    /// entry, else 1).
    #[arg(long, value_name = "N")]
    threads: Option<u32>,
    /// Cores for the sending threads, e.g. `1`, `0,1` or `0-3`: thread i pinned to the i-th;
    /// without --threads, one thread per core listed.
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Seed of the mix (same seed, same frames).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Send the Ethernet frames of this capture instead of the mix: each once, in order, as
    /// captured (malformed ones too), one thread, at --rate; --frames takes the first N.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let v: Vec<u8> = s.split(':').map(|p| u8::from_str_radix(p, 16)).collect::<Result<_, _>>().with_context(|| format!("bad MAC {s}"))?;
    v.try_into().map_err(|_| anyhow::anyhow!("bad MAC {s}: give six hex bytes like 02:00:00:00:00:02"))
}

fn run_gen(a: &GenArgs, signals: &Signals) -> Result<ExitCode> {
    use ackscope::gen;
    anyhow::ensure!(a.duration > 0.0 && a.duration.is_finite(), "--duration must be positive");
    anyhow::ensure!((0.0..=1.0).contains(&a.stale_ack_rate), "--stale-ack-rate must be within 0..1");
    anyhow::ensure!((0.0..=1.0).contains(&a.ipv6), "--ipv6 must be within 0..1");
    anyhow::ensure!((0.0..1.0).contains(&a.syn_flood), "--syn-flood must be within 0..1 (exclusive of 1)");
    anyhow::ensure!(a.flows > 0, "--flows must be at least 1");
    anyhow::ensure!(a.stale_ack_repeats <= 64, "--stale-ack-repeats must be at most 64 (a real client gives up after net.ipv4.tcp_syn_retries, 6 by default; 64 bounds the mix size)");
    let macs = match (&a.dst_mac, &a.src_mac) {
        (None, None) => None,
        (d, s) => Some((
            d.as_deref().map(parse_mac).transpose()?.unwrap_or([2, 0, 0, 0, 0, 2]),
            s.as_deref().map(parse_mac).transpose()?.unwrap_or([2, 0, 0, 0, 0, 1]),
        )),
    };
    let cpus = a.cpus.as_deref().map(parse_cores).transpose().context("--cpus: give a list like 1, 0,1 or 0-3")?;
    let threads = a.threads.unwrap_or_else(|| cpus.as_ref().map_or(1, |c| c.len() as u32));
    let cfg = gen::GenConfig {
        iface: a.iface.clone(),
        mix: gen::MixConfig {
            flows: a.flows,
            stale_ack_rate: a.stale_ack_rate,
            ipv6: a.ipv6,
            concurrency: a.concurrency,
            seed: a.seed,
            data: a.data.then_some((24, 48)),
            vlan: a.vlan,
            macs,
            syn_flood: a.syn_flood,
            stale_ack_repeats: a.stale_ack_repeats,
        },
        rate: a.rate,
        duration: Some(std::time::Duration::from_secs_f64(a.duration)),
        max_frames: a.frames,
        batch: a.batch,
        threads,
        cpus,
        queue: 0,
        chunk: a.chunk,
        pcap: a.pcap.clone(),
    };
    let report = gen::run(&cfg, &signals.stop).with_context(|| format!("cannot generate on {}", a.iface))?;
    if a.json {
        println!("{}", report.render_json());
    } else {
        print!("{}", report.render_text());
    }
    if let Some(e) = report.threads.iter().find_map(|t| t.error.as_ref()) {
        anyhow::bail!("a sending thread stopped: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn run_replay(a: &ReplayArgs) -> Result<ExitCode> {
    let mut w = a.output.writer()?;
    let mut rec = match a.output.recorder_config() {
        Some(c) => {
            let dir = c.dir.display().to_string();
            Some(ackscope::output::FlowRecorder::new(c, "r").with_context(|| format!("--pcap-dir {dir}: cannot create it (check permissions)"))?)
        }
        None => None,
    };
    let report = replay::replay_with(&a.files, a.engine.config(), &mut w, rec.as_mut()).map_err(anyhow::Error::from)?;
    if let Some(r) = &rec {
        if let Some(e) = &r.error {
            eprintln!("ackscope: flagged-flow pcaps stopped after an error: {e}");
        }
        if !a.output.quiet {
            eprintln!("flagged-flow pcaps: {} files, {} frames{}", r.files, r.frames,
                if r.files_skipped > 0 { format!(", {} more flagged 4-tuples not written (--pcap-max-files)", r.files_skipped) } else { String::new() });
        }
    }
    w.flush();
    let names: Vec<String> = a.files.iter().map(|p| p.display().to_string()).collect();
    let damaged: Vec<String> = report.damaged.iter().map(|e| e.to_string()).collect();
    if !a.output.quiet {
        let s = Summary {
            frames: report.frames,
            segments: report.segments,
            elapsed: report.elapsed,
            counters: &report.shard.counters,
            evictions: report.shard.evictions(),
            flows: report.shard.flows(),
            problems: &report.problems,
            files: &names,
            damaged: &damaged,
            events_written: w.written,
            events_dropped: w.dropped,
        };
        eprint!("{}", s.render());
        let view = ackscope::detect::pressure::by_server(report.shard.pressure().pairs());
        eprint!("{}", ackscope::output::pressure::render(&view, 10, a.engine.config().time_wait_ms, None));
    } else {
        for d in &damaged {
            eprintln!("ackscope: damaged input: {d}");
        }
    }
    if let Some(e) = &w.error {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            anyhow::bail!("could not write events: {e} ({} events lost; check the disk or the --events path)", w.dropped);
        }
    }
    if let Some(out) = &a.report {
        write_report(&a.files, out, None, &a.report_opts, &a.engine)?; // damage is already in the exit code
    }
    Ok(if damaged.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

fn main() -> ExitCode {
    // `run --config FILE`: the file's options go before the command line's, which win.
    let cli = match ackscope::config::expand_args(std::env::args_os()) {
        Ok(args) => Cli::parse_from(args),
        Err(e) => {
            eprintln!("ackscope: error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(cli.verbose);
    // Signals once, for whatever runs (SIGHUP only where it reopens the events file).
    let r = match Signals::install(matches!(cli.cmd, Cmd::Run(_))).context("cannot install the signal handlers") {
        Err(e) => Err(e),
        Ok(signals) => match &cli.cmd {
            Cmd::Replay(a) => run_replay(a),
            Cmd::Run(a) => run_live(a, &signals),
            Cmd::Demo(a) => run_demo(a, &signals),
            Cmd::Gen(a) => run_gen(a, &signals),
            Cmd::Report(a) => write_report(&a.inputs, &a.output, a.pcap_dir.clone(), &a.report, &a.engine),
        },
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ackscope: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
