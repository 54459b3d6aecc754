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

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::Once;
use std::time::Duration;

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, PrintLevel};
use tracing::{debug, info, warn};

use super::error::{DatapathError, Result};

#[allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/ackscope.skel.rs"));
}
use skel::{AckscopeSkel, AckscopeSkelBuilder};

/// Name of the XDP program as the kernel reports it; how a leftover of a
/// killed run is recognised.
pub const PROG_NAME: &str = "ackscope_xdp";

/// Magic value in [`KernelMeta::magic`] ("ACKS" little-endian).
pub const META_MAGIC: u32 = 0x534b_4341;

/// Layout of the XDP metadata block the program writes immediately before
/// the packet data of every steered frame (`struct ackscope_meta`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMeta {
    /// `bpf_ktime_get_ns()` at program entry: CLOCK_MONOTONIC nanoseconds.
    pub rx_ts_ns: u64,
    /// [`META_MAGIC`] when the block was written by our program.
    pub magic: u32,
    /// The classifier's verdict (`enum ackscope_class` in `bpf/classify.h`).
    pub class: u32,
}

/// Size of [`KernelMeta`] in bytes (16).
pub const META_LEN: usize = std::mem::size_of::<KernelMeta>();

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
    /// Capacity of the in-kernel LRU of 4-tuples in handshake or teardown
    /// (default 65536).
    pub flow_table_size: u32,
    /// XSKMAP size; `None` sizes it to the interface's rx queue count
    /// (at least 64).
    pub xsk_map_size: Option<u32>,
    /// Replace a foreign XDP program found on the interface.
    pub force: bool,
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
}

impl BpfCounters {
    const FIELDS: usize = 12;

    /// All steered frames (whether or not the redirect then succeeded).
    pub fn steered(&self) -> u64 {
        self.steered_syn + self.steered_synack + self.steered_fin + self.steered_rst + self.steered_ack
    }

    /// All frames that were not steered by classification.
    pub fn not_steered(&self) -> u64 {
        self.not_steered_tcp + self.not_tcp + self.parse_fail
    }

    fn add_raw(&mut self, raw: &[u8]) {
        let mut v = [0u64; Self::FIELDS];
        for (slot, chunk) in v.iter_mut().zip(raw.chunks_exact(8)) {
            *slot = u64::from_ne_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        self.frames += v[0];
        self.steered_syn += v[1];
        self.steered_synack += v[2];
        self.steered_fin += v[3];
        self.steered_rst += v[4];
        self.steered_ack += v[5];
        self.not_steered_tcp += v[6];
        self.not_tcp += v[7];
        self.parse_fail += v[8];
        self.redirect_fail += v[9];
        self.flows_expired += v[10];
        self.meta_fail += v[11];
    }
}

impl fmt::Display for BpfCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames={} syn={} synack={} fin={} rst={} ack={} not_steered_tcp={} not_tcp={} \
             parse_fail={} redirect_fail={} flows_expired={} meta_fail={}",
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
            self.meta_fail
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

/// The loaded and attached XDP steering program. Dropping it detaches the
/// program and frees its maps.
pub struct XdpSteer {
    // Field order is drop order: the attachment first, then the skeleton,
    // then the storage it borrows (freed by hand in `Drop`).
    attachment: ManuallyDrop<Attachment>,
    skel: ManuallyDrop<AckscopeSkel<'static>>,
    /// Heap storage of the libbpf object the skeleton borrows for
    /// `'static`; from `Box::into_raw`, freed in `Drop` after `skel`.
    storage: NonNull<MaybeUninit<OpenObject>>,
    iface: String,
    ifindex: u32,
    mode: XdpMode,
    prog_id: u32,
}

// SAFETY: the skeleton is `Send` (the generated code implements it), and
// `storage` is a heap allocation owned exclusively by this value and only
// reached through `skel`; nothing in `XdpSteer` is tied to the creating
// thread.
unsafe impl Send for XdpSteer {}

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
        route_libbpf_logs();
        check_capabilities()?;
        if cfg.flow_table_size == 0 {
            return Err(DatapathError::Config("flow table size must be > 0".into()));
        }
        let ifindex = ifindex_of(iface)?;
        clear_interface(iface, ifindex, cfg.force)?;

        let storage: NonNull<MaybeUninit<OpenObject>> =
            NonNull::from(Box::leak(Box::new(MaybeUninit::uninit())));
        // SAFETY: `storage` is a fresh, exclusively owned heap allocation
        // that lives until `XdpSteer::drop` (or the error path below) frees
        // it after the skeleton borrowing it has been dropped; it is never
        // moved, so the `'static` borrow cannot dangle while the skeleton
        // exists. No other reference to it is ever created.
        let storage_ref: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *storage.as_ptr() };
        match load(iface, cfg, storage_ref) {
            Ok(skel) => {
                let mut steer_skel = ManuallyDrop::new(skel);
                match attach_prog(iface, ifindex, &steer_skel, cfg.attach_mode) {
                    Ok((attachment, mode)) => {
                        let prog_id = prog_id_of(steer_skel.progs.ackscope_xdp.as_fd()).unwrap_or(0);
                        info!(iface, ifindex, %mode, prog_id,
                              link = matches!(attachment, Attachment::Link(_)),
                              "XDP steering program attached");
                        Ok(XdpSteer {
                            attachment: ManuallyDrop::new(attachment),
                            skel: steer_skel,
                            storage,
                            iface: iface.to_string(),
                            ifindex,
                            mode,
                            prog_id,
                        })
                    }
                    Err(e) => {
                        // SAFETY: the skeleton is dropped exactly once, here,
                        // before its storage is freed.
                        unsafe { ManuallyDrop::drop(&mut steer_skel) };
                        // SAFETY: `storage` came from `Box::leak` above and
                        // nothing borrows it any more.
                        drop(unsafe { Box::from_raw(storage.as_ptr()) });
                        Err(e)
                    }
                }
            }
            Err(e) => {
                // SAFETY: `load` failed, so any skeleton borrowing the
                // storage has already been dropped inside it.
                drop(unsafe { Box::from_raw(storage.as_ptr()) });
                Err(e)
            }
        }
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
        let mut sum = BpfCounters::default();
        for raw in per_cpu.iter().flatten() {
            sum.add_raw(raw);
        }
        Ok(sum)
    }

    /// Number of 4-tuples currently tracked in handshake/teardown
    /// (walks the LRU map; diagnostics only).
    pub fn tracked_flows(&self) -> usize {
        self.skel.maps.ackscope_flows.keys().count()
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
        // SAFETY: dropped exactly once, here.
        let attachment = unsafe { ManuallyDrop::take(&mut self.attachment) };
        match attachment {
            Attachment::Link(fd) => drop(fd),
            Attachment::Netlink => {
                let prog_fd = self.skel.progs.ackscope_xdp.as_fd().as_raw_fd();
                if let Err(e) = detach_netlink(self.ifindex, self.mode, Some(prog_fd)) {
                    warn!(iface = %self.iface, error = %e,
                          "could not detach the XDP program; remove it with \
                           `ip link set dev {} xdp off`", self.iface);
                }
            }
        }
        // SAFETY: the skeleton is dropped exactly once, here, and before the
        // storage it borrows is freed below.
        unsafe { ManuallyDrop::drop(&mut self.skel) };
        // SAFETY: `storage` came from `Box::leak` in `attach`; the skeleton
        // that borrowed it is gone, so this is the last use.
        drop(unsafe { Box::from_raw(self.storage.as_ptr()) });
        debug!(iface = %self.iface, "XDP steering program detached");
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

// --- internals ---------------------------------------------------------------

/// Sends libbpf's messages (including verifier logs) to `tracing`.
fn route_libbpf_logs() {
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

/// Fails early with a readable error when capabilities are missing.
fn check_capabilities() -> Result<()> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_BPF: u32 = 39;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Ok(()); // cannot tell; let the syscalls decide
    };
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    else {
        return Ok(());
    };
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DatapathError::Permission { missing: missing.join(" and ") })
    }
}

/// Maps an EPERM from libbpf to the permission error, anything else to
/// `BpfLoad`.
fn load_error(stage: &'static str, source: libbpf_rs::Error) -> DatapathError {
    if matches!(source.kind(), libbpf_rs::ErrorKind::PermissionDenied) {
        DatapathError::Permission { missing: format!("permission to {stage} BPF ({source})") }
    } else {
        DatapathError::BpfLoad { stage, source }
    }
}

/// Opens, configures and loads the skeleton into `storage`.
fn load(
    iface: &str,
    cfg: &SteerConfig,
    storage: &'static mut MaybeUninit<OpenObject>,
) -> Result<AckscopeSkel<'static>> {
    let mut open = AckscopeSkelBuilder::default().open(storage).map_err(|e| load_error("open", e))?;

    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| DatapathError::Config("BPF object has no .rodata section".into()))?;
    rodata.ackscope_mode = cfg.steer_mode.rodata_value();
    rodata.ackscope_flow_age_ns = u64::try_from(cfg.flow_age.as_nanos()).unwrap_or(u64::MAX);

    let xsk_entries = cfg
        .xsk_map_size
        .unwrap_or_else(|| rx_queue_count(iface).unwrap_or(1).max(64))
        .max(1);
    open.maps
        .ackscope_flows
        .set_max_entries(cfg.flow_table_size)
        .map_err(|e| load_error("size the flow table", e))?;
    open.maps
        .ackscope_xsks
        .set_max_entries(xsk_entries)
        .map_err(|e| load_error("size the XSKMAP", e))?;
    debug!(iface, flow_table = cfg.flow_table_size, xsk_entries, mode = ?cfg.steer_mode,
           flow_age = ?cfg.flow_age, "loading XDP steering program");
    open.load().map_err(|e| load_error("load", e))
}

/// Attaches the loaded program in the requested mode; link first, netlink
/// only on kernels without XDP links.
fn attach_prog(
    iface: &str,
    ifindex: u32,
    skel: &AckscopeSkel<'static>,
    mode: AttachMode,
) -> Result<(Attachment, XdpMode)> {
    let prog_fd = skel.progs.ackscope_xdp.as_fd().as_raw_fd();
    let candidates: &[XdpMode] = match mode {
        AttachMode::Auto => &[XdpMode::Native, XdpMode::Generic],
        AttachMode::Native => &[XdpMode::Native],
        AttachMode::Generic => &[XdpMode::Generic],
    };
    let mut last_err = None;
    for &m in candidates {
        match attach_one(prog_fd, ifindex, m) {
            Ok(att) => return Ok((att, m)),
            Err(e) => {
                if candidates.len() > 1 {
                    warn!(iface, mode = %m, error = %e, "XDP attach failed, trying the next mode");
                }
                last_err = Some((m, e));
            }
        }
    }
    let (m, source) = last_err.expect("at least one attach mode");
    Err(DatapathError::Attach { iface: iface.to_string(), mode: m.to_string(), source })
}

fn attach_one(prog_fd: RawFd, ifindex: u32, mode: XdpMode) -> io::Result<Attachment> {
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
    // SAFETY: zero is a valid bit pattern for this plain C options struct.
    let mut aopts: libbpf_sys::bpf_xdp_attach_opts = unsafe { std::mem::zeroed() };
    aopts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _;
    let flags = mode.flag() | libbpf_sys::XDP_FLAGS_UPDATE_IF_NOEXIST;
    // SAFETY: valid program fd and options struct, as above.
    let ret = unsafe { libbpf_sys::bpf_xdp_attach(ifindex as i32, prog_fd, flags, &aopts) };
    if ret < 0 {
        // Report the link error: when the netlink path fails too, the
        // original problem (e.g. driver refuses native mode) is the useful one.
        return Err(err);
    }
    warn!(ifindex, %mode, "XDP links unavailable ({err}); attached via netlink — a killed \
           process leaves the program behind until the next ackscope start removes it");
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
/// anything else.
fn clear_interface(iface: &str, ifindex: u32, force: bool) -> Result<()> {
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
                    name: prog.name,
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

fn prog_name(id: u32) -> io::Result<String> {
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
    fn meta_layout_matches_bpf() {
        assert_eq!(META_LEN, 16);
        assert_eq!(std::mem::offset_of!(KernelMeta, magic), 8);
    }

    #[test]
    fn counters_sum_raw() {
        let mut c = BpfCounters::default();
        let raw: Vec<u8> = (1..=12u64).flat_map(|v| v.to_ne_bytes()).collect();
        c.add_raw(&raw);
        c.add_raw(&raw);
        assert_eq!(c.frames, 2);
        assert_eq!(c.meta_fail, 24);
        assert_eq!(c.steered(), 2 * (2 + 3 + 4 + 5 + 6));
    }
}
