//! Incident report: one self-contained HTML file (inline SVG, a few lines of inline script, no
//! network access) that tells the story of each stale ACK — summary, time series, reuse-interval
//! histogram, per-server and per-client tables, and a ladder diagram per incident.
//!
//! Inputs are captures (replayed through the engine, then read once more for the ladders'
//! segments, see [`capture`]) or events files written by `run`/`replay` (JSON lines, see
//! [`events`]); for events of a live run, `--pcap-dir` captures of the flagged flows supply the
//! previous connection's segments.

#![deny(unsafe_code)]

pub mod capture;
pub mod events;
mod html;
mod ladder;
pub mod model;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

pub use model::{Incident, Model, SegRec, SegSource};

use crate::detect::{Config, EventSink};
use crate::replay::CaptureError;

/// Report settings.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Engine settings for captures (TIME_WAIT length also marks the histogram).
    pub engine: Config,
    /// Ladders drawn at most; beyond, the earliest of each cause in turn (see [`Model::select`]).
    pub max_ladders: usize,
    /// Rows of the per-server and per-client tables.
    pub top: usize,
    /// Flagged-flow captures (`--pcap-dir` of a run) for the ladders of events-file inputs.
    pub pcap_dir: Option<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { engine: Config::default(), max_ladders: 100, top: 20, pcap_dir: None }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A capture could not be opened or is not a capture.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// An input could not be read.
    #[error("{path}: cannot read: {source} (check the path and permissions)")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        source: io::Error,
    },
    /// The report file could not be written.
    #[error("{path}: cannot write the report: {source} (check the directory exists and is writable)")]
    Write {
        /// File.
        path: PathBuf,
        /// OS error.
        source: io::Error,
    },
    /// Captures and events files given together.
    #[error("give either captures or events files, not both ({capture} is a capture, {events} an events file)")]
    Mixed {
        /// A capture among the inputs.
        capture: String,
        /// An events file among the inputs.
        events: String,
    },
    /// An input is neither.
    #[error("{path}: neither a capture (pcap/pcapng) nor an events file (JSON lines from `ackscope run/replay --format json`)")]
    Unknown {
        /// File.
        path: PathBuf,
    },
    /// Nothing to report on.
    #[error("no input given: name captures or events files")]
    NoInput,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// Stale ACKs in the input.
    pub stale_acks: u64,
    /// Ladders drawn.
    pub ladders: usize,
    /// Bytes of the HTML file.
    pub bytes: u64,
    /// Captures damaged part-way (the report covers what came before the damage and says so).
    pub damaged: Vec<String>,
}

/// The kind of an input file, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// pcap or pcapng.
    Capture,
    /// JSON lines.
    Events,
}

/// Tell a capture from an events file by the first bytes.
pub fn input_kind(path: &Path) -> Result<InputKind, ReportError> {
    let mut f = File::open(path).map_err(|source| ReportError::Read { path: path.to_path_buf(), source })?;
    let mut b = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut b[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(source) => return Err(ReportError::Read { path: path.to_path_buf(), source }),
        }
    }
    let magic = u32::from_le_bytes(b);
    let pcap = [0xa1b2_c3d4u32, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1, 0x0a0d_0d0a];
    if n == 4 && pcap.contains(&magic) {
        return Ok(InputKind::Capture);
    }
    let first = b[..n].iter().copied().find(|c| !c.is_ascii_whitespace());
    match first {
        Some(b'{') => Ok(InputKind::Events),
        None => Ok(InputKind::Events), // an empty events file: a run without events
        _ => Err(ReportError::Unknown { path: path.to_path_buf() }),
    }
}

/// Everything a report shows, gathered from the inputs.
pub struct Gathered {
    /// Events, aggregates and kept incidents.
    pub model: Model,
    /// Inputs were captures.
    pub from_capture: bool,
    /// Pass 1 (captures only).
    pub engine: Option<capture::EngineStats>,
    /// Pass 2 (captures only).
    pub trace: Option<capture::TraceStats>,
    /// Flagged-flow pcaps used (events input with --pcap-dir).
    pub pcaps_used: usize,
    /// The settings.
    pub opts: ReportOptions,
}

/// Read the inputs into a [`Gathered`].
pub fn gather(inputs: &[PathBuf], opts: &ReportOptions) -> Result<Gathered, ReportError> {
    if inputs.is_empty() {
        return Err(ReportError::NoInput);
    }
    let mut kinds = Vec::with_capacity(inputs.len());
    for p in inputs {
        kinds.push(input_kind(p)?);
    }
    let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    if let (Some(c), Some(e)) =
        (kinds.iter().position(|k| *k == InputKind::Capture), kinds.iter().position(|k| *k == InputKind::Events))
    {
        return Err(ReportError::Mixed { capture: names[c].clone(), events: names[e].clone() });
    }
    let cap = opts.max_ladders;
    let mut model = Model::new(names, cap.max(1));
    if kinds[0] == InputKind::Capture {
        let st = capture::engine_pass(inputs, opts.engine, &mut model)?;
        let drawn: Vec<(u64, u64, usize)> = model.select(cap).iter().map(|i| (i.stale.ts_ns, i.stale.frame, i.file)).collect();
        let want = move |inc: &Incident| drawn.contains(&(inc.stale.ts_ns, inc.stale.frame, inc.file));
        let tc = capture::TraceConfig {
            how: capture::Match::Frame,
            span: st.span,
            time_wait_ms: opts.engine.time_wait_ms,
            max_tuples: opts.engine.max_flows,
        };
        let tr = capture::trace_pass(inputs, &mut model, &want, tc)?;
        return Ok(Gathered { model, from_capture: true, engine: Some(st), trace: Some(tr), pcaps_used: 0, opts: opts.clone() });
    }
    for (fi, p) in inputs.iter().enumerate() {
        model.current_file = fi;
        let f = File::open(p).map_err(|source| ReportError::Read { path: p.clone(), source })?;
        for (ln, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|source| ReportError::Read { path: p.clone(), source })?;
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            match events::parse_line(t) {
                Ok(ev) => model.event(&ev),
                Err(e) => {
                    model.bad_lines += 1;
                    if model.bad_line_examples.len() < 5 {
                        model.bad_line_examples.push(format!("{}:{}: {e}", p.display(), ln + 1));
                    }
                }
            }
        }
    }
    let mut pcaps_used = 0;
    if let Some(dir) = &opts.pcap_dir {
        pcaps_used = from_pcap_dir(dir, &mut model, cap, opts)?;
    }
    Ok(Gathered { model, from_capture: false, engine: None, trace: None, pcaps_used, opts: opts.clone() })
}

/// For each drawn incident of an events input, the flagged-flow pcaps of its 4-tuple in `dir`
/// (named `…-CLIENT-SERVER-N.pcap` by `output/flowpcap.rs`) give its segments.
fn from_pcap_dir(dir: &Path, model: &mut Model, cap: usize, opts: &ReportOptions) -> Result<usize, ReportError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ReportError::Read { path: dir.to_path_buf(), source })?;
    let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "pcap")).collect();
    files.sort();
    let drawn: Vec<(u64, String)> = model
        .select(cap)
        .iter()
        .map(|i| (i.stale.ts_ns, format!("-{}-{}-", capture::clean_addr(i.stale.client), capture::clean_addr(i.stale.server))))
        .collect();
    let mut used = 0;
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mine: Vec<u64> = drawn.iter().filter(|(_, pat)| name.contains(pat.as_str())).map(|(t, _)| *t).collect();
        if mine.is_empty() {
            continue;
        }
        let want = move |inc: &Incident| inc.after.is_empty() && mine.contains(&inc.stale.ts_ns);
        // Live event and pcap stamps are both wall-clock, converted from the monotonic clock at
        // slightly different moments: allow two seconds.
        let tc = capture::TraceConfig { how: capture::Match::Near(2_000_000_000), span: None, time_wait_ms: opts.engine.time_wait_ms, max_tuples: 0 };
        match capture::trace_pass(std::slice::from_ref(f), model, &want, tc) {
            Ok(_) => used += 1,
            Err(e) => tracing::warn!(file = %f.display(), error = %e, "flagged-flow pcap unreadable; its ladder uses the events only"),
        }
    }
    Ok(used)
}

/// Render the report of `g` as HTML.
pub fn render(g: &Gathered) -> String {
    html::render(g)
}

/// Gather `inputs` and write the report to `out`.
pub fn write_report(inputs: &[PathBuf], opts: &ReportOptions, out: &Path) -> Result<Written, ReportError> {
    let g = gather(inputs, opts)?;
    let html = render(&g);
    let ladders = g.model.select(opts.max_ladders).len();
    let werr = |source| ReportError::Write { path: out.to_path_buf(), source };
    let mut f = io::BufWriter::new(File::create(out).map_err(werr)?);
    f.write_all(html.as_bytes()).map_err(werr)?;
    f.flush().map_err(werr)?;
    let damaged = g.engine.as_ref().map(|e| e.damaged.clone()).unwrap_or_default();
    Ok(Written { stale_acks: g.model.stale_acks(), ladders, bytes: html.len() as u64, damaged })
}
