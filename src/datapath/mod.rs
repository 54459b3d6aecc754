//! The live datapath: XDP steering, AF_XDP sockets, the per-queue worker pool, and the modes
//! that put them together.
//!
//! Layers, each using only those below it: `sys` (kernel adapter) → `xdp`, `tc` (BPF programs)
//! and `xsk` (sockets) → `pool` (workers) → `mode/` (mirror, host, inline, the session).

/// The BPF↔Rust ABI: map values through the skeletons' generated types, the XDP metadata.
pub mod abi;
/// Datapath errors (each says what to do).
pub mod error;
/// The modes and the session.
pub mod mode;
/// Worker threads, shard hand-off rings and the reorder window.
pub mod pool;
/// Host mode's ring path: the consumer of the tc program's BPF ring buffer.
pub mod ring;
/// The kernel adapter: interfaces, link state, capabilities, the mode lock, clocks.
pub(crate) mod skeleton;
pub mod sys;
/// The tc clone program of host mode: load, attach (clsact), leftovers.
pub mod tc;
/// The XDP steering program: load, configure, attach, counters.
pub mod xdp;
/// AF_XDP sockets: UMEM, rings, receive batches, statistics.
pub mod xsk;

pub use error::DatapathError;
pub use mode::host::Paced;
pub use mode::inline::OnExit;
pub use mode::session::{Accounting, HostAccounting, InlineAccounting, LiveConfig, LiveMode, LiveReport, ModeReport, PortReport, Session};
pub use pool::{PoolConfig, ShardSnapshot, WorkerResult, WorkerStats};
pub use sys::{drop_privileges_after_setup, link_state, monotonic_ns, wall_clock_offset_ns, LinkState};
pub use xdp::{AttachMode, BpfCounters, SteerConfig, SteerMode, XdpMode};
pub use xsk::{BindMode, BusyPoll, XskConfig};
