//! One AF_XDP socket's rings ([`Port`]): the one bind (with the bounded EBUSY retry), the one
//! kick and poll policy and its one error policy, the zero-copy query and `XDP_STATISTICS`.
//!
//! Kicks: a zero-length `recvfrom(MSG_DONTWAIT)` wakes the driver for the fill ring
//! (need_wakeup) or runs one busy-poll round; a zero-length `sendto(MSG_DONTWAIT)` wakes it for
//! the TX ring, and in copy mode *is* the transmission (at most 32 frames per call), so a copy
//! mode TX ring is kicked whether or not the kernel asks. Errors: `EBUSY`/`ENOBUFS` mean the
//! device could not take the frames now ([`Kick::Busy`]); `EAGAIN`, `EINTR` and `ENETDOWN` are
//! transient (the link watch handles a down link) and ignored; anything else is an error.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::str::FromStr;

use tracing::debug;
use xsk_rs::config::{Interface, SocketConfig};
use xsk_rs::socket::Socket;
use xsk_rs::{CompQueue, FillQueue, RxQueue, TxQueue, Umem};

use super::config::{socket_error, BusyPoll, XskConfig};
use crate::datapath::error::{DatapathError, Result};

// Not exported by the libc crate for every target.
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

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

impl XskStats {
    /// The field-wise sum of `self` and `o` (the two sockets of a pair).
    pub fn plus(self, o: XskStats) -> XskStats {
        XskStats {
            rx_dropped: self.rx_dropped + o.rx_dropped,
            rx_invalid_descs: self.rx_invalid_descs + o.rx_invalid_descs,
            tx_invalid_descs: self.tx_invalid_descs + o.tx_invalid_descs,
            rx_ring_full: self.rx_ring_full + o.rx_ring_full,
            rx_fill_ring_empty_descs: self.rx_fill_ring_empty_descs + o.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: self.tx_ring_empty_descs + o.tx_ring_empty_descs,
        }
    }
}

/// What a kick found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kick {
    /// Done (or a transient condition that needs nothing).
    Done,
    /// The device refused for now (`EBUSY`/`ENOBUFS`; copy mode: a frame was dropped and is
    /// completed anyway).
    Busy,
}

/// One AF_XDP socket bound to `(iface, queue)`: its rx, tx, fill and completion rings.
/// Dropping every ring handle deletes the socket; the UMEM handle is dropped after it by the
/// owner (field order).
pub(crate) struct Port {
    pub(crate) rx: RxQueue,
    pub(crate) tx: TxQueue,
    pub(crate) fq: FillQueue,
    pub(crate) cq: CompQueue,
    pub(crate) fd: RawFd,
    pub(crate) iface: String,
    pub(crate) queue: u32,
}

impl Port {
    /// Binds a socket on `umem` to `(iface, queue)`, retrying up to `cfg.bind_attempts` times
    /// `cfg.bind_retry_delay` apart while the queue is busy (EBUSY: a previous socket on it is
    /// still being torn down, e.g. right after a previous run's exit). The first socket on a
    /// UMEM owns it; a later one on the same UMEM shares it (libxdp binds it with
    /// `XDP_SHARED_UMEM`). Returns the port and the number of attempts made.
    pub(crate) fn bind(iface: &str, queue: u32, umem: &Umem, sock_cfg: SocketConfig, cfg: &XskConfig) -> Result<(Port, u32)> {
        let if_name =
            Interface::from_str(iface).map_err(|_| DatapathError::InterfaceMissing { iface: iface.to_string() })?;
        let attempts = cfg.bind_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // SAFETY: `sock_cfg` sets INHIBIT_PROG_LOAD (config::socket_config), which is what
            // `Socket::new` requires for a shared UMEM; the UMEM outlives every socket created
            // from it (each ring handle holds a clone of it), and a failed attempt leaves it
            // reusable for the next one (xsk-rs keeps the saved rings).
            match unsafe { Socket::new(sock_cfg, umem, &if_name, queue) } {
                Ok((tx, rx, Some((fq, cq)))) => {
                    let fd = rx.fd().as_raw_fd();
                    let port = Port { rx, tx, fq, cq, fd, iface: iface.to_string(), queue };
                    return Ok((port, attempt));
                }
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

    /// Whether the kernel bound the socket in zero-copy mode (`XDP_OPTIONS_ZEROCOPY`).
    pub(crate) fn zerocopy(&self) -> Result<bool> {
        let mut opts = libc::xdp_options { flags: 0 };
        let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
        // SAFETY: `opts` is writable for `len` bytes; `len` is updated by the kernel; `self.fd`
        // is open while `self` lives.
        let r = unsafe {
            libc::getsockopt(self.fd, libc::SOL_XDP, libc::XDP_OPTIONS, (&mut opts as *mut libc::xdp_options).cast(), &mut len)
        };
        if r < 0 {
            return Err(self.io_err("getsockopt(XDP_OPTIONS)", io::Error::last_os_error()));
        }
        Ok(opts.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
    }

    /// Kernel statistics of the socket (`XDP_STATISTICS`).
    pub(crate) fn stats(&self) -> Result<XskStats> {
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

    /// Turns busy polling on (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`, `SO_BUSY_POLL_BUDGET`).
    pub(crate) fn set_busy_poll(&self, bp: BusyPoll) -> Result<()> {
        self.setsockopt_int(SO_PREFER_BUSY_POLL, 1, "setsockopt(SO_PREFER_BUSY_POLL)")?;
        self.setsockopt_int(SO_BUSY_POLL, bp.usecs as i32, "setsockopt(SO_BUSY_POLL)")?;
        self.setsockopt_int(SO_BUSY_POLL_BUDGET, bp.budget as i32, "setsockopt(SO_BUSY_POLL_BUDGET)")
    }

    /// Wakes the driver for the fill ring / runs one busy-poll round (see the module
    /// documentation for the error policy).
    pub(crate) fn kick_rx(&self) -> Result<Kick> {
        // SAFETY: a zero-length receive with null buffers is valid for an AF_XDP socket;
        // `self.fd` is open while `self` lives.
        let r = unsafe {
            libc::recvfrom(self.fd, std::ptr::null_mut(), 0, libc::MSG_DONTWAIT, std::ptr::null_mut(), std::ptr::null_mut())
        };
        self.kick_result(r, "recvfrom (wakeup)")
    }

    /// Transmits (copy mode) or wakes the driver for the TX ring (see the module
    /// documentation for the error policy).
    pub(crate) fn kick_tx(&self) -> Result<Kick> {
        // SAFETY: a zero-length send with null buffers is valid for an AF_XDP socket;
        // `self.fd` is open while `self` lives.
        let r = unsafe { libc::sendto(self.fd, std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
        self.kick_result(r, "sendto (TX kick)")
    }

    fn kick_result(&self, r: isize, what: &'static str) -> Result<Kick> {
        if r >= 0 {
            return Ok(Kick::Done);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EBUSY | libc::ENOBUFS) => Ok(Kick::Busy),
            Some(libc::EAGAIN | libc::EINTR | libc::ENETDOWN) => Ok(Kick::Done),
            _ => Err(self.io_err(what, e)),
        }
    }

    /// The error of `what` on this socket.
    pub(crate) fn io_err(&self, what: &'static str, source: io::Error) -> DatapathError {
        DatapathError::Io { iface: self.iface.clone(), queue: self.queue, what, source }
    }

    fn setsockopt_int(&self, opt: libc::c_int, val: i32, what: &'static str) -> Result<()> {
        // SAFETY: `val` is a live c_int for the duration of the call and the length passed
        // matches it.
        let r = unsafe {
            libc::setsockopt(self.fd, libc::SOL_SOCKET, opt, (&val as *const i32).cast(), std::mem::size_of::<i32>() as libc::socklen_t)
        };
        if r < 0 {
            return Err(self.io_err(what, io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// `poll(POLLIN)` on `ports` (one or two sockets) for up to `timeout_ms` (negative: no limit);
/// true when one is readable. A signal interrupting the wait is `Ok(false)`.
pub(crate) fn poll_in(ports: &[&Port], timeout_ms: i32) -> Result<bool> {
    const N_MAX: usize = 2;
    debug_assert!(!ports.is_empty() && ports.len() <= N_MAX);
    let n = ports.len().min(N_MAX);
    let mut pfd = [libc::pollfd { fd: -1, events: libc::POLLIN, revents: 0 }; N_MAX];
    for (p, port) in pfd.iter_mut().zip(ports) {
        p.fd = port.fd;
    }
    // SAFETY: `pfd` is a valid pollfd array of at least `n` entries.
    let r = unsafe { libc::poll(pfd.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(false);
        }
        return Err(ports[0].io_err("poll", e));
    }
    Ok(r > 0 && pfd[..n].iter().any(|p| p.revents & libc::POLLIN != 0))
}
