//! AF_XDP receive queues.
//!
//! An [`XskQueue`] is one AF_XDP socket bound to `(interface, queue)` with its
//! own UMEM. It never loads an XDP program itself (libxdp's
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`): register its [`XskQueue::fd`] in
//! the steering program's XSKMAP with
//! [`XdpSteer::register_socket`](super::xdp::XdpSteer::register_socket).
//!
//! Frame bookkeeping: every UMEM frame is, at any time, either in the fill
//! ring / kernel / rx ring, or in the queue's free list. [`XskQueue::recv_batch`]
//! takes a batch off the rx ring, moves the descriptors onto the free list
//! *before* handing the frames to the callback (so a panicking callback
//! cannot leak frames), and then returns as many free frames to the fill
//! ring as it has room for. Nothing is allocated per frame or per batch.
//!
//! Timestamps are `CLOCK_MONOTONIC` nanoseconds: the XDP program's
//! `bpf_ktime_get_ns()` from the frame's XDP metadata when present, else one
//! `clock_gettime(CLOCK_MONOTONIC)` per batch.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::time::Duration;

use tracing::{debug, warn};
use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::socket::Socket;
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::{CompQueue, FillQueue, RxQueue, TxQueue, Umem};

use super::sys::{ifindex_of, monotonic_ns, rx_queue_count};
use super::abi::{KernelMeta, META_LEN, META_MAGIC};
use super::error::{DatapathError, Result};

// Not exported by the libc crate for every target.
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
/// Linux-internal `ENOTSUPP` (not in libc), returned by some drivers.
const ENOTSUPP: i32 = 524;

/// How the socket is bound to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Zero-copy when the driver offers it, copy mode otherwise (the
    /// kernel's own fallback: neither bind flag set).
    #[default]
    Auto,
    /// Copy mode (`XDP_COPY`).
    Copy,
    /// Zero-copy only (`XDP_ZEROCOPY`); fails where the driver lacks it.
    ZeroCopy,
}

/// Busy-poll settings (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`,
/// `SO_BUSY_POLL_BUDGET`). Only effective with drivers that run NAPI for
/// the queue (zero-copy NICs); pair with
/// `/sys/class/net/IFACE/napi_defer_hard_irqs` and `gro_flush_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL`: microseconds to busy-poll in a blocking call.
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets per busy-poll round.
    pub budget: u32,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll { usecs: 20, budget: 64 }
    }
}

/// Configuration of one [`XskQueue`]. All ring sizes and the frame size must
/// be powers of two.
#[derive(Debug, Clone)]
pub struct XskConfig {
    /// UMEM frames (default 4096). Should exceed `fill_ring` so the fill
    /// ring can stay full while a batch is processed.
    pub frame_count: u32,
    /// Bytes per frame, 2048 or 4096 (default 4096; 256 of them are XDP
    /// headroom).
    pub frame_size: u32,
    /// Fill ring entries (default 2048).
    pub fill_ring: u32,
    /// Completion ring entries (default 64; rx-only sockets never use it).
    pub comp_ring: u32,
    /// Rx ring entries (default 2048); also the largest batch.
    pub rx_ring: u32,
    /// Tx ring entries (default 64; libxdp always creates a tx ring).
    pub tx_ring: u32,
    /// Copy / zero-copy selection.
    pub bind_mode: BindMode,
    /// Bind with `XDP_USE_NEED_WAKEUP` (default true).
    pub need_wakeup: bool,
    /// Optional busy polling.
    pub busy_poll: Option<BusyPoll>,
    /// How often to try binding while the queue is busy (EBUSY — e.g. a
    /// previous process still exiting). Default 50.
    pub bind_attempts: u32,
    /// Pause between those attempts (default 20 ms).
    pub bind_retry_delay: Duration,
    /// Back the UMEM with huge pages.
    pub huge_pages: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_count: 4096,
            frame_size: 4096,
            fill_ring: 2048,
            comp_ring: 64,
            rx_ring: 2048,
            tx_ring: 64,
            bind_mode: BindMode::Auto,
            need_wakeup: true,
            busy_poll: None,
            bind_attempts: 50,
            bind_retry_delay: Duration::from_millis(20),
            huge_pages: false,
        }
    }
}

/// Kernel socket statistics (`getsockopt(SOL_XDP, XDP_STATISTICS)`); part
/// of the loss accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for other reasons (e.g. larger than a frame).
    pub rx_dropped: u64,
    /// Frames dropped because of an invalid descriptor.
    pub rx_invalid_descs: u64,
    /// Tx descriptors rejected as invalid.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the rx ring was full (user space too slow).
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (frames lost for lack of
    /// buffers).
    pub rx_fill_ring_empty_descs: u64,
    /// Times the tx ring was found empty.
    pub tx_ring_empty_descs: u64,
}

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
    // Socket handles first: the socket is deleted when the last of them is
    // dropped (fill and completion queues included), and the UMEM after.
    rx: RxQueue,
    fq: FillQueue,
    _cq: CompQueue,
    _tx: TxQueue,
    umem: Umem,
    /// Scratch for rx descriptors, `rx_ring` long, allocated once.
    batch: Vec<FrameDesc>,
    /// Frames owned by user space; capacity `frame_count`, allocated once.
    free: Vec<FrameDesc>,
    fd: RawFd,
    frame_mask: usize,
    iface: String,
    queue: u32,
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
            .field("iface", &self.iface)
            .field("queue", &self.queue)
            .field("fd", &self.fd)
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
        let if_name = Interface::from_str(iface)
            .map_err(|_| DatapathError::InterfaceMissing { iface: iface.to_string() })?;

        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(cfg.frame_size).map_err(cfg_err)?)
            .fill_queue_size(QueueSize::new(cfg.fill_ring).map_err(cfg_err)?)
            .comp_queue_size(QueueSize::new(cfg.comp_ring).map_err(cfg_err)?)
            .frame_headroom(0)
            .build()
            .map_err(cfg_err)?;
        let frames = NonZeroU32::new(cfg.frame_count)
            .ok_or_else(|| DatapathError::Config("frame count must be > 0".into()))?;
        let (umem, descs) = Umem::new(umem_cfg, frames, cfg.huge_pages).map_err(|e| {
            DatapathError::Umem {
                bytes: u64::from(cfg.frame_count) * u64::from(cfg.frame_size),
                reason: error_chain(&e),
            }
        })?;

        let mut bind = BindFlags::empty();
        match cfg.bind_mode {
            BindMode::Auto => {}
            BindMode::Copy => bind |= BindFlags::XDP_COPY,
            BindMode::ZeroCopy => bind |= BindFlags::XDP_ZEROCOPY,
        }
        if cfg.need_wakeup {
            bind |= BindFlags::XDP_USE_NEED_WAKEUP;
        }
        let sock_cfg = SocketConfig::builder()
            .rx_queue_size(QueueSize::new(cfg.rx_ring).map_err(cfg_err)?)
            .tx_queue_size(QueueSize::new(cfg.tx_ring).map_err(cfg_err)?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(bind)
            .build();

        let attempts = cfg.bind_attempts.max(1);
        let mut attempt = 0;
        let (tx, rx, fq_cq) = loop {
            attempt += 1;
            // SAFETY: the UMEM is private to this queue (never shared), and
            // INHIBIT_PROG_LOAD is set, which is what `Socket::new` requires
            // for shared UMEMs anyway; a failed attempt leaves the UMEM
            // reusable for the next one (xsk-rs keeps the saved rings).
            match unsafe { Socket::new(sock_cfg, &umem, &if_name, queue) } {
                Ok(parts) => break parts,
                Err(e) => {
                    let os = std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<io::Error>())
                        .and_then(io::Error::raw_os_error);
                    if os == Some(libc::EBUSY) && attempt < attempts {
                        debug!(iface, queue, attempt, "AF_XDP queue busy, retrying bind");
                        std::thread::sleep(cfg.bind_retry_delay);
                        continue;
                    }
                    return Err(socket_error(iface, queue, cfg.bind_mode, attempt, &e, os));
                }
            }
        };
        let Some((fq, cq)) = fq_cq else {
            return Err(DatapathError::Socket {
                iface: iface.to_string(),
                queue,
                reason: "libxdp returned no fill/completion ring for a private UMEM".into(),
                source: io::Error::other("missing fill/completion ring"),
            });
        };
        let fd = {
            use std::os::fd::AsRawFd;
            rx.fd().as_raw_fd()
        };

        let mut q = XskQueue {
            rx,
            fq,
            _cq: cq,
            _tx: tx,
            umem,
            batch: vec![FrameDesc::default(); cfg.rx_ring as usize],
            free: Vec::with_capacity(descs.len()),
            fd,
            frame_mask: cfg.frame_size as usize - 1,
            iface: iface.to_string(),
            queue,
            zerocopy: false,
            need_wakeup: cfg.need_wakeup,
            busy_poll: cfg.busy_poll.is_some(),
            counts: RxCounts::default(),
        };
        q.free.extend_from_slice(&descs);
        drop(descs);

        if let Some(bp) = cfg.busy_poll {
            q.setsockopt_int(SO_PREFER_BUSY_POLL, 1, "setsockopt(SO_PREFER_BUSY_POLL)")?;
            q.setsockopt_int(SO_BUSY_POLL, bp.usecs as i32, "setsockopt(SO_BUSY_POLL)")?;
            q.setsockopt_int(SO_BUSY_POLL_BUDGET, bp.budget as i32, "setsockopt(SO_BUSY_POLL_BUDGET)")?;
        }
        q.zerocopy = q.query_zerocopy()?;
        q.refill();
        debug!(iface, queue, fd, zerocopy = q.zerocopy, attempts = attempt,
               fill = cfg.fill_ring, frames = cfg.frame_count, "AF_XDP socket bound");
        Ok(q)
    }

    /// The socket's file descriptor (for the XSKMAP).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Interface name the socket is bound to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Queue id the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
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
        let mut n = unsafe { self.rx.consume(&mut self.batch[..max]) };
        if n == 0 {
            self.refill();
            if self.busy_poll || (self.need_wakeup && self.fq.needs_wakeup()) {
                self.kick()?;
            }
            if timeout_ms != 0 && !self.poll_in(timeout_ms)? {
                return Ok(0);
            }
            // SAFETY: as above.
            n = unsafe { self.rx.consume(&mut self.batch[..max]) };
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
        for desc in &mut self.free[start..start + n] {
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

    /// Kernel statistics of the socket.
    pub fn stats(&self) -> Result<XskStats> {
        let s = self.rx.fd().xdp_statistics().map_err(|source| self.io_err("XDP_STATISTICS", source))?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped(),
            rx_invalid_descs: s.rx_invalid_descs(),
            tx_invalid_descs: s.tx_invalid_descs(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs(),
            tx_ring_empty_descs: s.tx_ring_empty_descs(),
        })
    }

    /// User-space receive counts (frames, frames with a kernel timestamp).
    pub fn rx_counts(&self) -> RxCounts {
        self.counts
    }

    // --- internals -----------------------------------------------------------

    /// Returns as many free frames to the fill ring as it has room for.
    /// `produce` is all-or-nothing, so the count is sized by `nb_free`.
    fn refill(&mut self) {
        let want = self.free.len() as u32;
        if want == 0 {
            return;
        }
        let room = self.fq.nb_free(want).min(want) as usize;
        if room == 0 {
            return;
        }
        let from = self.free.len() - room;
        // SAFETY: frames on the free list are owned by user space (in no
        // ring, not referenced by any live slice) and belong to `self.umem`.
        let done = unsafe { self.fq.produce(&self.free[from..]) };
        debug_assert!(done == room || done == 0);
        self.free.truncate(self.free.len() - done);
        if done > 0 && self.need_wakeup && self.fq.needs_wakeup() {
            if let Err(e) = self.kick() {
                warn!(iface = %self.iface, queue = self.queue, error = %e, "fill ring wakeup failed");
            }
        }
    }

    /// `recvfrom(MSG_DONTWAIT)`: wakes the driver (need_wakeup) or runs one
    /// busy-poll round.
    fn kick(&mut self) -> Result<()> {
        // SAFETY: a zero-length receive with null buffers is valid for an
        // AF_XDP socket; `self.fd` is open for the lifetime of `self`.
        let r = unsafe {
            libc::recvfrom(
                self.fd,
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN | libc::EINTR) => {}
                _ => return Err(self.io_err("recvfrom (wakeup)", e)),
            }
        }
        Ok(())
    }

    /// `poll(POLLIN)`; true when readable.
    fn poll_in(&mut self, timeout_ms: i32) -> Result<bool> {
        let mut pfd = libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is a valid pollfd array of length 1.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(self.io_err("poll", e));
        }
        Ok(r > 0 && pfd.revents & libc::POLLIN != 0)
    }

    fn setsockopt_int(&self, opt: libc::c_int, val: i32, what: &'static str) -> Result<()> {
        // SAFETY: `val` is a live c_int for the duration of the call and the
        // length passed matches it.
        let r = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                opt,
                (&val as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(self.io_err(what, io::Error::last_os_error()));
        }
        Ok(())
    }

    fn query_zerocopy(&self) -> Result<bool> {
        let mut opts = libc::xdp_options { flags: 0 };
        let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
        // SAFETY: `opts` is writable for `len` bytes; `len` is updated by the
        // kernel.
        let r = unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_XDP,
                libc::XDP_OPTIONS,
                (&mut opts as *mut libc::xdp_options).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(self.io_err("getsockopt(XDP_OPTIONS)", io::Error::last_os_error()));
        }
        Ok(opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
    }

    fn io_err(&self, what: &'static str, source: io::Error) -> DatapathError {
        DatapathError::Io { iface: self.iface.clone(), queue: self.queue, what, source }
    }
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


pub(crate) fn validate(cfg: &XskConfig) -> Result<()> {
    for (name, v) in [
        ("frame size", cfg.frame_size),
        ("fill ring", cfg.fill_ring),
        ("completion ring", cfg.comp_ring),
        ("rx ring", cfg.rx_ring),
        ("tx ring", cfg.tx_ring),
    ] {
        if !v.is_power_of_two() {
            return Err(DatapathError::Config(format!("{name} must be a power of two, got {v}")));
        }
    }
    if cfg.frame_size < 2048 {
        return Err(DatapathError::Config(format!(
            "frame size must be at least 2048, got {}",
            cfg.frame_size
        )));
    }
    if cfg.frame_count < cfg.fill_ring {
        return Err(DatapathError::Config(format!(
            "frame count ({}) must be at least the fill ring size ({})",
            cfg.frame_count, cfg.fill_ring
        )));
    }
    Ok(())
}

pub(crate) fn cfg_err(e: impl std::fmt::Display) -> DatapathError {
    DatapathError::Config(e.to_string())
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

pub(crate) fn socket_error(
    iface: &str,
    queue: u32,
    mode: BindMode,
    attempts: u32,
    e: &xsk_rs::socket::SocketCreateError,
    os: Option<i32>,
) -> DatapathError {
    let source = || {
        os.map(io::Error::from_raw_os_error).unwrap_or_else(|| io::Error::other(e.to_string()))
    };
    match os {
        Some(libc::EBUSY) => {
            DatapathError::QueueBusy { iface: iface.to_string(), queue, attempts }
        }
        Some(libc::EAFNOSUPPORT) => DatapathError::XskUnsupported { source: source() },
        Some(libc::EPERM | libc::EACCES) => DatapathError::Permission {
            missing: format!("permission to create an AF_XDP socket ({})", source()),
        },
        Some(libc::ENODEV | libc::ENXIO) => {
            DatapathError::InterfaceMissing { iface: iface.to_string() }
        }
        Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | ENOTSUPP) if mode == BindMode::ZeroCopy => {
            DatapathError::ZeroCopyUnsupported { iface: iface.to_string(), queue, source: source() }
        }
        Some(libc::EINVAL) if rx_queue_count(iface).is_some_and(|n| queue >= n) => {
            DatapathError::NoSuchQueue { iface: iface.to_string(), queue, source: source() }
        }
        _ => DatapathError::Socket {
            iface: iface.to_string(),
            queue,
            reason: e.to_string(),
            source: source(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(validate(&XskConfig::default()).is_ok());
        let bad = XskConfig { fill_ring: 1000, ..XskConfig::default() };
        assert!(validate(&bad).is_err());
        let small = XskConfig { frame_count: 16, ..XskConfig::default() };
        assert!(validate(&small).is_err());
    }

    #[test]
    fn monotonic_is_monotonic() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
