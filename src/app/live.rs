//! One live run, from attach to exit code: the event pump, SIGHUP reopen, the link watch, the
//! status line, the clock that turns kernel stamps into wall-clock time, the summaries (human
//! on stderr, JSON on request) and the exit code.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::metrics::{MetricsServer, MetricsSource, Published};
use super::pump::{handed_over, Delivered, Pump};
use super::Signals;
use crate::datapath::{self, DatapathError, LinkState, LiveConfig, LiveMode, LiveReport, OnExit, Session, WorkerStats};
use crate::detect::{Cause, EventKind, Outcome};
use crate::kernel::{LookupStats, Lookups, Mib};
use crate::output::{EventWriter, ParseProblems, Summary};
use crate::packet::{ParseError, SkipReason, PARSE_REASONS};

/// What a live run needs besides the session's own configuration.
#[derive(Clone, Debug)]
pub struct LiveRunConfig {
    /// The session: mode, interface, queues, program, sockets, workers.
    pub session: LiveConfig,
    /// The events file, reopened on SIGHUP (`None`: stdout).
    pub events_path: Option<PathBuf>,
    /// No summary on stderr.
    pub quiet: bool,
    /// A status line on stderr once a second (a terminal is watching).
    pub status_line: bool,
    /// Where flagged-flow pcaps go (named in the summary).
    pub pcap_dir: Option<PathBuf>,
    /// Serve Prometheus metrics at this address.
    pub metrics: Option<String>,
    /// Servers with their own RTT histogram in the metrics.
    pub metrics_top_servers: usize,
    /// Stop after this long (`None`: at SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// Write the end-of-run summary as one JSON object to this file.
    pub summary_json: Option<PathBuf>,
    /// Look stale ACKs' sockets up with sock_diag (`kernel` object); off with `--no-kernel-view`.
    pub kernel_view: bool,
    /// At the end, how long the output may take to write what is queued before the events it
    /// has not taken are counted as dropped (a sink that stopped reading never holds the exit).
    pub output_grace: Duration,
}

/// Why a live run could not go on (each message says what to do).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Attaching, binding or setting up failed.
    #[error("cannot start on {iface}")]
    Start {
        /// The interface.
        iface: String,
        /// What failed.
        #[source]
        source: DatapathError,
    },
    /// The metrics address could not be bound.
    #[error("--metrics {addr}: give a free host:port such as 127.0.0.1:9464")]
    Metrics {
        /// The address asked for.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A worker stopped on an error.
    #[error("a worker stopped: {0}")]
    Worker(String),
    /// The event output thread could not be started.
    #[error("cannot start the event output thread (is the process at its thread limit? see ulimit -u)")]
    Pump(#[source] std::io::Error),
    /// Every worker stopped without an error of its own, and the link is still up.
    #[error("the workers stopped on their own (see the log above)")]
    WorkersStopped,
}

/// How a run that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEnd {
    /// Stopped by a signal or `--duration`.
    Stopped,
    /// The interface went down or disappeared; everything was detached (exit code 4).
    LinkLost(LinkState),
}

impl LiveEnd {
    /// The process exit code (see `ackscope --help`).
    pub fn exit_code(self) -> u8 {
        match self {
            LiveEnd::Stopped => 0,
            LiveEnd::LinkLost(_) => 4,
        }
    }
}

/// Run one live session until a signal, `--duration`, or the link goes; `w` gets the events.
pub fn run(cfg: &LiveRunConfig, w: EventWriter, signals: &Signals) -> Result<LiveEnd, LiveError> {
    let r = run_inner(cfg, w, signals);
    if let (Err(e), Some(path)) = (&r, &cfg.summary_json) {
        // A run that failed before its summary still leaves a machine-readable answer.
        write_json(path, &json!({ "exit_code": 1, "error": error_chain(e) }));
    }
    r
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

fn run_inner(cfg: &LiveRunConfig, mut w: EventWriter, signals: &Signals) -> Result<LiveEnd, LiveError> {
    let scfg = &cfg.session;
    let iface = scfg.iface.clone();
    // Live stamps are CLOCK_MONOTONIC; print wall-clock time (re-synced every second below).
    w.clock_offset_ns = datapath::wall_clock_offset_ns();
    w.line_buffered = true;
    // Mirror mode over several interfaces (a TAP's two outputs, several SPAN sessions).
    let ifaces: Vec<String> = std::iter::once(&iface).chain(&scfg.more_ifaces).cloned().collect();
    let multi = ifaces.len() > 1;
    let session = Session::start(scfg).map_err(|source| LiveError::Start { iface: ifaces.join(", "), source })?;
    let published = Arc::new(Published::default());
    // The kernel beside the packets: sock_diag lookups for stale ACKs (their own thread, started
    // before the capabilities are dropped so it can keep CAP_SYS_PTRACE for the /proc scan) and
    // the TCP MIB counters at the start, for the deltas.
    let lookups = match Lookups::start() {
        _ if !cfg.kernel_view => None,
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "no kernel view of stale ACKs (events are written without their kernel object)");
            None
        }
    };
    // Port pressure where the client is local: this namespace's addresses and ephemeral range.
    let local = crate::kernel::LocalClients::read();
    let time_wait_ms = scfg.pool.engine.time_wait_ms;
    let mib_start = Mib::read().map_err(|e| tracing::warn!(error = %e, "cannot read /proc/net/netstat; no kernel counters")).ok();
    *published.mib.lock().expect("metrics lock") = mib_start;
    *published.lookups.lock().expect("metrics lock") = lookups.as_ref().map(|l| l.stats.clone());
    *published.xdp.lock().expect("metrics lock") = session.bpf_counters().ok();
    let publish_ports = |session: &Session| {
        if multi {
            if let Ok(mut g) = published.ports.lock() {
                *g = session.ports().into_iter().map(|p| (p.iface, p.bpf)).collect();
            }
        }
    };
    publish_ports(&session);
    let _metrics = match &cfg.metrics {
        Some(addr) => {
            let src = MetricsSource {
                shards: session.snapshots().clone(),
                workers: session.worker_stats().clone(),
                queues: session.queues().to_vec(),
                ifaces: if multi { worker_ifaces(&session) } else { Vec::new() },
                published: published.clone(),
                top_servers: cfg.metrics_top_servers,
                time_wait_ms,
            };
            let m = MetricsServer::start(addr, src).map_err(|source| LiveError::Metrics { addr: addr.clone(), source })?;
            eprintln!("ackscope: metrics at http://{}/metrics", m.addr);
            Some(m)
        }
        None => None,
    };
    let lookup_stats = lookups.as_ref().map(|l| l.stats.clone());
    let pump = Pump::start(w, lookups, session.events().clone()).map_err(LiveError::Pump)?;
    // Everything is attached and bound: keep only what tearing down needs.
    match datapath::drop_privileges_after_setup() {
        Ok(d) => tracing::info!(removed = d.removed.len(), "capabilities dropped after set-up"),
        Err(e) => tracing::warn!(error = %e, "could not drop capabilities; running with the ones we had"),
    }
    eprintln!(
        "ackscope: inspecting {} ({} queue(s)); stop with Ctrl-C{}",
        match &scfg.mode {
            LiveMode::Inline { peer, .. } => format!("{iface} <-> {peer} (inline)"),
            LiveMode::Host => format!("{iface} (host mode)"),
            LiveMode::Mirror => ifaces.join(" + "),
        },
        session.queues().len(),
        cfg.duration.map(|d| format!(" or after {} s", d.as_secs_f64())).unwrap_or_default()
    );
    let started = Instant::now();
    let deadline = cfg.duration.map(|d| started + d);
    let mut early_stop = false;
    let mut link_lost = None;
    // The interface whose link went (the first one unless several are watched).
    let mut lost_iface = iface.clone();
    let status = cfg.status_line;
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    let mut last_rx = 0u64;
    while !signals.stopping() && deadline.is_none_or(|d| Instant::now() < d) {
        if session.workers_finished() {
            early_stop = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if signals.take_hup() {
            reopen(&pump, cfg.events_path.as_ref());
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            if let Some((i, state)) = ifaces.iter().map(|i| (i, datapath::link_state(i))).find(|(_, s)| *s != LinkState::Up) {
                lost_iface = i.clone();
                link_lost = Some(state);
                break;
            }
            pump.set_clock_offset(datapath::wall_clock_offset_ns());
            let b = session.bpf_counters().ok();
            if let Ok(mut g) = published.xdp.lock() {
                *g = b;
            }
            let mib_now = Mib::read().ok();
            *published.mib.lock().expect("metrics lock") = mib_now;
            publish_ports(&session);
            published.events_written.store(pump.written(), Ordering::Relaxed);
            published.events_dropped.store(pump.dropped(), Ordering::Relaxed);
            if status {
                let ws = session.worker_stats();
                let rx = sum(ws, |s| s.rx_frames.load(Ordering::Relaxed));
                let drops = sum(ws, |s| {
                    s.handoff_full.load(Ordering::Relaxed)
                        + s.xsk_rx_dropped.load(Ordering::Relaxed)
                        + s.xsk_rx_ring_full.load(Ordering::Relaxed)
                        + s.events_dropped.load(Ordering::Relaxed)
                });
                eprint!(
                    "\r\x1b[Kackscope: {} frames/s | xdp seen {} steered {} | events {} | drops {} | flows {}",
                    rx - last_rx,
                    b.map(|b| b.frames).unwrap_or(0),
                    b.map(|b| b.steered()).unwrap_or(0),
                    sum(ws, |s| s.events.load(Ordering::Relaxed)),
                    drops,
                    sum(ws, |s| s.flows.load(Ordering::Relaxed))
                );
                if let (Some(a), Some(b)) = (mib_start, mib_now) {
                    let d = b.since(&a);
                    eprint!(
                        " | kernel challenge-acks +{} tw-skipped +{} rsts +{}",
                        mib_get(&d, "TCPChallengeACK"),
                        mib_get(&d, "TCPACKSkippedTimeWait"),
                        mib_get(&d, "OutRsts")
                    );
                }
                if multi {
                    // Each port's own counters: a TAP output that went quiet shows here.
                    for p in session.ports() {
                        let w = ws.get(p.workers.clone()).unwrap_or_default();
                        let drops = sum(w, |s| s.handoff_full.load(Ordering::Relaxed) + s.xsk_rx_dropped.load(Ordering::Relaxed) + s.xsk_rx_ring_full.load(Ordering::Relaxed));
                        eprint!(" | {}: rx {} steered {} drops {drops}", p.iface, sum(w, |s| s.rx_frames.load(Ordering::Relaxed)), p.bpf.steered());
                    }
                }
                last_rx = rx;
            }
        }
    }
    if status {
        eprint!("\r\x1b[K");
    }
    let stats = session.worker_stats().clone();
    let snapshots = session.snapshots().clone();
    let report = session.stop();
    // The workers have ended: the pump writes what is queued, within the grace.
    let channel_drops = sum(&stats, |s| s.events_dropped.load(Ordering::Relaxed));
    let (mut w, _writer) = pump.finish(cfg.output_grace, handed_over(&report.counters().events, channel_drops));
    w.dropped += channel_drops;
    if w.abandoned > 0 {
        eprintln!(
            "ackscope: warning: the event output took nothing for {:.1} s after the stop; {} queued events were not written and are counted as dropped{} (a reader that stopped reading? raise --output-grace to wait longer)",
            cfg.output_grace.as_secs_f64(),
            w.abandoned,
            if w.in_doubt > 0 { "; one of them was in a blocked write, which the sink may still complete if its reader resumes before the exit" } else { "" }
        );
    }
    let kernel = KernelRun { mib_start, mib_end: Mib::read().ok(), lookups: lookup_stats };
    // Port pressure per server from the shards' last snapshots (taken when they stopped).
    let pressure = crate::detect::pressure::by_server(snapshots.iter().flat_map(|m| m.lock().map(|g| g.pressure.clone()).unwrap_or_default()));
    let elapsed = started.elapsed();
    if early_stop && link_lost.is_none() {
        // Workers stop on their own when the socket fails, typically because the interface went away.
        if let Some((i, state)) = ifaces.iter().map(|i| (i, datapath::link_state(i))).find(|(_, s)| *s != LinkState::Up) {
            lost_iface = i.clone();
            link_lost = Some(state);
        }
    }
    let end = match link_lost {
        Some(state) => Ok(LiveEnd::LinkLost(state)),
        None => match report.workers.iter().find_map(|w| w.error.clone()) {
            Some(e) => Err(LiveError::Worker(e)),
            None if early_stop => Err(LiveError::WorkersStopped),
            None => Ok(LiveEnd::Stopped),
        },
    };
    if !cfg.quiet {
        eprint!("{}", human_summary(&report, &stats, &w, elapsed));
        eprint!("{}", kernel.render(&report.counters()));
        eprint!("{}", crate::output::pressure::render(&pressure, cfg.metrics_top_servers, time_wait_ms, Some(&local)));
        if let Some(dir) = &cfg.pcap_dir {
            let files: u32 = report.workers.iter().map(|w| w.pcap_files).sum();
            eprintln!("flagged-flow pcaps: {files} files in {}", dir.display());
        }
    }
    if let Some(path) = &cfg.summary_json {
        let (code, error) = match &end {
            Ok(e) => (e.exit_code(), None),
            Err(e) => (1, Some(error_chain(e))),
        };
        let mut j = json_summary(&report, &stats, &w, elapsed, code, error, link_lost);
        j["kernel"] = kernel.json(&report.counters());
        j["pressure"] = crate::output::pressure::json(&pressure, cfg.metrics_top_servers, time_wait_ms, Some(&local));
        write_json(path, &j);
    }
    if let Ok(LiveEnd::LinkLost(state)) = end {
        let what = if state == LinkState::Missing { "disappeared" } else { "went down" };
        eprintln!("ackscope: error: interface {lost_iface} {what}; everything ackscope attached was removed. Restart ackscope when it is back.");
    }
    end
}

fn mib_get(m: &Mib, name: &str) -> u64 {
    m.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| v)
}

/// The kernel's side of a run for the summaries: MIB counters at both ends and the lookups.
struct KernelRun {
    mib_start: Option<Mib>,
    mib_end: Option<Mib>,
    lookups: Option<Arc<LookupStats>>,
}

impl KernelRun {
    fn delta(&self) -> Option<Mib> {
        Some(self.mib_end?.since(&self.mib_start?))
    }

    /// Beside each kernel counter, the ackscope count it should be compared with.
    fn beside(c: &crate::detect::Counters) -> [(&'static str, &'static str, u64); 3] {
        [
            ("TCPChallengeACK", "stale_acks lingering_established+lingering_close", c.causes[Cause::LingeringEstablished as usize] + c.causes[Cause::LingeringClose as usize]),
            ("TCPACKSkippedTimeWait", "stale_acks time_wait", c.causes[Cause::TimeWait as usize]),
            ("TCPSYNChallenge", "stale_acks (all causes)", c.events[EventKind::StaleAck as usize]),
        ]
    }

    fn render(&self, c: &crate::detect::Counters) -> String {
        let mut s = String::new();
        if let Some(d) = self.delta() {
            s.push_str("kernel TCP counters over the run (this namespace):");
            for (n, v) in d.iter() {
                s.push_str(&format!(" {n} +{v}"));
            }
            s.push('\n');
            for (k, what, ours) in Self::beside(c) {
                s.push_str(&format!("  kernel {k} +{} vs ackscope {what} {ours}\n", mib_get(&d, k)));
            }
        }
        if let Some(l) = &self.lookups {
            let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            let done = g(&l.done);
            s.push_str(&format!(
                "kernel lookups: {done} made, {} found a socket, {} disagreed with the cause, skipped {} (rate limit) {} (queue full), {} timed out, {} failed; {:.1} µs each, {:.1} µs CPU\n",
                g(&l.found),
                g(&l.disagree),
                g(&l.skipped_rate),
                g(&l.skipped_full),
                g(&l.timed_out),
                g(&l.failed),
                if done > 0 { g(&l.busy_ns) as f64 / done as f64 / 1000.0 } else { 0.0 },
                if done > 0 { g(&l.cpu_ns) as f64 / done as f64 / 1000.0 } else { 0.0 }
            ));
        }
        s
    }

    fn json(&self, c: &crate::detect::Counters) -> serde_json::Value {
        let d = self.delta();
        let l = self.lookups.as_ref().map(|l| {
            let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            json!({
                "done": g(&l.done), "found": g(&l.found), "disagree": g(&l.disagree),
                "skipped_rate": g(&l.skipped_rate), "skipped_full": g(&l.skipped_full),
                "timed_out": g(&l.timed_out), "failed": g(&l.failed), "busy_ns": g(&l.busy_ns), "cpu_ns": g(&l.cpu_ns),
            })
        });
        json!({
            "mib_delta": d.map(|d| d.iter().map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()),
            "beside": d.map(|d| Self::beside(c).iter().map(|(k, what, ours)| json!({"kernel": k, "kernel_delta": mib_get(&d, k), "ackscope": what, "ackscope_count": ours})).collect::<Vec<_>>()),
            "lookups": l,
        })
    }
}

fn sum(ws: &[WorkerStats], f: impl Fn(&WorkerStats) -> u64) -> u64 {
    ws.iter().map(f).sum()
}

/// The interface of each worker, in pool order (the `iface` label of the per-queue metrics).
fn worker_ifaces(session: &Session) -> Vec<String> {
    let mut v = vec![String::new(); session.queues().len()];
    for p in session.ports() {
        for i in p.workers.clone() {
            if let Some(slot) = v.get_mut(i) {
                *slot = p.iface.clone();
            }
        }
    }
    v
}

/// Log rotation: reopen the events file under its name.
fn reopen(pump: &Pump, path: Option<&PathBuf>) {
    let Some(path) = path else { return };
    match std::fs::OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => {
            pump.reopen(Box::new(f));
            tracing::info!(path = %path.display(), "SIGHUP: events file reopened");
        }
        Err(e) => tracing::error!(path = %path.display(), error = %e, "SIGHUP: cannot reopen the events file; still writing to the old one"),
    }
}

fn human_summary(report: &LiveReport, stats: &[WorkerStats], w: &Delivered, elapsed: Duration) -> String {
    let counters = report.counters();
    let mut problems = ParseProblems::default();
    for wr in &report.workers {
        for (a, b) in problems.skipped.iter_mut().zip(wr.skipped) {
            *a += b;
        }
        for (a, b) in problems.errors.iter_mut().zip(wr.parse_errors) {
            *a += b;
        }
    }
    let s = Summary {
        frames: sum(stats, |s| s.rx_frames.load(Ordering::Relaxed)),
        segments: counters.segments,
        elapsed,
        counters: &counters,
        evictions: report.evictions(),
        flows: report.workers.iter().map(|w| w.flows).sum(),
        problems: &problems,
        files: &[],
        damaged: &[],
        events_written: w.written,
        events_dropped: w.dropped,
    };
    s.render() + &report.render(stats)
}

/// The end-of-run summary as one JSON object (`--summary-json`): what the human summary says,
/// with stable names, for tests and pipelines.
fn json_summary(
    report: &LiveReport,
    stats: &[WorkerStats],
    w: &Delivered,
    elapsed: Duration,
    exit_code: u8,
    error: Option<String>,
    link_lost: Option<LinkState>,
) -> serde_json::Value {
    let c = report.counters();
    let ev = report.evictions();
    let acc = report.accounting(stats);
    let queues: Vec<_> = report
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let st = &stats[i];
            let wr = report.workers.get(i);
            let x = wr.and_then(|w| w.xsk).unwrap_or_default();
            let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            json!({
                "queue": q,
                "iface": report.ports.iter().find(|p| p.workers.contains(&i)).map_or(report.iface.as_str(), |p| p.iface.as_str()),
                "received": l(&st.rx_frames),
                "handed_off": l(&st.handed_off),
                "from_other_queues": l(&st.received_handoff),
                "processed": l(&st.processed),
                "not_tcp": l(&st.skipped),
                "parse_errors": l(&st.parse_errors),
                "handoff_full": l(&st.handoff_full),
                "late": l(&st.reorder_late),
                "events_dropped": l(&st.events_dropped),
                "rx_dropped": x.rx_dropped,
                "rx_ring_full": x.rx_ring_full,
                "fill_ring_empty": x.rx_fill_ring_empty_descs,
                "invalid_descs": x.rx_invalid_descs,
                "error": wr.and_then(|w| w.error.clone()),
            })
        })
        .collect();
    let b = &report.bpf;
    let xdp_json = |b: &datapath::BpfCounters| {
        json!({
            "frames": b.frames, "steered": b.steered(), "redirect_fail": b.redirect_fail,
            "not_steered_tcp": b.not_steered_tcp, "not_tcp": b.not_tcp, "parse_fail": b.parse_fail,
            "flows_expired": b.flows_expired, "flows_evicted": b.flows_evicted, "meta_fail": b.meta_fail,
        })
    };
    // Each interface's own program counters, workers and accounting (one entry unless a
    // mirror session ran over several).
    let ports: Vec<_> = report
        .ports
        .iter()
        .map(|p| {
            let a = report.port_accounting(p, stats);
            json!({
                "iface": p.iface,
                "xdp_mode": p.mode.to_string(),
                "xdp": xdp_json(&p.bpf),
                "queues": p.workers.clone().filter_map(|i| report.queues.get(i)).collect::<Vec<_>>(),
                "accounting": {
                    "steered": a.steered, "redirect_fail": a.redirect_fail, "received": a.received,
                    "kernel_drops": a.kernel_drops, "lost_user": a.lost_user, "adds_up": a.adds_up,
                },
            })
        })
        .collect();
    let host = report.host_accounting().map(|h| {
        json!({
            "iface": h.iface, "cloned": h.cloned, "clone_fail": h.clone_fail,
            "steered": h.steered, "lost_on_veth": h.lost_on_veth, "flows_evicted": h.tc.flows_evicted,
            "tc": format!("{}", h.tc),
        })
    });
    let inline = report.inline_accounting().map(|a| {
        json!({
            "peer": a.peer,
            "on_exit": match a.on_exit { OnExit::Bypass => "bypass", OnExit::Disconnect => "disconnect" },
            "received": a.received, "sent": a.sent, "given_up": a.given_up, "adds_up": a.adds_up,
            "tx_failed": a.tx_failed, "tx_retries": a.tx_retries, "egress_dropped": a.egress_dropped,
        })
    });
    json!({
        "exit_code": exit_code,
        "error": error,
        "link": match link_lost { None => "up", Some(LinkState::Missing) => "missing", Some(_) => "down" },
        "iface": report.iface,
        "xdp_mode": report.mode.to_string(),
        "zerocopy": report.zerocopy,
        "elapsed_s": elapsed.as_secs_f64(),
        "frames": sum(stats, |s| s.rx_frames.load(Ordering::Relaxed)),
        "segments": c.segments,
        "flows": report.workers.iter().map(|w| w.flows).sum::<usize>(),
        "port_reuses": c.port_reuses,
        "stale_ack_repeats": c.stale_ack_repeats,
        "events": EventKind::ALL.iter().map(|k| (k.as_str().to_string(), json!(c.events[*k as usize]))).collect::<serde_json::Map<_, _>>(),
        "causes": Cause::ALL.iter().map(|k| (k.as_str().to_string(), json!(c.causes[*k as usize]))).collect::<serde_json::Map<_, _>>(),
        "outcomes": Outcome::ALL.iter().map(|k| (k.as_str().to_string(), json!(c.outcomes[*k as usize]))).collect::<serde_json::Map<_, _>>(),
        "evictions": { "tombstones": ev.tombstones, "live": ev.live, "expired": ev.expired },
        "events_written": w.written,
        "events_dropped": w.dropped,
        "events_abandoned": w.abandoned,
        "events_in_doubt": w.in_doubt,
        "xdp": xdp_json(b),
        "queues": queues,
        "ports": ports,
        "accounting": {
            "steered": acc.steered, "redirect_fail": acc.redirect_fail, "received": acc.received,
            "kernel_drops": acc.kernel_drops, "lost_user": acc.lost_user, "adds_up": acc.adds_up,
        },
        "host": host,
        "inline": inline,
        "pcap_files": report.workers.iter().map(|w| w.pcap_files).sum::<u32>(),
        // Of the frames that reached user space (the XDP classifier's own counts are in `xdp`).
        "parse_errors_by_reason": (0..PARSE_REASONS)
            .map(|i| (ParseError::reason_name(i).to_string(), json!(report.workers.iter().map(|w| w.parse_errors[i]).sum::<u64>())))
            .collect::<serde_json::Map<_, _>>(),
        "skipped_by_reason": SkipReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), json!(report.workers.iter().map(|w| w.skipped[*r as usize]).sum::<u64>())))
            .collect::<serde_json::Map<_, _>>(),
    })
}

fn write_json(path: &PathBuf, v: &serde_json::Value) {
    let r = std::fs::File::create(path).and_then(|mut f| {
        serde_json::to_writer_pretty(&mut f, v)?;
        f.write_all(b"\n")
    });
    if let Err(e) = r {
        tracing::error!(path = %path.display(), error = %e, "cannot write the JSON summary (check the directory exists and is writable)");
    }
}
