//! AF_XDP sockets, by concept:
//!
//! - `config`: [`XskConfig`] and the xsk-rs UMEM/socket configurations built from it (bind
//!   flags, ring sizes) and the mapping of bind failures to errors that say what to do;
//! - `umem`: the UMEM and the frame-ownership invariant (every frame in a ring or the kernel,
//!   or on its owner's free list), the one fill-ring refill, the XDP metadata read;
//! - `port`: one socket's rings — the one bind with the bounded EBUSY retry, the one kick and
//!   poll policy with its one error policy, the zero-copy query, `XDP_STATISTICS`;
//! - `queue`: [`XskQueue`] = a UMEM + one port (mirror and host mode);
//! - `pair`: [`InlinePair`] = one UMEM + two ports sharing it (inline mode).

mod config;
mod pair;
mod port;
mod queue;
mod umem;

pub use config::{BindMode, BusyPoll, XskConfig};
pub use pair::{pair_config, InlineCounts, InlinePair, InlineStats, TX_RETRIES};
pub use port::XskStats;
pub use queue::{RxCounts, XskQueue};
