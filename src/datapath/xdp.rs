//! Loader for the XDP steering program (`bpf/ackscope.bpf.c`).
//!
//! [`XdpSteer::attach`] opens the generated skeleton, sets its read-only
//! configuration (steering mode, handshake/teardown flow age), sizes its maps,
//! loads it and attaches it to one interface — as a **bpf_link** whenever the
//! kernel allows, so a killed process cannot leave the program behind: the
//! link dies with the last file descriptor. Before attaching, any XDP program
//! already on the interface is inspected: a leftover `ackscope_xdp` (from a
//! killed run that had to fall back to a netlink attach) is detached with a
//! warning; anything else is refused with
//! [`DatapathError::XdpProgramPresent`] unless `force` is set.
//!
//! The program steers control segments into the AF_XDP sockets registered
//! with [`XdpSteer::register_socket`] (see [`super::xsk::XskQueue`]); its
//! per-CPU counters are summed by [`XdpSteer::counters`]. Dropping the
//! [`XdpSteer`] detaches the program.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Once;
use std::time::Duration;

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, PrintLevel, Xdp, XdpFlags};
use tracing::{debug, info, warn};

use super::error::{DatapathError, Result};
use super::skeleton::OwnedSkel;
use super::sys::{check_capabilities, ifindex_of, rx_queue_count};

#[allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/ackscope.skel.rs"));
}
use skel::{AckscopeSkel, AckscopeSkelBuilder};

/// Name of the XDP program as the kernel reports it; how a leftover of a
/// killed run is recognised.
pub const PROG_NAME: &str = "ackscope_xdp";



/// What the program does with frames it does not steer to user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SteerMode {
    /// The interface receives copies (SPAN/TAP port): drop (`XDP_DROP`).
    #[default]
    Mirror,
    /// Hand them to the host stack (`XDP_PASS`).
    Pass,
    /// Forward them in the kernel through the DEVMAP configured with
    /// [`XdpSteer::set_forward`] (`XDP_PASS` when no peer is configured).
    Forward,
}

impl SteerMode {
    fn rodata_value(self) -> u32 {
        match self {
            SteerMode::Mirror => 0,
            SteerMode::Pass => 1,
            SteerMode::Forward => 2,
        }
    }
}

/// Requested XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachMode {
    /// Native (driver) mode, falling back to generic when that fails.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only. On veth and most drivers `rx_queue_index`
    /// is then always 0, so only the socket on queue 0 receives frames.
    Generic,
}

/// The mode an XDP program is actually attached in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Driver mode (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// Generic / skb mode (`XDP_FLAGS_SKB_MODE`).
    Generic,
    /// Offloaded to the NIC (`XDP_FLAGS_HW_MODE`); never chosen by ackscope,
    /// only reported for programs found on an interface.
    Offload,
}

impl XdpMode {
    fn flag(self) -> u32 {
        match self {
            XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
            XdpMode::Offload => libbpf_sys::XDP_FLAGS_HW_MODE,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
            XdpMode::Offload => "offload",
        })
    }
}

/// Configuration of [`XdpSteer::attach`].
#[derive(Debug, Clone)]
pub struct SteerConfig {
    /// Verdict for frames that are not steered.
    pub steer_mode: SteerMode,
    /// XDP attach mode.
    pub attach_mode: AttachMode,
    /// Handshake/teardown entries older than this are treated as absent
    /// (default 10 s).
    pub flow_age: Duration,
    /// Capacity of the in-kernel table of 4-tuples in handshake or teardown (default 65536;
    /// rounded up to a power of two, at least 8: buckets of 8 entries, bpf/flowtable.h).
    pub flow_table_size: u32,
    /// XSKMAP size; `None` sizes it to the interface's rx queue count
    /// (at least 64).
    pub xsk_map_size: Option<u32>,
    /// Replace a foreign XDP program found on the interface.
    pub force: bool,
    /// Host mode: the interface only receives the clones the tc program
    /// chose; steer every control class (bare ACKs included) without the
    /// in-kernel handshake/teardown tracking.
    pub presorted: bool,
    /// Attach through netlink, never a bpf_link, so that the program can
    /// stay attached after the process ends ([`XdpSteer::leave_attached`],
    /// inline fail-open). A leftover `ackscope_xdp` found on the interface
    /// is then replaced atomically (`XDP_FLAGS_REPLACE`) instead of being
    /// detached first, so traffic it forwards is never interrupted.
    pub netlink: bool,
    /// Forward mode: `(from_ifindex, to_ifindex)` entries put in the DEVMAP
    /// before the program is attached (see [`XdpSteer::set_forward`]), so
    /// that it forwards from its first frame on.
    pub forward: Vec<(u32, u32)>,
    /// `(ifindex, base)` XSKMAP slot bases set before the program is
    /// attached: the slot of rx queue `q` of `ifindex` becomes `base + q`
    /// (interfaces without a base use `q`).
    pub xsk_bases: Vec<(u32, u32)>,
}

impl Default for SteerConfig {
    fn default() -> Self {
        SteerConfig {
            steer_mode: SteerMode::Mirror,
            attach_mode: AttachMode::Auto,
            flow_age: Duration::from_secs(10),
            flow_table_size: 65536,
            xsk_map_size: None,
            force: false,
            presorted: false,
            netlink: false,
            forward: Vec::new(),
            xsk_bases: Vec::new(),
        }
    }
}

/// Program counters, summed over all CPUs (`struct ackscope_counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BpfCounters {
    /// Frames the program saw.
    pub frames: u64,
    /// SYNs (without ACK) steered.
    pub steered_syn: u64,
    /// SYN-ACKs steered.
    pub steered_synack: u64,
    /// FINs steered.
    pub steered_fin: u64,
    /// RSTs steered.
    pub steered_rst: u64,
    /// Bare ACKs of 4-tuples in handshake/teardown steered.
    pub steered_ack: u64,
    /// TCP frames not steered (data segments, ACKs of untracked 4-tuples).
    pub not_steered_tcp: u64,
    /// Non-TCP frames (and non-first fragments).
    pub not_tcp: u64,
    /// Frames whose headers could not be parsed.
    pub parse_fail: u64,
    /// Steered frames whose XSKMAP redirect failed (no socket on the queue);
    /// they got the not-steered verdict instead.
    pub redirect_fail: u64,
    /// Stale handshake/teardown entries deleted on lookup.
    pub flows_expired: u64,
    /// Steered frames for which `bpf_xdp_adjust_meta` failed (no kernel
    /// timestamp in the metadata).
    pub meta_fail: u64,
    /// TCP frames that came in an encapsulation (VXLAN, GRE, ERSPAN, MPLS, ...), decapsulated
    /// by the classifier (issue 12).
    pub tunnelled: u64,
    /// Entries of the in-kernel handshake/teardown table overwritten while still fresh, to
    /// make room for another 4-tuple (bpf/flowtable.h; exact): a bare ACK of such a 4-tuple
    /// is no longer steered. Size `--kernel-flows` so this stays 0.
    pub flows_evicted: u64,
}

impl BpfCounters {
    /// All steered frames (whether or not the redirect then succeeded).
    pub fn steered(&self) -> u64 {
        self.steered_syn + self.steered_synack + self.steered_fin + self.steered_rst + self.steered_ack
    }

    /// Add `o`'s counters (a session over several interfaces reports their sum).
    pub fn add(&mut self, o: &BpfCounters) {
        self.frames += o.frames;
        self.steered_syn += o.steered_syn;
        self.steered_synack += o.steered_synack;
        self.steered_fin += o.steered_fin;
        self.steered_rst += o.steered_rst;
        self.steered_ack += o.steered_ack;
        self.not_steered_tcp += o.not_steered_tcp;
        self.not_tcp += o.not_tcp;
        self.parse_fail += o.parse_fail;
        self.redirect_fail += o.redirect_fail;
        self.flows_expired += o.flows_expired;
        self.meta_fail += o.meta_fail;
        self.tunnelled += o.tunnelled;
        self.flows_evicted += o.flows_evicted;
    }
}

impl fmt::Display for BpfCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames={} syn={} synack={} fin={} rst={} ack={} not_steered_tcp={} not_tcp={} \
             parse_fail={} redirect_fail={} flows_expired={} meta_fail={} tunnelled={} flows_evicted={}",
            self.frames,
            self.steered_syn,
            self.steered_synack,
            self.steered_fin,
            self.steered_rst,
            self.steered_ack,
            self.not_steered_tcp,
            self.not_tcp,
            self.parse_fail,
            self.redirect_fail,
            self.flows_expired,
            self.meta_fail,
            self.tunnelled,
            self.flows_evicted
        )
    }
}

/// An XDP program found attached to an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProgram {
    /// Kernel program id.
    pub id: u32,
    /// Program name as reported by the kernel (at most 15 bytes).
    pub name: String,
    /// Mode it is attached in.
    pub mode: XdpMode,
}

/// How our program is attached, i.e. how to detach it.
enum Attachment {
    /// A bpf_link; closing the fd detaches.
    Link(OwnedFd),
    /// A netlink attach (kernel without XDP links); detached in `Drop` with
    /// `XDP_FLAGS_REPLACE` so only our own program is ever removed.
    Netlink,
}

/// The same program attached to a further interface
/// ([`XdpSteer::add_interface`], inline mode).
struct ExtraAttach {
    iface: String,
    ifindex: u32,
    mode: XdpMode,
    attachment: Attachment,
}

/// The loaded and attached XDP steering program. Dropping it detaches the
/// program and frees its maps.
pub struct XdpSteer {
    // The attachment is undone in `Drop`, before the skeleton (a field) is dropped.
    attachment: ManuallyDrop<Attachment>,
    skel: OwnedSkel<AckscopeSkel<'static>>,
    iface: String,
    ifindex: u32,
    mode: XdpMode,
    prog_id: u32,
    /// Further interfaces the program is attached to (detached first).
    extra: Vec<ExtraAttach>,
    /// Attach settings, reused by `add_interface`.
    attach_mode: AttachMode,
    netlink: bool,
    force: bool,
    /// Set by `leave_attached`: netlink attachments survive the drop.
    leave: bool,
}

impl fmt::Debug for XdpSteer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpSteer")
            .field("iface", &self.iface)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .field("prog_id", &self.prog_id)
            .field("link", &matches!(*self.attachment, Attachment::Link(_)))
            .finish()
    }
}

impl XdpSteer {
    /// Loads the program with `cfg` and attaches it to `iface`.
    ///
    /// Refuses a foreign XDP program on the interface unless `cfg.force`;
    /// removes a leftover `ackscope_xdp` with a warning.
    pub fn attach(iface: &str, cfg: &SteerConfig) -> Result<XdpSteer> {
        Self::attach_with(iface, cfg, None)
    }

    /// Like [`XdpSteer::attach`], but the new program's handshake/teardown table is
    /// `first`'s (mirror mode over several interfaces: a TAP's two outputs each carry one
    /// direction, and the server's bare ACK on one port is selected by the SYN the other
    /// port saw). Counters and XSKMAP stay per interface.
    pub fn attach_sharing_flows(iface: &str, cfg: &SteerConfig, first: &XdpSteer) -> Result<XdpSteer> {
        Self::attach_with(iface, cfg, Some(SharedMaps { flows: first.skel.maps.ackscope_flows.as_fd() }))
    }

    fn attach_with(iface: &str, cfg: &SteerConfig, shared: Option<SharedMaps<'_>>) -> Result<XdpSteer> {
        route_libbpf_logs();
        check_capabilities()?;
        if cfg.flow_table_size == 0 {
            return Err(DatapathError::Config("flow table size must be > 0".into()));
        }
        let ifindex = ifindex_of(iface)?;
        let leftover = clear_interface(iface, ifindex, cfg.force, cfg.netlink)?;

        // On an error below, dropping `steer_skel` unloads the program and frees its maps.
        let steer_skel = OwnedSkel::load(|storage| load(iface, cfg, false, storage, shared))?;
        preset_maps(&steer_skel, cfg)?;
        let prog_fd = steer_skel.progs.ackscope_xdp.as_fd().as_raw_fd();
        let (attachment, mode) = attach_prog(iface, ifindex, prog_fd, cfg.attach_mode, cfg.netlink, leftover.as_ref())?;
        let prog_id = prog_id_of(steer_skel.progs.ackscope_xdp.as_fd()).unwrap_or(0);
        info!(iface, ifindex, %mode, prog_id,
              link = matches!(attachment, Attachment::Link(_)),
              "XDP steering program attached");
        Ok(XdpSteer {
            attachment: ManuallyDrop::new(attachment),
            skel: steer_skel,
            iface: iface.to_string(),
            ifindex,
            mode,
            prog_id,
            extra: Vec::new(),
            attach_mode: cfg.attach_mode,
            netlink: cfg.netlink,
            force: cfg.force,
            leave: false,
        })
    }

    /// Inserts an AF_XDP socket `fd` into `XSKMAP[queue]`; frames steered on
    /// rx queue `queue` go to it. Closing the socket removes it again.
    pub fn register_socket(&self, queue: u32, fd: RawFd) -> Result<()> {
        self.skel
            .maps
            .ackscope_xsks
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map {
                map: "ackscope_xsks",
                what: format!("insert socket fd {fd} for queue {queue}"),
                source,
            })
    }

    /// Removes the socket of `queue` from the XSKMAP (frames of that queue
    /// then get the not-steered verdict and count as `redirect_fail`).
    pub fn unregister_socket(&self, queue: u32) -> Result<()> {
        self.skel
            .maps
            .ackscope_xsks
            .delete(&queue.to_ne_bytes())
            .map_err(|source| DatapathError::Map {
                map: "ackscope_xsks",
                what: format!("remove queue {queue}"),
                source,
            })
    }

    /// Forward mode: frames arriving on `from_ifindex` that are not steered
    /// leave through `to_ifindex`. Native XDP redirect into a veth needs
    /// NAPI on the peer (`gro on` or an XDP program there).
    pub fn set_forward(&self, from_ifindex: u32, to_ifindex: u32) -> Result<()> {
        self.skel
            .maps
            .ackscope_fwd
            .update(&from_ifindex.to_ne_bytes(), &to_ifindex.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map {
                map: "ackscope_fwd",
                what: format!("forward ifindex {from_ifindex} -> {to_ifindex}"),
                source,
            })
    }

    /// Attaches the same program (same maps) to one more interface, with
    /// the attach settings given to [`XdpSteer::attach`] (inline mode: both
    /// ports). A leftover `ackscope_xdp` there is removed (or, with
    /// `netlink`, replaced atomically); a foreign program is refused unless
    /// `force`. Dropping the `XdpSteer` detaches it here too.
    pub fn add_interface(&mut self, iface: &str) -> Result<()> {
        let ifindex = ifindex_of(iface)?;
        let leftover = clear_interface(iface, ifindex, self.force, self.netlink)?;
        let prog_fd = self.skel.progs.ackscope_xdp.as_fd().as_raw_fd();
        let (attachment, mode) = attach_prog(iface, ifindex, prog_fd, self.attach_mode, self.netlink, leftover.as_ref())?;
        info!(iface, ifindex, %mode, prog_id = self.prog_id,
              link = matches!(attachment, Attachment::Link(_)),
              "XDP steering program attached to a further interface");
        self.extra.push(ExtraAttach { iface: iface.to_string(), ifindex, mode, attachment });
        Ok(())
    }

    /// Ends this handle but leaves netlink attachments in place: the
    /// program (and the maps it uses) stay in the kernel after the process
    /// exits, until `ip link set dev IF xdp off` or the next ackscope start
    /// replaces them. bpf_link attachments cannot outlive their fd and are
    /// detached as usual. Returns the interfaces left attached.
    pub fn leave_attached(mut self) -> Vec<String> {
        self.leave = true;
        let mut left = Vec::new();
        if matches!(*self.attachment, Attachment::Netlink) {
            left.push(self.iface.clone());
        }
        for e in &self.extra {
            if matches!(e.attachment, Attachment::Netlink) {
                left.push(e.iface.clone());
            }
        }
        left
    }

    /// Program counters summed over all CPUs.
    pub fn counters(&self) -> Result<BpfCounters> {
        let per_cpu = self
            .skel
            .maps
            .ackscope_cnt
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map {
                map: "ackscope_cnt",
                what: "per-CPU lookup".into(),
                source,
            })?;
        Ok(BpfCounters::sum_per_cpu(per_cpu.iter().flatten()))
    }

    /// Number of entries currently in the handshake/teardown table (fresh or aged out but
    /// not yet replaced; reads every bucket: diagnostics and tests only).
    pub fn tracked_flows(&self) -> usize {
        table_entries(&self.skel)
    }

    /// The mode the program is attached in.
    pub fn attached_mode(&self) -> XdpMode {
        self.mode
    }

    /// Whether the program is held by a bpf_link (vanishes with the process)
    /// rather than a netlink attach.
    pub fn is_link(&self) -> bool {
        matches!(*self.attachment, Attachment::Link(_))
    }

    /// Kernel id of the loaded program.
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// Interface the program is attached to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// Index of that interface.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

impl Drop for XdpSteer {
    fn drop(&mut self) {
        let prog_fd = self.skel.progs.ackscope_xdp.as_fd().as_raw_fd();
        for e in self.extra.drain(..).rev() {
            match e.attachment {
                Attachment::Link(fd) => drop(fd),
                Attachment::Netlink if self.leave => {
                    info!(iface = %e.iface, "XDP program left attached");
                }
                Attachment::Netlink => {
                    if let Err(err) = detach_netlink(e.ifindex, e.mode, Some(prog_fd)) {
                        warn!(iface = %e.iface, error = %err,
                              "could not detach the XDP program; remove it with \
                               `ip link set dev {} xdp off`", e.iface);
                    }
                }
            }
        }
        // SAFETY: dropped exactly once, here.
        let attachment = unsafe { ManuallyDrop::take(&mut self.attachment) };
        match attachment {
            Attachment::Link(fd) => drop(fd),
            Attachment::Netlink if self.leave => {
                info!(iface = %self.iface, "XDP program left attached");
            }
            Attachment::Netlink => {
                if let Err(e) = detach_netlink(self.ifindex, self.mode, Some(prog_fd)) {
                    warn!(iface = %self.iface, error = %e,
                          "could not detach the XDP program; remove it with \
                           `ip link set dev {} xdp off`", self.iface);
                }
            }
        }
        debug!(iface = %self.iface, "XDP steering program detached");
        // `skel` (a field) is dropped after this: the program unloads once detached.
    }
}

/// Id of any XDP program attached to `ifindex` (native, generic or
/// offloaded), `None` when there is none. Meant for tests checking that
/// nothing is left behind.
pub fn prog_id_on(ifindex: u32) -> Result<Option<u32>> {
    Ok(xdp_programs_on(ifindex)?.first().map(|p| p.id))
}

/// Every XDP program attached to `ifindex`, one per mode slot.
pub fn xdp_programs_on(ifindex: u32) -> Result<Vec<AttachedProgram>> {
    let q = query(ifindex).map_err(|source| DatapathError::Attach {
        iface: format!("ifindex {ifindex}"),
        mode: "query".into(),
        source,
    })?;
    let mut out = Vec::new();
    for (id, mode) in [
        (q.drv_prog_id, XdpMode::Native),
        (q.skb_prog_id, XdpMode::Generic),
        (q.hw_prog_id, XdpMode::Offload),
    ] {
        if id != 0 {
            out.push(AttachedProgram { id, name: prog_name(id).unwrap_or_default(), mode });
        }
    }
    Ok(out)
}



/// One frame of [`classify_test_run`]: the program's verdict and what it counted.
#[derive(Debug)]
pub struct TestRunFrame {
    /// The XDP verdict (`XDP_DROP` = 1, `XDP_PASS` = 2, `XDP_REDIRECT` = 4, ...), or the
    /// error of the `BPF_PROG_RUN` syscall (the kernel refuses frames shorter than an
    /// Ethernet header with `EINVAL` before the program runs).
    pub verdict: std::result::Result<u32, libbpf_rs::Error>,
    /// What this frame added to the program's counters.
    pub counters: BpfCounters,
    /// The classifier's parse of a control-class frame (SYN, SYN-ACK, FIN, RST, bare ACK):
    /// what its tracking key is made of. `None` for the other classes.
    pub parsed: Option<ClassifierParse>,
}

/// What the in-kernel classifier (bpf/classify.h) extracted from a control-class frame, for
/// the C-vs-Rust differential test: the inner 4-tuple and the tunnel identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifierParse {
    /// Inner source address, 16 bytes (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    /// Inner destination address.
    pub dst: [u8; 16],
    /// Inner source port.
    pub sport: u16,
    /// Inner destination port.
    pub dport: u16,
    /// TCP flags byte.
    pub flags: u8,
    /// TCP payload length from the IP length fields.
    pub payload_len: u32,
    /// The outermost encapsulation: its [`crate::packet::TunnelKind`] index, id (when the
    /// header has one) and outer IP endpoints (zero when not on IP); `None` for plain frames.
    pub tunnel: Option<(u8, Option<u32>, [u8; 16], [u8; 16])>,
    /// Encapsulations decoded.
    pub depth: u8,
}

impl ClassifierParse {
    fn of(v: &skel::types::ackscope_pkt) -> ClassifierParse {
        let addr = |a: &[u32; 4]| {
            let mut o = [0u8; 16];
            for (i, w) in a.iter().enumerate() {
                // Stored in network byte order: the bytes in memory are the address.
                o[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
            }
            o
        };
        ClassifierParse {
            src: addr(&v.src),
            dst: addr(&v.dst),
            sport: v.sport,
            dport: v.dport,
            flags: v.tcp_flags,
            payload_len: v.payload_len,
            tunnel: (v.tun_kind != 0).then(|| {
                (v.tun_kind - 1, (v.tun_has_id != 0).then_some(v.tun_id), addr(&v.tun_src), addr(&v.tun_dst))
            }),
            depth: v.tun_depth,
        }
    }
}

/// Loads the steering program (configured by `cfg`: mode, flow age, presorted; nothing is
/// attached and no interface is needed) and runs it once per frame, in order, with
/// `BPF_PROG_RUN`. The in-kernel flow table persists from one frame to the next, as on an
/// interface. With no AF_XDP socket in the XSKMAP every steered frame fails its redirect and
/// gets the not-steered verdict (counted in `redirect_fail`). Returns every frame's result and
/// the counters of the whole run. Needs CAP_BPF (root). For tests (`tests/malformed.rs`).
pub fn classify_test_run(frames: &[&[u8]], cfg: &SteerConfig) -> Result<(Vec<TestRunFrame>, BpfCounters)> {
    classify_test_run_table(frames, cfg).map(|(f, c, _)| (f, c))
}

/// [`classify_test_run`], also returning the number of entries in the in-kernel flow table at
/// the end (for the eviction accounting: entries put = entries kept + `flows_evicted` +
/// deletes).
pub fn classify_test_run_table(frames: &[&[u8]], cfg: &SteerConfig) -> Result<(Vec<TestRunFrame>, BpfCounters, usize)> {
    route_libbpf_logs();
    check_capabilities()?;
    let cfg = SteerConfig { xsk_map_size: Some(cfg.xsk_map_size.unwrap_or(64)), ..cfg.clone() };
    let skel = OwnedSkel::load(|storage| load("", &cfg, true, storage, None))?;
    let (f, c) = test_run_frames(&skel, frames)?;
    Ok((f, c, table_entries(&skel)))
}

/// Non-empty ways of the flow table (bpf/flowtable.h), bucket by bucket.
fn table_entries(skel: &AckscopeSkel<'static>) -> usize {
    ways_in_use(&skel.maps.ackscope_flows)
}

/// Non-empty ways of a bpf/flowtable.h table (`struct ackscope_bucket` values), XDP's or tc's.
pub(crate) fn ways_in_use(map: &impl MapCore) -> usize {
    (0..map.max_entries())
        .filter_map(|i| map.lookup(&i.to_ne_bytes(), MapFlags::ANY).ok().flatten())
        .map(|v| v.chunks_exact(8).filter(|w| w.iter().any(|&b| b != 0)).count())
        .sum()
}

/// The frames of [`classify_test_run`] through a loaded skeleton (dropped by the caller).
fn test_run_frames(skel: &AckscopeSkel<'static>, frames: &[&[u8]]) -> Result<(Vec<TestRunFrame>, BpfCounters)> {
    let read = |skel: &AckscopeSkel<'static>| -> Result<BpfCounters> {
        let per_cpu = skel
            .maps
            .ackscope_cnt
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map { map: "ackscope_cnt", what: "per-CPU lookup".into(), source })?;
        Ok(BpfCounters::sum_per_cpu(per_cpu.iter().flatten()))
    };
    let cpus = libbpf_rs::num_possible_cpus()
        .map_err(|source| DatapathError::Map { map: "ackscope_last", what: "count the CPUs".into(), source })?;
    let zero = super::abi::value_bytes(&skel::types::ackscope_pkt::default()).to_vec();
    let zeros = vec![zero; cpus];
    let start = read(skel)?;
    let mut before = start;
    let mut out = Vec::with_capacity(frames.len());
    for frame in frames {
        skel.maps
            .ackscope_last
            .update_percpu(&0u32.to_ne_bytes(), &zeros, MapFlags::ANY)
            .map_err(|source| DatapathError::Map { map: "ackscope_last", what: "clear".into(), source })?;
        let input = libbpf_rs::ProgramInput { data_in: Some(frame), ..Default::default() };
        let verdict = skel.progs.ackscope_xdp.test_run(input).map(|o| o.return_value);
        let after = read(skel)?;
        let last = skel
            .maps
            .ackscope_last
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map { map: "ackscope_last", what: "per-CPU lookup".into(), source })?;
        // The CPU that ran the frame wrote a non-zero TCP flags byte (every control class has
        // one); the others are still zero.
        let parsed = last
            .iter()
            .flatten()
            .map(|raw| super::abi::read_map_value::<skel::types::ackscope_pkt>(raw))
            .find(|v| v.tcp_flags != 0)
            .map(|v| ClassifierParse::of(&v));
        out.push(TestRunFrame { verdict, counters: after.since(&before), parsed });
        before = after;
    }
    Ok((out, before.since(&start)))
}

// --- internals ---------------------------------------------------------------

/// Sends libbpf's messages (including verifier logs) to `tracing`.
pub(crate) fn route_libbpf_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        fn cb(level: PrintLevel, msg: String) {
            let msg = msg.trim_end();
            match level {
                PrintLevel::Warn => warn!(target: "libbpf", "{msg}"),
                PrintLevel::Info => info!(target: "libbpf", "{msg}"),
                PrintLevel::Debug => debug!(target: "libbpf", "{msg}"),
            }
        }
        libbpf_rs::set_print(Some((PrintLevel::Debug, cb)));
    });
}


/// Maps an EPERM from libbpf to the permission error, anything else to
/// `BpfLoad`.
pub(crate) fn load_error(stage: &'static str, source: libbpf_rs::Error) -> DatapathError {
    if matches!(source.kind(), libbpf_rs::ErrorKind::PermissionDenied) {
        DatapathError::Permission { missing: format!("permission to {stage} BPF ({source})") }
    } else {
        DatapathError::BpfLoad { stage, source }
    }
}

/// Fills the DEVMAP and XSKMAP bases from `cfg` before the attach.
fn preset_maps(skel: &AckscopeSkel<'static>, cfg: &SteerConfig) -> Result<()> {
    for &(from, to) in &cfg.forward {
        skel.maps
            .ackscope_fwd
            .update(&from.to_ne_bytes(), &to.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map {
                map: "ackscope_fwd",
                what: format!("forward ifindex {from} -> {to}"),
                source,
            })?;
    }
    for &(ifindex, base) in &cfg.xsk_bases {
        skel.maps
            .ackscope_xsk_base
            .update(&ifindex.to_ne_bytes(), &base.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| DatapathError::Map {
                map: "ackscope_xsk_base",
                what: format!("XSKMAP base {base} for ifindex {ifindex}"),
                source,
            })?;
    }
    Ok(())
}

/// Entries per bucket of the in-kernel flow table (`ACKSCOPE_WAYS`, bpf/flowtable.h).
pub const FLOW_TABLE_WAYS: u32 = 8;

/// Buckets of the in-kernel flow table for `entries` (`--kernel-flows`): a power of two, at
/// most 2^24 (the bucket index and the 40-bit tag are disjoint bits of the fingerprint).
pub fn flow_table_buckets(entries: u32) -> Result<u32> {
    let b = entries.div_ceil(FLOW_TABLE_WAYS).max(1).checked_next_power_of_two().unwrap_or(u32::MAX);
    if b > 1 << 24 {
        return Err(DatapathError::Config(format!(
            "--kernel-flows {entries} is too large: at most {} entries; choose a smaller --kernel-flows",
            (1u64 << 24) * u64::from(FLOW_TABLE_WAYS)
        )));
    }
    Ok(b)
}

/// Whether this kernel lets XDP programs call `bpf_xdp_adjust_meta` (probed once, by loading a
/// probe program: libbpf's `libbpf_probe_bpf_helper`). Some kernel builds refuse the helper at
/// load time (this project's CI machine's 6.18.44 does); the steering program then puts its
/// stamp block in front of the frame instead ([`stamp_in_prefix`]). A probe that cannot run
/// (an error) counts as "not allowed": the prefix works on every kernel.
pub fn xdp_meta_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let r = libbpf_rs::ProgramType::Xdp.is_helper_supported(libbpf_sys::BPF_FUNC_xdp_adjust_meta);
        match &r {
            Ok(true) => {}
            Ok(false) => info!(
                "this kernel refuses bpf_xdp_adjust_meta to XDP programs: steered frames carry \
                 their receive stamp in 16 bytes in front of the frame, removed before anything \
                 else sees them"
            ),
            Err(e) => warn!(error = %e, "could not probe bpf_xdp_adjust_meta; steered frames carry their stamp in front of the frame"),
        }
        matches!(r, Ok(true))
    })
}

/// Whether steered frames carry their stamp block in front of the frame (the steering
/// program's `ackscope_stamp` = prefix), i.e. the kernel refuses `bpf_xdp_adjust_meta` to XDP
/// programs. The AF_XDP readers (`xsk::umem::take_meta`) look for the block where the program
/// put it.
pub fn stamp_in_prefix() -> bool {
    !xdp_meta_supported()
}

/// Opens, configures and loads the skeleton into `storage`.
/// The maps a second interface's program shares with the first one's (several mirror
/// ports, one flow table): the handshake/teardown table (bpf/flowtable.h).
#[derive(Clone, Copy)]
struct SharedMaps<'a> {
    flows: BorrowedFd<'a>,
}

fn load(
    iface: &str,
    cfg: &SteerConfig,
    record: bool,
    storage: &'static mut MaybeUninit<OpenObject>,
    shared: Option<SharedMaps<'_>>,
) -> Result<AckscopeSkel<'static>> {
    let mut open = AckscopeSkelBuilder::default().open(storage).map_err(|e| load_error("open", e))?;

    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| DatapathError::Config("BPF object has no .rodata section".into()))?;
    rodata.ackscope_mode = cfg.steer_mode.rodata_value();
    rodata.ackscope_flow_age_ns = u64::try_from(cfg.flow_age.as_nanos()).unwrap_or(u64::MAX);
    rodata.ackscope_presorted = u32::from(cfg.presorted);
    rodata.ackscope_key_seed = super::abi::key_seed();
    rodata.ackscope_record = u32::from(record);
    // Where steered frames carry their stamp block (bpf/ackscope.bpf.c `ackscope_stamp`).
    rodata.ackscope_stamp = if stamp_in_prefix() { 2 } else { 1 };
    rodata.ackscope_prefix_magic = super::abi::prefix_magic();

    let xsk_entries = cfg
        .xsk_map_size
        .unwrap_or_else(|| rx_queue_count(iface).unwrap_or(1).max(64))
        .max(1);
    // Host mode's presorted program tracks nothing: one bucket.
    let buckets = if cfg.presorted { 1 } else { flow_table_buckets(cfg.flow_table_size)? };
    rodata.ackscope_bucket_mask = buckets - 1;
    open.maps
        .ackscope_flows
        .set_max_entries(buckets)
        .map_err(|e| load_error("size the flow table", e))?;
    if let Some(m) = shared {
        open.maps.ackscope_flows.reuse_fd(m.flows).map_err(|e| load_error("share the flow table", e))?;
    }
    open.maps
        .ackscope_xsks
        .set_max_entries(xsk_entries)
        .map_err(|e| load_error("size the XSKMAP", e))?;
    debug!(iface, flow_table = cfg.flow_table_size, xsk_entries, mode = ?cfg.steer_mode,
           flow_age = ?cfg.flow_age, "loading XDP steering program");
    open.load().map_err(|e| load_error("load", e))
}

/// Attaches the loaded program in the requested mode; link first, netlink
/// only on kernels without XDP links — or netlink only when `netlink`. A
/// `leftover` of ours (kept by `clear_interface` for a netlink attach) is
/// replaced atomically when it sits in a mode we may use, and detached
/// first otherwise.
fn attach_prog(
    iface: &str,
    ifindex: u32,
    prog_fd: RawFd,
    mode: AttachMode,
    netlink: bool,
    leftover: Option<&AttachedProgram>,
) -> Result<(Attachment, XdpMode)> {
    let mut candidates: Vec<XdpMode> = match mode {
        AttachMode::Auto => vec![XdpMode::Native, XdpMode::Generic],
        AttachMode::Native => vec![XdpMode::Native],
        AttachMode::Generic => vec![XdpMode::Generic],
    };
    let mut leftover = leftover.cloned();
    if let Some(l) = &leftover {
        if let Some(i) = candidates.iter().position(|&m| m == l.mode) {
            // Replace in place: the leftover's mode first.
            let m = candidates.remove(i);
            candidates.insert(0, m);
        } else {
            detach_leftover(iface, ifindex, l, true)?;
            leftover = None;
        }
    }
    let mut last_err = None;
    for round in 0..2 {
        for &m in &candidates {
            let replace = leftover.as_ref().filter(|l| l.mode == m);
            match attach_one(prog_fd, ifindex, m, netlink, replace) {
                Ok(att) => {
                    if let Some(l) = replace {
                        warn!(iface, id = l.id, mode = %m,
                              "replaced leftover {PROG_NAME} of a previous run in place");
                    }
                    return Ok((att, m));
                }
                Err(e) => {
                    if candidates.len() > 1 || leftover.is_some() {
                        warn!(iface, mode = %m, error = %e, "XDP attach failed, trying the next mode");
                    }
                    last_err = Some((m, e));
                }
            }
        }
        // Second round only to retry without a leftover in the way.
        match leftover.take() {
            Some(l) if round == 0 => detach_leftover(iface, ifindex, &l, true)?,
            _ => break,
        }
    }
    let (m, source) = last_err.expect("at least one attach mode");
    Err(DatapathError::Attach { iface: iface.to_string(), mode: m.to_string(), source })
}

fn attach_one(
    prog_fd: RawFd,
    ifindex: u32,
    mode: XdpMode,
    netlink: bool,
    replace: Option<&AttachedProgram>,
) -> io::Result<Attachment> {
    let mut link_err = None;
    if !netlink {
        // SAFETY: zero is a valid bit pattern for this plain C options struct.
        let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        opts.flags = mode.flag();
        // SAFETY: `prog_fd` is a loaded XDP program owned by the caller's
        // skeleton and `opts` is a valid, sized options struct for the call.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(prog_fd, ifindex as i32, libbpf_sys::BPF_XDP, &opts)
        };
        if fd >= 0 {
            // SAFETY: bpf_link_create returned a new file descriptor we own.
            return Ok(Attachment::Link(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        let err = io::Error::from_raw_os_error(-fd);
        // Kernels before 5.9 have no XDP links: EINVAL / EOPNOTSUPP / ENOTSUPP.
        let no_links = matches!(-fd, libc::EINVAL | libc::EOPNOTSUPP | 524);
        if !no_links {
            return Err(err);
        }
        link_err = Some(err);
    }
    let res: io::Result<()> = match replace {
        // libbpf-rs's `Xdp::replace` sets no mode flag (the kernel would pick native for a
        // generic leftover), so the in-place replace in the leftover's mode stays raw.
        Some(l) => {
            // Keeps the old program's fd open for the duration of the call.
            let old_fd = prog_fd_by_id(l.id)?;
            // SAFETY: zero is a valid bit pattern for this plain C options struct.
            let mut aopts: libbpf_sys::bpf_xdp_attach_opts = unsafe { std::mem::zeroed() };
            aopts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _;
            aopts.old_prog_fd = old_fd.as_raw_fd();
            let flags = mode.flag() | libbpf_sys::XDP_FLAGS_REPLACE;
            // SAFETY: `prog_fd` is a loaded XDP program owned by the caller's skeleton, the
            // old program's fd is open, and `aopts` is a valid, sized options struct.
            let ret = unsafe { libbpf_sys::bpf_xdp_attach(ifindex as i32, prog_fd, flags, &aopts) };
            if ret < 0 { Err(io::Error::from_raw_os_error(-ret)) } else { Ok(()) }
        }
        None => {
            // SAFETY: `prog_fd` is the loaded program of the caller's skeleton, open for the
            // duration of this call.
            let fd = unsafe { BorrowedFd::borrow_raw(prog_fd) };
            let flags = XdpFlags::from_bits_retain(mode.flag()) | XdpFlags::UPDATE_IF_NOEXIST;
            Xdp::new(fd).attach(ifindex as i32, flags).map_err(|e| io::Error::other(e.to_string()))
        }
    };
    if let Err(e) = res {
        // Report the link error when there was one: when the netlink path
        // fails too, the original problem (e.g. driver refuses native mode)
        // is the useful one.
        return Err(link_err.unwrap_or(e));
    }
    if let Some(err) = link_err {
        warn!(ifindex, %mode, "XDP links unavailable ({err}); attached via netlink — a killed \
               process leaves the program behind until the next ackscope start removes it");
    }
    Ok(Attachment::Netlink)
}

/// Netlink detach of the program in `mode`; with `expected_prog_fd`, only
/// if that program is the one attached (XDP_FLAGS_REPLACE).
fn detach_netlink(ifindex: u32, mode: XdpMode, expected_prog_fd: Option<RawFd>) -> io::Result<()> {
    // SAFETY: zero is a valid bit pattern for this plain C options struct.
    let mut opts: libbpf_sys::bpf_xdp_attach_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _;
    let mut flags = mode.flag();
    if let Some(fd) = expected_prog_fd {
        opts.old_prog_fd = fd;
        flags |= libbpf_sys::XDP_FLAGS_REPLACE;
    }
    // SAFETY: `opts` is a valid, sized options struct; the fd (if any) is
    // open for the duration of the call.
    let ret = unsafe { libbpf_sys::bpf_xdp_detach(ifindex as i32, flags, &opts) };
    if ret < 0 {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(())
    }
}

/// Removes a leftover `ackscope_xdp`, refuses (or with `force` removes)
/// anything else. With `keep_ours`, a leftover `ackscope_xdp` is left in
/// place and returned, for `attach_prog` to replace atomically.
fn clear_interface(
    iface: &str,
    ifindex: u32,
    force: bool,
    keep_ours: bool,
) -> Result<Option<AttachedProgram>> {
    let mut kept = None;
    for prog in xdp_programs_on(ifindex)? {
        let ours = prog.name == PROG_NAME;
        if !ours && !force {
            return Err(DatapathError::XdpProgramPresent {
                iface: iface.to_string(),
                name: prog.name,
                id: prog.id,
                mode: prog.mode.to_string(),
            });
        }
        if ours && keep_ours && kept.is_none() {
            kept = Some(prog);
            continue;
        }
        detach_leftover(iface, ifindex, &prog, ours)?;
    }
    Ok(kept)
}

/// Netlink-detaches `prog` (only if it is still the one attached).
fn detach_leftover(iface: &str, ifindex: u32, prog: &AttachedProgram, ours: bool) -> Result<()> {
    let prog_fd = prog_fd_by_id(prog.id).ok();
    let res = detach_netlink(ifindex, prog.mode, prog_fd.as_ref().map(|f| f.as_raw_fd()));
    match res {
        Ok(()) if ours => warn!(iface, id = prog.id, mode = %prog.mode,
                                "removed leftover {PROG_NAME} of a previous run"),
        Ok(()) => warn!(iface, id = prog.id, name = %prog.name, mode = %prog.mode,
                        "force: detached foreign XDP program"),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            return Err(DatapathError::XdpLinkBusy {
                iface: iface.to_string(),
                name: prog.name.clone(),
                id: prog.id,
            });
        }
        Err(source) => {
            return Err(DatapathError::Attach {
                iface: iface.to_string(),
                mode: format!("detach of {} ({})", prog.name, prog.mode),
                source,
            });
        }
    }
    Ok(())
}

fn query(ifindex: u32) -> io::Result<libbpf_sys::bpf_xdp_query_opts> {
    // SAFETY: zero is a valid bit pattern for this plain C options struct.
    let mut opts: libbpf_sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _;
    // SAFETY: `opts` is a valid, sized, writable options struct.
    let ret = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if ret < 0 {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(opts)
    }
}

fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall wrapper; no pointers involved.
    let fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) };
    if fd < 0 {
        Err(io::Error::from_raw_os_error(-fd))
    } else {
        // SAFETY: the call returned a new file descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn prog_info(fd: RawFd) -> io::Result<libbpf_sys::bpf_prog_info> {
    // SAFETY: zero is a valid bit pattern for this plain C struct.
    let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: `info` is writable for `len` bytes and all its pointer fields
    // are zero, so the kernel fills in only scalar fields.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd, &mut info, &mut len) };
    if ret < 0 {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(info)
    }
}

pub(crate) fn prog_name(id: u32) -> io::Result<String> {
    let fd = prog_fd_by_id(id)?;
    let info = prog_info(fd.as_raw_fd())?;
    let bytes: Vec<u8> = info.name.iter().map(|&c| c as u8).collect();
    let name = CStr::from_bytes_until_nul(&bytes)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
    Ok(name)
}

fn prog_id_of(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<u32> {
    prog_info(fd.as_raw_fd()).map(|i| i.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_raw() {
        let raw: Vec<u8> = (1..=14u64).flat_map(|v| v.to_ne_bytes()).collect();
        let c = BpfCounters::sum_per_cpu([&raw, &raw]);
        assert_eq!(c.frames, 2);
        assert_eq!(c.meta_fail, 24);
        assert_eq!(c.tunnelled, 26);
        assert_eq!(c.flows_evicted, 28);
        assert_eq!(c.steered(), 2 * (2 + 3 + 4 + 5 + 6));
    }
}
