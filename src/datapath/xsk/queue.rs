//! [`XskQueue`]: one AF_XDP socket bound to `(interface, queue)` with its own UMEM (mirror and
//! host mode). It never loads an XDP program itself (libxdp's
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`): register its [`XskQueue::fd`] in the steering
//! program's XSKMAP with [`XdpSteer::register_socket`](crate::datapath::xdp::XdpSteer::register_socket).
//!
//! Frame bookkeeping follows the UMEM invariant ([`super::umem`]): [`XskQueue::recv_batch`]
//! takes a batch off the rx ring, moves the descriptors onto the free list *before* handing
//! the frames to the callback, and then returns as many free frames to the fill ring as it has
//! room for.
//!
//! Timestamps are `CLOCK_MONOTONIC` nanoseconds: the XDP program's `bpf_ktime_get_ns()` from
//! the frame's XDP metadata when present, else one `clock_gettime(CLOCK_MONOTONIC)` per batch.

use std::os::fd::RawFd;

use tracing::{debug, warn};
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::Umem;

use super::config::{socket_config, validate, XskConfig};
use super::port::{poll_in, Port, XskStats};
use super::umem::{self, take_meta};
use crate::datapath::error::Result;
use crate::datapath::sys::{ifindex_of, monotonic_ns};

/// How many frames ahead [`XskQueue::recv_batch`] prefetches.
const PREFETCH_AHEAD: usize = 4;

/// User-space receive counts of one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxCounts {
    /// Frames handed to `recv_batch` callbacks.
    pub frames: u64,
    /// Of those, frames that carried the kernel timestamp in their XDP
    /// metadata.
    pub kernel_ts: u64,
}

/// One AF_XDP socket bound to `(iface, queue)` with a private UMEM.
///
/// `XskQueue` is `Send` (checked at compile time below): every xsk-rs
/// handle it holds is `Send`, so it can be moved into the worker thread that
/// owns the queue. It is not `Sync`; one thread receives.
pub struct XskQueue {
    // The socket first: it is deleted when its ring handles are dropped, and the UMEM after.
    port: Port,
    umem: Umem,
    /// Scratch for rx descriptors, `rx_ring` long, allocated once.
    batch: Vec<FrameDesc>,
    /// Frames owned by user space; capacity `frame_count`, allocated once.
    free: Vec<FrameDesc>,
    frame_mask: usize,
    zerocopy: bool,
    need_wakeup: bool,
    busy_poll: bool,
    counts: RxCounts,
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<XskQueue>();
};

impl std::fmt::Debug for XskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskQueue")
            .field("iface", &self.port.iface)
            .field("queue", &self.port.queue)
            .field("fd", &self.port.fd)
            .field("zerocopy", &self.zerocopy)
            .field("need_wakeup", &self.need_wakeup)
            .field("busy_poll", &self.busy_poll)
            .field("free_frames", &self.free.len())
            .finish()
    }
}

impl XskQueue {
    /// Creates the UMEM and socket and binds it to `(iface, queue)`,
    /// retrying a bounded number of times while the queue is busy, then
    /// fills the fill ring.
    pub fn open(iface: &str, queue: u32, cfg: &XskConfig) -> Result<XskQueue> {
        validate(cfg)?;
        ifindex_of(iface)?;
        let sock_cfg = socket_config(cfg)?;
        let (umem, free) = umem::create(cfg)?;
        let (port, attempts) = Port::bind(iface, queue, &umem, sock_cfg, cfg)?;
        let mut q = XskQueue {
            port,
            umem,
            batch: vec![FrameDesc::default(); cfg.rx_ring as usize],
            free,
            frame_mask: cfg.frame_size as usize - 1,
            zerocopy: false,
            need_wakeup: cfg.need_wakeup,
            busy_poll: cfg.busy_poll.is_some(),
            counts: RxCounts::default(),
        };
        if let Some(bp) = cfg.busy_poll {
            q.port.set_busy_poll(bp)?;
        }
        q.zerocopy = q.port.zerocopy()?;
        q.refill();
        debug!(iface, queue, fd = q.port.fd, zerocopy = q.zerocopy, attempts,
               fill = cfg.fill_ring, frames = cfg.frame_count, "AF_XDP socket bound");
        Ok(q)
    }

    /// The socket's file descriptor (for the XSKMAP).
    pub fn fd(&self) -> RawFd {
        self.port.fd
    }

    /// Interface name the socket is bound to.
    pub fn iface(&self) -> &str {
        &self.port.iface
    }

    /// Queue id the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.port.queue
    }

    /// Whether the kernel bound the socket in zero-copy mode
    /// (`XDP_OPTIONS_ZEROCOPY`).
    pub fn is_zerocopy(&self) -> bool {
        self.zerocopy
    }

    /// Receives up to `max` frames (at most the rx ring size), calling
    /// `f(ts_ns, frame)` for each, and returns how many were received.
    ///
    /// `ts_ns` is `CLOCK_MONOTONIC` nanoseconds: the kernel receive stamp
    /// from the XDP metadata when present, otherwise one
    /// `clock_gettime(CLOCK_MONOTONIC)` taken for the whole batch.
    ///
    /// When nothing is ready, the socket is kicked if the kernel asks for it
    /// (need_wakeup) or busy polling is on, and — for a non-zero
    /// `timeout_ms` — `poll()`ed for up to `timeout_ms` milliseconds
    /// (negative: no limit). A signal interrupting the wait returns `Ok(0)`.
    /// All received frames are back in the fill ring (or the free list when
    /// the ring is momentarily full) when this returns.
    pub fn recv_batch<F>(&mut self, max: usize, timeout_ms: i32, mut f: F) -> Result<usize>
    where
        F: FnMut(u64, &[u8]),
    {
        let max = max.min(self.batch.len());
        if max == 0 {
            return Ok(0);
        }
        // SAFETY: the descriptors are written by this socket's rx ring, whose
        // frames all belong to `self.umem`.
        let mut n = unsafe { self.port.rx.consume(&mut self.batch[..max]) };
        if n == 0 {
            self.refill();
            if self.busy_poll || (self.need_wakeup && self.port.fq.needs_wakeup()) {
                self.port.kick_rx()?;
            }
            if timeout_ms != 0 && !poll_in(&[&self.port], timeout_ms)? {
                return Ok(0);
            }
            // SAFETY: as above.
            n = unsafe { self.port.rx.consume(&mut self.batch[..max]) };
            if n == 0 {
                return Ok(0);
            }
        }

        // Hand the frames to the free list first: from here on they are
        // accounted for whatever `f` does.
        let start = self.free.len();
        debug_assert!(start + n <= self.free.capacity(), "more frames than the UMEM holds");
        self.free.extend_from_slice(&self.batch[..n]);

        let mut batch_ts: Option<u64> = None;
        let mut with_ts = 0u64;
        // The kernel wrote these frames from another core (the copy into the UMEM runs where
        // the NAPI runs): start fetching the first ones now, and each frame's successor
        // [`PREFETCH_AHEAD`] frames ahead while the current one is handed out, so the
        // misses overlap with the callback's work.
        for desc in &self.free[start..start + n.min(PREFETCH_AHEAD)] {
            self.prefetch_frame(desc);
        }
        for i in start..start + n {
            if i + PREFETCH_AHEAD < start + n {
                self.prefetch_frame(&self.free[i + PREFETCH_AHEAD]);
            }
            let desc = &mut self.free[i];
            // SAFETY: `desc` was just consumed from the rx ring, so the
            // kernel has finished writing its frame and will not touch it
            // again until we put it back on the fill ring (after this loop);
            // nothing else in this process accesses it.
            let meta = unsafe { take_meta(&self.umem, desc, self.frame_mask) };
            let ts = match meta {
                Some(m) => {
                    with_ts += 1;
                    m.rx_ts_ns
                }
                None => *batch_ts.get_or_insert_with(monotonic_ns),
            };
            // SAFETY: same frame and exclusivity argument as above; the
            // shared borrow ends before the frame is returned to the kernel.
            let data = unsafe { self.umem.data(desc) };
            f(ts, data.contents());
        }
        self.counts.frames += n as u64;
        self.counts.kernel_ts += with_ts;

        self.refill();
        Ok(n)
    }

    /// Hint the CPU to fetch the cache lines of `desc`'s frame that a receive reads: the
    /// metadata just before the packet and the first bytes of the packet (the headers).
    #[inline(always)]
    fn prefetch_frame(&self, desc: &FrameDesc) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `desc` was consumed from this socket's rx ring and is on the free list,
            // so its frame belongs to `self.umem` and the kernel is done writing it; only its
            // address is taken here (no reference to the bytes is kept).
            let p = unsafe { self.umem.data(desc) }.contents().as_ptr();
            // SAFETY: a prefetch is only a hint: it never faults and reads nothing into the
            // program, whatever the address.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_sub(crate::datapath::abi::META_LEN).cast());
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64).cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = desc;
    }

    /// Kernel statistics of the socket.
    pub fn stats(&self) -> Result<XskStats> {
        self.port.stats()
    }

    /// User-space receive counts (frames, frames with a kernel timestamp).
    pub fn rx_counts(&self) -> RxCounts {
        self.counts
    }

    /// Returns as many free frames to the fill ring as it has room for.
    fn refill(&mut self) {
        let done = umem::fill(&mut self.port.fq, &mut self.free, usize::MAX);
        if done > 0 && self.need_wakeup && self.port.fq.needs_wakeup() {
            if let Err(e) = self.port.kick_rx() {
                warn!(iface = %self.port.iface, queue = self.port.queue, error = %e, "fill ring wakeup failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_is_monotonic() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
