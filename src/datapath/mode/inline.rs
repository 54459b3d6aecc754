//! Inline mode: a transparent two-port bump-in-the-wire.
//!
//! ```text
//!          ┌──────────────── one XDP program, attached to both ports ────────────────┐
//!  port A ─┤ control segment? no ─► DEVMAP ackscope_fwd[A] = B ─► out of B (kernel)   ├─ port B
//!          │                 yes ─► XSKMAP[q] ─► socket A/q ─┐                        │
//!          │                                                 │ worker q: inspect,     │
//!          │  port B's frames: XSKMAP[base + q] ─► socket B/q ┘ then TX on the other  │
//!          │                                                   port's socket (same    │
//!          │                                                   UMEM: no copy)         │
//!          └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each [`InlinePair`] (`datapath/xsk/pair.rs`) is two AF_XDP sockets — port A queue q and
//! port B queue q — on one shared UMEM, owned by one worker thread: a frame received on A is
//! handed to the engine (through the [`FrameSource`] callback), then its descriptor goes as is
//! on B's TX ring. At stop the sockets are first removed from the XSKMAP (control frames then
//! take the kernel path too), and whatever is still in the rx rings is forwarded without
//! inspection before the sockets close.
//!
//! What happens to traffic when ackscope stops is [`OnExit`]: see
//! docs/MODES.md.

use std::sync::Arc;

use tracing::{debug, warn};

use super::session::{pool_config, LiveConfig, ModeState, Started};
use crate::datapath::error::{DatapathError, Result};
use crate::datapath::pool::{FrameSource, Pool};
use crate::datapath::sys::{ifindex_of, netlink, rx_queue_count, ModeLock};
use crate::datapath::xdp::{SteerMode, XdpSteer};
use crate::datapath::xsk::XskStats;
pub use crate::datapath::xsk::{pair_config, InlineCounts, InlinePair, InlineStats, TX_RETRIES};

/// What happens to the traffic between the two ports when ackscope stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExit {
    /// Fail-open: the XDP program stays attached (netlink attach, not a
    /// bpf_link) and forwards every frame between the ports in the kernel —
    /// also after a crash or SIGKILL. The next ackscope start replaces it in
    /// place; `ip link set dev A xdp off; ip link set dev B xdp off` removes
    /// it (and disconnects the ports).
    #[default]
    Bypass,
    /// Fail-closed: the program is a bpf_link that goes with the process;
    /// after ackscope ends, nothing forwards between the ports.
    Disconnect,
}

impl FrameSource for InlinePair {
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        InlinePair::recv(self, max, timeout_ms, f)
    }

    fn xsk_stats(&self) -> Option<XskStats> {
        self.stats()
    }
}

/// What a running inline session keeps besides the program and the pool.
#[derive(Debug)]
pub struct InlineRun {
    /// Port B.
    pub peer: String,
    /// What happens to the traffic at exit.
    pub on_exit: OnExit,
    /// Counters of each pair, in queue order.
    pub stats: Vec<Arc<InlineStats>>,
    /// XSKMAP slots registered (both ports), for the stop.
    slots: Vec<u32>,
    /// Each port's ifindex and its `tx_dropped` counter when the session started.
    tx_dropped_at_start: [(u32, u64); 2],
    _locks: Vec<ModeLock>,
}

impl InlineRun {
    /// Removes every socket from the XSKMAP: control frames take the kernel
    /// path from now on, so the workers can drain and stop without a frame
    /// being steered into a closing socket.
    pub fn unregister(&self, steer: &XdpSteer) {
        for &slot in &self.slots {
            if let Err(e) = steer.unregister_socket(slot) {
                debug!(slot, error = %e, "XSKMAP slot already empty");
            }
        }
    }

    /// Counter snapshots, one per pair.
    pub fn counts(&self) -> Vec<InlineCounts> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Frames the two ports dropped on transmit since the session started (their
    /// `tx_dropped` counters, rtnetlink): what ackscope forwarded (XDP_REDIRECT in the kernel,
    /// or its AF_XDP transmit) but a port could not send on — on a veth, the peer's 256-entry
    /// ring full because the receiving end's NAPI had not run yet (docs/MODES.md). `None` when
    /// a port cannot be read any more (gone).
    pub fn egress_dropped(&self) -> Option<u64> {
        self.tx_dropped_at_start.iter().try_fold(0u64, |sum, &(index, at_start)| {
            let now = netlink::link_by_index(index).ok().flatten()?.tx_dropped;
            Some(sum + now.saturating_sub(at_start))
        })
    }
}

/// Sets inline mode up between `cfg.iface` (A) and `peer` (B): locks both
/// ports, loads the program in forward mode with the DEVMAP A⇄B filled,
/// attaches it to both (replacing a fail-open leftover in place), opens one
/// shared-UMEM pair per queue and registers its sockets.
pub(crate) fn start(cfg: &LiveConfig, peer: &str, on_exit: OnExit) -> Result<Started> {
    let (iface, queues, steer_cfg, xsk_cfg) = (cfg.iface.as_str(), cfg.queues.as_deref(), &cfg.steer, &cfg.xsk);
    if iface == peer {
        return Err(DatapathError::Config(format!("inline mode needs two different ports, got `{iface}` twice")));
    }
    let ia = ifindex_of(iface)?;
    let ib = ifindex_of(peer)?;
    let locks = vec![
        ModeLock::take("inline", iface, ia)?,
        ModeLock::take("inline", peer, ib)?,
    ];
    let qa = rx_queue_count(iface).unwrap_or(1);
    let qb = rx_queue_count(peer).unwrap_or(1);
    let queues: Vec<u32> = match queues {
        Some(q) => q.to_vec(),
        None => (0..qa.min(qb)).collect(),
    };
    if queues.is_empty() {
        return Err(DatapathError::Config("no queue to open; give --queues N or all".into()));
    }
    if qa != qb {
        warn!(a = iface, b = peer, qa, qb,
              "the ports have different rx queue counts: frames on queues without a socket are forwarded uninspected");
    }
    let top = queues.iter().copied().max().unwrap_or(0) + 1;
    let base = qa.max(qb).max(top).max(64);
    let mut scfg = steer_cfg.clone();
    scfg.steer_mode = SteerMode::Forward;
    scfg.presorted = false;
    scfg.netlink = on_exit == OnExit::Bypass;
    scfg.xsk_map_size = Some(2 * base);
    scfg.forward = vec![(ia, ib), (ib, ia)];
    scfg.xsk_bases = vec![(ib, base)];
    // Read before the program is attached: every drop of a frame it forwards is the session's.
    let tx_dropped = |index: u32| netlink::link_by_index(index).ok().flatten().map_or(0, |l| l.tx_dropped);
    let tx_dropped_at_start = [(ia, tx_dropped(ia)), (ib, tx_dropped(ib))];
    let mut steer = XdpSteer::attach(iface, &scfg)?;
    steer.add_interface(peer)?;
    let pcfg = pair_config(xsk_cfg);
    let mut pairs = Vec::with_capacity(queues.len());
    let mut stats = Vec::with_capacity(queues.len());
    let mut slots = Vec::with_capacity(2 * queues.len());
    for &q in &queues {
        let st = Arc::new(InlineStats::default());
        let p = InlinePair::open(iface, peer, q, &pcfg, st.clone())?;
        steer.register_socket(q, p.fd_a())?;
        slots.push(q);
        steer.register_socket(base + q, p.fd_b())?;
        slots.push(base + q);
        pairs.push(p);
        stats.push(st);
    }
    let zerocopy = pairs.iter().all(|p| p.is_zerocopy());
    tracing::info!(a = %iface, b = %peer, queues = ?queues, mode = %steer.attached_mode(), zerocopy, on_exit = ?on_exit, "inline session started");
    let pool = Pool::spawn(pairs, pool_config(cfg, queues.len()));
    let run = InlineRun { peer: peer.to_string(), on_exit, stats, slots, tx_dropped_at_start, _locks: locks };
    Ok(Started { steer: Some(steer), pool, queues, zerocopy, state: ModeState::Inline(run) })
}
