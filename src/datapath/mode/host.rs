//! Host mode: watch a production interface without touching its traffic.
//!
//! Ring path (the default): the tc program on IF's clsact hooks writes a 168-byte record of
//! each control segment (its headers, or with `--pcap-dir` its first 128 bytes; wire length,
//! stamp) into a BPF ring buffer
//! that one worker maps and drains ([`crate::datapath::ring`]); no clone, no traffic on the
//! veth, no XDP. Clone path (`ACKSCOPE_HOST_PATH=clone`):
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
//! session on the veth end `b`: a per-interface lock, the veth pair (on the ring path idle,
//! kept for its alias, the record that survives a SIGKILL), and the
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

use tracing::{info, warn};

use super::session::{pool_config, LiveConfig, LiveMode, ModeState, Session, Started};
use crate::datapath::pool::Pool;
use crate::datapath::error::{DatapathError, Result};
use crate::datapath::sys::{ifindex_of, netlink, ModeLock};
use crate::datapath::tc::{self, TcClone, TcConfig, TcCounters};
use crate::datapath::xdp::{AttachMode, SteerMode};

/// Alias marker: ackscope created IF's clsact qdisc.
const ALIAS_CLSACT_CREATED: &str = "clsact=created";
/// Alias marker: IF's clsact qdisc was there before.
const ALIAS_CLSACT_EXISTING: &str = "clsact=existing";



/// Which host-mode path `ACKSCOPE_HOST_PATH` selects: `ring` (the default: records in a BPF
/// ring buffer) or `clone` (clones through a private veth into XDP and AF_XDP; kept for
/// comparison and for captures of whole frames — see docs/MODES.md).
pub fn ring_path_selected() -> bool {
    std::env::var("ACKSCOPE_HOST_PATH").map_or(true, |v| v != "clone")
}

/// Host mode. Ring path (default): the tc filters write a record of each control segment
/// into a BPF ring buffer that one worker consumes (no clone, no veth traffic, no XDP).
/// Clone path: private veth pair, a mirror session on its far end (presorted: the tc program
/// already chose), then the tc filters on the production interface.
pub(crate) fn start(cfg: &LiveConfig) -> Result<Started> {
    if ring_path_selected() {
        return start_ring(cfg);
    }
    // Generic XDP skips every skb a tc program redirected (netif_receive_generic_xdp:
    // "reinjected packets ... should not get XDP generic processing"), i.e. every clone;
    // native XDP on the veth sees them.
    if cfg.steer.attach_mode == AttachMode::Generic {
        return Err(DatapathError::Config(
            "host mode needs native XDP on its private veth (generic XDP skips the clones a tc program redirects); \
             drop --xdp-mode generic"
                .into(),
        ));
    }
    // One queue and one worker unless asked: the clones are a trickle next to the
    // production traffic, and a second worker cost 4 % more of the connection rate on a
    // 2-core host (bench/README.md).
    let n = cfg.queues.as_ref().map_or(1, |q| q.len().max(1) as u32);
    let mut host = HostSetup::create(&cfg.iface, n)?;
    let mut mcfg = cfg.clone();
    mcfg.mode = LiveMode::Mirror;
    mcfg.iface = host.capture_iface().to_string();
    mcfg.queues = Some((0..n).collect());
    mcfg.steer.steer_mode = SteerMode::Mirror;
    mcfg.steer.presorted = true;
    mcfg.steer.attach_mode = AttachMode::Native;
    let mut st = super::mirror::open(&mcfg, Some(HOST_PACE))?;
    if let Err(e) = host.attach_tc(&TcConfig { flow_age: cfg.steer.flow_age, flow_table_size: cfg.steer.flow_table_size, ring: false, whole_prefix: false }) {
        // The session's one teardown order: workers, program, then the veth pair.
        st.state = ModeState::Host(host);
        drop(Session::from_started(st));
        return Err(e);
    }
    tracing::info!(iface = %cfg.iface, capture = %host.capture_iface(), "host session started");
    st.state = ModeState::Host(host);
    Ok(st)
}

/// The ring path (see [`start`]). The veth pair is still created: idle, it carries nothing,
/// but its alias is the record of whether ackscope created IF's clsact qdisc, which a run
/// killed with SIGKILL leaves behind for the next start (see the module documentation).
fn start_ring(cfg: &LiveConfig) -> Result<Started> {
    let mut host = HostSetup::create(&cfg.iface, 1)?;
    host.attach_tc(&TcConfig {
        flow_age: cfg.steer.flow_age,
        flow_table_size: cfg.steer.flow_table_size,
        ring: true,
        // Flagged-flow captures get the frame's first 128 bytes; the engine needs only the
        // headers.
        whole_prefix: cfg.pool.recorder.is_some(),
    })?;
    let src = host.tc.as_ref().expect("attached above").ring_source()?;
    // The ring source paces itself (datapath::ring: adaptive pause, about half a batch per
    // wake-up); a larger batch than AF_XDP's default means fewer wake-ups at high rates.
    let mut pcfg = pool_config(cfg, 1);
    pcfg.batch = pcfg.batch.max(RING_BATCH);
    // Not pinned unless `--cores` says so: the worker shares the cores with the workload, and
    // pinned to core 0 it waited up to 0.75 s for that core on a loaded 2-core host (the ring
    // filled) while the other core had room.
    if cfg.cores.is_none() && cfg.pool.cores.is_empty() {
        pcfg.cores = vec![None];
    }
    let pool = Pool::spawn(vec![src], pcfg);
    tracing::info!(iface = %cfg.iface, "host session started (ring path: records in a BPF ring buffer, no clones)");
    Ok(Started { steer: None, pool, queues: vec![0], zerocopy: false, state: ModeState::Host(host) })
}

/// Names of the private veth pair for the interface with index `ifindex`
/// (at most 15 bytes, the kernel's limit).
pub fn veth_names(ifindex: u32) -> (String, String) {
    let base = format!("acks-{ifindex}");
    let base = if base.len() > 14 { format!("acks{ifindex:x}") } else { base };
    (format!("{base}a"), format!("{base}b"))
}

/// A set-up step's rtnetlink error, naming the step.
fn setup_err(what: String) -> impl FnOnce(io::Error) -> DatapathError {
    move |e| DatapathError::Setup { what, detail: format!("{e} (host mode needs CAP_NET_ADMIN in the interface's namespace)") }
}

fn read_alias(dev: &str) -> String {
    netlink::link_by_name(dev).ok().flatten().map(|l| l.alias).unwrap_or_default()
}

fn set_alias(dev: &str, iface: &str, clsact: &str) {
    let alias = format!("ackscope host mode for {iface}; {clsact}");
    if let Err(e) = ifindex_of(dev).map_err(|e| io::Error::other(e.to_string())).and_then(|i| netlink::set_alias(i, &alias)) {
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
    ring: bool,
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
        netlink::create_veth(&a, &b, queues.max(1)).map_err(setup_err(format!("creating the veth pair {a}/{b}")))?;
        // From here on, Drop deletes the pair.
        let mut setup = HostSetup {
            iface: iface.to_string(),
            ifindex,
            veth_a: a.clone(),
            veth_b: b.clone(),
            veth_a_ifindex: 0,
            tc: None,
            final_counters: None,
            ring: false,
            _lock: lock,
        };
        set_alias(&a, iface, "clsact=unknown");
        for dev in [&a, &b] {
            disable_ipv6(dev);
        }
        for dev in [&a, &b] {
            netlink::set_up(ifindex_of(dev)?).map_err(setup_err(format!("bringing {dev} up")))?;
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
        let had_clsact = tc::has_clsact(self.ifindex);
        let expect = if had_clsact == Some(false) { ALIAS_CLSACT_CREATED } else { ALIAS_CLSACT_EXISTING };
        set_alias(&self.veth_a, &self.iface, expect);
        let t = TcClone::attach(&self.iface, self.veth_a_ifindex, cfg)?;
        self.ring = cfg.ring;
        let actual = if t.created_clsact() { ALIAS_CLSACT_CREATED } else { ALIAS_CLSACT_EXISTING };
        if actual != expect {
            set_alias(&self.veth_a, &self.iface, actual);
        }
        self.tc = Some(t);
        Ok(())
    }

    /// True when the tc program runs the ring path.
    pub fn ring(&self) -> bool {
        self.ring
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
        let res = ifindex_of(&self.veth_a)
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(netlink::delete_link);
        if let Err(e) = res {
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
            match ifindex_of(dev).map_err(|e| io::Error::other(e.to_string())).and_then(netlink::delete_link) {
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

/// Records per receive batch on the ring path (at least; `--batch` may ask for more).
const RING_BATCH: usize = 512;

/// How long a host-mode worker waits after a small batch (see [`Paced`]).
pub const HOST_PACE: std::time::Duration = std::time::Duration::from_micros(1000);

/// A frame source that lets frames accumulate: after a batch smaller than a quarter of the
/// requested size, the next receive is delayed by `pause`. Host mode runs beside the
/// production workload on the same cores; without this a worker would spin on a trickle of
/// clones (a few per connection) and take a whole core from it. The delay bounds the added
/// latency (events are not time-critical: every frame keeps its kernel timestamp), and the
/// rx ring (2048 frames by default) holds 10 ms of clones at 200 k/s (docs/MODES.md, "Pacing").
pub struct Paced<S> {
    inner: S,
    pause: std::time::Duration,
    small: bool,
}

impl<S> Paced<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, pause: std::time::Duration) -> Paced<S> {
        Paced { inner, pause, small: false }
    }
}

impl<S: crate::datapath::pool::FrameSource> crate::datapath::pool::FrameSource for Paced<S> {
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        if self.small {
            std::thread::sleep(self.pause);
        }
        let n = self.inner.recv(max, timeout_ms, f)?;
        self.small = n > 0 && n < max.div_ceil(4);
        Ok(n)
    }

    fn recv_wire<F: FnMut(u64, &[u8], u32)>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        if self.small {
            std::thread::sleep(self.pause);
        }
        let n = self.inner.recv_wire(max, timeout_ms, f)?;
        self.small = n > 0 && n < max.div_ceil(4);
        Ok(n)
    }

    fn xsk_stats(&self) -> Option<crate::datapath::xsk::XskStats> {
        self.inner.xsk_stats()
    }

    fn in_stamp_order(&self) -> bool {
        self.inner.in_stamp_order()
    }

    fn idle_wait_ms(&self) -> i32 {
        self.inner.idle_wait_ms()
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
