//! Socket and UMEM settings ([`XskConfig`]), their validation, the xsk-rs configurations built
//! from them (one place for the bind flags and ring sizes), and the mapping of a failed bind to
//! a [`DatapathError`] that says what to do.

use std::io;
use std::time::Duration;

use xsk_rs::config::{BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};

use crate::datapath::error::{DatapathError, Result};
use crate::datapath::sys::rx_queue_count;

/// Linux-internal `ENOTSUPP` (not in libc), returned by some drivers.
const ENOTSUPP: i32 = 524;

/// How the socket is bound to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// Zero-copy when the driver offers it, copy mode otherwise (the
    /// kernel's own fallback: neither bind flag set).
    #[default]
    Auto,
    /// Copy mode (`XDP_COPY`).
    Copy,
    /// Zero-copy only (`XDP_ZEROCOPY`); fails where the driver lacks it.
    ZeroCopy,
}

/// Busy-poll settings (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`,
/// `SO_BUSY_POLL_BUDGET`). Only effective with drivers that run NAPI for
/// the queue (zero-copy NICs); pair with
/// `/sys/class/net/IFACE/napi_defer_hard_irqs` and `gro_flush_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL`: microseconds to busy-poll in a blocking call.
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets per busy-poll round.
    pub budget: u32,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll { usecs: 20, budget: 64 }
    }
}

/// Configuration of one [`XskQueue`](super::XskQueue) (and, through
/// [`pair_config`](super::pair_config), of an inline pair). All ring sizes and the frame size must
/// be powers of two.
#[derive(Debug, Clone)]
pub struct XskConfig {
    /// UMEM frames (default 4096). Should exceed `fill_ring` so the fill
    /// ring can stay full while a batch is processed.
    pub frame_count: u32,
    /// Bytes per frame, 2048 or 4096 (default 4096; 256 of them are XDP
    /// headroom).
    pub frame_size: u32,
    /// Fill ring entries (default 2048).
    pub fill_ring: u32,
    /// Completion ring entries (default 64; rx-only sockets never use it).
    pub comp_ring: u32,
    /// Rx ring entries (default 2048); also the largest batch.
    pub rx_ring: u32,
    /// Tx ring entries (default 64; libxdp always creates a tx ring).
    pub tx_ring: u32,
    /// Copy / zero-copy selection.
    pub bind_mode: BindMode,
    /// Bind with `XDP_USE_NEED_WAKEUP` (default true).
    pub need_wakeup: bool,
    /// Optional busy polling.
    pub busy_poll: Option<BusyPoll>,
    /// How often to try binding while the queue is busy (EBUSY — e.g. a
    /// previous process still exiting). Default 50.
    pub bind_attempts: u32,
    /// Pause between those attempts (default 20 ms).
    pub bind_retry_delay: Duration,
    /// Back the UMEM with huge pages.
    pub huge_pages: bool,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_count: 4096,
            frame_size: 4096,
            fill_ring: 2048,
            comp_ring: 64,
            rx_ring: 2048,
            tx_ring: 64,
            bind_mode: BindMode::Auto,
            need_wakeup: true,
            busy_poll: None,
            bind_attempts: 50,
            bind_retry_delay: Duration::from_millis(20),
            huge_pages: false,
        }
    }
}

/// The UMEM configuration of `cfg` (frame size, fill and completion rings, no headroom).
pub(crate) fn umem_config(cfg: &XskConfig) -> Result<UmemConfig> {
    UmemConfig::builder()
        .frame_size(FrameSize::new(cfg.frame_size).map_err(cfg_err)?)
        .fill_queue_size(QueueSize::new(cfg.fill_ring).map_err(cfg_err)?)
        .comp_queue_size(QueueSize::new(cfg.comp_ring).map_err(cfg_err)?)
        .frame_headroom(0)
        .build()
        .map_err(cfg_err)
}

/// The socket configuration of `cfg`: ring sizes, copy/zero-copy and need_wakeup bind flags,
/// and `INHIBIT_PROG_LOAD` (our own XDP program steers; libxdp must not load one). The bind
/// flags apply to the socket that owns the UMEM; libxdp binds a socket sharing it with
/// `XDP_SHARED_UMEM` alone (the kernel wants no other flag then: it inherits the owner's).
pub(crate) fn socket_config(cfg: &XskConfig) -> Result<SocketConfig> {
    let mut bind = BindFlags::empty();
    match cfg.bind_mode {
        BindMode::Auto => {}
        BindMode::Copy => bind |= BindFlags::XDP_COPY,
        BindMode::ZeroCopy => bind |= BindFlags::XDP_ZEROCOPY,
    }
    if cfg.need_wakeup {
        bind |= BindFlags::XDP_USE_NEED_WAKEUP;
    }
    Ok(SocketConfig::builder()
        .rx_queue_size(QueueSize::new(cfg.rx_ring).map_err(cfg_err)?)
        .tx_queue_size(QueueSize::new(cfg.tx_ring).map_err(cfg_err)?)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(bind)
        .build())
}

/// Checks `cfg`: powers of two, frame size, enough frames for the fill ring.
pub(crate) fn validate(cfg: &XskConfig) -> Result<()> {
    for (name, v) in [
        ("frame size", cfg.frame_size),
        ("fill ring (`--ring-size`)", cfg.fill_ring),
        ("completion ring", cfg.comp_ring),
        ("rx ring (`--ring-size`)", cfg.rx_ring),
        ("tx ring", cfg.tx_ring),
    ] {
        if !v.is_power_of_two() {
            return Err(DatapathError::Config(format!("{name} must be a power of two, got {v}")));
        }
    }
    if cfg.frame_size < 2048 {
        return Err(DatapathError::Config(format!(
            "frame size must be at least 2048, got {}",
            cfg.frame_size
        )));
    }
    if cfg.frame_count < cfg.fill_ring {
        return Err(DatapathError::Config(format!(
            "UMEM frame count ({}, `--umem-frames`) must be at least the fill ring size ({}, `--ring-size`)",
            cfg.frame_count, cfg.fill_ring
        )));
    }
    Ok(())
}

pub(crate) fn cfg_err(e: impl std::fmt::Display) -> DatapathError {
    DatapathError::Config(e.to_string())
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

pub(crate) fn socket_error(
    iface: &str,
    queue: u32,
    mode: BindMode,
    attempts: u32,
    e: &xsk_rs::socket::SocketCreateError,
    os: Option<i32>,
) -> DatapathError {
    let source = || {
        os.map(io::Error::from_raw_os_error).unwrap_or_else(|| io::Error::other(e.to_string()))
    };
    match os {
        Some(libc::EBUSY) => {
            DatapathError::QueueBusy { iface: iface.to_string(), queue, attempts }
        }
        Some(libc::EAFNOSUPPORT) => DatapathError::XskUnsupported { source: source() },
        Some(libc::EPERM | libc::EACCES) => DatapathError::Permission {
            missing: format!("permission to create an AF_XDP socket ({})", source()),
        },
        Some(libc::ENODEV | libc::ENXIO) => {
            DatapathError::InterfaceMissing { iface: iface.to_string() }
        }
        Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | ENOTSUPP) if mode == BindMode::ZeroCopy => {
            DatapathError::ZeroCopyUnsupported { iface: iface.to_string(), queue, source: source() }
        }
        Some(libc::EINVAL) if rx_queue_count(iface).is_some_and(|n| queue >= n) => {
            DatapathError::NoSuchQueue { iface: iface.to_string(), queue, source: source() }
        }
        _ => DatapathError::Socket {
            iface: iface.to_string(),
            queue,
            reason: e.to_string(),
            source: source(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation() {
        assert!(validate(&XskConfig::default()).is_ok());
        let bad = XskConfig { fill_ring: 1000, ..XskConfig::default() };
        assert!(validate(&bad).is_err());
        let small = XskConfig { frame_count: 16, ..XskConfig::default() };
        assert!(validate(&small).is_err());
    }
}
