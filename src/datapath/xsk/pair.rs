//! [`InlinePair`]: inline mode's two AF_XDP sockets — port A queue q and port B queue q — on
//! **one shared UMEM** (the second is bound with `XDP_SHARED_UMEM`), owned by one worker
//! thread. A frame received on A is handed to the engine, then its descriptor is put as is on
//! B's TX ring: the bytes are never copied in user space. Completions from both TX rings return
//! frames to one free list that feeds both fill rings (the UMEM invariant, [`super::umem`]).
//!
//! No frame is lost by inspection: a full TX ring is retried (completions reaped, the socket
//! kicked, a bounded spin then yields); only frames that still cannot be queued after
//! [`TX_RETRIES`] attempts are given up, and they are counted (`tx_failed`). Frames the kernel
//! itself drops (rx ring full, fill ring empty) are in the socket statistics. At stop
//! ([`Drop`]) whatever is still in the rx rings is forwarded without inspection (`drained`)
//! before the sockets close.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};
use xsk_rs::umem::frame::FrameDesc;
use xsk_rs::Umem;

use super::config::{socket_config, validate, XskConfig};
use super::port::{poll_in, Kick, Port, XskStats};
use super::umem::{self, take_meta};
use crate::datapath::error::Result;
use crate::datapath::sys::{ifindex_of, monotonic_ns};

/// Attempts to queue a batch on a full TX ring before the rest is given up.
pub const TX_RETRIES: u32 = 1000;
/// Spins before a TX retry starts yielding the CPU.
const TX_SPINS: u32 = 32;
/// sendto() kicks per flush (copy mode transmits at most 32 frames per kick).
const MAX_KICKS: u32 = 256;
/// How long the stop drain waits for rx frames and TX completions.
const DRAIN_TIME: Duration = Duration::from_millis(300);

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

/// One port of a pair: its socket and what the pair tracks of its TX ring.
struct Leg {
    port: Port,
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
    a: Leg,
    b: Leg,
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
            .field("a", &(&self.a.port.iface, self.a.port.queue, self.a.port.fd))
            .field("b", &(&self.b.port.iface, self.b.port.queue, self.b.port.fd))
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

impl InlinePair {
    /// Opens port A queue `queue` (owning the UMEM) and port B queue
    /// `queue` (sharing it), and fills both fill rings. `cfg` should come
    /// from [`pair_config`].
    pub fn open(iface_a: &str, iface_b: &str, queue: u32, cfg: &XskConfig, stats: Arc<InlineStats>) -> Result<InlinePair> {
        validate(cfg)?;
        ifindex_of(iface_a)?;
        ifindex_of(iface_b)?;
        let sock_cfg = socket_config(cfg)?;
        let (umem, free) = umem::create(cfg)?;
        // The first socket owns the UMEM (its bind flags apply); libxdp binds the second with
        // XDP_SHARED_UMEM (and no other flag), which inherits copy/zero-copy and need_wakeup.
        let (a, _) = Port::bind(iface_a, queue, &umem, sock_cfg, cfg)?;
        let (b, _) = Port::bind(iface_b, queue, &umem, sock_cfg, cfg)?;
        let zerocopy = a.zerocopy().unwrap_or(false) && b.zerocopy().unwrap_or(false);
        let leg = |port: Port| Leg { port, tx_size: cfg.tx_ring, outstanding: 0 };
        let mut p = InlinePair {
            a: leg(a),
            b: leg(b),
            umem,
            free,
            batch: vec![FrameDesc::default(); cfg.rx_ring as usize],
            comp: vec![FrameDesc::default(); cfg.comp_ring as usize],
            frame_mask: cfg.frame_size as usize - 1,
            need_wakeup: cfg.need_wakeup,
            zerocopy,
            stats,
        };
        p.refill();
        debug!(a = iface_a, b = iface_b, queue, zerocopy, frames = cfg.frame_count, "inline pair bound (shared UMEM)");
        Ok(p)
    }

    /// Socket of port A (for XSKMAP slot `q`).
    pub fn fd_a(&self) -> RawFd {
        self.a.port.fd
    }

    /// Socket of port B (for XSKMAP slot `base + q`).
    pub fn fd_b(&self) -> RawFd {
        self.b.port.fd
    }

    /// Whether both sockets run zero-copy.
    pub fn is_zerocopy(&self) -> bool {
        self.zerocopy
    }

    fn leg(&mut self, s: Side) -> &mut Leg {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Completions of both TX rings back to the free list.
    fn reap(&mut self) {
        for s in [Side::A, Side::B] {
            let mut comp = std::mem::take(&mut self.comp);
            let leg = self.leg(s);
            // SAFETY: completion descriptors name frames of the shared UMEM
            // that we put on this port's TX ring; the kernel is done with them.
            let n = unsafe { leg.port.cq.consume(&mut comp) };
            leg.outstanding = leg.outstanding.saturating_sub(n as u64);
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
            let share = if i == 0 { total.div_ceil(2) } else { self.free.len() };
            if share == 0 {
                continue;
            }
            let need_wakeup = self.need_wakeup;
            let leg = match s {
                Side::A => &mut self.a,
                Side::B => &mut self.b,
            };
            let done = umem::fill(&mut leg.port.fq, &mut self.free, share);
            if done > 0 && need_wakeup && leg.port.fq.needs_wakeup() {
                wake_rx(&leg.port);
            }
        }
    }

    /// Puts `descs` (frames received on the other port) on `out`'s TX ring,
    /// retrying while it is full; returns how many were given up.
    fn transmit(&mut self, out: Side, descs: &[FrameDesc]) -> usize {
        let mut sent = 0usize;
        let mut tries = 0u32;
        while sent < descs.len() {
            let leg = self.leg(out);
            let want = (descs.len() - sent) as u32;
            let room = leg.port.tx.nb_free(want).min(want) as usize;
            if room > 0 {
                // SAFETY: the frames were consumed from the other port's rx
                // ring (user space owns them), belong to the UMEM this TX
                // ring shares, and are not on any other ring.
                let k = unsafe { leg.port.tx.produce(&descs[sent..sent + room]) };
                sent += k;
                leg.outstanding += k as u64;
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
            warn!(iface = %self.leg(out).port.iface, failed, "TX ring stayed full: frames given up");
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
            let leg = self.leg(out);
            if leg.port.tx.nb_free_exact() >= leg.tx_size {
                return;
            }
            if zerocopy && !leg.port.tx.needs_wakeup() {
                return;
            }
            match leg.port.kick_tx() {
                Ok(Kick::Busy) => {
                    self.stats.tx_busy.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Kick::Done) => {}
                // The frames stay on the ring: the next kick, or the drain at stop, retries.
                Err(e) => debug!(error = %e, "TX kick failed"),
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
        let leg = self.leg(from);
        // SAFETY: the descriptors are written by this socket's rx ring, whose
        // frames all belong to the shared UMEM.
        let n = unsafe { leg.port.rx.consume(&mut batch[..max]) };
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
                    debug!(a = %self.a.port.iface, queue = self.a.port.queue,
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
    /// Receives up to `max` frames from each port, hands each to `f(ts_ns, frame)` and
    /// forwards it out of the other port; returns how many were received. When nothing is
    /// ready, both sockets are refilled and kicked as the kernel asks, pending TX is flushed,
    /// and — for a non-zero `timeout_ms` — both are `poll()`ed (negative: no limit).
    pub fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        let mut f = Some(f);
        self.reap();
        let mut n = self.pump(Side::A, max, &mut f) + self.pump(Side::B, max, &mut f);
        if n == 0 {
            self.refill();
            for s in [Side::A, Side::B] {
                let need_wakeup = self.need_wakeup;
                let leg = self.leg(s);
                if need_wakeup && leg.port.fq.needs_wakeup() {
                    wake_rx(&leg.port);
                }
                if leg.outstanding > 0 {
                    self.flush(s);
                }
            }
            if timeout_ms != 0 && !poll_in(&[&self.a.port, &self.b.port], timeout_ms)? {
                return Ok(0);
            }
            n = self.pump(Side::A, max, &mut f) + self.pump(Side::B, max, &mut f);
        }
        self.refill();
        Ok(n)
    }

    /// Kernel statistics of both sockets, summed.
    pub fn stats(&self) -> Option<XskStats> {
        Some(self.a.port.stats().ok()?.plus(self.b.port.stats().ok()?))
    }
}

/// Fill-ring wakeup of a pair's socket. A failure is left to the next wakeup (the pair's
/// receive loop kicks again whenever the kernel asks).
fn wake_rx(port: &Port) {
    if let Err(e) = port.kick_rx() {
        debug!(error = %e, "fill ring wakeup failed");
    }
}

impl Drop for InlinePair {
    fn drop(&mut self) {
        self.drain();
    }
}
