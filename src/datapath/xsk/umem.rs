//! The UMEM and the frame-ownership invariant, in one place.
//!
//! Every frame of a UMEM is at any time in exactly one of: a fill ring, the kernel, an rx ring
//! (kernel-owned); a TX ring or a completion ring (an inline pair's forwarded frames); or the
//! owner's **free list** (user-owned). A frame moves to the free list as soon as it is consumed
//! from a ring, *before* anything else touches it, so a panicking callback cannot leak frames,
//! and leaves it only through [`fill`] (or a pair's TX ring). The free list is allocated once
//! with room for every frame; nothing is allocated per frame or per batch.

use std::num::NonZeroU32;

use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::{FillQueue, Umem};

use super::config::{error_chain, umem_config, XskConfig};
use crate::datapath::abi::{prefix_magic, KernelMeta, META_LEN, META_MAGIC};
use crate::datapath::xdp;
use crate::datapath::error::{DatapathError, Result};

/// A new UMEM of `cfg.frame_count` frames and its frames, all user-owned (the initial free
/// list, with capacity for every frame).
pub(crate) fn create(cfg: &XskConfig) -> Result<(Umem, Vec<FrameDesc>)> {
    let frames =
        NonZeroU32::new(cfg.frame_count).ok_or_else(|| DatapathError::Config("frame count must be > 0".into()))?;
    let (umem, descs) = Umem::new(umem_config(cfg)?, frames, cfg.huge_pages).map_err(|e| DatapathError::Umem {
        bytes: u64::from(cfg.frame_count) * u64::from(cfg.frame_size),
        reason: error_chain(&e),
    })?;
    let mut free = Vec::with_capacity(descs.len());
    free.extend_from_slice(&descs);
    Ok((umem, free))
}

/// Moves up to `max` frames from the end of the free list `free` onto the fill ring `fq`, as
/// many as it has room for (`produce` is all-or-nothing, so the count is sized by `nb_free`).
/// Returns how many moved.
///
/// `free` must hold only user-owned frames of the UMEM `fq` belongs to (the invariant above).
pub(crate) fn fill(fq: &mut FillQueue, free: &mut Vec<FrameDesc>, max: usize) -> usize {
    let want = free.len().min(max) as u32;
    if want == 0 {
        return 0;
    }
    let room = fq.nb_free(want).min(want) as usize;
    if room == 0 {
        return 0;
    }
    let from = free.len() - room;
    // SAFETY: frames on the free list are owned by user space (in no ring, not referenced by
    // any live slice) and belong to the UMEM of this fill ring (the caller's contract).
    let done = unsafe { fq.produce(&free[from..]) };
    debug_assert!(done == room || done == 0);
    free.truncate(free.len() - done);
    done
}

/// Reads (and invalidates) the stamp block of `desc`'s frame: the XDP metadata right before
/// the packet data or, where the steering program puts it in front of the frame
/// ([`xdp::stamp_in_prefix`]: kernels that refuse `bpf_xdp_adjust_meta` to XDP programs), the
/// frame's first 16 bytes, over which the frame is then moved back (and its descriptor's
/// length cut by 16), so the engine, the captures and inline's transmit see the frame as it
/// came. `None` when the frame carries no block of ours (metadata not delivered).
///
/// # Safety
///
/// As [`take_head`].
pub(crate) unsafe fn take_meta(umem: &Umem, desc: &mut FrameDesc, frame_mask: usize) -> Option<KernelMeta> {
    if xdp::stamp_in_prefix() {
        // SAFETY: the caller's contract.
        unsafe { take_prefix(umem, desc) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { take_head(umem, desc, frame_mask) }
    }
}

/// The prefix of [`take_meta`]: the first [`META_LEN`] bytes of the frame when their magic is
/// this run's ([`prefix_magic`]: random per process, so no frame's own bytes can pass for a
/// block), removed from the frame. A steered control segment is short (headers only, mostly),
/// so the move is a few cache lines the worker reads next anyway.
///
/// # Safety
///
/// As [`take_head`].
unsafe fn take_prefix(umem: &Umem, desc: &mut FrameDesc) -> Option<KernelMeta> {
    // SAFETY (caller contract): the frame belongs to `umem` and is exclusively ours.
    let mut data = unsafe { umem.data_mut(desc) };
    let contents = data.contents_mut();
    let len = contents.len();
    let rest = len.checked_sub(META_LEN)?;
    let b = &contents[..META_LEN];
    let magic = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
    if magic != prefix_magic() {
        return None;
    }
    let meta = KernelMeta {
        rx_ts_ns: u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        magic,
        class: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
    };
    contents.copy_within(META_LEN.., 0);
    // The frame as it came: the descriptor's length without the block.
    data.cursor().set_pos(rest);
    Some(meta)
}

/// Reads (and invalidates) the XDP metadata block right before the packet
/// data of `desc`'s frame. `None` when there is no room for one in the
/// frame or it does not carry our magic (metadata not delivered).
///
/// # Safety
///
/// `desc` must describe a frame of `umem` that user space currently owns
/// (consumed from the rx ring, not yet returned to the fill ring) and that
/// is not otherwise borrowed. `frame_mask` must be the frame size minus one.
unsafe fn take_head(umem: &Umem, desc: &mut FrameDesc, frame_mask: usize) -> Option<KernelMeta> {
    // Metadata lives in the XDP headroom between the frame start and the
    // packet; never read across the frame start.
    if desc.addr() & frame_mask < META_LEN {
        return None;
    }
    // SAFETY (caller contract): the frame belongs to `umem` and is
    // exclusively ours, so a mutable view of it is sound.
    let mut data = unsafe { umem.data_mut(desc) };
    let pkt = data.contents_mut().as_mut_ptr();
    // SAFETY: the UMEM is a single mmap()ed region and xsk-rs derives every
    // frame pointer from its base with raw pointer arithmetic, so `pkt`
    // points into that region; the 16 bytes before it lie inside the same
    // frame (checked above: the packet starts at least META_LEN bytes into
    // its frame), in the XDP headroom that only the kernel writes, and the
    // kernel is done with this frame. They are accessed through raw
    // pointers only (no Rust reference covers them), unaligned-safe, and
    // every bit pattern is a valid `KernelMeta`.
    unsafe {
        let meta_ptr = pkt.sub(META_LEN).cast::<KernelMeta>();
        let meta = std::ptr::read_unaligned(meta_ptr);
        if meta.magic != META_MAGIC {
            return None;
        }
        // Invalidate, so a later frame delivered without metadata into the
        // same buffer cannot pick up this stale stamp.
        std::ptr::write_unaligned(std::ptr::addr_of_mut!((*meta_ptr).magic), 0);
        Some(meta)
    }
}

