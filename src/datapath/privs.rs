//! Dropping privileges once a live session is set up.
//!
//! Set-up needs root or `CAP_NET_ADMIN`, `CAP_BPF`, `CAP_PERFMON`, `CAP_NET_RAW` and
//! `CAP_IPC_LOCK` (older kernels: `CAP_SYS_ADMIN`). Once the programs are attached and the
//! sockets bound, the data path needs no capability at all (it only reads rings, BPF maps through
//! fds it holds, and socket statistics). Tearing down needs `CAP_NET_ADMIN` (tc filters, the
//! host-mode veth, netlink detaches) and `CAP_BPF`/`CAP_PERFMON` (inline fail-open loads a
//! forwarding program). So after set-up ackscope keeps exactly those three in its permitted and
//! effective sets, clears the inheritable and ambient sets and the bounding set, and sets
//! `no_new_privs`.

use std::collections::HashSet;

use caps::{CapSet, Capability};

/// Capabilities kept after set-up.
pub const KEEP: [Capability; 3] = [Capability::CAP_NET_ADMIN, Capability::CAP_BPF, Capability::CAP_PERFMON];

/// What [`drop_after_setup`] did.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// Capabilities removed from the permitted set.
    pub removed: Vec<Capability>,
}

/// Keep only [`KEEP`] (as far as they are held now) and forbid gaining any back.
pub fn drop_after_setup() -> Result<Dropped, caps::errors::CapsError> {
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
