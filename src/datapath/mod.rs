//! The live datapath: XDP steering, AF_XDP sockets and the per-queue worker pool.

/// The XDP program: load, configure, attach, counters.
pub mod bpf;
/// Interface link state (up, down, gone).
pub mod link;
/// A live session: attach, sockets, workers, teardown, loss accounting.
pub mod live;
/// Datapath errors (each says what to do).
pub mod error;
/// Host mode: tc clone program, private veth pair, leftovers of killed runs.
pub mod host;
/// Inline mode: two ports, shared-UMEM socket pairs, fail-open.
pub mod inline;
/// Dropping capabilities after set-up.
pub mod privs;
/// Worker threads, shard hand-off rings and the reorder window.
pub mod pool;
/// The tc clone program of host mode: load, attach (clsact), leftovers.
pub mod tc;
/// AF_XDP sockets: UMEM, rings, receive batches, statistics.
pub mod xsk;
