//! Host mode's ring path: the consumer of the BPF ring buffer `ackscope_tc_ring` that the
//! tc program (`bpf/tc_clone.bpf.c`) fills with one [`TcRecord`] per selected control
//! segment — no skb clone, no veth, no AF_XDP.
//!
//! The consumer maps the ring itself (`mmap` of the map fd, the kernel's documented
//! layout: a read-write consumer page, then a read-only producer page followed by the data
//! area mapped twice so that no record wraps) instead of libbpf-rs's `RingBuffer`: that one
//! calls a boxed `'static` callback per record, while a [`FrameSource`] hands each frame to
//! the worker's own closure; mapping directly gives the worker the record in place, bounded
//! by the batch size, with no copy and no allocation. About 60 lines, all here.
//!
//! Wake-ups are batched: the program submits with `BPF_RB_NO_WAKEUP` unless the ring holds
//! more than a fill mark; the worker polls with its short idle timeout and drains what is
//! there (host mode's pacing, [`super::mode::host::Paced`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::error::{DatapathError, Result};
use super::pool::FrameSource;

/// Bytes of the frame a record carries (`ACKSCOPE_REC_SNAP` in `bpf/abi.h`).
pub const REC_SNAP: usize = 128;

/// Layout of `struct ackscope_tc_record` (`bpf/abi.h`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TcRecord {
    /// `bpf_ktime_get_ns()` at program entry (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Interface the program ran on.
    pub ifindex: u32,
    /// Bytes valid in `data`.
    pub cap_len: u16,
    /// 1 on the clsact egress hook, 0 on ingress.
    pub egress: u8,
    /// The classifier's verdict.
    pub class: u8,
    _pad: u32,
    /// The frame's first bytes (at most [`REC_SNAP`]), from the Ethernet header on; 16
    /// bytes of slack after them for the verifier.
    pub data: [u8; REC_SNAP + 16],
}

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HDR_SZ: usize = 8;

/// One consumer of a BPF ring buffer (see the module documentation).
pub struct RingSource {
    fd: OwnedFd,
    cons: *mut u8,
    prod: *mut u8,
    page: usize,
    size: usize,
    mask: u64,
}

// SAFETY: the mappings are owned by this value alone (unmapped in Drop); the kernel side is
// synchronised through the atomic positions and record headers.
unsafe impl Send for RingSource {}

impl RingSource {
    /// Maps the ring behind `map_fd` (a `BPF_MAP_TYPE_RINGBUF` of `size` bytes, a power of
    /// two multiple of the page size).
    pub fn new(map_fd: BorrowedFd<'_>, size: usize) -> Result<RingSource> {
        let fd = map_fd.try_clone_to_owned().map_err(|e| DatapathError::Setup {
            what: "duplicating the ring buffer's fd".into(),
            detail: e.to_string(),
        })?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let map = |len: usize, prot: i32, off: usize| -> Result<*mut u8> {
            // SAFETY: a fresh shared mapping of the ring map's fd with the kernel's layout;
            // the result is checked.
            let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), off as libc::off_t) };
            if p == libc::MAP_FAILED {
                return Err(DatapathError::Setup {
                    what: "mapping the tc program's ring buffer".into(),
                    detail: format!("{} (check the memory cgroup limit)", std::io::Error::last_os_error()),
                });
            }
            Ok(p.cast())
        };
        let cons = map(page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let prod = match map(page + 2 * size, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: `cons` was mapped above with this length.
                unsafe { libc::munmap(cons.cast(), page) };
                return Err(e);
            }
        };
        Ok(RingSource { fd, cons, prod, page, size, mask: size as u64 - 1 })
    }

    fn pos(&self, p: *mut u8) -> &AtomicU64 {
        // SAFETY: the first 8 bytes of each position page are the kernel's 8-aligned u64
        // position, valid as long as the mapping (self) lives.
        unsafe { &*(p as *const AtomicU64) }
    }

    /// Calls `f` with up to `max` records in place; returns how many.
    fn drain<F: FnMut(u64, &[u8], u32)>(&mut self, max: usize, mut f: F) -> usize {
        let mut cons = self.pos(self.cons).load(Ordering::Relaxed);
        let prod = self.pos(self.prod).load(Ordering::Acquire);
        let mut n = 0;
        // SAFETY: the data area starts one page after the producer page.
        let data = unsafe { self.prod.add(self.page) };
        while cons < prod && n < max {
            let off = (cons & self.mask) as usize;
            // SAFETY: `off` < size and the area is mapped twice, so header and record
            // (at most size/2 bytes, a kernel limit) are inside the mapping.
            let hdr = unsafe { &*(data.add(off) as *const AtomicU32) };
            let len = hdr.load(Ordering::Acquire);
            if len & BUSY_BIT != 0 {
                break;
            }
            let body = (len & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if len & DISCARD_BIT == 0 && body >= std::mem::size_of::<TcRecord>() {
                // SAFETY: the committed record (not busy) holds `body` bytes after its
                // 8-byte header, 8-aligned; TcRecord is plain integers.
                let r = unsafe { &*(data.add(off + HDR_SZ) as *const TcRecord) };
                let cap = (r.cap_len as usize).min(REC_SNAP);
                f(r.ts_ns, &r.data[..cap], r.wire_len);
                n += 1;
            }
            cons += ((body + HDR_SZ + 7) & !7) as u64;
        }
        self.pos(self.cons).store(cons, Ordering::Release);
        n
    }
}

impl FrameSource for RingSource {
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, mut f: F) -> Result<usize> {
        self.recv_wire(max, timeout_ms, |ts, data, _| f(ts, data))
    }

    fn recv_wire<F: FnMut(u64, &[u8], u32)>(&mut self, max: usize, timeout_ms: i32, mut f: F) -> Result<usize> {
        let n = self.drain(max, &mut f);
        if n > 0 || timeout_ms == 0 {
            return Ok(n);
        }
        let mut pfd = libc::pollfd { fd: self.fd.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        Ok(self.drain(max, f))
    }
}

impl Drop for RingSource {
    fn drop(&mut self) {
        // SAFETY: both mappings were made in `new` with these lengths and are not used after.
        unsafe {
            libc::munmap(self.cons.cast(), self.page);
            libc::munmap(self.prod.cast(), self.page + 2 * self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_matches_abi_h() {
        assert_eq!(std::mem::size_of::<TcRecord>(), 168);
        assert_eq!(std::mem::offset_of!(TcRecord, cap_len), 16);
        assert_eq!(std::mem::offset_of!(TcRecord, data), 24);
    }
}
