//! Output: events as JSON lines or readable text, and the end-of-run summary.

#![deny(unsafe_code)]

mod flowpcap;
mod json;
mod pcap;
pub mod pressure;
mod summary;
mod text;
mod time;

pub use flowpcap::{FlaggingSink, FlowRecorder, FrameSnap, RecorderConfig, FOLLOW_NS, SNAP};
pub use json::{write_json, write_json_kernel};
pub use pcap::PcapWriter;
pub use summary::{ParseProblems, Summary};
pub use text::write_text;
pub use time::format_rfc3339;

use std::io::{self, Write};

use crate::detect::{Event, EventSink};

/// How events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// One readable line per event plus its explanation.
    Text,
}

/// Writes events to a stream. A write error (closed pipe, full disk) never stops the caller:
/// the writer stops writing, counts the events it could not write, and keeps the error.
pub struct EventWriter {
    out: io::BufWriter<Box<dyn Write + Send>>,
    format: Format,
    /// Added to event timestamps to print wall-clock time (live mode stamps are monotonic).
    pub clock_offset_ns: i64,
    /// Flush after every event (when a person or a pipeline watches).
    pub line_buffered: bool,
    /// Events written.
    pub written: u64,
    /// Events not written because the output failed.
    pub dropped: u64,
    /// The first write error.
    pub error: Option<io::Error>,
}

impl EventWriter {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write + Send>, format: Format) -> EventWriter {
        EventWriter {
            out: io::BufWriter::with_capacity(64 * 1024, out),
            format,
            clock_offset_ns: 0,
            line_buffered: false,
            written: 0,
            dropped: 0,
            error: None,
        }
    }

    /// Flush what is buffered; errors are kept in `self.error`.
    pub fn flush(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
    }

    /// Replace the output stream (log rotation), flushing the old one first.
    pub fn reopen(&mut self, out: Box<dyn Write + Send>) {
        self.flush();
        self.out = io::BufWriter::with_capacity(64 * 1024, out);
        self.error = None;
    }
}

impl EventSink for EventWriter {
    fn event(&mut self, ev: &Event) {
        self.event_with_kernel(ev, None);
    }
}

impl EventWriter {
    /// Write `ev` with what the kernel said about its 4-tuple (live runs; `None`: nothing).
    pub fn event_with_kernel(&mut self, ev: &Event, kernel: Option<&crate::kernel::KernelView>) {
        if self.error.is_some() {
            self.dropped += 1;
            return;
        }
        let r = match self.format {
            Format::Json => json::write_json_kernel(&mut self.out, ev, self.clock_offset_ns, kernel),
            Format::Text => write_text(&mut self.out, ev, self.clock_offset_ns).and_then(|()| match kernel {
                Some(k) => text::write_kernel_text(&mut self.out, k),
                None => Ok(()),
            }),
        };
        let r = r.and_then(|()| if self.line_buffered { self.out.flush() } else { Ok(()) });
        match r {
            Ok(()) => self.written += 1,
            Err(e) => {
                self.dropped += 1;
                self.error = Some(e);
            }
        }
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.flush();
    }
}
