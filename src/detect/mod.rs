//! Detection: the TCP control-plane state machine of each 4-tuple and the events it raises.
//!
//! Each [`Shard`] owns a flow table and is driven by exactly one thread. Time is the
//! segments' own timestamps, never the wall clock, so a replay gives the same events every
//! time. DESIGN.md §3 and the README's "Events" section define every event; the rules are cited where they are
//! applied in `shard.rs`.

#![deny(unsafe_code)]

mod event;
mod evidence;
mod flow;
pub mod pressure;
mod shard;

pub use event::{
    Cause, Event, EventKind, InferredFrom, Outcome, PrevState, Roles, Severity, Visibility, CAUSES, EVENT_KINDS, OUTCOMES,
};
pub use evidence::{AckEvidence, ACK_WINDOW};
pub use shard::{Counters, EventSink, ServerRtt, Shard, MAX_RTT_SERVERS, RTT_BUCKETS};

/// Engine settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Server TIME_WAIT length (Linux: 60 s, `TCP_TIMEWAIT_LEN`).
    pub time_wait_ms: u32,
    /// How long after a stale-ACKed SYN a handshake may still complete before the attempt
    /// counts as failed. A handshake that completes later still revises that verdict (a
    /// second outcome with `revises`).
    pub connect_timeout_ms: u32,
    /// Cap on tracked 4-tuples (live flows and tombstones) per shard.
    pub max_flows: usize,
    /// How long a closed connection's tombstone is kept (to name a later stale ACK's cause).
    pub tombstone_ttl_ms: u32,
    /// How long an idle open flow is kept.
    pub idle_timeout_ms: u32,
    /// port_pressure: the share (percent) of a pair's recent reuses inside TIME_WAIT that
    /// raises the warning (0: never).
    pub pressure_share_pct: u8,
    /// port_pressure: recent reuses a pair needs before the share is judged.
    pub pressure_min_reuses: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_wait_ms: 60_000,
            connect_timeout_ms: 10_000,
            max_flows: 2_000_000,
            tombstone_ttl_ms: 600_000,
            idle_timeout_ms: 3_600_000,
            pressure_share_pct: 50,
            pressure_min_reuses: 8,
        }
    }
}
