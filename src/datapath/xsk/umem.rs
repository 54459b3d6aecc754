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
use crate::datapath::abi::{KernelMeta, META_LEN, META_MAGIC};
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

/// Reads (and invalidates) the XDP metadata block right before the packet
/// data of `desc`'s frame. `None` when there is no room for one in the
/// frame or it does not carry our magic (metadata not delivered).
///
/// # Safety
///
/// `desc` must describe a frame of `umem` that user space currently owns
/// (consumed from the rx ring, not yet returned to the fill ring) and that
/// is not otherwise borrowed. `frame_mask` must be the frame size minus one.
pub(crate) unsafe fn take_meta(umem: &Umem, desc: &mut FrameDesc, frame_mask: usize) -> Option<KernelMeta> {
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

