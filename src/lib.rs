//! ackscope: catches stale ACKs on reused TCP 4-tuples, from captures or live at line rate.
//!
//! Stages, one module each:
//! - [`packet`]: frame → [`packet::Segment`], no allocation;
//! - [`flow`]: canonical 4-tuple keys and the shard-owned flow table;
//! - [`detect`]: the control-plane state machine and its events;
//! - [`replay`]: pcap/pcapng input through the same engine;
//! - [`output`]: JSON lines, text, summaries.

#![deny(unsafe_code)]

pub mod detect;
pub mod flow;
pub mod output;
pub mod packet;
pub mod replay;
