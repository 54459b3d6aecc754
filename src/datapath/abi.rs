//! The BPF↔Rust ABI, in one place. The map values are read into the types the libbpf-cargo
//! skeletons generate from the programs' BTF (`skel::types::*`), so a field added to
//! `bpf/counters.h`'s structs is a field of the generated type, read by name: no positional
//! decoder. The XDP metadata block (`struct ackscope_meta`, bpf/abi.h) is not a map value and
//! has no generated type; [`KernelMeta`] mirrors it, checked by a layout test.

use super::tc::skel::types::ackscope_tc_counters;
use super::tc::TcCounters;
use super::xdp::skel::types::ackscope_counters;
use super::xdp::BpfCounters;

/// Magic value in [`KernelMeta::magic`] ("ACKS" little-endian).
pub const META_MAGIC: u32 = 0x534b_4341;

/// Layout of the XDP metadata block the program writes immediately before
/// the packet data of every steered frame (`struct ackscope_meta`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMeta {
    /// `bpf_ktime_get_ns()` when the program steered the frame: CLOCK_MONOTONIC nanoseconds.
    pub rx_ts_ns: u64,
    /// [`META_MAGIC`] when the block was written by our program.
    pub magic: u32,
    /// The classifier's verdict (`enum ackscope_class` in `bpf/classify.h`).
    pub class: u32,
}

/// A fresh random seed for the in-kernel tracking key's fingerprint (`ackscope_key_seed` in
/// bpf/flowtrack.h), so that an outsider cannot aim two 4-tuples at one tracking entry.
///
/// One seed per process: the programs of a mirror session over several interfaces share one
/// flow table, so they must compute the same fingerprint for a 4-tuple.
pub(crate) fn key_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6163_6b73);
        h.finish()
    })
}

/// The magic of the stamp block when the steering program puts it in front of the frame
/// (`ackscope_prefix_magic` in bpf/ackscope.bpf.c): random per process and never
/// [`META_MAGIC`] or 0, since without a block the same bytes are the frame's own (its source
/// MAC), and a constant could be sent on purpose to cut 16 bytes off a frame and give it a
/// chosen stamp.
pub(crate) fn prefix_magic() -> u32 {
    static MAGIC: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAGIC.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7461_696c);
        let m = h.finish() as u32;
        if m == 0 || m == META_MAGIC {
            0x5441_494c
        } else {
            m
        }
    })
}

/// Size of [`KernelMeta`] in bytes (16).
pub const META_LEN: usize = std::mem::size_of::<KernelMeta>();

/// A map value type shared with the BPF side: `#[repr(C)]`, only integer fields (or arrays
/// of them) and no implicit padding, so every bit pattern is a valid value and every byte of
/// a value is initialised.
///
/// # Safety
/// Implement only for such types (the skeletons' generated structs of `bpf/abi.h` and
/// `bpf/counters.h`).
pub(crate) unsafe trait MapValue: Copy + Default {}
// SAFETY: generated from `struct ackscope_counters` (bpf/counters.h): #[repr(C)], thirteen u64.
unsafe impl MapValue for ackscope_counters {}
// SAFETY: generated from `struct ackscope_tc_counters` (bpf/counters.h): #[repr(C)], fifteen u64.
unsafe impl MapValue for ackscope_tc_counters {}
// SAFETY: generated from `struct ackscope_pkt` (bpf/classify.h): #[repr(C)], integer fields
// and arrays of them, 88 bytes without implicit padding (checked in the tests below).
unsafe impl MapValue for super::xdp::skel::types::ackscope_pkt {}

/// [`read_value`] for the other modules (the classifier's recorded parse in xdp.rs).
pub(crate) fn read_map_value<T: MapValue>(raw: &[u8]) -> T {
    read_value(raw)
}

/// The value in `raw` (one CPU's slot of a per-CPU map), or the default when it is too short.
fn read_value<T: MapValue>(raw: &[u8]) -> T {
    if raw.len() < std::mem::size_of::<T>() {
        return T::default();
    }
    // SAFETY: `raw` holds at least size_of::<T>() bytes, `read_unaligned` has no alignment
    // requirement, and T is valid for every bit pattern (MapValue).
    unsafe { std::ptr::read_unaligned(raw.as_ptr().cast::<T>()) }
}

/// The bytes of `v`, as a map update takes them.
pub(crate) fn value_bytes<T: MapValue>(v: &T) -> &[u8] {
    // SAFETY: `v` is a valid reference to size_of::<T>() bytes, all initialised (MapValue:
    // no padding), borrowed for the slice's lifetime.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

impl BpfCounters {
    /// The sum over the CPUs of a per-CPU lookup of `ackscope_cnt`.
    pub(crate) fn sum_per_cpu<'a>(per_cpu: impl IntoIterator<Item = &'a Vec<u8>>) -> BpfCounters {
        let mut s = BpfCounters::default();
        for raw in per_cpu {
            let v: ackscope_counters = read_value(raw);
            s.frames += v.frames;
            s.steered_syn += v.steered_syn;
            s.steered_synack += v.steered_synack;
            s.steered_fin += v.steered_fin;
            s.steered_rst += v.steered_rst;
            s.steered_ack += v.steered_ack;
            s.not_steered_tcp += v.not_steered_tcp;
            s.not_tcp += v.not_tcp;
            s.parse_fail += v.parse_fail;
            s.redirect_fail += v.redirect_fail;
            s.flows_expired += v.flows_expired;
            s.meta_fail += v.meta_fail;
            s.tunnelled += v.tunnelled;
            s.flows_evicted += v.flows_evicted;
        }
        s
    }

    /// What was counted since `before` (counters only grow).
    pub(crate) fn since(&self, before: &BpfCounters) -> BpfCounters {
        BpfCounters {
            frames: self.frames - before.frames,
            steered_syn: self.steered_syn - before.steered_syn,
            steered_synack: self.steered_synack - before.steered_synack,
            steered_fin: self.steered_fin - before.steered_fin,
            steered_rst: self.steered_rst - before.steered_rst,
            steered_ack: self.steered_ack - before.steered_ack,
            not_steered_tcp: self.not_steered_tcp - before.not_steered_tcp,
            not_tcp: self.not_tcp - before.not_tcp,
            parse_fail: self.parse_fail - before.parse_fail,
            redirect_fail: self.redirect_fail - before.redirect_fail,
            flows_expired: self.flows_expired - before.flows_expired,
            meta_fail: self.meta_fail - before.meta_fail,
            tunnelled: self.tunnelled - before.tunnelled,
            flows_evicted: self.flows_evicted - before.flows_evicted,
        }
    }
}

impl TcCounters {
    /// The sum over the CPUs of a per-CPU lookup of `ackscope_tc_cnt`.
    pub(crate) fn sum_per_cpu<'a>(per_cpu: impl IntoIterator<Item = &'a Vec<u8>>) -> TcCounters {
        let mut s = TcCounters::default();
        for raw in per_cpu {
            let v: ackscope_tc_counters = read_value(raw);
            s.packets += v.packets;
            s.cloned_syn += v.cloned_syn;
            s.cloned_synack += v.cloned_synack;
            s.cloned_fin += v.cloned_fin;
            s.cloned_rst += v.cloned_rst;
            s.cloned_ack += v.cloned_ack;
            s.not_cloned_tcp += v.not_cloned_tcp;
            s.not_tcp += v.not_tcp;
            s.parse_fail += v.parse_fail;
            s.clone_fail += v.clone_fail;
            s.flows_expired += v.flows_expired;
            s.pulled += v.pulled;
            s.ring_full += v.ring_full;
            s.ring_wakeups += v.ring_wakeups;
            s.flows_evicted += v.flows_evicted;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_types_have_the_abi_sizes() {
        assert_eq!(std::mem::size_of::<ackscope_counters>(), 14 * 8);
        assert_eq!(std::mem::size_of::<super::super::xdp::skel::types::ackscope_pkt>(), 88);
        assert_eq!(std::mem::size_of::<ackscope_tc_counters>(), 15 * 8);
    }

    #[test]
    fn meta_layout_matches_bpf() {
        assert_eq!(META_LEN, 16);
        assert_eq!(std::mem::offset_of!(KernelMeta, magic), 8);
    }
}
