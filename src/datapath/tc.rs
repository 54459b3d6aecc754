//! Loader for host mode's tc clone program (`bpf/tc_clone.bpf.c`).
//!
//! [`TcClone::attach`] loads the program with the ifindex of ackscope's
//! private veth end as clone target and attaches it as a cls_bpf
//! direct-action filter to the clsact **ingress and egress** hooks of the
//! production interface, with a fixed handle and priority
//! ([`TC_HANDLE`], [`TC_PRIORITY`]) so that it can be recognised later.
//!
//! - The clsact qdisc is created only when the interface has none; whether
//!   ackscope created it is remembered ([`TcClone::created_clsact`]) and it
//!   is removed on detach only then, and only when no other filter is left
//!   on it. An operator's clsact and filters are never touched.
//! - The program returns `TC_ACT_UNSPEC`: filters after ours still run.
//! - tc filters are netlink objects that outlive a killed process;
//!   [`remove_leftover_filters`] finds ours (handle, priority *and* program
//!   name `ackscope_tc`) and removes them.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, TcAttachPoint, TcHook, TC_EGRESS, TC_INGRESS};
use tracing::{debug, info, warn};

use super::skeleton::OwnedSkel;
use super::sys::netlink::{self, ClsactHook};
use super::sys::{check_capabilities, ifindex_of};
use super::xdp::{load_error, prog_name, route_libbpf_logs};
use super::error::{DatapathError, Result};

#[allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/tc_clone.skel.rs"));
}
use skel::{TcCloneSkel, TcCloneSkelBuilder};

/// Name of the tc program as the kernel reports it.
pub const TC_PROG_NAME: &str = "ackscope_tc";
/// Filter handle of ackscope's filters (both hooks).
pub const TC_HANDLE: u32 = 0xacc5;
/// Filter priority ("pref") of ackscope's filters: low, so that it runs
/// before filters added without an explicit priority (the kernel numbers
/// those from 49152 down) and sees every packet.
pub const TC_PRIORITY: u32 = 0x0acc;

// The kernel keeps the priority in 16 bits; handle 0 would mean "kernel picks".
const _: () = assert!(TC_PRIORITY > 0 && TC_PRIORITY <= 0xffff && TC_HANDLE != 0);

/// Size of the ring path's BPF ring buffer: 4 MiB, about 24 000 records (168 + 8 bytes
/// each), i.e. 120 ms at 200 000 control segments/s.
pub const RING_BYTES: u32 = 4 << 20;

/// Counters of the tc program, summed over all CPUs
/// (`struct ackscope_tc_counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcCounters {
    /// Packets the program saw (ingress + egress).
    pub packets: u64,
    /// SYNs cloned.
    pub cloned_syn: u64,
    /// SYN-ACKs cloned.
    pub cloned_synack: u64,
    /// FINs cloned.
    pub cloned_fin: u64,
    /// RSTs cloned.
    pub cloned_rst: u64,
    /// Bare ACKs of 4-tuples in handshake/teardown cloned.
    pub cloned_ack: u64,
    /// TCP packets not cloned.
    pub not_cloned_tcp: u64,
    /// Non-TCP packets.
    pub not_tcp: u64,
    /// Packets whose headers could not be parsed.
    pub parse_fail: u64,
    /// `bpf_clone_redirect` failures (clone lost; the original is unaffected).
    pub clone_fail: u64,
    /// Stale handshake/teardown entries deleted on lookup.
    pub flows_expired: u64,
    /// Packets whose headers had to be made linear first.
    pub pulled: u64,
    /// Ring path: records lost because the ring was full (`cloned_*` count them too).
    pub ring_full: u64,
    /// Ring path: records submitted with a forced wake-up (ring past its fill mark).
    pub ring_wakeups: u64,
    /// Fresh handshake/teardown entries overwritten by another 4-tuple (bpf/flowtable.h):
    /// the table (`--kernel-flows`) was too small for the 4-tuples in handshake or teardown.
    pub flows_evicted: u64,
}

impl TcCounters {
    /// The ring path's counters in the XDP steering program's shape: what was selected is
    /// what was steered, a record lost to a full ring a failed redirect.
    pub fn as_steering(&self) -> super::xdp::BpfCounters {
        super::xdp::BpfCounters {
            frames: self.packets,
            steered_syn: self.cloned_syn,
            steered_synack: self.cloned_synack,
            steered_fin: self.cloned_fin,
            steered_rst: self.cloned_rst,
            steered_ack: self.cloned_ack,
            not_steered_tcp: self.not_cloned_tcp,
            not_tcp: self.not_tcp,
            parse_fail: self.parse_fail,
            redirect_fail: self.ring_full,
            flows_expired: self.flows_expired,
            meta_fail: 0,
            // The tc program does not decapsulate (it counts an encapsulated frame as not TCP).
            tunnelled: 0,
            flows_evicted: self.flows_evicted,
        }
    }

    /// Every clone attempted.
    pub fn cloned(&self) -> u64 {
        self.cloned_syn + self.cloned_synack + self.cloned_fin + self.cloned_rst + self.cloned_ack
    }

}

impl fmt::Display for TcCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "packets={} cloned: syn={} synack={} fin={} rst={} ack={}; not_cloned_tcp={} not_tcp={} \
             parse_fail={} clone_fail={} flows_expired={} flows_evicted={} pulled={} ring_full={} ring_wakeups={}",
            self.packets,
            self.cloned_syn,
            self.cloned_synack,
            self.cloned_fin,
            self.cloned_rst,
            self.cloned_ack,
            self.not_cloned_tcp,
            self.not_tcp,
            self.parse_fail,
            self.clone_fail,
            self.flows_expired,
            self.flows_evicted,
            self.pulled,
            self.ring_full,
            self.ring_wakeups
        )
    }
}

/// Configuration of [`TcClone::attach`].
#[derive(Debug, Clone)]
pub struct TcConfig {
    /// Handshake/teardown entries older than this are treated as absent.
    pub flow_age: Duration,
    /// Entries of the in-kernel table of 4-tuples in handshake or teardown (bpf/flowtable.h;
    /// rounded up to buckets of 8, a power of two).
    pub flow_table_size: u32,
    /// Ring path (records into a BPF ring buffer) instead of clones to the veth.
    pub ring: bool,
    /// Ring path: records carry the frame's first 128 bytes whatever they hold (for
    /// `--pcap-dir`), not only its headers.
    pub whole_prefix: bool,
}

impl Default for TcConfig {
    fn default() -> Self {
        TcConfig { flow_age: Duration::from_secs(10), flow_table_size: 65536, ring: true, whole_prefix: false }
    }
}

/// The loaded tc clone program, attached to both hooks of one interface.
/// Dropping it detaches the filters (and the clsact qdisc if ackscope
/// created it and nothing else uses it).
pub struct TcClone {
    hooks: Vec<TcHook>,
    skel: OwnedSkel<TcCloneSkel<'static>>,
    iface: String,
    ifindex: u32,
    created_clsact: bool,
    detached: bool,
}

// SAFETY: the skeleton (in `OwnedSkel`, which is `Send`) is `Send`, and the hooks are plain
// C structs not tied to the creating thread.
unsafe impl Send for TcClone {}

impl fmt::Debug for TcClone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcClone")
            .field("iface", &self.iface)
            .field("ifindex", &self.ifindex)
            .field("created_clsact", &self.created_clsact)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl TcClone {
    /// Loads the program (clones go to the egress of `clone_ifindex`) and
    /// attaches it to the ingress and egress hooks of `iface`.
    pub fn attach(iface: &str, clone_ifindex: u32, cfg: &TcConfig) -> Result<TcClone> {
        route_libbpf_logs();
        check_capabilities()?;
        if cfg.flow_table_size == 0 {
            return Err(DatapathError::Config("flow table size must be > 0".into()));
        }
        let ifindex = ifindex_of(iface)?;
        let skel = OwnedSkel::load(|storage| load(clone_ifindex, cfg, storage))?;
        let mut tc = TcClone {
            hooks: Vec::new(),
            skel,
            iface: iface.to_string(),
            ifindex,
            created_clsact: false,
            detached: false,
        };
        // From here on, `Drop` undoes whatever part was done.
        tc.created_clsact = create_clsact(iface, ifindex)?;
        for (point, name) in [(TC_INGRESS, "ingress"), (TC_EGRESS, "egress")] {
            let mut hook = TcHook::new(tc.skel.progs.ackscope_tc.as_fd());
            hook.ifindex(ifindex as i32)
                .attach_point(point)
                .handle(TC_HANDLE)
                .priority(TC_PRIORITY)
                .replace(false);
            let attached = hook.attach().map_err(|e| DatapathError::Tc {
                iface: iface.to_string(),
                what: format!("attaching the {name} filter (pref {TC_PRIORITY}, handle {TC_HANDLE:#x})"),
                source: io::Error::other(e.to_string()),
            })?;
            tc.hooks.push(attached);
        }
        info!(iface, ifindex, clone_ifindex, created_clsact = tc.created_clsact,
              pref = TC_PRIORITY, handle = TC_HANDLE, "tc clone program attached (ingress + egress)");
        Ok(tc)
    }

    /// A consumer of the program's ring buffer (ring path; see `datapath::ring`).
    pub fn ring_source(&self) -> Result<super::ring::RingSource> {
        let m = &self.skel.maps.ackscope_tc_ring;
        super::ring::RingSource::new(m.as_fd(), RING_BYTES as usize)
    }

    /// Whether ackscope created the clsact qdisc (it had none before).
    pub fn created_clsact(&self) -> bool {
        self.created_clsact
    }

    /// Interface the filters are on.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// The program's counters, summed over all CPUs.
    pub fn counters(&self) -> Result<TcCounters> {
        let per_cpu = self
            .skel
            .maps
            .ackscope_tc_cnt
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map { map: "ackscope_tc_cnt", what: "per-CPU lookup".into(), source })?;
        Ok(TcCounters::sum_per_cpu(per_cpu.iter().flatten()))
    }

    /// Removes the filters (no more clones from here on) and, when ackscope
    /// created the clsact qdisc and no other filter uses it, the qdisc.
    /// Idempotent; also done by `Drop`.
    pub fn detach(&mut self) {
        if self.detached {
            return;
        }
        self.detached = true;
        for hook in self.hooks.iter_mut().rev() {
            if let Err(e) = hook.detach() {
                warn!(iface = %self.iface, error = %e,
                      "could not remove ackscope's tc filter; remove it with \
                       `tc filter del dev {} ingress|egress pref {TC_PRIORITY}`", self.iface);
            }
        }
        self.hooks.clear();
        if self.created_clsact {
            remove_clsact_if_unused(&self.iface, self.ifindex);
        }
        debug!(iface = %self.iface, "tc clone program detached");
    }
}

impl Drop for TcClone {
    fn drop(&mut self) {
        self.detach();
    }
}

fn load(
    clone_ifindex: u32,
    cfg: &TcConfig,
    storage: &'static mut MaybeUninit<OpenObject>,
) -> Result<TcCloneSkel<'static>> {
    let mut open = TcCloneSkelBuilder::default().open(storage).map_err(|e| load_error("open", e))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| DatapathError::Config("tc BPF object has no .rodata section".into()))?;
    rodata.ackscope_clone_ifindex = clone_ifindex;
    rodata.ackscope_ring_mode = u32::from(cfg.ring);
    rodata.ackscope_rec_whole = u32::from(cfg.whole_prefix);
    rodata.ackscope_ring_wake_bytes = u64::from(RING_BYTES / 8);
    rodata.ackscope_key_seed = super::abi::key_seed();
    rodata.ackscope_flow_age_ns = u64::try_from(cfg.flow_age.as_nanos()).unwrap_or(u64::MAX);
    open.maps
        .ackscope_tc_ring
        .set_max_entries(if cfg.ring { RING_BYTES } else { 4096 })
        .map_err(|e| load_error("size the tc ring buffer", e))?;
    // The XDP program's table (bpf/flowtable.h): buckets of 8 entries, a power of two.
    let buckets = super::xdp::flow_table_buckets(cfg.flow_table_size)?;
    rodata.ackscope_bucket_mask = buckets - 1;
    open.maps
        .ackscope_tc_flows
        .set_max_entries(buckets)
        .map_err(|e| load_error("size the tc flow table", e))?;
    open.load().map_err(|e| load_error("load", e))
}

/// The tc program's cost per frame, with `BPF_PROG_RUN` (nothing is attached): loads the
/// program as configured by `cfg` (clones to `clone_ifindex` on the clone path) and runs each
/// frame `rounds` times `repeat` times in a row, draining the ring between rounds (so that the
/// ring path writes real records, not `ring_full`). Returns, per frame, the kernel's average
/// nanoseconds per run of each round, and the counters of the whole run. Needs CAP_BPF (root);
/// for bench/modes.sh (`examples/tc_cost.rs`).
pub fn test_run_ns(
    frames: &[&[u8]],
    cfg: &TcConfig,
    clone_ifindex: u32,
    repeat: u32,
    rounds: u32,
) -> Result<(Vec<Vec<f64>>, TcCounters)> {
    route_libbpf_logs();
    check_capabilities()?;
    let skel = OwnedSkel::load(|storage| load(clone_ifindex, cfg, storage))?;
    let mut ring = if cfg.ring { Some(super::ring::RingSource::new(skel.maps.ackscope_tc_ring.as_fd(), RING_BYTES as usize)?) } else { None };
    // Records per drain bound the rounds: the ring holds RING_BYTES / 176 of them.
    let repeat = repeat.clamp(1, RING_BYTES / 2 / 176);
    let mut out = Vec::with_capacity(frames.len());
    for frame in frames {
        let mut ns = Vec::with_capacity(rounds as usize);
        for _ in 0..rounds {
            let input = libbpf_rs::ProgramInput { data_in: Some(frame), repeat, ..Default::default() };
            let o = skel.progs.ackscope_tc.test_run(input).map_err(|e| load_error("BPF_PROG_RUN of the tc program", e))?;
            ns.push(o.duration.as_nanos() as f64);
            if let Some(r) = ring.as_mut() {
                r.drain_now(|_, _, _| {});
            }
        }
        out.push(ns);
    }
    let per_cpu = skel
        .maps
        .ackscope_tc_cnt
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|source| DatapathError::Map { map: "ackscope_tc_cnt", what: "per-CPU lookup".into(), source })?;
    Ok((out, TcCounters::sum_per_cpu(per_cpu.iter().flatten())))
}

/// Each frame through the tc program once (`BPF_PROG_RUN`, nothing attached, ring path as
/// `cfg` says), in order; returns the counters and the entries its flow table
/// (bpf/flowtable.h) holds at the end: for the eviction accounting (entries put = kept +
/// `flows_evicted` + deleted), tests/host_flow_table.rs. `clone_ifindex` 0 makes every clone
/// fail (counted) without sending anything. Needs CAP_BPF (root).
pub fn test_run_table(frames: &[&[u8]], cfg: &TcConfig, clone_ifindex: u32) -> Result<(TcCounters, usize)> {
    route_libbpf_logs();
    check_capabilities()?;
    let skel = OwnedSkel::load(|storage| load(clone_ifindex, cfg, storage))?;
    let mut ring = if cfg.ring { Some(super::ring::RingSource::new(skel.maps.ackscope_tc_ring.as_fd(), RING_BYTES as usize)?) } else { None };
    for frame in frames {
        let input = libbpf_rs::ProgramInput { data_in: Some(frame), repeat: 1, ..Default::default() };
        skel.progs.ackscope_tc.test_run(input).map_err(|e| load_error("BPF_PROG_RUN of the tc program", e))?;
        if let Some(r) = ring.as_mut() {
            r.drain_now(|_, _, _| {});
        }
    }
    let per_cpu = skel
        .maps
        .ackscope_tc_cnt
        .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        .map_err(|source| DatapathError::Map { map: "ackscope_tc_cnt", what: "per-CPU lookup".into(), source })?;
    Ok((TcCounters::sum_per_cpu(per_cpu.iter().flatten()), super::xdp::ways_in_use(&skel.maps.ackscope_tc_flows)))
}

/// A hook of ackscope's filter (handle [`TC_HANDLE`], priority [`TC_PRIORITY`]) on `point` of
/// `ifindex`, for `query`/`detach`/`destroy`: those zero the program fd (libbpf requires it),
/// so any open descriptor serves as the one `TcHook::new` takes.
fn hook_on(ifindex: u32, point: TcAttachPoint) -> TcHook {
    let mut h = TcHook::new(std::io::stdin().as_fd());
    h.ifindex(ifindex as i32).attach_point(point).handle(TC_HANDLE).priority(TC_PRIORITY);
    h
}

/// Whether a clsact qdisc is on `ifindex` (an rtnetlink qdisc dump, what `tc qdisc show`
/// prints); `None` when that cannot be told.
pub fn has_clsact(ifindex: u32) -> Option<bool> {
    match netlink::qdisc_kinds(ifindex) {
        Ok(kinds) => Some(kinds.iter().any(|k| k == "clsact")),
        Err(e) => {
            debug!(ifindex, error = %e, "could not list the qdiscs");
            None
        }
    }
}

/// Creates the clsact qdisc on `ifindex`; `Ok(false)` when one was there. libbpf-rs's
/// `TcHook::create` treats an existing qdisc as success, so the qdisc dump tells which.
fn create_clsact(iface: &str, ifindex: u32) -> Result<bool> {
    let had = has_clsact(ifindex);
    hook_on(ifindex, TC_INGRESS | TC_EGRESS).create().map_err(|e| DatapathError::Tc {
        iface: iface.to_string(),
        what: "creating the clsact qdisc".into(),
        source: io::Error::other(e.to_string()),
    })?;
    // Unknown before (the dump failed): not ours, so it is never removed.
    Ok(had == Some(false))
}

/// Id of the filter program at ackscope's handle/priority on one hook.
fn our_filter(ifindex: u32, point: TcAttachPoint) -> Option<u32> {
    hook_on(ifindex, point).query().ok().filter(|id| *id != 0)
}

/// Removes ackscope's tc filters left on `iface` by a killed run (matched by
/// handle, priority and program name). Returns how many were removed.
pub fn remove_leftover_filters(iface: &str, ifindex: u32) -> usize {
    let mut removed = 0;
    if has_clsact(ifindex) == Some(false) {
        return 0; // no clsact, no filters (and no libbpf complaint about the query)
    }
    for (point, name) in [(TC_INGRESS, "ingress"), (TC_EGRESS, "egress")] {
        let Some(id) = our_filter(ifindex, point) else { continue };
        let pname = prog_name(id).unwrap_or_default();
        if pname != TC_PROG_NAME {
            warn!(iface, hook = name, prog = %pname, id,
                  "a foreign tc filter sits at ackscope's handle/priority; leaving it alone");
            continue;
        }
        match hook_on(ifindex, point).detach() {
            Ok(()) => {
                warn!(iface, hook = name, id, "removed leftover {TC_PROG_NAME} filter of a previous run");
                removed += 1;
            }
            Err(e) => warn!(iface, hook = name, error = %e,
                            "could not remove a leftover {TC_PROG_NAME} filter; \
                             `tc filter del dev {iface} {name} pref {TC_PRIORITY}`"),
        }
    }
    removed
}

/// Whether `ifindex` has any filter on its clsact hook (an rtnetlink filter dump, what
/// `tc filter show dev DEV ingress|egress` prints); `None` when that cannot be told.
fn hook_has_filters(ifindex: u32, hook: ClsactHook) -> Option<bool> {
    match netlink::clsact_filter_kinds(ifindex, hook) {
        Ok(v) => Some(!v.is_empty()),
        Err(e) => {
            debug!(ifindex, ?hook, error = %e, "could not list the clsact filters");
            None
        }
    }
}

/// Removes the clsact qdisc of `iface` (ackscope created it) unless some
/// filter still uses it; returns true when it was removed.
pub fn remove_clsact_if_unused(iface: &str, ifindex: u32) -> bool {
    let busy = [ClsactHook::Ingress, ClsactHook::Egress].map(|h| hook_has_filters(ifindex, h));
    if busy.iter().any(|b| *b != Some(false)) {
        info!(iface, "keeping the clsact qdisc ackscope created: other filters use it (or rtnetlink could not tell)");
        return false;
    }
    match hook_on(ifindex, TC_INGRESS | TC_EGRESS).destroy() {
        Ok(()) => {
            debug!(iface, "removed the clsact qdisc ackscope created");
            true
        }
        Err(e) if matches!(e.kind(), libbpf_rs::ErrorKind::NotFound | libbpf_rs::ErrorKind::InvalidInput) => {
            debug!(iface, "the clsact qdisc ackscope created is already gone");
            false
        }
        Err(e) => {
            warn!(iface, error = %e,
                  "could not remove the clsact qdisc ackscope created; `tc qdisc del dev {iface} clsact`");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_raw() {
        let raw: Vec<u8> = (1..=15u64).flat_map(|v| v.to_ne_bytes()).collect();
        let c = TcCounters::sum_per_cpu([&raw]);
        assert_eq!(c.packets, 1);
        assert_eq!(c.pulled, 12);
        assert_eq!(c.flows_evicted, 15);
        assert_eq!(c.as_steering().flows_evicted, 15);
        assert_eq!(c.cloned(), 2 + 3 + 4 + 5 + 6);
    }

}
