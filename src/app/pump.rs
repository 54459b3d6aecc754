//! The event pump of a live run: one thread between the workers' event channel and the
//! output. A sink that stops taking events (a pipe whose reader stalled, a hung network
//! file system) then blocks only this thread: the workers keep handing events over with
//! `try_send` and count what does not fit (`events_dropped`), and the run's main loop keeps
//! watching signals, the link, the metrics and the status line, so a stop still stops.
//!
//! At the end the pump drains what is queued and flushes; the main loop waits for it at most
//! the output grace (`--output-grace`). A sink still blocked then is given up: the events it
//! did not take are counted as dropped (never as written), the summary says so, and the
//! process exits without waiting for the blocked write.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError};

use crate::detect::{Event, EventKind};
use crate::kernel::Lookups;
use crate::output::EventWriter;

/// What the main loop shares with the pump.
#[derive(Default)]
struct Shared {
    written: AtomicU64,
    dropped: AtomicU64,
    clock_offset_ns: AtomicI64,
    /// A new output stream (SIGHUP reopen), taken between two events.
    reopen: Mutex<Option<Box<dyn Write + Send>>>,
    /// Set when the main loop gave up on a blocked sink: write nothing more.
    abandoned: AtomicBool,
    /// An event is being written (set and cleared under `gate`).
    in_flight: AtomicBool,
    /// Orders "check `abandoned`, start a write" against "give up, read the counts", so the
    /// counts read when giving up are exact but for the one write then in flight.
    gate: Mutex<()>,
}

/// The event pump (see the module documentation).
pub struct Pump {
    shared: Arc<Shared>,
    done: Receiver<(EventWriter, Option<Lookups>)>,
    handle: Option<JoinHandle<()>>,
}

/// How the pump ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Events the sink took.
    pub written: u64,
    /// Events the sink failed to take (write errors, or left when it was given up).
    pub dropped: u64,
    /// Events still queued or in a blocked write when the grace ran out (part of `dropped`).
    pub abandoned: u64,
    /// Of `abandoned`, the one event whose write was blocked when the grace ran out (0 or 1):
    /// if the reader resumes before the process has exited, it may still get it.
    pub in_doubt: u64,
}

impl Pump {
    /// Start the pump over `events`, writing through `w`; a stale ACK first goes to `lookups`
    /// (waiting at most `kernel::LOOKUP_WAIT`, so events stay in order and none is lost).
    pub fn start(mut w: EventWriter, mut lookups: Option<Lookups>, events: Receiver<Event>) -> std::io::Result<Pump> {
        let shared = Arc::new(Shared::default());
        shared.clock_offset_ns.store(w.clock_offset_ns, Ordering::Relaxed);
        let (done_tx, done) = bounded(1);
        let sh = shared.clone();
        let handle = std::thread::Builder::new().name("ackscope-events".into()).spawn(move || {
            loop {
                let ev = match events.recv_timeout(Duration::from_millis(100)) {
                    Ok(ev) => Some(ev),
                    Err(RecvTimeoutError::Timeout) => None,
                    // Every worker has ended and everything queued was written.
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                if let Some(new) = sh.reopen.lock().ok().and_then(|mut g| g.take()) {
                    w.reopen(new);
                }
                w.clock_offset_ns = sh.clock_offset_ns.load(Ordering::Relaxed);
                if let Some(ev) = ev {
                    let kv = match &mut lookups {
                        Some(l) if ev.kind == EventKind::StaleAck => l.query(ev.client, ev.server, ev.cause),
                        _ => None,
                    };
                    {
                        let _g = sh.gate.lock().unwrap_or_else(|p| p.into_inner());
                        if sh.abandoned.load(Ordering::Relaxed) {
                            return;
                        }
                        sh.in_flight.store(true, Ordering::Relaxed);
                    }
                    w.event_with_kernel(&ev, kv.as_ref());
                    let _g = sh.gate.lock().unwrap_or_else(|p| p.into_inner());
                    sh.written.store(w.written, Ordering::Relaxed);
                    sh.dropped.store(w.dropped, Ordering::Relaxed);
                    sh.in_flight.store(false, Ordering::Relaxed);
                }
            }
            let _g = sh.gate.lock().unwrap_or_else(|p| p.into_inner());
            if sh.abandoned.load(Ordering::Relaxed) {
                return;
            }
            drop(_g);
            // (A flush after giving up could still put lines the summary counts as dropped
            // into the sink; the end of the grace is checked above, and the flush of a
            // line-buffered writer has nothing left to write.)
            w.flush();
            sh.written.store(w.written, Ordering::Relaxed);
            sh.dropped.store(w.dropped, Ordering::Relaxed);
            let _ = done_tx.send((w, lookups));
        })?;
        Ok(Pump { shared, done, handle: Some(handle) })
    }

    /// Events written and not written so far.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Events the sink failed to take so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Live stamps are monotonic: the offset that turns them into wall-clock time.
    pub fn set_clock_offset(&self, ns: i64) {
        self.shared.clock_offset_ns.store(ns, Ordering::Relaxed);
    }

    /// Switch to a new output stream (log rotation) before the next event.
    pub fn reopen(&self, out: Box<dyn Write + Send>) {
        if let Ok(mut g) = self.shared.reopen.lock() {
            *g = Some(out);
        }
    }

    /// After the workers have ended: wait at most `grace` for the pump to write what is
    /// queued. `delivered_to_channel` is how many events the workers handed over (their
    /// events minus the channel's drops); what the sink did not take in time is counted as
    /// dropped. Gives the writer back when the pump finished (`None`: given up).
    pub fn finish(mut self, grace: Duration, delivered_to_channel: u64) -> (Delivered, Option<EventWriter>) {
        match self.done.recv_timeout(grace) {
            Ok((w, lookups)) => {
                drop(lookups);
                if let Some(h) = self.handle.take() {
                    let _ = h.join();
                }
                (Delivered { written: w.written, dropped: w.dropped, abandoned: 0, in_doubt: 0 }, Some(w))
            }
            Err(_) => {
                let (written, dropped, in_flight) = {
                    let _g = self.shared.gate.lock().unwrap_or_else(|p| p.into_inner());
                    self.shared.abandoned.store(true, Ordering::Relaxed);
                    (self.written(), self.dropped(), self.shared.in_flight.load(Ordering::Relaxed))
                };
                // The blocked thread is left behind; the process exits without it. From here it
                // starts no write; the one it is blocked in may still complete.
                drop(self.handle.take());
                let abandoned = delivered_to_channel.saturating_sub(written + dropped);
                (Delivered { written, dropped: dropped + abandoned, abandoned, in_doubt: u64::from(in_flight && abandoned > 0) }, None)
            }
        }
    }
}

/// The events the workers handed to the channel: what the engines counted minus what did not
/// fit (`events_dropped` per queue).
pub fn handed_over(counted: &[u64], channel_drops: u64) -> u64 {
    counted.iter().sum::<u64>().saturating_sub(channel_drops)
}
