//! Runs: what a command does from start to exit code, above the stages. The binary only turns
//! arguments into the configurations of this module and dispatches.
//!
//! - [`live`]: one live session (events, signals, SIGHUP, link watch, status line, summary);
//! - [`metrics`]: the Prometheus endpoint of a live session;
//! - [`pump`]: the thread between the workers' events and the output (a blocked sink stops nothing);
//! - [`Signals`]: the process's signal flags, registered once.

pub mod live;
pub mod metrics;
pub mod pump;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The signal flags of the process, registered once and shared by whatever runs.
#[derive(Clone, Debug)]
pub struct Signals {
    /// Set by SIGINT and SIGTERM: stop, drain, report.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGHUP (when asked for): reopen the events file.
    pub hup: Arc<AtomicBool>,
}

impl Signals {
    /// Register SIGINT and SIGTERM, and SIGHUP when `hup` (otherwise SIGHUP keeps its default
    /// action: a `demo` or `gen` run ends with its terminal).
    pub fn install(hup: bool) -> io::Result<Signals> {
        let s = Signals { stop: Arc::new(AtomicBool::new(false)), hup: Arc::new(AtomicBool::new(false)) };
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, s.stop.clone())?;
        }
        if hup {
            signal_hook::flag::register(signal_hook::consts::SIGHUP, s.hup.clone())?;
        }
        Ok(s)
    }

    /// True once SIGINT or SIGTERM arrived.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// True once per SIGHUP.
    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::Relaxed)
    }
}
