//! ackscope: catches stale ACKs on reused TCP 4-tuples, from captures or live at line rate.
//!
//! Stages, one module each:
//! - [`packet`]: frame → [`packet::Segment`], no allocation;
//! - [`flow`]: canonical 4-tuple keys and the shard-owned flow table;
//! - [`detect`]: the control-plane state machine and its events;
//! - [`replay`]: pcap/pcapng input through the same engine;
//! - [`output`]: JSON lines, text, summaries;
//! - [`report`]: the incident report (self-contained HTML with ladder diagrams);
//! - [`datapath`]: XDP steering, AF_XDP sockets, the per-queue worker pool, the modes;
//! - [`app`]: whole runs above the stages (the live run, its metrics, the signals);
//! - [`config`]: the TOML configuration file of `ackscope run`.

#![deny(unsafe_code)]

pub mod app;
#[allow(unsafe_code)] // The kernel interfaces (AF_XDP rings, UMEM, BPF maps); every block has a SAFETY comment.
pub mod datapath;
pub mod config;
pub mod demo;
pub mod detect;
pub mod flow;
#[allow(unsafe_code)] // BPF_PROG_RUN and the generator program's mmap()ed globals; every block has a SAFETY comment.
pub mod gen;
pub mod kernel;
pub mod output;
pub mod packet;
pub mod replay;
pub mod report;
