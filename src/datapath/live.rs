//! A live session: attach the steering program, open one socket per queue, run the pool,
//! and take everything down again.

use std::fmt::Write as _;
use std::sync::Arc;

use crossbeam::channel::Receiver;

use super::bpf::{BpfCounters, SteerConfig, XdpMode, XdpSteer};
use super::error::{DatapathError, Result};
use super::host::HostSetup;
use super::inline::{InlineCounts, InlineRun, OnExit};
use super::tc::{TcConfig, TcCounters};
use super::pool::{Pool, PoolConfig, ShardSnapshot, WorkerResult, WorkerStats};
use super::xsk::{XskConfig, XskQueue};
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
    /// Queues to open (`None`: every rx queue of the interface).
    pub queues: Option<Vec<u32>>,
    /// The XDP program's settings.
    pub steer: SteerConfig,
    /// Per-socket settings.
    pub xsk: XskConfig,
    /// Worker settings (`cores` is filled from `cores` below when empty).
    pub pool: PoolConfig,
    /// Cores to pin workers to, in order; workers beyond the list are not pinned. `None`:
    /// worker i on core i modulo the machine's cores.
    pub cores: Option<Vec<usize>>,
}

/// A running session. Dropping it stops the workers, closes the sockets and detaches the
/// program (in that order).
pub struct Session {
    pool: Option<Pool>,
    steer: Option<XdpSteer>,
    queues: Vec<u32>,
    zerocopy: bool,
    stats: Arc<Vec<WorkerStats>>,
    snapshots: Arc<Vec<std::sync::Mutex<ShardSnapshot>>>,
    events: Receiver<Event>,
    /// Host mode: tc filters, private veth pair, lock (removed after the program).
    host: Option<HostSetup>,
    /// Inline mode: per-pair counters, XSKMAP slots, exit behaviour, locks.
    inline: Option<InlineRun>,
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
    /// The program's counters (all CPUs).
    pub bpf: BpfCounters,
    /// What each worker left.
    pub workers: Vec<WorkerResult>,
    /// Host mode: the production interface and the tc program's counters.
    pub host: Option<(String, TcCounters)>,
    /// Inline mode: port B, the exit behaviour, and each pair's counters.
    pub inline: Option<(String, OnExit, Vec<InlineCounts>)>,
}

impl Session {
    /// Attach and start. On error everything created so far is removed again.
    pub fn start(cfg: &LiveConfig) -> Result<Session> {
        match &cfg.mode {
            LiveMode::Mirror => Self::start_mirror(cfg, None),
            LiveMode::Host => Self::start_host(cfg),
            LiveMode::Inline { peer, on_exit } => {
                let st = super::inline::start(&cfg.iface, peer, *on_exit, cfg.queues.as_deref(), &cfg.steer, &cfg.xsk)?;
                tracing::info!(a = %cfg.iface, b = %peer, queues = ?st.queues, mode = %st.steer.attached_mode(), zerocopy = st.zerocopy, on_exit = ?on_exit, "inline session started");
                let pool = Pool::spawn(st.pairs, pool_config(cfg, st.queues.len()));
                Ok(Session {
                    stats: pool.stats.clone(),
                    snapshots: pool.snapshots.clone(),
                    events: pool.events.clone(),
                    pool: Some(pool),
                    steer: Some(st.steer),
                    queues: st.queues,
                    zerocopy: st.zerocopy,
                    host: None,
                    inline: Some(st.run),
                })
            }
        }
    }

    /// Mirror mode (also host mode's session on its veth, with `pace`: see
    /// [`super::host::Paced`]).
    fn start_mirror(cfg: &LiveConfig, pace: Option<std::time::Duration>) -> Result<Session> {
        let steer = XdpSteer::attach(&cfg.iface, &cfg.steer)?;
        let queues = match &cfg.queues {
            Some(q) => q.clone(),
            None => (0..super::bpf::rx_queue_count(&cfg.iface).unwrap_or(1)).collect(),
        };
        if queues.is_empty() {
            return Err(DatapathError::Config("no queue to open; give --queues N or all".into()));
        }
        let mut sockets = Vec::with_capacity(queues.len());
        for &q in &queues {
            let s = XskQueue::open(&cfg.iface, q, &cfg.xsk)?;
            steer.register_socket(q, s.fd())?;
            sockets.push(s);
        }
        let zerocopy = sockets.iter().all(|s| s.is_zerocopy());
        let pool_cfg = pool_config(cfg, sockets.len());
        tracing::info!(iface = %cfg.iface, queues = ?queues, mode = %steer.attached_mode(), zerocopy, "live session started");
        let pool = match pace {
            None => Pool::spawn(sockets, pool_cfg),
            Some(p) => Pool::spawn(sockets.into_iter().map(|s| super::host::Paced::new(s, p)).collect(), pool_cfg),
        };
        Ok(Session { stats: pool.stats.clone(), snapshots: pool.snapshots.clone(), events: pool.events.clone(), pool: Some(pool), steer: Some(steer), queues, zerocopy, host: None, inline: None })
    }

    /// Host mode: private veth pair, a mirror session on its far end (presorted: the tc
    /// program already chose), then the tc filters on the production interface.
    fn start_host(cfg: &LiveConfig) -> Result<Session> {
        // Generic XDP skips every skb a tc program redirected (netif_receive_generic_xdp:
        // "reinjected packets ... should not get XDP generic processing"), i.e. every clone;
        // native XDP on the veth sees them.
        if cfg.steer.attach_mode == super::bpf::AttachMode::Generic {
            return Err(DatapathError::Config(
                "host mode needs native XDP on its private veth (generic XDP skips the clones a tc program redirects); \
                 drop --xdp-mode generic"
                    .into(),
            ));
        }
        // One queue and one worker unless asked: the clones are a trickle next to the
        // production traffic, and a second worker cost 4 % more of the connection rate on a
        // 2-core host (bench/README.md).
        let n = cfg.queues.as_ref().map_or(1, |q| q.len().max(1) as u32);
        let mut host = HostSetup::create(&cfg.iface, n)?;
        let mut mcfg = cfg.clone();
        mcfg.mode = LiveMode::Mirror;
        mcfg.iface = host.capture_iface().to_string();
        mcfg.queues = Some((0..n).collect());
        mcfg.steer.steer_mode = super::bpf::SteerMode::Mirror;
        mcfg.steer.presorted = true;
        mcfg.steer.attach_mode = super::bpf::AttachMode::Native;
        let mut session = Session::start_mirror(&mcfg, Some(super::host::HOST_PACE))?;
        host.attach_tc(&TcConfig { flow_age: cfg.steer.flow_age, flow_table_size: cfg.steer.flow_table_size })?;
        tracing::info!(iface = %cfg.iface, capture = %host.capture_iface(), "host session started");
        session.host = Some(host);
        Ok(session)
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
    pub fn snapshots(&self) -> &Arc<Vec<std::sync::Mutex<ShardSnapshot>>> {
        &self.snapshots
    }

    /// The program's counters now.
    pub fn bpf_counters(&self) -> Result<BpfCounters> {
        self.steer.as_ref().map(|s| s.counters()).unwrap_or_else(|| Ok(BpfCounters::default()))
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
        // Host: stop cloning first; inline: take the sockets out of the XSKMAP (control
        // frames then take the kernel path). Either way, let the workers take in what is
        // already on its way before they stop.
        if let Some(h) = self.host.as_mut() {
            h.stop_cloning();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if let (Some(run), Some(steer)) = (self.inline.as_ref(), self.steer.as_ref()) {
            run.unregister(steer);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let workers = self.pool.take().map(Pool::join).unwrap_or_default();
        let steer = self.steer.take().expect("session holds its program until stopped");
        let bpf = steer.counters().unwrap_or_default();
        let report = LiveReport {
            iface: steer.iface().to_string(),
            queues: self.queues.clone(),
            mode: steer.attached_mode(),
            zerocopy: self.zerocopy,
            bpf,
            workers,
            host: self.host.as_ref().map(|h| (h.iface().to_string(), h.counters().unwrap_or_default())),
            inline: self.inline.as_ref().map(|r| (r.peer.clone(), r.on_exit, r.counts())),
        };
        match self.inline.as_ref().map(|r| r.on_exit) {
            Some(OnExit::Bypass) => {
                let left = steer.leave_attached();
                tracing::info!(ports = ?left, "fail-open: the XDP program stays attached and forwards between the ports");
            }
            _ => drop(steer),
        }
        self.host.take();
        report
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(h) = self.host.as_mut() {
            h.stop_cloning();
        }
        if let (Some(run), Some(steer)) = (self.inline.as_ref(), self.steer.as_ref()) {
            run.unregister(steer);
        }
        if let Some(p) = self.pool.take() {
            p.join();
        }
        if let Some(steer) = self.steer.take() {
            match self.inline.as_ref().map(|r| r.on_exit) {
                Some(OnExit::Bypass) => drop(steer.leave_attached()),
                _ => drop(steer),
            }
        }
        self.host.take();
    }
}

/// The pool settings of a session with `n` workers: cores from `cfg.cores` (or worker i on
/// core i modulo the machine's cores) unless the pool config names them.
fn pool_config(cfg: &LiveConfig, n: usize) -> PoolConfig {
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
        self.workers.iter().filter_map(|w| w.xsk).map(|x| x.rx_dropped + x.rx_ring_full + x.rx_invalid_descs).sum()
    }

    /// The loss accounting, per queue and in total, as text.
    pub fn render(&self, stats: &[WorkerStats]) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "xdp on {} ({}, {}): {}",
            self.iface,
            self.mode,
            if self.zerocopy { "zero-copy" } else { "copy mode" },
            self.bpf
        );
        let mut rx_total = 0;
        let mut lost_user = 0;
        for (i, q) in self.queues.iter().enumerate() {
            let st = &stats[i];
            let x = self.workers.get(i).and_then(|w| w.xsk).unwrap_or_default();
            let rx = st.rx_frames.load(Relaxed);
            rx_total += rx;
            lost_user += st.handoff_full.load(Relaxed);
            let _ = writeln!(
                s,
                "queue {q}: received {rx}, handed off {}, from other queues {}, processed {}, not TCP {}, parse errors {}, \
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
                let _ = writeln!(s, "queue {q}: stopped early: {e}");
            }
        }
        let delivered = self.bpf.steered().saturating_sub(self.bpf.redirect_fail);
        let drops = self.kernel_drops();
        let verdict = if delivered == rx_total + drops { "adds up".to_string() } else { format!("MISMATCH by {}", delivered as i64 - (rx_total + drops) as i64) };
        let _ = writeln!(
            s,
            "accounting: steered {} - redirect failures {} = received {} + dropped by the kernel {} ({verdict}); \
             lost in user space (hand-off full) {}",
            self.bpf.steered(),
            self.bpf.redirect_fail,
            rx_total,
            drops,
            lost_user
        );
        self.render_modes(&mut s);
        s
    }

    /// Host and inline lines of the accounting.
    fn render_modes(&self, s: &mut String) {
        if let Some((iface, tc)) = &self.host {
            let _ = writeln!(s, "tc on {iface} (ingress+egress): {tc}");
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
        if let Some((peer, on_exit, pairs)) = &self.inline {
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
        }
    }
}
