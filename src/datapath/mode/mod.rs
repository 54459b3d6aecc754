//! The deployment modes, side by side: each `start`s a program, sockets and a pool and hands
//! them to the session with its own [`session::ModeState`].

/// Host mode: tc clone program, private veth pair, leftovers of killed runs.
pub mod host;
/// Inline mode: two ports, shared-UMEM socket pairs, fail-open.
pub mod inline;
/// Mirror mode: a SPAN/TAP port.
pub mod mirror;
/// The session over any mode: one teardown order, the report.
pub mod session;
