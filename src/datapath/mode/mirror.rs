//! Mirror mode: the interface receives copies (SPAN/TAP port, tc mirred); the steering program
//! sends control segments to one AF_XDP socket per queue and drops everything else.
//! Several interfaces (the two outputs of a passive TAP, several SPAN sessions): one program
//! and one socket per queue on each (the programs share one handshake/teardown table), all
//! sockets in one pool, so the hand-off between workers
//! brings both directions of a flow to one shard and the reorder window orders the ports'
//! frames by their kernel receive stamps (all `CLOCK_MONOTONIC`).
//! Host mode runs the same on its private veth ([`open`] with a pace).

use std::time::Duration;

use super::session::{pool_config, LiveConfig, MirrorPorts, ModeState, Started};
use crate::datapath::error::{DatapathError, Result};
use crate::datapath::pool::Pool;
use crate::datapath::sys::rx_queue_count;
use crate::datapath::xdp::XdpSteer;
use crate::datapath::xsk::XskQueue;

/// Starts mirror mode on `cfg.iface` and `cfg.more_ifaces`.
pub(crate) fn start(cfg: &LiveConfig) -> Result<Started> {
    open(cfg, Some(MIRROR_PACE))
}

/// How long a mirror-mode worker lets frames gather after a small batch (see
/// [`super::host::Paced`]): without it, at a moderate rate the worker wakes up for every few
/// frames, and each wake-up (poll, context switch) costs more CPU than the frames it brings
/// (bench/README.md, "Live worker: CPU per frame"). Frames keep their kernel receive stamps,
/// so detection does not see the delay; the rx ring (2048 frames by default) holds 200 µs of
/// frames up to 10 M frames/s.
pub const MIRROR_PACE: Duration = Duration::from_micros(200);

/// Attach the program, open and register one socket per queue, start the pool (its workers
/// paced by `pace`: see [`super::host::Paced`]). With further interfaces, the same on each;
/// what was attached is removed again when a later interface fails.
pub(crate) fn open(cfg: &LiveConfig, pace: Option<Duration>) -> Result<Started> {
    let mut steers = Vec::with_capacity(1 + cfg.more_ifaces.len());
    let mut all_queues = Vec::new();
    let mut sockets = Vec::new();
    let mut per_port = Vec::new();
    for iface in std::iter::once(&cfg.iface).chain(&cfg.more_ifaces) {
        if steers.iter().any(|s: &XdpSteer| s.iface() == iface) {
            return Err(DatapathError::Config(format!("--iface {iface} is given twice; name each interface once")));
        }
        let steer = match steers.first() {
            None => XdpSteer::attach(iface, &cfg.steer)?,
            Some(first) => XdpSteer::attach_sharing_flows(iface, &cfg.steer, first)?,
        };
        let queues = match &cfg.queues {
            Some(q) => q.clone(),
            None => (0..rx_queue_count(iface).unwrap_or(1)).collect(),
        };
        if queues.is_empty() {
            return Err(DatapathError::Config("no queue to open; give --queues N or all".into()));
        }
        for &q in &queues {
            let s = XskQueue::open(iface, q, &cfg.xsk)?;
            steer.register_socket(q, s.fd())?;
            sockets.push(s);
        }
        tracing::info!(iface = %iface, queues = ?queues, mode = %steer.attached_mode(), "interface attached");
        per_port.push(queues.len());
        all_queues.extend(queues);
        steers.push(steer);
    }
    let zerocopy = sockets.iter().all(|s| s.is_zerocopy());
    let pool_cfg = pool_config(cfg, sockets.len());
    tracing::info!(iface = %cfg.iface, more = ?cfg.more_ifaces, queues = ?all_queues, zerocopy, "live session started");
    let pool = match pace {
        None => Pool::spawn(sockets, pool_cfg),
        Some(p) => Pool::spawn(sockets.into_iter().map(|s| super::host::Paced::new(s, p)).collect(), pool_cfg),
    };
    let mut steers = steers.into_iter();
    let steer = steers.next().expect("the first interface is always attached");
    let more: Vec<XdpSteer> = steers.collect();
    let ports = if more.is_empty() { MirrorPorts::default() } else { MirrorPorts { more, sockets: per_port } };
    Ok(Started { steer: Some(steer), pool, queues: all_queues, zerocopy, state: ModeState::Mirror(ports) })
}
