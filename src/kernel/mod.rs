//! The kernel beside the packets (host mode, and `run` whenever the server or the client of a
//! stale ACK is a local socket): the socket sock_diag finds for a 4-tuple, the process that owns
//! it, and the TCP MIB counters of the namespace.
//!
//! Everything here runs off the packet path: `app/live.rs` hands stale ACKs to one lookup thread
//! ([`Lookups`]) through a bounded queue, rate-limited ([`LOOKUPS_PER_S`]); a full queue or an
//! exhausted budget skips the lookup and counts it. Lookups are made in the network namespace
//! ackscope runs in, which is the namespace of the inspected interface (run it there, e.g. with
//! `ip netns exec`).
//!
//! Cost (measured in `tests/kernel_view.rs`, printed by the test): one sock_diag exact lookup is
//! one netlink request and one reply (tens of µs); the owner is found by scanning
//! `/proc/*/fd` for `socket:[inode]`, which costs one `readlink` per open descriptor of the
//! host. The scan is cached ([`OwnerCache`]: one scan fills the map of every socket inode, at
//! most [`OWNER_CACHE_MAX`] entries) and a miss rescans at most once per [`RESCAN_EVERY`].

mod local;
mod mib;
mod owner;
mod sockdiag;

pub use local::LocalClients;
pub use mib::{Mib, MIB_COUNTERS};
pub use owner::{Owner, OwnerCache, OWNER_CACHE_MAX, RESCAN_EVERY};
pub use sockdiag::{KernelSocket, SockDiag, TcpState};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};

use crate::detect::Cause;

/// Lookups per second at most (a token bucket with this burst); beyond it a stale ACK is written
/// without its `kernel` object and `kernel_lookups_skipped` counts it.
pub const LOOKUPS_PER_S: u32 = 100;
/// How long the event pump waits for a lookup before writing the event without it.
pub const LOOKUP_WAIT: Duration = Duration::from_millis(50);
/// Requests queued for the lookup thread at most.
pub const QUEUE: usize = 64;

/// Why a kernel query failed (each message says what to do).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The NETLINK_SOCK_DIAG socket could not be opened.
    #[error("cannot open a NETLINK_SOCK_DIAG socket (run as root or with CAP_NET_ADMIN; the kernel needs inet_diag/tcp_diag)")]
    Open(#[source] std::io::Error),
    /// Sending or receiving on it failed.
    #[error("sock_diag request failed (check that the tcp_diag module is loaded: modprobe tcp_diag)")]
    Io(#[source] std::io::Error),
    /// The kernel answered with something the crate could not parse.
    #[error("sock_diag answer could not be parsed: {0} (report this with the kernel version)")]
    Parse(String),
}

/// One side's socket as the kernel holds it, with its owner when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideView {
    /// The socket.
    pub socket: KernelSocket,
    /// The owning process (`None` for TIME-WAIT sockets, which belong to no process, or when
    /// the scan did not find it).
    pub owner: Option<Owner>,
}

/// What the kernel says about a stale ACK's 4-tuple: the server's socket (when the server is
/// local) and the client's (when the client is local).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelView {
    /// The local server socket for the 4-tuple.
    pub server: Option<SideView>,
    /// The local client socket (SYN-SENT while the stale ACK is being answered).
    pub client: Option<SideView>,
    /// Whether the server socket's state matches the cause inferred from packets (`None`: no
    /// server socket was found or the event has no cause).
    pub agrees: Option<bool>,
}

impl KernelView {
    /// True when the kernel found anything.
    pub fn is_empty(&self) -> bool {
        self.server.is_none() && self.client.is_none()
    }
}

/// Whether a server socket in `state` is what `cause` says (RFC 9293 §3.3.2 states; the cause
/// names the state the server's previous connection is in).
/// `None` for `unknown` (the packets made no claim to check) and for a listener (the
/// 4-tuple's own socket is gone).
pub fn agrees(cause: Cause, state: TcpState) -> Option<bool> {
    use TcpState::*;
    if state == Listen {
        // sock_diag's exact lookup falls back to the listener when the 4-tuple has no socket
        // of its own any more: on a Linux server the client's RST (which confirmed the stale
        // ACK) already reset the TIME-WAIT or lingering socket (tcp_rfc1337=0). Nothing to check.
        return None;
    }
    match cause {
        Cause::TimeWait => Some(state == TimeWait),
        Cause::LingeringEstablished => Some(state == Established),
        Cause::LingeringClose => Some(matches!(state, FinWait1 | FinWait2 | CloseWait | Closing | LastAck | TimeWait)),
        Cause::Unknown => None,
    }
}

/// Look up both sides of a stale ACK's 4-tuple and their owners.
pub fn look_up(diag: &mut SockDiag, owners: &mut OwnerCache, client: SocketAddr, server: SocketAddr, cause: Option<Cause>) -> Result<KernelView, KernelError> {
    let mut side = |local: SocketAddr, remote: SocketAddr| -> Result<Option<SideView>, KernelError> {
        Ok(diag.find(local, remote)?.map(|socket| {
            let owner = if socket.state == TcpState::TimeWait || socket.inode == 0 { None } else { owners.owner(socket.inode) };
            SideView { socket, owner }
        }))
    };
    let server_side = side(server, client)?;
    let client_side = side(client, server)?;
    let agrees = match (&server_side, cause) {
        (Some(s), Some(c)) => agrees(c, s.socket.state),
        _ => None,
    };
    Ok(KernelView { server: server_side, client: client_side, agrees })
}

/// Counters of the lookup thread (read by the summaries and the metrics).
#[derive(Debug, Default)]
pub struct LookupStats {
    /// Lookups made.
    pub done: AtomicU64,
    /// Lookups that found a socket on either side.
    pub found: AtomicU64,
    /// Skipped: the rate limit was reached.
    pub skipped_rate: AtomicU64,
    /// Skipped: the queue to the lookup thread was full.
    pub skipped_full: AtomicU64,
    /// The answer came after [`LOOKUP_WAIT`]; the event was written without it.
    pub timed_out: AtomicU64,
    /// Lookups that failed (netlink error).
    pub failed: AtomicU64,
    /// Events where the kernel's state disagreed with the inferred cause.
    pub disagree: AtomicU64,
    /// Time spent in lookups (sock_diag and owner scan), ns.
    pub busy_ns: AtomicU64,
    /// CPU time the lookup thread spent in them (CLOCK_THREAD_CPUTIME_ID), ns.
    pub cpu_ns: AtomicU64,
}

/// CPU time of the calling thread, ns (0 if the clock cannot be read).
#[allow(unsafe_code)] // one clock_gettime(2), the kernel interface; the block has its SAFETY comment
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

struct Request {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    cause: Option<Cause>,
}

/// The lookup thread and the event pump's side of it.
pub struct Lookups {
    tx: Option<Sender<Request>>,
    rx: Receiver<(u64, KernelView)>,
    next_id: u64,
    tokens: f64,
    refilled: Instant,
    /// Its counters.
    pub stats: Arc<LookupStats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lookups {
    /// Open the sock_diag socket in the current namespace and start the lookup thread.
    pub fn start() -> Result<Lookups, KernelError> {
        let mut diag = SockDiag::open()?;
        let (tx, req_rx) = bounded::<Request>(QUEUE);
        let (rep_tx, rx) = bounded(QUEUE);
        let stats = Arc::new(LookupStats::default());
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("ackscope-kernel".into())
            .spawn(move || {
                // Capabilities are per thread: this one (started before the main thread drops
                // its own) keeps only what reading other processes' /proc/<pid>/fd needs.
                let keep: std::collections::HashSet<caps::Capability> = [caps::Capability::CAP_SYS_PTRACE, caps::Capability::CAP_DAC_READ_SEARCH].into_iter().collect();
                if let Ok(p) = caps::read(None, caps::CapSet::Permitted) {
                    let keep: std::collections::HashSet<_> = keep.intersection(&p).copied().collect();
                    let _ = caps::set(None, caps::CapSet::Effective, &keep);
                    let _ = caps::set(None, caps::CapSet::Permitted, &keep);
                }
                let mut owners = OwnerCache::default();
                for r in req_rx {
                    let (t0, c0) = (Instant::now(), thread_cpu_ns());
                    let v = look_up(&mut diag, &mut owners, r.client, r.server, r.cause);
                    st.busy_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    st.cpu_ns.fetch_add(thread_cpu_ns().saturating_sub(c0), Ordering::Relaxed);
                    st.done.fetch_add(1, Ordering::Relaxed);
                    let v = match v {
                        Ok(v) => v,
                        Err(e) => {
                            st.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(error = %e, "sock_diag lookup failed");
                            KernelView::default()
                        }
                    };
                    if !v.is_empty() {
                        st.found.fetch_add(1, Ordering::Relaxed);
                    }
                    if rep_tx.send((r.id, v)).is_err() {
                        break;
                    }
                }
            })
            .map_err(KernelError::Io)?;
        Ok(Lookups { tx: Some(tx), rx, next_id: 0, tokens: LOOKUPS_PER_S as f64, refilled: Instant::now(), stats, thread: Some(thread) })
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let cap = LOOKUPS_PER_S as f64;
        self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * cap).min(cap);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Ask for one 4-tuple and wait at most [`LOOKUP_WAIT`] for the answer (the caller writes
    /// events in order, so it waits here; the workers keep going meanwhile). `None`: skipped,
    /// timed out, or the kernel holds no socket for it.
    pub fn query(&mut self, client: SocketAddr, server: SocketAddr, cause: Option<Cause>) -> Option<KernelView> {
        if !self.take_token() {
            self.stats.skipped_rate.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.next_id += 1;
        let id = self.next_id;
        match self.tx.as_ref()?.try_send(Request { id, client, server, cause }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.skipped_full.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let deadline = Instant::now() + LOOKUP_WAIT;
        loop {
            match self.rx.recv_deadline(deadline) {
                Ok((got, v)) if got == id => {
                    if v.agrees == Some(false) {
                        self.stats.disagree.fetch_add(1, Ordering::Relaxed);
                    }
                    return (!v.is_empty()).then_some(v);
                }
                Ok(_) => continue, // an answer that came too late for an earlier event
                Err(_) => {
                    self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
    }
}

impl Drop for Lookups {
    fn drop(&mut self) {
        self.tx = None;
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            // The thread ends when the request channel closes; drain its replies meanwhile.
            let rx = self.rx.clone();
            let d = std::thread::spawn(move || while rx.recv().is_ok() {});
            let _ = t.join();
            let _ = d.join();
        }
    }
}
