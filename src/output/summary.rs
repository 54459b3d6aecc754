//! The end-of-run summary printed on stderr.

use std::fmt::Write as _;
use std::time::Duration;

use crate::detect::{Cause, Counters, EventKind, Outcome};
use crate::flow::Evictions;
use crate::packet::{ParseError, SkipReason, Tunnel, TunnelKind, PARSE_REASONS, SKIP_REASONS, TUNNEL_KINDS};

/// Frames that were skipped or could not be parsed, by reason, with the first example.
#[derive(Clone, Debug, Default)]
pub struct ParseProblems {
    /// Valid frames without a TCP segment, by [`SkipReason`] index.
    pub skipped: [u64; SKIP_REASONS],
    /// Broken frames by [`ParseError::reason_index`].
    pub errors: [u64; PARSE_REASONS],
    /// First frame number (and file index) of each error reason.
    pub first_error: [Option<(usize, u64)>; PARSE_REASONS],
    /// TCP segments that came in an encapsulation, by the outermost one's [`TunnelKind`].
    pub tunnels: [u64; TUNNEL_KINDS],
    /// Frames of link types we do not decode: (pcap LINKTYPE_ value, frames), in the order
    /// met. Grows only when a new link type appears, never per frame.
    pub unsupported_links: Vec<(u32, u64)>,
    /// Records whose sub-second timestamp was out of range, normalised (not errors).
    pub timestamps_normalised: u64,
}

impl ParseProblems {
    /// Count a skipped frame.
    #[inline]
    pub fn skip(&mut self, r: SkipReason) {
        self.skipped[r as usize] += 1;
    }

    /// Count a parse error seen at `frame` of file `file`.
    #[inline]
    pub fn error(&mut self, e: &ParseError, file: usize, frame: u64) {
        let i = e.reason_index();
        self.errors[i] += 1;
        if self.first_error[i].is_none() {
            self.first_error[i] = Some((file, frame));
        }
    }

    /// Count a TCP segment's encapsulation (nothing for a plain frame).
    #[inline]
    pub fn tunnel(&mut self, t: Option<&Tunnel>) {
        if let Some(t) = t {
            self.tunnels[t.kind as usize] += 1;
        }
    }

    /// Count a frame skipped because its link type `linktype` is not decoded.
    pub fn unsupported_link(&mut self, linktype: u32) {
        self.skip(SkipReason::UnsupportedLinkType);
        match self.unsupported_links.iter_mut().find(|(l, _)| *l == linktype) {
            Some((_, n)) => *n += 1,
            None => self.unsupported_links.push((linktype, 1)),
        }
    }

    /// Frames that were IP (or an IP tunnel) but gave no TCP segment.
    pub fn ip_without_tcp(&self) -> u64 {
        SkipReason::ALL.iter().filter(|r| r.saw_ip()).map(|r| self.skipped[*r as usize]).sum()
    }

    /// Total broken frames.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Everything the summary reports.
pub struct Summary<'a> {
    /// Frames read.
    pub frames: u64,
    /// TCP segments handed to the engine.
    pub segments: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Engine counters (all shards).
    pub counters: &'a Counters,
    /// Table evictions (all shards).
    pub evictions: Evictions,
    /// Tracked 4-tuples at the end.
    pub flows: usize,
    /// Skips and parse errors.
    pub problems: &'a ParseProblems,
    /// Input files (to name the first bad frame of each reason).
    pub files: &'a [String],
    /// Files that could not be read to the end, with the message.
    pub damaged: &'a [String],
    /// Events written and dropped by the sink.
    pub events_written: u64,
    /// Events the sink could not write.
    pub events_dropped: u64,
}

impl Summary<'_> {
    /// Render as a few lines of text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(
            s,
            "ackscope: {} frames, {} TCP segments in {:.3} s ({:.0} frames/s); {} 4-tuples tracked, {} port reuses",
            self.frames,
            self.segments,
            secs,
            self.frames as f64 / secs,
            self.flows,
            self.counters.port_reuses
        );
        let c = self.counters;
        let total: u64 = c.events.iter().sum();
        let _ = write!(s, "events: {total}");
        for k in EventKind::ALL {
            let n = c.events[k as usize];
            if n > 0 {
                let _ = write!(s, "  {}={n}", k.as_str());
            }
        }
        s.push('\n');
        if c.events[EventKind::StaleAck as usize] > 0 {
            s.push_str("stale_ack causes:");
            for cause in Cause::ALL {
                let _ = write!(s, "  {}={}", cause.as_str(), c.causes[cause as usize]);
            }
            s.push_str("\noutcomes:");
            for o in Outcome::ALL {
                let _ = write!(s, "  {}={}", o.as_str(), c.outcomes[o as usize]);
            }
            s.push('\n');
        }
        let quiet = [
            ("unconfirmed_stale_acks", c.stale_ack_unconfirmed),
            ("unconfirmed_wrong_synacks", c.synack_wrong_unconfirmed),
            ("data_answering_syn", c.syn_answers_not_bare),
            ("duplicate_synacks", c.synack_duplicates),
            ("simultaneous_opens", c.simultaneous_opens),
            ("outcomes_revised", c.outcomes_revised),
            ("tcp_options_ignored", c.tcp_options_ignored),
        ];
        if quiet.iter().any(|q| q.1 > 0) {
            // What was seen but is no event (see the README's event reference).
            s.push_str("not reported:");
            for (name, n) in quiet {
                if n > 0 {
                    let _ = write!(s, "  {name}={n}");
                }
            }
            s.push('\n');
        }
        let p = self.problems;
        if p.tunnels.iter().any(|&n| n > 0) {
            s.push_str("encapsulated TCP segments (outermost):");
            for k in TunnelKind::ALL {
                let n = p.tunnels[k as usize];
                if n > 0 {
                    let _ = write!(s, "  {}={n}", k.as_str());
                }
            }
            s.push('\n');
        }
        // Link types and encapsulations that were met but not decoded get their own lines.
        let plain = |r: SkipReason| !r.is_unsupported_encap() && r != SkipReason::UnsupportedLinkType;
        if SkipReason::ALL.iter().any(|&r| plain(r) && p.skipped[r as usize] > 0) {
            s.push_str("skipped (not TCP for us):");
            for r in SkipReason::ALL {
                let n = p.skipped[r as usize];
                if n > 0 && plain(r) {
                    let _ = write!(s, "  {}={n}", r.as_str());
                }
            }
            s.push('\n');
        }
        if SkipReason::ALL.iter().any(|&r| r.is_unsupported_encap() && p.skipped[r as usize] > 0) {
            s.push_str("encapsulations not decoded (frames skipped):");
            for r in SkipReason::ALL {
                let n = p.skipped[r as usize];
                if n > 0 && r.is_unsupported_encap() {
                    let _ = write!(s, "  {}={n}", r.as_str());
                }
            }
            s.push_str("  (see README, \"Transports and link types\")\n");
        }
        let unsupported_links = p.skipped[SkipReason::UnsupportedLinkType as usize];
        if unsupported_links > 0 {
            s.push_str("unsupported link types (frames skipped):");
            if p.unsupported_links.is_empty() {
                let _ = write!(s, "  {unsupported_links} frames");
            }
            for (l, n) in &p.unsupported_links {
                let _ = write!(s, "  LINKTYPE {l}={n}");
            }
            s.push_str("  (https://www.tcpdump.org/linktypes.html; convert with editcap or capture on an Ethernet interface)\n");
        }
        if self.segments == 0 && p.ip_without_tcp() > 0 {
            let _ = writeln!(
                s,
                "warning: {} IP frames were seen but no TCP segment was parsed: check the capture filter and that the \
                 traffic's encapsulation is one listed above as decoded (the lines above say what was met)",
                p.ip_without_tcp()
            );
        }
        if self.problems.timestamps_normalised > 0 {
            let _ = writeln!(
                s,
                "timestamps normalised: {} records had a sub-second field out of range (the excess counted as seconds)",
                self.problems.timestamps_normalised
            );
        }
        if self.problems.total_errors() > 0 {
            let _ = writeln!(s, "parse problems: {}", self.problems.total_errors());
            for i in 0..PARSE_REASONS {
                let n = self.problems.errors[i];
                if n == 0 {
                    continue;
                }
                let _ = write!(s, "  {}={n}", ParseError::reason_name(i));
                if let Some((f, frame)) = self.problems.first_error[i] {
                    let name = self.files.get(f).map(String::as_str).unwrap_or("?");
                    let _ = write!(s, " (first: frame {frame} of {name})");
                }
                s.push('\n');
            }
        }
        let ev = self.evictions;
        if ev.live + ev.tombstones > 0 {
            let _ = writeln!(
                s,
                "flow table full: evicted {} tombstones and {} live flows (raise --max-flows)",
                ev.tombstones, ev.live
            );
        }
        if self.events_dropped > 0 {
            let _ = writeln!(s, "events NOT written (output failed): {}", self.events_dropped);
        }
        for d in self.damaged {
            let _ = writeln!(s, "damaged input: {d}");
        }
        s
    }
}
