//! The live datapath: XDP steering, AF_XDP sockets and the per-queue worker pool.

/// The XDP program: load, configure, attach, counters.
pub mod bpf;
/// A live session: attach, sockets, workers, teardown, loss accounting.
pub mod live;
/// Datapath errors (each says what to do).
pub mod error;
/// Worker threads, shard hand-off rings and the reorder window.
pub mod pool;
/// AF_XDP sockets: UMEM, rings, receive batches, statistics.
pub mod xsk;
