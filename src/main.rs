//! The `ackscope` command: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use ackscope::detect::Config;
use ackscope::output::{EventWriter, Format, Summary};
use ackscope::replay;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (events found or not)
  1  error: unreadable input, not a capture, cannot write events, setup failed
  2  usage error
  3  some input was damaged (truncated or corrupt); everything before the damage was processed";

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
    let report = replay::replay(&a.files, a.engine.config(), &mut w).map_err(anyhow::Error::from)?;
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
    Ok(if damaged.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let r = match &cli.cmd {
        Cmd::Replay(a) => run_replay(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ackscope: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
