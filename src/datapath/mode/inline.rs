//! Inline mode: a transparent two-port bump-in-the-wire.
//!
//! ```text
//!          ┌──────────────── one XDP program, attached to both ports ────────────────┐
//!  port A ─┤ control segment? no ─► DEVMAP ackscope_fwd[A] = B ─► out of B (kernel)   ├─ port B
//!          │                 yes ─► XSKMAP[q] ─► socket A/q ─┐                        │
//!          │                                                 │ worker q: inspect,     │
//!          │  port B's frames: XSKMAP[base + q] ─► socket B/q ┘ then TX on the other  │
//!          │                                                   port's socket (same    │
//!          │                                                   UMEM: no copy)         │
//!          └──────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each [`InlinePair`] is two AF_XDP sockets — port A queue q and port B
//! queue q — on **one shared UMEM** (the second is bound with
//! `XDP_SHARED_UMEM`), owned by one worker thread. A frame received on A is
//! handed to the engine (through the [`FrameSource`] callback), then its
//! descriptor is put as is on B's TX ring: the bytes are never copied in user
//! space. Completions from both TX rings return frames to one free list that
//! feeds both fill rings.
//!
//! No frame is lost by inspection: a full TX ring is retried (completions
//! reaped, the socket kicked, a bounded spin then yields); only frames that
//! still cannot be queued after [`TX_RETRIES`] attempts are given up, and
//! they are counted (`tx_failed`). Frames the kernel itself drops (rx ring
//! full, fill ring empty) are in the socket statistics. At stop the sockets
//! are first removed from the XSKMAP (control frames then take the kernel
//! path too), and whatever is still in the rx rings is forwarded without
//! inspection (`drained`) before the sockets close.
//!
//! What happens to traffic when ackscope stops is [`OnExit`]: see
//! docs/MODES.md.

use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::socket::Socket;
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::{CompQueue, FillQueue, RxQueue, TxQueue, Umem};

use super::session::{pool_config, LiveConfig, ModeState, Started};
use crate::datapath::error::{DatapathError, Result};
use crate::datapath::pool::{FrameSource, Pool};
use crate::datapath::sys::{ifindex_of, monotonic_ns, rx_queue_count, ModeLock};
use crate::datapath::xdp::{SteerMode, XdpSteer};
use crate::datapath::xsk::{cfg_err, error_chain, socket_error, take_meta, BindMode, XskConfig, XskStats};

/// Attempts to queue a batch on a full TX ring before the rest is given up.
pub const TX_RETRIES: u32 = 1000;
/// Spins before a TX retry starts yielding the CPU.
const TX_SPINS: u32 = 32;
/// sendto() kicks per flush (copy mode transmits at most 32 frames per kick).
const MAX_KICKS: u32 = 256;
/// How long the stop drain waits for rx frames and TX completions.
const DRAIN_TIME: Duration = Duration::from_millis(300);

/// What happens to the traffic between the two ports when ackscope stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExit {
    /// Fail-open: the XDP program stays attached (netlink attach, not a
    /// bpf_link) and forwards every frame between the ports in the kernel —
    /// also after a crash or SIGKILL. The next ackscope start replaces it in
    /// place; `ip link set dev A xdp off; ip link set dev B xdp off` removes
    /// it (and disconnects the ports).
    #[default]
    Bypass,
    /// Fail-closed: the program is a bpf_link that goes with the process;
    /// after ackscope ends, nothing forwards between the ports.
    Disconnect,
}

/// Live TX/RX counters of one inline pair (relaxed atomics).
#[repr(align(128))]
#[derive(Default, Debug)]
pub struct InlineStats {
    /// Frames received on port A's socket.
    pub rx_a: AtomicU64,
    /// Frames received on port B's socket.
    pub rx_b: AtomicU64,
    /// Frames queued on port A's TX ring (they came from B).
    pub tx_a: AtomicU64,
    /// Frames queued on port B's TX ring (they came from A).
    pub tx_b: AtomicU64,
    /// Frames given up after [`TX_RETRIES`] attempts (lost).
    pub tx_failed: AtomicU64,
    /// Times a TX ring was found full and the batch retried.
    pub tx_retries: AtomicU64,
    /// `sendto()` kicks the device refused with EBUSY/ENOBUFS (copy mode:
    /// the device dropped a frame; the kernel completes it anyway).
    pub tx_busy: AtomicU64,
    /// TX completions reaped.
    pub completed: AtomicU64,
    /// Frames forwarded without inspection while stopping.
    pub drained: AtomicU64,
}

/// A snapshot of [`InlineStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InlineCounts {
    /// See [`InlineStats::rx_a`].
    pub rx_a: u64,
    /// See [`InlineStats::rx_b`].
    pub rx_b: u64,
    /// See [`InlineStats::tx_a`].
    pub tx_a: u64,
    /// See [`InlineStats::tx_b`].
    pub tx_b: u64,
    /// See [`InlineStats::tx_failed`].
    pub tx_failed: u64,
    /// See [`InlineStats::tx_retries`].
    pub tx_retries: u64,
    /// See [`InlineStats::tx_busy`].
    pub tx_busy: u64,
    /// See [`InlineStats::completed`].
    pub completed: u64,
    /// See [`InlineStats::drained`].
    pub drained: u64,
}

impl InlineStats {
    /// The counters now.
    pub fn snapshot(&self) -> InlineCounts {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        InlineCounts {
            rx_a: l(&self.rx_a),
            rx_b: l(&self.rx_b),
            tx_a: l(&self.tx_a),
            tx_b: l(&self.tx_b),
            tx_failed: l(&self.tx_failed),
            tx_retries: l(&self.tx_retries),
            tx_busy: l(&self.tx_busy),
            completed: l(&self.completed),
            drained: l(&self.drained),
        }
    }
}

/// One port's socket of a pair.
struct Port {
    rx: RxQueue,
    tx: TxQueue,
    fq: FillQueue,
    cq: CompQueue,
    fd: RawFd,
    iface: String,
    queue: u32,
    tx_size: u32,
    /// Frames on the TX ring or in the kernel, not yet completed.
    outstanding: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    A,
    B,
}

/// Port A queue q and port B queue q on one shared UMEM, forwarding
/// inspected frames to each other (see the module documentation).
pub struct InlinePair {
    // Ports first: the sockets are deleted (their fill/completion rings
    // included) before the UMEM handle below goes.
    a: Port,
    b: Port,
    umem: Umem,
    /// Frames owned by user space; capacity = UMEM frames, allocated once.
    free: Vec<FrameDesc>,
    /// Scratch for rx descriptors.
    batch: Vec<FrameDesc>,
    /// Scratch for completion descriptors.
    comp: Vec<FrameDesc>,
    frame_mask: usize,
    need_wakeup: bool,
    zerocopy: bool,
    stats: Arc<InlineStats>,
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<InlinePair>();
};

impl std::fmt::Debug for InlinePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlinePair")
            .field("a", &(&self.a.iface, self.a.queue, self.a.fd))
            .field("b", &(&self.b.iface, self.b.queue, self.b.fd))
            .field("zerocopy", &self.zerocopy)
            .field("free_frames", &self.free.len())
            .finish()
    }
}

/// The socket settings an inline pair uses, derived from the rx-side
/// `XskConfig`: TX and completion rings as large as the rx ring, and enough
/// UMEM frames for both fill rings and both TX rings.
pub fn pair_config(base: &XskConfig) -> XskConfig {
    let mut c = base.clone();
    c.tx_ring = c.rx_ring;
    c.comp_ring = c.rx_ring;
    let need = 2 * c.fill_ring + 2 * c.tx_ring;
    c.frame_count = c.frame_count.max(need);
    c
}

fn bind_socket(
    iface: &str,
    queue: u32,
    umem: &Umem,
    sock_cfg: SocketConfig,
    cfg: &XskConfig,
) -> Result<(TxQueue, RxQueue, FillQueue, CompQueue)> {
    let if_name =
        Interface::from_str(iface).map_err(|_| DatapathError::InterfaceMissing { iface: iface.to_string() })?;
    let attempts = cfg.bind_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // SAFETY: INHIBIT_PROG_LOAD is set (what `Socket::new` requires for
        // a shared UMEM); the UMEM outlives every socket created from it
        // (each socket handle holds a clone of it), and a failed attempt
        // leaves it reusable (xsk-rs keeps the saved rings).
        match unsafe { Socket::new(sock_cfg, umem, &if_name, queue) } {
            Ok((tx, rx, Some((fq, cq)))) => return Ok((tx, rx, fq, cq)),
            Ok((_, _, None)) => {
                return Err(DatapathError::Socket {
                    iface: iface.to_string(),
                    queue,
                    reason: "libxdp returned no fill/completion ring for a new (device, queue)".into(),
                    source: io::Error::other("missing fill/completion ring"),
                })
            }
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
    }
}

fn zerocopy_of(fd: RawFd) -> bool {
    let mut opts = libc::xdp_options { flags: 0 };
    let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
    // SAFETY: `opts` is writable for `len` bytes; `len` is updated by the
    // kernel; `fd` is an open AF_XDP socket.
    let r = unsafe {
        libc::getsockopt(fd, libc::SOL_XDP, libc::XDP_OPTIONS, (&mut opts as *mut libc::xdp_options).cast(), &mut len)
    };
    r == 0 && opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0
}

impl InlinePair {
    /// Opens port A queue `queue` (owning the UMEM) and port B queue
    /// `queue` (sharing it), and fills both fill rings. `cfg` should come
    /// from [`pair_config`].
    pub fn open(iface_a: &str, iface_b: &str, queue: u32, cfg: &XskConfig, stats: Arc<InlineStats>) -> Result<InlinePair> {
        crate::datapath::xsk::validate(cfg)?;
        ifindex_of(iface_a)?;
        ifindex_of(iface_b)?;
        let umem_cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(cfg.frame_size).map_err(cfg_err)?)
            .fill_queue_size(QueueSize::new(cfg.fill_ring).map_err(cfg_err)?)
            .comp_queue_size(QueueSize::new(cfg.comp_ring).map_err(cfg_err)?)
            .frame_headroom(0)
            .build()
            .map_err(cfg_err)?;
        let frames =
            NonZeroU32::new(cfg.frame_count).ok_or_else(|| DatapathError::Config("frame count must be > 0".into()))?;
        let (umem, descs) = Umem::new(umem_cfg, frames, cfg.huge_pages).map_err(|e| DatapathError::Umem {
            bytes: u64::from(cfg.frame_count) * u64::from(cfg.frame_size),
            reason: error_chain(&e),
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
        // The first socket owns the UMEM (its bind flags apply); libxdp binds
        // the second with XDP_SHARED_UMEM, which inherits copy/zero-copy and
        // need_wakeup from the first.
        let (tx_a, rx_a, fq_a, cq_a) = bind_socket(iface_a, queue, &umem, sock_cfg, cfg)?;
        let (tx_b, rx_b, fq_b, cq_b) = bind_socket(iface_b, queue, &umem, sock_cfg, cfg)?;
        let port = |rx: RxQueue, tx: TxQueue, fq: FillQueue, cq: CompQueue, iface: &str| {
            let fd = rx.fd().as_raw_fd();
            Port { rx, tx, fq, cq, fd, iface: iface.to_string(), queue, tx_size: cfg.tx_ring, outstanding: 0 }
        };
        let a = port(rx_a, tx_a, fq_a, cq_a, iface_a);
        let b = port(rx_b, tx_b, fq_b, cq_b, iface_b);
        let zerocopy = zerocopy_of(a.fd) && zerocopy_of(b.fd);
        let mut p = InlinePair {
            a,
            b,
            umem,
            free: Vec::with_capacity(descs.len()),
            batch: vec![FrameDesc::default(); cfg.rx_ring as usize],
            comp: vec![FrameDesc::default(); cfg.comp_ring as usize],
            frame_mask: cfg.frame_size as usize - 1,
            need_wakeup: cfg.need_wakeup,
            zerocopy,
            stats,
        };
        p.free.extend_from_slice(&descs);
        p.refill();
        debug!(a = iface_a, b = iface_b, queue, zerocopy, frames = cfg.frame_count, "inline pair bound (shared UMEM)");
        Ok(p)
    }

    /// Socket of port A (for XSKMAP slot `q`).
    pub fn fd_a(&self) -> RawFd {
        self.a.fd
    }

    /// Socket of port B (for XSKMAP slot `base + q`).
    pub fn fd_b(&self) -> RawFd {
        self.b.fd
    }

    /// Whether both sockets run zero-copy.
    pub fn is_zerocopy(&self) -> bool {
        self.zerocopy
    }

    fn port(&mut self, s: Side) -> &mut Port {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Completions of both TX rings back to the free list.
    fn reap(&mut self) {
        for s in [Side::A, Side::B] {
            let mut comp = std::mem::take(&mut self.comp);
            let port = self.port(s);
            // SAFETY: completion descriptors name frames of the shared UMEM
            // that we put on this port's TX ring; the kernel is done with them.
            let n = unsafe { port.cq.consume(&mut comp) };
            port.outstanding = port.outstanding.saturating_sub(n as u64);
            self.free.extend_from_slice(&comp[..n]);
            self.comp = comp;
            if n > 0 {
                self.stats.completed.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }

    /// Free frames to both fill rings, about half each.
    fn refill(&mut self) {
        let total = self.free.len();
        if total == 0 {
            return;
        }
        for (i, s) in [Side::A, Side::B].into_iter().enumerate() {
            let share = if i == 0 { total.div_ceil(2) } else { self.free.len() } as u32;
            if share == 0 {
                continue;
            }
            let need_wakeup = self.need_wakeup;
            let from_len = self.free.len();
            let port = match s {
                Side::A => &mut self.a,
                Side::B => &mut self.b,
            };
            let room = port.fq.nb_free(share).min(share) as usize;
            if room == 0 {
                continue;
            }
            let from = from_len - room;
            // SAFETY: frames on the free list are owned by user space (in no
            // ring, not borrowed) and belong to the shared UMEM.
            let done = unsafe { port.fq.produce(&self.free[from..]) };
            self.free.truncate(from_len - done);
            if done > 0 && need_wakeup && port.fq.needs_wakeup() {
                kick_rx(port.fd);
            }
        }
    }

    /// Puts `descs` (frames received on the other port) on `out`'s TX ring,
    /// retrying while it is full; returns how many were given up.
    fn transmit(&mut self, out: Side, descs: &[FrameDesc]) -> usize {
        let mut sent = 0usize;
        let mut tries = 0u32;
        while sent < descs.len() {
            let port = self.port(out);
            let want = (descs.len() - sent) as u32;
            let room = port.tx.nb_free(want).min(want) as usize;
            if room > 0 {
                // SAFETY: the frames were consumed from the other port's rx
                // ring (user space owns them), belong to the UMEM this TX
                // ring shares, and are not on any other ring.
                let k = unsafe { port.tx.produce(&descs[sent..sent + room]) };
                sent += k;
                port.outstanding += k as u64;
            }
            self.flush(out);
            if sent == descs.len() {
                break;
            }
            tries += 1;
            self.stats.tx_retries.fetch_add(1, Ordering::Relaxed);
            if tries >= TX_RETRIES {
                break;
            }
            self.reap();
            if tries < TX_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        let c = match out {
            Side::A => &self.stats.tx_a,
            Side::B => &self.stats.tx_b,
        };
        c.fetch_add(sent as u64, Ordering::Relaxed);
        let failed = descs.len() - sent;
        if failed > 0 {
            self.free.extend_from_slice(&descs[sent..]);
            self.stats.tx_failed.fetch_add(failed as u64, Ordering::Relaxed);
            warn!(iface = %self.port(out).iface, failed, "TX ring stayed full: frames given up");
        }
        failed
    }

    /// Kicks `out`'s socket until its TX ring is consumed (bounded). Copy
    /// mode transmits inside sendto(), at most 32 frames per call, and needs
    /// room in the completion ring, so completions are reaped between kicks.
    fn flush(&mut self, out: Side) {
        let zerocopy = self.zerocopy;
        for i in 0..MAX_KICKS {
            if i > 0 {
                self.reap();
            }
            let port = self.port(out);
            if port.tx.nb_free_exact() >= port.tx_size {
                return;
            }
            if zerocopy && !port.tx.needs_wakeup() {
                return;
            }
            let busy = kick_tx(port.fd);
            if busy {
                self.stats.tx_busy.fetch_add(1, Ordering::Relaxed);
            }
            if zerocopy {
                return;
            }
        }
    }

    /// Receives up to `max` frames from `from`, hands each to `f` (unless
    /// `f` is `None`: drain) and transmits them out of the other port.
    fn pump<F: FnMut(u64, &[u8])>(&mut self, from: Side, max: usize, f: &mut Option<F>) -> usize {
        let max = max.min(self.batch.len());
        let mut batch = std::mem::take(&mut self.batch);
        let port = self.port(from);
        // SAFETY: the descriptors are written by this socket's rx ring, whose
        // frames all belong to the shared UMEM.
        let n = unsafe { port.rx.consume(&mut batch[..max]) };
        if n > 0 {
            let mut batch_ts: Option<u64> = None;
            if let Some(f) = f {
                for desc in &mut batch[..n] {
                    // SAFETY: `desc` was just consumed from the rx ring:
                    // the kernel is done writing its frame and does not
                    // touch it until it is transmitted or refilled
                    // (below); nothing else in this process accesses it.
                    let ts = match unsafe { take_meta(&self.umem, desc, self.frame_mask) } {
                        Some(m) => m.rx_ts_ns,
                        None => *batch_ts.get_or_insert_with(monotonic_ns),
                    };
                    // SAFETY: same frame and exclusivity argument; the
                    // borrow ends before the frame goes on a TX ring.
                    let data = unsafe { self.umem.data(desc) };
                    f(ts, data.contents());
                }
            }
            let (rx, drained) = match from {
                Side::A => (&self.stats.rx_a, f.is_none()),
                Side::B => (&self.stats.rx_b, f.is_none()),
            };
            rx.fetch_add(n as u64, Ordering::Relaxed);
            if drained {
                self.stats.drained.fetch_add(n as u64, Ordering::Relaxed);
            }
            let out = if from == Side::A { Side::B } else { Side::A };
            self.transmit(out, &batch[..n]);
        }
        self.batch = batch;
        n
    }

    fn poll_both(&self, timeout_ms: i32) -> Result<bool> {
        let mut pfd = [
            libc::pollfd { fd: self.a.fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.b.fd, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `pfd` is a valid pollfd array of length 2.
        let r = unsafe { libc::poll(pfd.as_mut_ptr(), 2, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(DatapathError::Io { iface: self.a.iface.clone(), queue: self.a.queue, what: "poll", source: e });
        }
        Ok(r > 0)
    }

    fn stats_of(&self, p: &Port) -> Option<XskStats> {
        let s = p.rx.fd().xdp_statistics().ok()?;
        Some(XskStats {
            rx_dropped: s.rx_dropped(),
            rx_invalid_descs: s.rx_invalid_descs(),
            tx_invalid_descs: s.tx_invalid_descs(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs(),
            tx_ring_empty_descs: s.tx_ring_empty_descs(),
        })
    }

    /// Forwards what is still in the rx rings without inspection and waits
    /// (bounded) for the TX completions. Run by `Drop`.
    fn drain(&mut self) {
        let deadline = Instant::now() + DRAIN_TIME;
        let mut none: Option<fn(u64, &[u8])> = None;
        loop {
            self.reap();
            let n = self.pump(Side::A, usize::MAX, &mut none) + self.pump(Side::B, usize::MAX, &mut none);
            self.refill();
            if n == 0 && self.a.outstanding == 0 && self.b.outstanding == 0 {
                break;
            }
            if Instant::now() >= deadline {
                if self.a.outstanding + self.b.outstanding > 0 {
                    debug!(a = %self.a.iface, queue = self.a.queue,
                           outstanding = self.a.outstanding + self.b.outstanding,
                           "inline pair closing with TX completions outstanding");
                }
                break;
            }
            if n == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// `sendto(MSG_DONTWAIT)`: transmits (copy mode) or wakes the driver.
/// True when the device refused (EBUSY/ENOBUFS).
fn kick_tx(fd: RawFd) -> bool {
    // SAFETY: a zero-length send with null buffers is valid for an AF_XDP
    // socket; `fd` is open for the lifetime of the pair.
    let r = unsafe { libc::sendto(fd, std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
    r < 0 && matches!(io::Error::last_os_error().raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOBUFS))
}

/// `recvfrom(MSG_DONTWAIT)`: wakes the driver for the fill ring.
fn kick_rx(fd: RawFd) {
    // SAFETY: a zero-length receive with null buffers is valid for an
    // AF_XDP socket; `fd` is open for the lifetime of the pair.
    unsafe {
        libc::recvfrom(fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut())
    };
}

impl FrameSource for InlinePair {
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        let mut f = Some(f);
        self.reap();
        let mut n = self.pump(Side::A, max, &mut f) + self.pump(Side::B, max, &mut f);
        if n == 0 {
            self.refill();
            for s in [Side::A, Side::B] {
                let need_wakeup = self.need_wakeup;
                let p = self.port(s);
                if need_wakeup && p.fq.needs_wakeup() {
                    kick_rx(p.fd);
                }
                if p.outstanding > 0 {
                    self.flush(s);
                }
            }
            if timeout_ms != 0 && !self.poll_both(timeout_ms)? {
                return Ok(0);
            }
            n = self.pump(Side::A, max, &mut f) + self.pump(Side::B, max, &mut f);
        }
        self.refill();
        Ok(n)
    }

    fn xsk_stats(&self) -> Option<XskStats> {
        let a = self.stats_of(&self.a)?;
        let b = self.stats_of(&self.b)?;
        Some(XskStats {
            rx_dropped: a.rx_dropped + b.rx_dropped,
            rx_invalid_descs: a.rx_invalid_descs + b.rx_invalid_descs,
            tx_invalid_descs: a.tx_invalid_descs + b.tx_invalid_descs,
            rx_ring_full: a.rx_ring_full + b.rx_ring_full,
            rx_fill_ring_empty_descs: a.rx_fill_ring_empty_descs + b.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: a.tx_ring_empty_descs + b.tx_ring_empty_descs,
        })
    }
}

impl Drop for InlinePair {
    fn drop(&mut self) {
        self.drain();
    }
}

/// What a running inline session keeps besides the program and the pool.
#[derive(Debug)]
pub struct InlineRun {
    /// Port B.
    pub peer: String,
    /// What happens to the traffic at exit.
    pub on_exit: OnExit,
    /// Counters of each pair, in queue order.
    pub stats: Vec<Arc<InlineStats>>,
    /// XSKMAP slots registered (both ports), for the stop.
    slots: Vec<u32>,
    _locks: Vec<ModeLock>,
}

impl InlineRun {
    /// Removes every socket from the XSKMAP: control frames take the kernel
    /// path from now on, so the workers can drain and stop without a frame
    /// being steered into a closing socket.
    pub fn unregister(&self, steer: &XdpSteer) {
        for &slot in &self.slots {
            if let Err(e) = steer.unregister_socket(slot) {
                debug!(slot, error = %e, "XSKMAP slot already empty");
            }
        }
    }

    /// Counter snapshots, one per pair.
    pub fn counts(&self) -> Vec<InlineCounts> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }
}

/// Sets inline mode up between `cfg.iface` (A) and `peer` (B): locks both
/// ports, loads the program in forward mode with the DEVMAP A⇄B filled,
/// attaches it to both (replacing a fail-open leftover in place), opens one
/// shared-UMEM pair per queue and registers its sockets.
pub(crate) fn start(cfg: &LiveConfig, peer: &str, on_exit: OnExit) -> Result<Started> {
    let (iface, queues, steer_cfg, xsk_cfg) = (cfg.iface.as_str(), cfg.queues.as_deref(), &cfg.steer, &cfg.xsk);
    if iface == peer {
        return Err(DatapathError::Config(format!("inline mode needs two different ports, got `{iface}` twice")));
    }
    let ia = ifindex_of(iface)?;
    let ib = ifindex_of(peer)?;
    let locks = vec![
        ModeLock::take("inline", iface, ia)?,
        ModeLock::take("inline", peer, ib)?,
    ];
    let qa = rx_queue_count(iface).unwrap_or(1);
    let qb = rx_queue_count(peer).unwrap_or(1);
    let queues: Vec<u32> = match queues {
        Some(q) => q.to_vec(),
        None => (0..qa.min(qb)).collect(),
    };
    if queues.is_empty() {
        return Err(DatapathError::Config("no queue to open; give --queues N or all".into()));
    }
    if qa != qb {
        warn!(a = iface, b = peer, qa, qb,
              "the ports have different rx queue counts: frames on queues without a socket are forwarded uninspected");
    }
    let top = queues.iter().copied().max().unwrap_or(0) + 1;
    let base = qa.max(qb).max(top).max(64);
    let mut scfg = steer_cfg.clone();
    scfg.steer_mode = SteerMode::Forward;
    scfg.presorted = false;
    scfg.netlink = on_exit == OnExit::Bypass;
    scfg.xsk_map_size = Some(2 * base);
    scfg.forward = vec![(ia, ib), (ib, ia)];
    scfg.xsk_bases = vec![(ib, base)];
    let mut steer = XdpSteer::attach(iface, &scfg)?;
    steer.add_interface(peer)?;
    let pcfg = pair_config(xsk_cfg);
    let mut pairs = Vec::with_capacity(queues.len());
    let mut stats = Vec::with_capacity(queues.len());
    let mut slots = Vec::with_capacity(2 * queues.len());
    for &q in &queues {
        let st = Arc::new(InlineStats::default());
        let p = InlinePair::open(iface, peer, q, &pcfg, st.clone())?;
        steer.register_socket(q, p.fd_a())?;
        slots.push(q);
        steer.register_socket(base + q, p.fd_b())?;
        slots.push(base + q);
        pairs.push(p);
        stats.push(st);
    }
    let zerocopy = pairs.iter().all(|p| p.is_zerocopy());
    tracing::info!(a = %iface, b = %peer, queues = ?queues, mode = %steer.attached_mode(), zerocopy, on_exit = ?on_exit, "inline session started");
    let pool = Pool::spawn(pairs, pool_config(cfg, queues.len()));
    let run = InlineRun { peer: peer.to_string(), on_exit, stats, slots, _locks: locks };
    Ok(Started { steer: Some(steer), pool, queues, zerocopy, state: ModeState::Inline(run) })
}
