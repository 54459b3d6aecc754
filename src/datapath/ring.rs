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
//! Wake-ups are batched on both sides. The program submits with `BPF_RB_NO_WAKEUP` unless
//! the ring holds more than a fill mark (an overflow guard, not the pace). The source paces
//! itself: after a receive that emptied the ring it sleeps in `epoll_wait` (edge-triggered,
//! so only the program's forced wake-up at the fill mark ends the sleep early) for a pause
//! it adapts so that each wake-up finds about half a batch: from [`PAUSE_MIN`] at a high
//! record rate to [`PAUSE_MAX`] when idle. Host mode runs beside the workload on the same
//! cores: with host mode's batch of 512 this is 500 wake-ups/s at most (fewer past 128 000
//! records/s) instead of up to 2 000 with a fixed
//! 1 ms pause plus a poll, and every wake-up costs the worker ~3–5 µs and the workload a
//! context switch. The delay adds latency only (each record keeps its kernel stamp), and the
//! ring (4 MiB, about 24 000 records) holds far more than [`PAUSE_MAX`] of records at any
//! rate the tc program can produce here.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
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

/// Shortest pause between two receives that emptied the ring.
pub const PAUSE_MIN: std::time::Duration = std::time::Duration::from_micros(500);
/// Longest pause (idle ring): the latency a record may add, as before the ring path paced
/// itself (1 ms pause + 1 ms poll). It bounds how late the kernel view looks a stale ACK's
/// server socket up: with 12 ms, tests/live_host.rs saw the socket change before the lookup
/// (two "disagree"). Below the 20 ms the session waits after detaching the tc program
/// before it stops the workers, so the last records are always drained.
pub const PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(2);

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HDR_SZ: usize = 8;

/// One consumer of a BPF ring buffer (see the module documentation).
pub struct RingSource {
    /// The ring map, held open for the mappings and the epoll registration.
    _fd: OwnedFd,
    epoll: OwnedFd,
    /// The last receive emptied the ring: wait before the next one.
    emptied: bool,
    pause_ns: u64,
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
        let epoll = match epoll_on(&fd) {
            Ok(e) => e,
            Err(e) => {
                // SAFETY: both mappings were made above with these lengths.
                unsafe {
                    libc::munmap(cons.cast(), page);
                    libc::munmap(prod.cast(), page + 2 * size);
                }
                return Err(e);
            }
        };
        Ok(RingSource {
            _fd: fd,
            epoll,
            emptied: false,
            pause_ns: PAUSE_MIN.as_nanos() as u64,
            cons,
            prod,
            page,
            size,
            mask: size as u64 - 1,
        })
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
                prefetch(data.wrapping_add(off + HDR_SZ + 2 * std::mem::size_of::<TcRecord>()));
                f(r.ts_ns, &r.data[..cap], r.wire_len);
                n += 1;
            }
            cons += ((body + HDR_SZ + 7) & !7) as u64;
        }
        self.pos(self.cons).store(cons, Ordering::Release);
        n
    }

    /// Hands every record there is to `f` at once, without pacing (benchmarks); returns how
    /// many.
    pub fn drain_now<F: FnMut(u64, &[u8], u32)>(&mut self, f: F) -> usize {
        self.drain(usize::MAX, f)
    }

    /// Sleeps until the program's forced wake-up or `ns`, whichever comes first.
    fn wait(&self, ns: u64) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        let ms = ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32;
        if ns < 1_000_000 {
            // epoll_wait has millisecond resolution; shorter pauses sleep instead.
            let ts = libc::timespec { tv_sec: 0, tv_nsec: ns as libc::c_long };
            // SAFETY: a valid timespec; the remainder is not wanted.
            unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
            return;
        }
        // SAFETY: one valid epoll_event for at most one event; EINTR and errors just end the
        // pause early (the next receive drains whatever is there).
        unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, ms) };
    }

    /// The next pause: aims at half a batch per wake-up, within [PAUSE_MIN, PAUSE_MAX], and
    /// moves at most by ×2 / ÷4 per wake-up.
    fn adapt(&mut self, got: usize, max: usize) {
        let target = (max / 2).max(1) as u64;
        let want = self.pause_ns.saturating_mul(target) / (got.max(1) as u64);
        let want = want.clamp(self.pause_ns / 4, self.pause_ns.saturating_mul(2));
        self.pause_ns = want.clamp(PAUSE_MIN.as_nanos() as u64, PAUSE_MAX.as_nanos() as u64);
    }
}

/// Hint the CPU to fetch the cache line at `p` (a record about to be read).
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// An epoll instance watching `fd` for input, edge-triggered: it reports the ring only when
/// the program wakes it (the fill mark), not merely because records are there.
fn epoll_on(fd: &OwnedFd) -> Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let err = |what: &str| DatapathError::Setup {
        what: what.into(),
        detail: format!("{} (check the open-file limit)", std::io::Error::last_os_error()),
    };
    // SAFETY: epoll_create1 has no preconditions; the result is checked.
    let e = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if e < 0 {
        return Err(err("creating an epoll instance for the ring buffer"));
    }
    // SAFETY: `e` is a new descriptor owned by nobody else.
    let epoll = unsafe { OwnedFd::from_raw_fd(e) };
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: 0 };
    // SAFETY: both descriptors are valid; `ev` lives for the call.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) } < 0 {
        return Err(err("watching the ring buffer with epoll"));
    }
    Ok(epoll)
}

/// The source paces itself (see the module documentation): `timeout_ms` is not used; a
/// receive after one that emptied the ring first waits the adapted pause, a receive after a
/// full batch drains at once.
impl FrameSource for RingSource {
    /// Every CPU's tc program reserves records in one ring: a record's place follows its
    /// reservation, its stamp the program's entry, so two CPUs can swap them (issue 18's CI:
    /// a server FIN stamped before the reusing SYN came after it and turned a lingering_close
    /// into lingering_established). The worker sorts each batch by stamp.
    fn in_stamp_order(&self) -> bool {
        false
    }

    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, mut f: F) -> Result<usize> {
        self.recv_wire(max, timeout_ms, |ts, data, _| f(ts, data))
    }

    fn recv_wire<F: FnMut(u64, &[u8], u32)>(&mut self, max: usize, _timeout_ms: i32, mut f: F) -> Result<usize> {
        if self.emptied {
            self.wait(self.pause_ns);
        }
        let n = self.drain(max, &mut f);
        self.emptied = n < max;
        if self.emptied {
            self.adapt(n, max);
        }
        Ok(n)
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
