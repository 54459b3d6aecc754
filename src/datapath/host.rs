//! Host mode: watch a production interface without touching its traffic.
//!
//! ```text
//!  IF (production)            ackscope's private veth pair, in IF's namespace
//!   clsact ingress ─┐
//!   clsact egress  ─┴─ ackscope_tc: control segment? ── bpf_clone_redirect ──► acks-<N>a ══► acks-<N>b
//!                      the original always continues (TC_ACT_UNSPEC)                      XDP (mirror,
//!                                                                                          presorted) → AF_XDP
//! ```
//!
//! [`HostSetup`] owns everything host mode creates besides the mirror
//! session on the veth end `b`: a per-interface lock, the veth pair, and the
//! tc filters (plus the clsact qdisc when IF had none). Dropping it removes
//! all of them. A run killed with SIGKILL leaves the veth pair and the tc
//! filters behind; the next start on the same interface finds them (veth
//! names derived from IF's ifindex, filters by handle, priority and program
//! name) and removes them with a warning. Whether the clsact qdisc was
//! created by ackscope is recorded in the veth's alias, so a leftover qdisc
//! is removed as well — but only when no other filter uses it.
//!
//! The lock is an abstract unix socket (`@ackscope/host/<ifindex>`), scoped
//! to the network namespace and released by the kernel when the process
//! dies: a second ackscope on the same interface is refused instead of
//! "cleaning up" the first one's live setup.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::process::Command;

use tracing::{info, warn};

use super::bpf::ifindex_of;
use super::error::{DatapathError, Result};
use super::tc::{self, TcClone, TcConfig, TcCounters};

/// Alias marker: ackscope created IF's clsact qdisc.
const ALIAS_CLSACT_CREATED: &str = "clsact=created";
/// Alias marker: IF's clsact qdisc was there before.
const ALIAS_CLSACT_EXISTING: &str = "clsact=existing";

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

/// Names of the private veth pair for the interface with index `ifindex`
/// (at most 15 bytes, the kernel's limit).
pub fn veth_names(ifindex: u32) -> (String, String) {
    let base = format!("acks-{ifindex}");
    let base = if base.len() > 14 { format!("acks{ifindex:x}") } else { base };
    (format!("{base}a"), format!("{base}b"))
}

/// Runs `ip ARGS`; the error names the command and its stderr.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().map_err(|e| DatapathError::Setup {
        what: format!("`ip {}`", args.join(" ")),
        detail: format!("{e} (host mode needs iproute2's `ip`: apt-get install iproute2)"),
    })?;
    if !out.status.success() {
        return Err(DatapathError::Setup {
            what: format!("`ip {}`", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn read_alias(dev: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/ifalias")).unwrap_or_default().trim().to_string()
}

fn set_alias(dev: &str, iface: &str, clsact: &str) {
    let alias = format!("ackscope host mode for {iface}; {clsact}");
    if let Err(e) = ip(&["link", "set", "dev", dev, "alias", &alias]) {
        warn!(dev, error = %e, "could not record host-mode state in the veth alias");
    }
}

fn disable_ipv6(dev: &str) {
    // Absent when IPv6 is off in the kernel: nothing to disable then.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
}

/// Everything host mode sets up around the mirror session: see the module
/// documentation. Dropping it stops cloning and removes it all.
#[derive(Debug)]
pub struct HostSetup {
    iface: String,
    ifindex: u32,
    veth_a: String,
    veth_b: String,
    veth_a_ifindex: u32,
    tc: Option<TcClone>,
    final_counters: Option<TcCounters>,
    // Released last, after everything is removed.
    _lock: ModeLock,
}

impl HostSetup {
    /// Takes the interface's lock, removes leftovers of a killed run, and
    /// creates the private veth pair with `queues` queues per end (up, IPv6
    /// off). The tc filters come later ([`HostSetup::attach_tc`]), once the
    /// session on the veth end is ready to receive.
    pub fn create(iface: &str, queues: u32) -> Result<HostSetup> {
        let ifindex = ifindex_of(iface)?;
        let lock = ModeLock::take("host", iface, ifindex)?;
        remove_leftovers(iface, ifindex);
        let (a, b) = veth_names(ifindex);
        let q = queues.max(1).to_string();
        ip(&[
            "link", "add", &a, "numtxqueues", &q, "numrxqueues", &q, "type", "veth", "peer", "name", &b,
            "numtxqueues", &q, "numrxqueues", &q,
        ])?;
        // From here on, Drop deletes the pair.
        let mut setup = HostSetup {
            iface: iface.to_string(),
            ifindex,
            veth_a: a.clone(),
            veth_b: b.clone(),
            veth_a_ifindex: 0,
            tc: None,
            final_counters: None,
            _lock: lock,
        };
        set_alias(&a, iface, "clsact=unknown");
        for dev in [&a, &b] {
            disable_ipv6(dev);
        }
        for dev in [&a, &b] {
            ip(&["link", "set", "dev", dev, "up"])?;
        }
        setup.veth_a_ifindex = ifindex_of(&a)?;
        info!(iface, veth = %a, peer = %b, queues, "host mode: private veth pair created");
        Ok(setup)
    }

    /// The veth end the mirror session runs on.
    pub fn capture_iface(&self) -> &str {
        &self.veth_b
    }

    /// The production interface.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Attaches the tc clone program to the production interface (ingress
    /// and egress): from here on, control segments are cloned.
    pub fn attach_tc(&mut self, cfg: &TcConfig) -> Result<()> {
        // Record before creating anything, so that a kill right after the
        // qdisc's creation still leaves the marker behind.
        let had_clsact = tc::has_clsact(&self.iface);
        let expect = if had_clsact == Some(false) { ALIAS_CLSACT_CREATED } else { ALIAS_CLSACT_EXISTING };
        set_alias(&self.veth_a, &self.iface, expect);
        let t = TcClone::attach(&self.iface, self.veth_a_ifindex, cfg)?;
        let actual = if t.created_clsact() { ALIAS_CLSACT_CREATED } else { ALIAS_CLSACT_EXISTING };
        if actual != expect {
            set_alias(&self.veth_a, &self.iface, actual);
        }
        self.tc = Some(t);
        Ok(())
    }

    /// The tc program's counters (the last ones read once it is detached).
    pub fn counters(&self) -> Option<TcCounters> {
        self.tc.as_ref().and_then(|t| t.counters().ok()).or(self.final_counters)
    }

    /// Removes the tc filters (no more clones), keeping their final counters.
    pub fn stop_cloning(&mut self) {
        if let Some(mut t) = self.tc.take() {
            self.final_counters = t.counters().ok();
            t.detach();
        }
    }
}

impl Drop for HostSetup {
    fn drop(&mut self) {
        self.stop_cloning();
        if let Err(e) = ip(&["link", "del", "dev", &self.veth_a]) {
            warn!(veth = %self.veth_a, error = %e,
                  "could not delete host mode's veth pair; `ip link del {}`", self.veth_a);
        } else {
            info!(iface = %self.iface, ifindex = self.ifindex, veth = %self.veth_a, "host mode: private veth pair removed");
        }
    }
}

/// Removes what a killed host-mode run on `iface` left: its tc filters, its
/// veth pair, and the clsact qdisc if that run created it and nothing else
/// uses it. Call with the interface's [`ModeLock`] held.
pub fn remove_leftovers(iface: &str, ifindex: u32) {
    let (a, b) = veth_names(ifindex);
    let filters = tc::remove_leftover_filters(iface, ifindex);
    let mut clsact_ours = false;
    let mut found_veth = false;
    for dev in [&a, &b] {
        if ifindex_of(dev).is_ok() {
            found_veth = true;
            clsact_ours |= read_alias(dev).contains(ALIAS_CLSACT_CREATED);
            match ip(&["link", "del", "dev", dev]) {
                Ok(()) => warn!(iface, veth = %dev, "removed host mode's veth pair left by a previous run"),
                Err(e) => warn!(iface, veth = %dev, error = %e, "could not remove a leftover veth pair"),
            }
            break; // deleting one end deletes both
        }
    }
    if clsact_ours && tc::remove_clsact_if_unused(iface, ifindex) {
        warn!(iface, "removed the clsact qdisc a previous run created");
    }
    if filters > 0 && !found_veth {
        warn!(iface, filters, "removed tc filters of a previous run (its veth pair was already gone)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_ifnamsiz() {
        for idx in [1u32, 42, 99_999, 1_000_000_000, u32::MAX] {
            let (a, b) = veth_names(idx);
            assert!(a.len() <= 15 && b.len() <= 15, "{a} {b}");
            assert_ne!(a, b);
            assert!(a.starts_with("acks"));
        }
        assert_eq!(veth_names(7).0, "acks-7a");
    }
}
