//! The generator's second transmit path: an `AF_PACKET` socket, for kernels that refuse
//! `BPF_PROG_RUN` with live frames (`BPF_F_TEST_XDP_LIVE_FRAMES`; this project's CI machine's
//! 6.18.44 build answers EPERM). The frames are the same, built in user space by
//! [`super::inject`]'s frame builder, which a test checks byte for byte against the BPF
//! program run in test mode; this module only sends them, in batches of one `sendmmsg`.
//!
//! Why `libc` and not a crate: the socket needs four calls (`socket`, `bind`, one
//! `setsockopt`, `sendmmsg`); the packet-socket crates (pnet's datalink, afpacket) bring a
//! receive path, ring mappings and their own frame types that this send-only use does not
//! need (docs/ARCHITECTURE.md, "Kept crates").

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Frames per `sendmmsg` call.
pub(crate) const BATCH: usize = 64;
/// Tries of one batch on a device that answers "no buffer space" (a full TX ring).
const BUSY_RETRIES: u32 = 10_000;

/// A send-only `AF_PACKET` socket bound to one interface, past the qdisc
/// (`PACKET_QDISC_BYPASS`: the frame goes straight to the driver, as XDP_TX's does).
#[derive(Debug)]
pub(crate) struct PacketTx {
    fd: OwnedFd,
}

impl PacketTx {
    /// Opens the socket on interface index `ifindex` (of the current network namespace).
    pub(crate) fn open(ifindex: u32) -> io::Result<PacketTx> {
        // SAFETY: plain socket(2) call; the result is checked and owned below. Protocol 0:
        // the socket receives nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: zero is a valid bit pattern for sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `sll` is a valid sockaddr_ll of the size given; the fd is ours.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        // SAFETY: PACKET_QDISC_BYPASS takes an int; `one` outlives the call. A kernel without
        // it (< 3.14) keeps the qdisc: not an error.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(PacketTx { fd })
    }

    /// Sends `frames` (at most [`BATCH`]), each one whole Ethernet frame, in order. Returns
    /// how many the kernel took; an error only if it took none (a signal: `Interrupted`).
    pub(crate) fn send(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let n = frames.len().min(BATCH);
        // SAFETY: zero is a valid bit pattern for iovec and mmsghdr (null pointers, lengths 0).
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            iov[i] = libc::iovec { iov_base: frames[i].as_ptr() as *mut libc::c_void, iov_len: frames[i].len() };
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let (mut sent, mut busy) = (0usize, 0u32);
        while sent < n {
            // SAFETY: msgs[sent..n] are initialised headers whose iovecs point into `frames`,
            // which outlive the call; the kernel only reads them (and writes msg_len).
            let rc = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs[sent..].as_mut_ptr(), (n - sent) as u32, 0) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                // A NIC's full TX ring past the qdisc: wait for it (bounded), as the
                // qdisc would have.
                if e.raw_os_error() == Some(libc::ENOBUFS) && busy < BUSY_RETRIES {
                    busy += 1;
                    std::thread::yield_now();
                    continue;
                }
                if sent > 0 {
                    return Ok(sent);
                }
                return Err(e);
            }
            busy = 0;
            sent += rc as usize;
        }
        Ok(sent)
    }
}
