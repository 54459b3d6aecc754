//! A live session: one [`ModeState`] (mirror, host or inline, side by side in `mode/`), the
//! steering program, the worker pool, and one teardown order for `stop()` and `Drop`.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crossbeam::channel::Receiver;

use super::host::HostSetup;
use super::inline::{InlineCounts, InlineRun, OnExit};
use crate::datapath::error::Result;
use crate::datapath::pool::{Pool, PoolConfig, ShardSnapshot, WorkerResult, WorkerStats};
use crate::datapath::tc::TcCounters;
use crate::datapath::xdp::{BpfCounters, SteerConfig, XdpMode, XdpSteer};
use crate::datapath::xsk::XskConfig;
use crate::detect::{Counters, Event};
use crate::flow::Evictions;

/// Where ackscope sits (docs/MODES.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LiveMode {
    /// `iface` receives copies (SPAN/TAP port); non-control frames are dropped in XDP.
    #[default]
    Mirror,
    /// `iface` carries production traffic: a tc program clones control segments (both
    /// directions) to a private veth pair; the originals are untouched.
    Host,
    /// Bump-in-the-wire between `iface` and `peer`.
    Inline {
        /// The second port.
        peer: String,
        /// What happens to the traffic when ackscope stops.
        on_exit: OnExit,
    },
}

/// What a session needs.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Deployment mode.
    pub mode: LiveMode,
    /// Interface to attach to (inline: port A).
    pub iface: String,
    /// Mirror mode only: further interfaces (the other output of a passive TAP, more SPAN
    /// sessions), each with its own program and sockets, all in one pool after `iface`'s.
    pub more_ifaces: Vec<String>,
    /// Queues to open (`None`: every rx queue of the interface).
    pub queues: Option<Vec<u32>>,
    /// The XDP program's user settings (each mode sets the program's own mode on a copy).
    pub steer: SteerConfig,
    /// Per-socket settings.
    pub xsk: XskConfig,
    /// Worker settings (`cores` is filled from `cores` below when empty).
    pub pool: PoolConfig,
    /// Cores to pin workers to, in order; workers beyond the list are not pinned. `None`:
    /// worker i on core i modulo the machine's cores.
    pub cores: Option<Vec<usize>>,
}

/// What a mode keeps while it runs besides the program and the pool. A new mode is a new
/// variant here, a `mode/<name>.rs` with its `start`, and its arms in the three methods below.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per session, never moved on a hot path
pub enum ModeState {
    /// The programs of the further interfaces (none with one interface).
    Mirror(MirrorPorts),
    /// tc filters, private veth pair, lock (removed after the program).
    Host(HostSetup),
    /// Per-pair counters, XSKMAP slots, exit behaviour, locks.
    Inline(InlineRun),
}

impl ModeState {
    /// First step of a stop: no new frames into the sockets (host: stop cloning; inline: the
    /// sockets leave the XSKMAP, control frames take the kernel path). Returns true when
    /// frames may still be on their way, so the workers should be given a moment.
    fn quiesce(&mut self, steer: Option<&XdpSteer>) -> bool {
        match self {
            ModeState::Mirror(_) => false,
            ModeState::Host(h) => {
                h.stop_cloning();
                true
            }
            ModeState::Inline(run) => {
                if let Some(steer) = steer {
                    run.unregister(steer);
                }
                true
            }
        }
    }

    /// True when the program stays attached after ackscope (inline fail-open).
    fn leaves_program(&self) -> bool {
        matches!(self, ModeState::Inline(r) if r.on_exit == OnExit::Bypass)
    }

    fn report(&self) -> ModeReport {
        match self {
            ModeState::Mirror(_) => ModeReport::Mirror,
            ModeState::Host(h) => {
                ModeReport::Host { iface: h.iface().to_string(), tc: h.counters().unwrap_or_default(), ring: h.ring() }
            }
            ModeState::Inline(r) => ModeReport::Inline {
                peer: r.peer.clone(),
                on_exit: r.on_exit,
                pairs: r.counts(),
                egress_dropped: r.egress_dropped(),
            },
        }
    }
}

/// Mirror mode over several interfaces: the programs after the first, and how many sockets
/// (workers, in pool order) each interface has, the first one's included.
#[derive(Debug, Default)]
pub struct MirrorPorts {
    /// The programs of the further interfaces, in `--iface` order.
    pub more: Vec<XdpSteer>,
    /// Sockets per interface, the first interface's first (empty: all belong to the first).
    pub sockets: Vec<usize>,
}

/// One interface of a session: its program's counters and its workers.
#[derive(Debug, Clone)]
pub struct PortReport {
    /// The interface.
    pub iface: String,
    /// XDP attach mode used on it.
    pub mode: XdpMode,
    /// Its program's counters.
    pub bpf: BpfCounters,
    /// Its workers (indices into the queues, the worker stats and results).
    pub workers: Range<usize>,
}

/// What a mode's `start` hands to the session.
pub(crate) struct Started {
    /// `None` for host mode's ring path (no XDP program).
    pub steer: Option<XdpSteer>,
    pub pool: Pool,
    pub queues: Vec<u32>,
    pub zerocopy: bool,
    pub state: ModeState,
}

/// A running session. Dropping it tears down as [`Session::stop`] does.
pub struct Session {
    pool: Option<Pool>,
    steer: Option<XdpSteer>,
    state: Option<ModeState>,
    queues: Vec<u32>,
    zerocopy: bool,
    stats: Arc<Vec<WorkerStats>>,
    snapshots: Arc<Vec<Mutex<ShardSnapshot>>>,
    events: Receiver<Event>,
}

/// The mode's part of a [`LiveReport`].
#[derive(Debug, Clone)]
pub enum ModeReport {
    /// Nothing more.
    Mirror,
    /// The production interface and the tc program's counters.
    Host {
        /// The production interface.
        iface: String,
        /// The tc program's counters.
        tc: TcCounters,
        /// Ring path (no XDP program; the tc program's records are the steered frames).
        ring: bool,
    },
    /// Port B, the exit behaviour, and each pair's counters.
    Inline {
        /// Port B.
        peer: String,
        /// What happened to the traffic at exit.
        on_exit: OnExit,
        /// Each pair's counters, in queue order.
        pairs: Vec<InlineCounts>,
        /// Frames the ports dropped on transmit during the session (`None`: unreadable).
        egress_dropped: Option<u64>,
    },
}

/// Everything a session counted, for the exit summary and the metrics.
#[derive(Debug, Clone)]
pub struct LiveReport {
    /// Interface.
    pub iface: String,
    /// Queue of each worker.
    pub queues: Vec<u32>,
    /// XDP attach mode actually used.
    pub mode: XdpMode,
    /// True when the sockets run zero-copy.
    pub zerocopy: bool,
    /// The program's counters (all CPUs; summed over the interfaces).
    pub bpf: BpfCounters,
    /// Each interface: one entry, unless a mirror session ran over several.
    pub ports: Vec<PortReport>,
    /// What each worker left.
    pub workers: Vec<WorkerResult>,
    /// The mode's own counters.
    pub mode_report: ModeReport,
}

/// Loss accounting of the steering program and the sockets: steered − redirect failures =
/// received + dropped by the kernel.
#[derive(Debug, Clone, Copy)]
pub struct Accounting {
    /// Frames steered.
    pub steered: u64,
    /// Steered frames whose redirect failed.
    pub redirect_fail: u64,
    /// Frames the workers received.
    pub received: u64,
    /// Frames the kernel dropped after steering (socket statistics).
    pub kernel_drops: u64,
    /// Segments lost in user space (hand-off ring or reorder buffer full).
    pub lost_user: u64,
    /// True when the equation holds.
    pub adds_up: bool,
}

/// Host mode's accounting: cloned − clone failures → steered on the veth.
#[derive(Debug, Clone)]
pub struct HostAccounting {
    /// The production interface.
    pub iface: String,
    /// The tc program's counters.
    pub tc: TcCounters,
    /// Segments cloned.
    pub cloned: u64,
    /// Clones that failed.
    pub clone_fail: u64,
    /// Frames steered on the veth.
    pub steered: u64,
    /// Clones lost on the veth.
    pub lost_on_veth: u64,
}

/// Inline mode's accounting: received = sent on + given up.
#[derive(Debug, Clone)]
pub struct InlineAccounting {
    /// Port B.
    pub peer: String,
    /// The exit behaviour.
    pub on_exit: OnExit,
    /// Frames received on both ports.
    pub received: u64,
    /// Frames sent on.
    pub sent: u64,
    /// Frames given up (TX ring full after every retry).
    pub given_up: u64,
    /// True when the equation holds.
    pub adds_up: bool,
    /// TX failures summed over the pairs.
    pub tx_failed: u64,
    /// TX retries summed over the pairs.
    pub tx_retries: u64,
    /// Frames sent on (in the kernel or by ackscope) that a port then dropped on transmit:
    /// the ports' `tx_dropped` counters over the session; on a veth, a receiving end whose
    /// ring was full. Outside the equation (ackscope had sent them on). `None`: unreadable.
    pub egress_dropped: Option<u64>,
}

impl Session {
    /// Attach and start. On error everything created so far is removed again.
    pub fn start(cfg: &LiveConfig) -> Result<Session> {
        let st = match &cfg.mode {
            LiveMode::Mirror => super::mirror::start(cfg)?,
            LiveMode::Host => super::host::start(cfg)?,
            LiveMode::Inline { peer, on_exit } => super::inline::start(cfg, peer, *on_exit)?,
        };
        Ok(Session::from_started(st))
    }

    /// A session over what a mode started (also to tear a half-started mode down in order).
    pub(crate) fn from_started(st: Started) -> Session {
        Session {
            stats: st.pool.stats.clone(),
            snapshots: st.pool.snapshots.clone(),
            events: st.pool.events.clone(),
            pool: Some(st.pool),
            steer: st.steer,
            state: Some(st.state),
            queues: st.queues,
            zerocopy: st.zerocopy,
        }
    }

    /// Events from every shard.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Live per-worker counters.
    pub fn worker_stats(&self) -> &Arc<Vec<WorkerStats>> {
        &self.stats
    }

    /// Per-shard counter snapshots (refreshed about once a second by the workers).
    pub fn snapshots(&self) -> &Arc<Vec<Mutex<ShardSnapshot>>> {
        &self.snapshots
    }

    /// The program's counters now (summed over the interfaces of a mirror session over several).
    ///
    /// On host mode's ring path (no XDP program) the tc program is what steers: its counters
    /// in the same shape, with the records lost to a full ring as `redirect_fail` (so the
    /// status line and the `ackscope_xdp_*` metrics count them as steered-but-lost).
    pub fn bpf_counters(&self) -> Result<BpfCounters> {
        match (&self.steer, &self.state) {
            (Some(steer), state) => {
                let mut b = steer.counters()?;
                if let Some(ModeState::Mirror(m)) = state {
                    for s in &m.more {
                        b.add(&s.counters()?);
                    }
                }
                Ok(with_host_table(b, true, state.as_ref()))
            }
            (None, state) => Ok(with_host_table(BpfCounters::default(), false, state.as_ref())),
        }
    }

    /// Each interface with its program's counters now and its workers: one entry, unless a
    /// mirror session runs over several interfaces (none on host mode's ring path).
    pub fn ports(&self) -> Vec<PortReport> {
        match (&self.steer, &self.state) {
            (Some(steer), Some(state)) => ports_of(steer, state, self.queues.len()),
            _ => Vec::new(),
        }
    }

    /// True when every worker has stopped on its own (e.g. the interface went away).
    pub fn workers_finished(&self) -> bool {
        self.pool.as_ref().is_none_or(|p| p.finished())
    }

    /// The queues opened.
    pub fn queues(&self) -> &[u32] {
        &self.queues
    }

    /// Stop the workers (they drain their buffers and finish their shards), read the final
    /// counters, close the sockets and detach the program.
    pub fn stop(mut self) -> LiveReport {
        self.teardown().expect("a session holds its program until stopped")
    }

    /// The one teardown order: quiesce the mode, let in-flight frames arrive, join the
    /// workers (sockets close), read the counters, detach the program (or leave it attached
    /// for inline fail-open), then remove the mode's own objects (tc filters, veth pair).
    fn teardown(&mut self) -> Option<LiveReport> {
        let mut state = self.state.take()?;
        let steer = self.steer.take();
        if state.quiesce(steer.as_ref()) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let workers = self.pool.take().map(Pool::join).unwrap_or_default();
        let ports = steer.as_ref().map(|s| ports_of(s, &state, self.queues.len())).unwrap_or_default();
        let mut bpf = BpfCounters::default();
        ports.iter().for_each(|p| bpf.add(&p.bpf));
        let bpf = with_host_table(bpf, steer.is_some(), Some(&state));
        let report = LiveReport {
            iface: match (&steer, &state) {
                (Some(s), _) => s.iface().to_string(),
                (None, ModeState::Host(h)) => h.iface().to_string(),
                (None, _) => String::new(),
            },
            queues: self.queues.clone(),
            mode: steer.as_ref().map_or(XdpMode::Native, |s| s.attached_mode()),
            zerocopy: self.zerocopy,
            bpf,
            ports,
            workers,
            mode_report: state.report(),
        };
        match steer {
            Some(steer) if state.leaves_program() => {
                let left = steer.leave_attached();
                tracing::info!(ports = ?left, "fail-open: the XDP program stays attached and forwards between the ports");
            }
            steer => drop(steer),
        }
        drop(state);
        Some(report)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The session's program counters with host mode's tc program in them (one rule for the live
/// view and the final report): on the clone path (`xdp`: a presorted XDP program steers) that
/// program tracks nothing and the session's kernel flow table is the tc program's, so its
/// evictions are the session's; on the ring path the tc program is the only program.
fn with_host_table(mut b: BpfCounters, xdp: bool, state: Option<&ModeState>) -> BpfCounters {
    if let Some(ModeState::Host(h)) = state {
        let t = h.counters().unwrap_or_default();
        if xdp {
            b.flows_evicted += t.flows_evicted;
        } else {
            b = t.as_steering();
        }
    }
    b
}

/// The interfaces of a session with `n` workers, each with its counters and workers.
fn ports_of(steer: &XdpSteer, state: &ModeState, n: usize) -> Vec<PortReport> {
    let port = |s: &XdpSteer, workers: Range<usize>| PortReport {
        iface: s.iface().to_string(),
        mode: s.attached_mode(),
        bpf: s.counters().unwrap_or_default(),
        workers,
    };
    match state {
        ModeState::Mirror(m) if !m.more.is_empty() => {
            let mut at = 0;
            std::iter::once(steer)
                .chain(&m.more)
                .zip(&m.sockets)
                .map(|(s, &k)| {
                    at += k;
                    port(s, at - k..at)
                })
                .collect()
        }
        _ => vec![port(steer, 0..n)],
    }
}

/// The pool settings of a session with `n` workers: cores from `cfg.cores` (or worker i on
/// core i modulo the machine's cores) unless the pool config names them.
pub(crate) fn pool_config(cfg: &LiveConfig, n: usize) -> PoolConfig {
    let mut pool_cfg = cfg.pool.clone();
    if pool_cfg.cores.is_empty() {
        let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        pool_cfg.cores = (0..n)
            .map(|i| match &cfg.cores {
                Some(list) => list.get(i).copied(),
                None => Some(i % ncpu),
            })
            .collect();
    }
    pool_cfg
}

impl LiveReport {

    /// The loss accounting of the program and the sockets.
    pub fn accounting(&self, stats: &[WorkerStats]) -> Accounting {
        self.accounting_of(&self.bpf, 0..self.queues.len(), stats)
    }

    /// The loss accounting of one interface (its program, its sockets).
    pub fn port_accounting(&self, port: &PortReport, stats: &[WorkerStats]) -> Accounting {
        self.accounting_of(&port.bpf, port.workers.clone(), stats)
    }

    fn accounting_of(&self, bpf: &BpfCounters, w: Range<usize>, stats: &[WorkerStats]) -> Accounting {
        use std::sync::atomic::Ordering::Relaxed;
        let st = stats.get(w.clone()).unwrap_or_default();
        let received: u64 = st.iter().map(|s| s.rx_frames.load(Relaxed)).sum();
        let lost_user: u64 = st.iter().map(|s| s.handoff_full.load(Relaxed)).sum();
        let kernel_drops = self.kernel_drops_of(w);
        let (steered, redirect_fail) = self.steered_and_failed(bpf);
        let delivered = steered.saturating_sub(redirect_fail);
        Accounting {
            steered,
            redirect_fail,
            received,
            kernel_drops,
            lost_user,
            adds_up: delivered == received + kernel_drops,
        }
    }

    /// Frames steered to the workers and those of them lost before a socket: the XDP
    /// program's `steered`/`redirect_fail`, or on host mode's ring path the tc program's
    /// selected segments and the records lost to a full ring (`ring_full`).
    fn steered_and_failed(&self, bpf: &BpfCounters) -> (u64, u64) {
        match &self.mode_report {
            ModeReport::Host { tc, ring: true, .. } => (tc.cloned(), tc.ring_full),
            _ => (bpf.steered(), bpf.redirect_fail),
        }
    }

    /// Host mode's accounting, in host mode.
    pub fn host_accounting(&self) -> Option<HostAccounting> {
        let ModeReport::Host { iface, tc, ring } = &self.mode_report else { return None };
        // Ring path: a selected segment is a record (`ring_full` of them lost, counted in the
        // main accounting); nothing crosses a veth.
        let steered = if *ring { tc.cloned() - tc.ring_full.min(tc.cloned()) } else { self.bpf.steered() };
        Some(HostAccounting {
            iface: iface.clone(),
            tc: *tc,
            cloned: tc.cloned(),
            clone_fail: tc.clone_fail,
            steered,
            lost_on_veth: tc.cloned().saturating_sub(tc.clone_fail).saturating_sub(steered + if *ring { tc.ring_full } else { 0 }),
        })
    }

    /// Inline mode's accounting, in inline mode.
    pub fn inline_accounting(&self) -> Option<InlineAccounting> {
        let ModeReport::Inline { peer, on_exit, pairs, egress_dropped } = &self.mode_report else { return None };
        let mut t = InlineCounts::default();
        for c in pairs {
            t.rx_a += c.rx_a;
            t.rx_b += c.rx_b;
            t.tx_a += c.tx_a;
            t.tx_b += c.tx_b;
            t.tx_failed += c.tx_failed;
            t.tx_retries += c.tx_retries;
        }
        let (received, sent) = (t.rx_a + t.rx_b, t.tx_a + t.tx_b);
        Some(InlineAccounting {
            peer: peer.clone(),
            on_exit: *on_exit,
            received,
            sent,
            given_up: t.tx_failed,
            adds_up: received == sent + t.tx_failed,
            tx_failed: t.tx_failed,
            tx_retries: t.tx_retries,
            egress_dropped: *egress_dropped,
        })
    }
    /// Engine counters summed over the shards.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for w in &self.workers {
            c.add(&w.counters);
        }
        c
    }

    /// Evictions summed over the shards.
    pub fn evictions(&self) -> Evictions {
        let mut e = Evictions::default();
        for w in &self.workers {
            e.tombstones += w.evictions.tombstones;
            e.live += w.evictions.live;
            e.expired += w.evictions.expired;
        }
        e
    }

    /// Frames the kernel dropped after the program steered them (socket statistics).
    pub fn kernel_drops(&self) -> u64 {
        self.kernel_drops_of(0..self.workers.len())
    }

    fn kernel_drops_of(&self, w: Range<usize>) -> u64 {
        let ws = self.workers.get(w).unwrap_or_default();
        ws.iter().filter_map(|w| w.xsk).map(|x| x.rx_dropped + x.rx_ring_full + x.rx_invalid_descs).sum()
    }

    /// The interface of worker `i` (for labels), when the session ran over several.
    pub fn port_of(&self, i: usize) -> Option<&PortReport> {
        if self.ports.len() < 2 {
            return None;
        }
        self.ports.iter().find(|p| p.workers.contains(&i))
    }

    /// The loss accounting, per queue and in total, as text.
    pub fn render(&self, stats: &[WorkerStats]) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let mut s = String::new();
        let one = [PortReport { iface: self.iface.clone(), mode: self.mode, bpf: self.bpf, workers: 0..self.queues.len() }];
        // Host mode's ring path has no XDP program: its "tc on …" line (below) is the
        // program's, not an all-zero "xdp on …" line.
        let ring_path = matches!(self.mode_report, ModeReport::Host { ring: true, .. });
        for p in if self.ports.len() > 1 { &self.ports[..] } else if ring_path { &[][..] } else { &one[..] } {
            let _ = writeln!(
                s,
                "xdp on {} ({}, {}): {}",
                p.iface,
                p.mode,
                if self.zerocopy { "zero-copy" } else { "copy mode" },
                p.bpf
            );
        }
        let evicted = self.bpf.flows_evicted;
        if evicted > 0 {
            let _ = writeln!(
                s,
                "kernel flow table full: evicted {evicted} entries of 4-tuples in handshake or teardown (their bare ACKs \
                 were no longer steered; raise --kernel-flows)"
            );
        }
        let mut rx_total = 0;
        let mut lost_user = 0;
        for (i, q) in self.queues.iter().enumerate() {
            let st = &stats[i];
            let x = self.workers.get(i).and_then(|w| w.xsk).unwrap_or_default();
            let rx = st.rx_frames.load(Relaxed);
            rx_total += rx;
            lost_user += st.handoff_full.load(Relaxed);
            let port = self.port_of(i).map(|p| format!("{} ", p.iface)).unwrap_or_default();
            let _ = writeln!(
                s,
                "{port}queue {q}: received {rx}, handed off {}, from other queues {}, processed {}, not TCP {}, parse errors {}, \
                 hand-off ring full {}, late {}; socket: rx_dropped {}, rx_ring_full {}, fill_ring_empty {}, invalid_descs {}",
                st.handed_off.load(Relaxed),
                st.received_handoff.load(Relaxed),
                st.processed.load(Relaxed),
                st.skipped.load(Relaxed),
                st.parse_errors.load(Relaxed),
                st.handoff_full.load(Relaxed),
                st.reorder_late.load(Relaxed),
                x.rx_dropped,
                x.rx_ring_full,
                x.rx_fill_ring_empty_descs,
                x.rx_invalid_descs
            );
            if let Some(e) = self.workers.get(i).and_then(|w| w.error.as_ref()) {
                let _ = writeln!(s, "{port}queue {q}: stopped early: {e}");
            }
        }
        if self.ports.len() > 1 {
            for p in &self.ports {
                let a = self.port_accounting(p, stats);
                let _ = writeln!(
                    s,
                    "accounting on {}: steered {} - redirect failures {} = received {} + dropped by the kernel {} ({}); \
                     lost in user space (hand-off full) {}",
                    p.iface,
                    a.steered,
                    a.redirect_fail,
                    a.received,
                    a.kernel_drops,
                    if a.adds_up { "adds up" } else { "MISMATCH" },
                    a.lost_user
                );
            }
        }
        let drops = self.kernel_drops();
        let (steered, failed) = self.steered_and_failed(&self.bpf);
        let delivered = steered.saturating_sub(failed);
        let verdict = if delivered == rx_total + drops { "adds up".to_string() } else { format!("MISMATCH by {}", delivered as i64 - (rx_total + drops) as i64) };
        let _ = writeln!(
            s,
            "accounting: steered {} - redirect failures (ring path: ring full) {} = received {} + dropped by the kernel {} ({verdict}); \
             lost in user space (hand-off full) {}",
            steered,
            failed,
            rx_total,
            drops,
            lost_user
        );
        self.render_modes(&mut s);
        s
    }

    /// Host and inline lines of the accounting.
    fn render_modes(&self, s: &mut String) {
        if let ModeReport::Host { iface, tc, ring } = &self.mode_report {
            let _ = writeln!(s, "tc on {iface} (ingress+egress): {tc}");
            if *ring {
                let _ = writeln!(
                    s,
                    "host (ring path): selected {} - ring full {} = records {}; originals untouched",
                    tc.cloned(),
                    tc.ring_full,
                    tc.cloned().saturating_sub(tc.ring_full)
                );
                return;
            }
            // A GSO clone is segmented on the veth: one control segment (counted in
            // `steered`) plus data segments the XDP program drops (`not_steered_tcp`).
            let veth_lost = tc.cloned().saturating_sub(tc.clone_fail).saturating_sub(self.bpf.steered());
            let _ = writeln!(
                s,
                "host: cloned {} - clone failures {} -> steered on {} {} (lost on the veth {veth_lost}); originals untouched",
                tc.cloned(),
                tc.clone_fail,
                self.iface,
                self.bpf.steered()
            );
        }
        if let ModeReport::Inline { peer, on_exit, pairs, egress_dropped } = &self.mode_report {
            let mut tot = InlineCounts::default();
            for (q, c) in self.queues.iter().zip(pairs) {
                let _ = writeln!(
                    s,
                    "inline queue {q}: rx {} from {}, {} from {peer}; tx {} to {peer}, {} to {}; tx retries {}, tx failed {}, \
                     device busy {}, completed {}, drained at stop {}",
                    c.rx_a, self.iface, c.rx_b, c.tx_b, c.tx_a, self.iface, c.tx_retries, c.tx_failed, c.tx_busy, c.completed, c.drained
                );
                tot.rx_a += c.rx_a;
                tot.rx_b += c.rx_b;
                tot.tx_a += c.tx_a;
                tot.tx_b += c.tx_b;
                tot.tx_failed += c.tx_failed;
            }
            let inspected = tot.rx_a + tot.rx_b;
            let forwarded = tot.tx_a + tot.tx_b;
            let verdict = if inspected == forwarded + tot.tx_failed { "adds up" } else { "MISMATCH" };
            let _ = writeln!(
                s,
                "inline: received {inspected} = sent on {forwarded} + given up {} ({verdict}); other frames forwarded in the kernel; \
                 at exit: {}",
                tot.tx_failed,
                match on_exit {
                    OnExit::Bypass => "fail-open (the XDP program stays attached and forwards)",
                    OnExit::Disconnect => "disconnect (program detached)",
                }
            );
            match egress_dropped {
                Some(0) => {}
                Some(n) => {
                    let _ = writeln!(
                        s,
                        "inline: the ports dropped {n} frame(s) on transmit after they were sent on (tx_dropped of {} and {peer}; \
                         on a veth: the receiving end's ring full, its CPU busy, or the receiving end down — docs/MODES.md)",
                        self.iface
                    );
                }
                None => {
                    let _ = writeln!(s, "inline: the ports' transmit drops could not be read (a port is gone)");
                }
            }
        }
    }
}
