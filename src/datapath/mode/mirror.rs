//! Mirror mode: the interface receives copies (SPAN/TAP port, tc mirred); the steering program
//! sends control segments to one AF_XDP socket per queue and drops everything else.
//! Host mode runs the same on its private veth ([`open`] with a pace).

use std::time::Duration;

use super::session::{pool_config, LiveConfig, ModeState, Started};
use crate::datapath::error::{DatapathError, Result};
use crate::datapath::pool::Pool;
use crate::datapath::sys::rx_queue_count;
use crate::datapath::xdp::XdpSteer;
use crate::datapath::xsk::XskQueue;

/// Starts mirror mode on `cfg.iface`.
pub(crate) fn start(cfg: &LiveConfig) -> Result<Started> {
    open(cfg, None)
}

/// Attach the program, open and register one socket per queue, start the pool (its workers
/// paced by `pace`: see [`super::host::Paced`]).
pub(crate) fn open(cfg: &LiveConfig, pace: Option<Duration>) -> Result<Started> {
    let steer = XdpSteer::attach(&cfg.iface, &cfg.steer)?;
    let queues = match &cfg.queues {
        Some(q) => q.clone(),
        None => (0..rx_queue_count(&cfg.iface).unwrap_or(1)).collect(),
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
    Ok(Started { steer: Some(steer), pool, queues, zerocopy, state: ModeState::Mirror })
}
