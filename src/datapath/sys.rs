//! The kernel adapter of the live datapath: interface index, queues and link state, the
//! capabilities (checked before set-up, dropped after it), the per-interface mode lock, and the
//! clocks (kernel stamps are `CLOCK_MONOTONIC`; events and pcaps carry wall-clock time).
//!
//! rtnetlink (links, veth pairs, aliases) is in [`netlink`], on the kept netlink crates.
//!
//! Nothing here knows about modes, programs or sockets; everything above may use it.

use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use caps::{CapSet, Capability};

use super::error::{DatapathError, Result};

pub mod netlink;

// ---- interfaces ----

/// Index of interface `iface`.
pub fn ifindex_of(iface: &str) -> Result<u32> {
    let missing = || DatapathError::InterfaceMissing { iface: iface.to_string() };
    let name = CString::new(iface).map_err(|_| missing())?;
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        Err(missing())
    } else {
        Ok(idx)
    }
}

/// Number of rx queues of `iface` from sysfs, if readable.
pub fn rx_queue_count(iface: &str) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/sys/class/net/{iface}/queues")).ok()?;
    let n = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    u32::try_from(n).ok().filter(|&n| n > 0)
}

/// What the interface looks like now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No interface of that name (deleted, or its namespace is gone).
    Missing,
    /// Administratively down (IFF_UP clear) or no carrier (IFF_RUNNING clear).
    Down,
    /// Up and running.
    Up,
}

/// Query `iface` with `SIOCGIFFLAGS` in the current network namespace.
pub fn link_state(iface: &str) -> LinkState {
    let Ok(name) = CString::new(iface) else { return LinkState::Missing };
    if name.as_bytes().len() >= libc::IFNAMSIZ {
        return LinkState::Missing;
    }
    // SAFETY: plain socket(2) call; the returned fd is closed below on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return LinkState::Missing;
    }
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `fd` is a valid socket and `req` a properly initialised ifreq with a
    // NUL-terminated name shorter than IFNAMSIZ; the kernel writes only `ifr_ifru.ifru_flags`.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    // SAFETY: read of the union member SIOCGIFFLAGS fills.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as libc::c_int;
    // SAFETY: `fd` came from socket() above and is closed exactly once.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return LinkState::Missing;
    }
    if flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0 {
        LinkState::Up
    } else {
        LinkState::Down
    }
}

// ---- the mode lock ----

/// A per-interface, per-namespace lock held while a mode runs.
#[derive(Debug)]
pub struct ModeLock {
    _sock: UnixListener,
}

impl ModeLock {
    /// Takes the lock `@ackscope/<mode>/<ifindex>`; [`DatapathError::Busy`]
    /// when another live process holds it.
    pub fn take(mode: &'static str, iface: &str, ifindex: u32) -> Result<ModeLock> {
        let name = format!("ackscope/{mode}/{ifindex}");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(|e| DatapathError::Setup {
            what: format!("the {mode}-mode lock for `{iface}`"),
            detail: e.to_string(),
        })?;
        match UnixListener::bind_addr(&addr) {
            Ok(sock) => Ok(ModeLock { _sock: sock }),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                Err(DatapathError::Busy { iface: iface.to_string(), mode })
            }
            Err(e) => Err(DatapathError::Setup {
                what: format!("the {mode}-mode lock for `{iface}` (abstract unix socket @{name})"),
                detail: e.to_string(),
            }),
        }
    }
}

// ---- clocks ----

/// `CLOCK_MONOTONIC` in nanoseconds (same clock as `bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Wall-clock time minus `CLOCK_MONOTONIC`, in ns: added to kernel stamps to print them as
/// wall-clock time. The one place this offset is computed; a live run re-reads it every second
/// (so a stepped wall clock is followed).
pub fn wall_clock_offset_ns() -> i64 {
    let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    real - monotonic_ns() as i64
}

// ---- capabilities ----
//
// Dropping privileges once a live session is set up.
//
// Set-up needs root or `CAP_NET_ADMIN`, `CAP_BPF`, `CAP_PERFMON`, `CAP_NET_RAW` and
// `CAP_IPC_LOCK` (older kernels: `CAP_SYS_ADMIN`). Once the programs are attached and the
// sockets bound, the data path needs no capability at all (it only reads rings, BPF maps through
// fds it holds, and socket statistics). Tearing down needs `CAP_NET_ADMIN` (tc filters, the
// host-mode veth, netlink detaches) and `CAP_BPF`/`CAP_PERFMON` (inline fail-open loads a
// forwarding program). So after set-up ackscope keeps exactly those three in its permitted and
// effective sets, clears the inheritable and ambient sets and the bounding set, and sets
// `no_new_privs`.

/// Fails early with a readable error when capabilities are missing (the effective set, read
/// with the `caps` crate).
pub(crate) fn check_capabilities() -> Result<()> {
    let Ok(eff) = caps::read(None, CapSet::Effective) else {
        return Ok(()); // cannot tell; let the syscalls decide
    };
    let mut missing = Vec::new();
    if !eff.contains(&Capability::CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !eff.contains(&Capability::CAP_BPF) && !eff.contains(&Capability::CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DatapathError::Permission { missing: missing.join(" and ") })
    }
}


/// Capabilities kept after set-up.
pub const KEEP: [Capability; 3] = [Capability::CAP_NET_ADMIN, Capability::CAP_BPF, Capability::CAP_PERFMON];

/// What [`drop_privileges_after_setup`] did.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// Capabilities removed from the permitted set.
    pub removed: Vec<Capability>,
}

/// Keep only [`KEEP`] (as far as they are held now) and forbid gaining any back.
pub fn drop_privileges_after_setup() -> std::result::Result<Dropped, caps::errors::CapsError> {
    let permitted = caps::read(None, CapSet::Permitted)?;
    let keep: HashSet<Capability> = KEEP.iter().copied().filter(|c| permitted.contains(c)).collect();
    let removed: Vec<Capability> = permitted.iter().copied().filter(|c| !keep.contains(c)).collect();
    // The bounding set first (needs CAP_SETPCAP, which we still hold at this point).
    if permitted.contains(&Capability::CAP_SETPCAP) {
        for c in caps::all() {
            if !keep.contains(&c) {
                // Unknown to this kernel → EINVAL; ignore.
                let _ = caps::drop(None, CapSet::Bounding, c);
            }
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::set(None, CapSet::Inheritable, &HashSet::new())?;
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes no pointers and only sets a flag
    // on this process (and its future children).
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!("prctl(PR_SET_NO_NEW_PRIVS) failed: {}", std::io::Error::last_os_error());
    }
    Ok(Dropped { removed })
}

#[cfg(test)]
#[test]
fn loopback_and_missing() {
    assert_eq!(link_state("lo"), LinkState::Up);
    assert_eq!(link_state("no-such-if0"), LinkState::Missing);
    assert_eq!(link_state("a-name-much-too-long-for-linux"), LinkState::Missing);
}
