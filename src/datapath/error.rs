//! Errors of the live datapath (XDP program and AF_XDP sockets).
//!
//! Every message names what went wrong *and* what the user can do about it,
//! so the binary can print `{err}` (or `{err:#}` with anyhow) as is.

use std::io;

/// Result alias for the datapath.
pub type Result<T> = std::result::Result<T, DatapathError>;

/// Everything that can go wrong while loading, attaching or receiving.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The named network interface does not exist (in this network namespace).
    #[error(
        "interface `{iface}` not found; check the name with `ip -br link` \
         (and that ackscope runs in the right network namespace)"
    )]
    InterfaceMissing {
        /// Interface name as given.
        iface: String,
    },

    /// The process lacks a capability the datapath needs.
    #[error(
        "missing {missing}: ackscope needs root or CAP_NET_ADMIN + CAP_BPF \
         (+ CAP_PERFMON, CAP_IPC_LOCK for large UMEMs) to load XDP and open \
         AF_XDP sockets; run with sudo or grant them with \
         `setcap cap_net_admin,cap_bpf,cap_perfmon,cap_ipc_lock+ep <binary>`"
    )]
    Permission {
        /// The capability (or capabilities) found missing.
        missing: String,
    },

    /// Another, foreign XDP program is attached to the interface.
    #[error(
        "interface `{iface}` already has XDP program `{name}` (id {id}, {mode} mode) \
         attached; ackscope will not replace it. Detach it \
         (`ip link set dev {iface} xdp off`, or `xdpgeneric off`) or pass --force"
    )]
    XdpProgramPresent {
        /// Interface name.
        iface: String,
        /// Name of the attached program (may be empty).
        name: String,
        /// Kernel program id.
        id: u32,
        /// Attach mode it was found in.
        mode: String,
    },

    /// An XDP program is attached through a bpf_link owned by a live process.
    #[error(
        "interface `{iface}` has XDP program `{name}` (id {id}) attached through a \
         bpf_link held by a running process (another ackscope?); stop that process \
         first — a link cannot be detached from outside"
    )]
    XdpLinkBusy {
        /// Interface name.
        iface: String,
        /// Name of the attached program.
        name: String,
        /// Kernel program id.
        id: u32,
    },

    /// Opening or loading the BPF object failed (verifier, BTF, map creation).
    #[error(
        "loading the ackscope BPF program failed during {stage}: {source}; \
         ackscope needs Linux >= 5.15 with BTF (/sys/kernel/btf/vmlinux); run with \
         RUST_LOG=debug to see the verifier log"
    )]
    BpfLoad {
        /// What was being done (open, load, set rodata, ...).
        stage: &'static str,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },

    /// Attaching the XDP program to the interface failed.
    #[error(
        "attaching XDP to `{iface}` in {mode} mode failed: {source}; try \
         generic XDP mode, check the MTU (native XDP often needs MTU <= 3K) \
         and `dmesg` for driver messages"
    )]
    Attach {
        /// Interface name.
        iface: String,
        /// Attach mode that was tried.
        mode: String,
        /// OS error.
        #[source]
        source: io::Error,
    },

    /// A BPF map operation failed at run time.
    #[error("BPF map `{map}`: {what} failed: {source}")]
    Map {
        /// Map name.
        map: &'static str,
        /// Operation.
        what: String,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },

    /// The kernel has no AF_XDP support.
    #[error(
        "AF_XDP sockets are not supported by this kernel ({source}); ackscope's live \
         capture needs CONFIG_XDP_SOCKETS=y (Linux >= 5.4); use `ackscope replay` \
         on a pcap instead"
    )]
    XskUnsupported {
        /// OS error from socket()/bind().
        #[source]
        source: io::Error,
    },

    /// Zero-copy was required but the driver does not offer it.
    #[error(
        "zero-copy AF_XDP is not supported on `{iface}` queue {queue} ({source}); \
         bind in auto or copy mode instead"
    )]
    ZeroCopyUnsupported {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// OS error from bind().
        #[source]
        source: io::Error,
    },

    /// The queue stayed busy (another AF_XDP socket bound to it).
    #[error(
        "queue {queue} of `{iface}` is still busy after {attempts} bind attempts: \
         another AF_XDP socket (a second ackscope, or a process still exiting) is \
         bound to it; stop it or pick other queues"
    )]
    QueueBusy {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// How often bind was tried.
        attempts: u32,
    },

    /// The queue id does not exist on the interface.
    #[error(
        "`{iface}` has no queue {queue} ({source}); see `ethtool -l {iface}` for the \
         channel count (veth: `numrxqueues`) and lower `--queues` to match"
    )]
    NoSuchQueue {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// OS error from bind().
        #[source]
        source: io::Error,
    },

    /// Creating or binding the AF_XDP socket failed for another reason.
    #[error("creating the AF_XDP socket on `{iface}` queue {queue} failed: {reason}: {source}")]
    Socket {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// What libxdp reported.
        reason: String,
        /// OS error.
        #[source]
        source: io::Error,
    },

    /// Creating the UMEM failed (usually memory limits).
    #[error(
        "creating the AF_XDP UMEM ({bytes} bytes) failed: {reason}; use fewer UMEM \
         frames (`--umem-frames`), or raise the memlock limit (`ulimit -l`) / grant CAP_IPC_LOCK"
    )]
    Umem {
        /// Size requested.
        bytes: u64,
        /// What failed.
        reason: String,
    },

    /// Invalid datapath configuration.
    #[error("invalid datapath configuration: {0}")]
    Config(String),

    /// A tc operation of host mode failed (clsact qdisc, cls_bpf filter).
    #[error(
        "tc on `{iface}`: {what} failed: {source}; host mode needs the clsact qdisc and \
         cls_bpf (CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF); look at \
         `tc qdisc show dev {iface}` and `tc filter show dev {iface} ingress`"
    )]
    Tc {
        /// Interface name.
        iface: String,
        /// Operation.
        what: String,
        /// OS error.
        #[source]
        source: io::Error,
    },

    /// Another ackscope process already runs on the interface.
    #[error(
        "another ackscope already runs in {mode} mode on `{iface}` (in this network \
         namespace); stop it first"
    )]
    Busy {
        /// Interface name.
        iface: String,
        /// `host` or `inline`.
        mode: &'static str,
    },

    /// Creating or removing host mode's private veth pair (or another
    /// helper step run through `ip`/`tc`) failed.
    #[error("{what} failed: {detail}")]
    Setup {
        /// What was being done.
        what: String,
        /// What went wrong, with the remedy where known.
        detail: String,
    },

    /// An I/O error on a live socket (poll, getsockopt, ...).
    #[error("AF_XDP socket on `{iface}` queue {queue}: {what} failed: {source}")]
    Io {
        /// Interface name.
        iface: String,
        /// Queue id.
        queue: u32,
        /// Operation.
        what: &'static str,
        /// OS error.
        #[source]
        source: io::Error,
    },
}
