//! Link state of an interface in the current network namespace (for noticing that the
//! interface went down or away during a live run).

use std::ffi::CString;

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

#[cfg(test)]
#[test]
fn loopback_and_missing() {
    assert_eq!(link_state("lo"), LinkState::Up);
    assert_eq!(link_state("no-such-if0"), LinkState::Missing);
    assert_eq!(link_state("a-name-much-too-long-for-linux"), LinkState::Missing);
}
