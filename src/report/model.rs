//! What a report shows, gathered while events stream by: counts, per-server and per-client
//! rows, the incidents whose ladders are drawn. Everything is aggregated on the fly; only the
//! incidents kept for drawing hold per-event data, and they are capped.

use std::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;

use crate::detect::{Cause, Event, EventKind, EventSink, Outcome, CAUSES, EVENT_KINDS, OUTCOMES};

/// One segment of a ladder, as little as the drawing needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegRec {
    /// Timestamp, ns.
    pub ts_ns: u64,
    /// Frame number in its file (1-based), 0 if unknown.
    pub frame: u64,
    /// Which input file (index into [`Model::files`]) or pcap-dir file.
    pub file: u16,
    /// Sent by the client (the side that sent the SYN).
    pub from_client: bool,
    /// TCP flags.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Payload bytes.
    pub len: u32,
}

/// Where a ladder's segments came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegSource {
    /// The input captures.
    Capture,
    /// A flagged-flow capture of `--pcap-dir` (file name).
    PcapDir(String),
    /// No segments: drawn from the events' evidence alone.
    EventsOnly,
}

/// One stale ACK and what is known around it.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The `stale_ack` event.
    pub stale: Event,
    /// Its `stale_ack_outcome`, when seen.
    pub outcome: Option<Event>,
    /// Input file the stale ACK came from (captures).
    pub file: usize,
    /// Segments before the stale ACK (previous connection's last segments, the reuse SYN).
    pub before: Vec<SegRec>,
    /// The stale ACK and what followed (RST, retries, SYN-ACK), bounded.
    pub after: Vec<SegRec>,
    /// Where the segments came from.
    pub source: SegSource,
}

/// A row of the per-server or per-client table.
#[derive(Clone, Copy, Debug, Default)]
pub struct Row {
    /// stale_ack events by cause.
    pub causes: [u64; CAUSES],
    /// Outcomes.
    pub outcomes: [u64; OUTCOMES],
    /// Events by kind.
    pub kinds: [u64; EVENT_KINDS],
    /// Sum of recovery times, µs (for the mean).
    pub recovery_sum_us: u64,
    /// Largest recovery time, µs.
    pub recovery_max_us: u64,
}

impl Row {
    /// stale_ack events.
    pub fn stale(&self) -> u64 {
        self.kinds[EventKind::StaleAck as usize]
    }

    fn add(&mut self, ev: &Event) {
        self.kinds[ev.kind as usize] += 1;
        if ev.kind == EventKind::StaleAck {
            self.causes[ev.cause.unwrap_or(Cause::Unknown) as usize] += 1;
        }
        if let (EventKind::StaleAckOutcome, Some(o)) = (ev.kind, ev.outcome) {
            self.outcomes[o as usize] += 1;
            if let Some(us) = ev.recovery_us {
                self.recovery_sum_us += us;
                self.recovery_max_us = self.recovery_max_us.max(us);
            }
        }
    }
}

/// The 4-tuple of an event (client, server, VLANs).
pub type Tuple = (SocketAddr, SocketAddr, u16, u16);

/// Key of an event's 4-tuple.
pub fn tuple_of(ev: &Event) -> Tuple {
    (ev.client, ev.server, ev.vlan, ev.svlan)
}

/// Cap on distinct servers/clients in the tables' maps; further ones count under "other".
pub const MAX_ROWS: usize = 100_000;

/// Everything gathered from the events.
pub struct Model {
    /// Input names.
    pub files: Vec<String>,
    /// Events by kind.
    pub kinds: [u64; EVENT_KINDS],
    /// stale_ack by cause.
    pub causes: [u64; CAUSES],
    /// Outcomes by cause (rows: [`Cause::ALL`], columns: [`Outcome::ALL`]).
    pub cause_outcome: [[u64; OUTCOMES]; CAUSES],
    /// Recovery times of recovered attempts, µs.
    pub recovery_us: Vec<u64>,
    /// (kind, cause, outcome) labels and their explanation, once each, in order of first sight.
    pub explanations: Vec<(String, &'static str)>,
    /// Stale ACK times and causes (for the time series).
    pub stale_times: Vec<(u64, Cause)>,
    /// reuse_in_time_wait event times.
    pub tw_reuse_times: Vec<u64>,
    /// Per server `ip:port`.
    pub servers: HashMap<SocketAddr, Row>,
    /// Per client IP.
    pub clients: HashMap<IpAddr, Row>,
    /// Events of servers/clients beyond [`MAX_ROWS`].
    pub other_server: Row,
    /// See [`Model::other_server`].
    pub other_client: Row,
    /// First and last event time.
    pub event_span: Option<(u64, u64)>,
    /// Incidents kept for drawing, by cause: the first `keep_per_cause` of each.
    pub kept: [Vec<Incident>; CAUSES],
    /// How many to keep per cause.
    pub keep_per_cause: usize,
    /// Open kept incidents awaiting their outcome: tuple → (cause index, position).
    open: HashMap<Tuple, (usize, usize)>,
    /// File the events currently come from.
    pub current_file: usize,
    /// Lines of events files that could not be read (first few messages kept).
    pub bad_lines: u64,
    /// The first bad lines' messages.
    pub bad_line_examples: Vec<String>,
}

impl Model {
    /// An empty model keeping the first `keep_per_cause` incidents of each cause.
    pub fn new(files: Vec<String>, keep_per_cause: usize) -> Model {
        Model {
            files,
            kinds: [0; EVENT_KINDS],
            causes: [0; CAUSES],
            cause_outcome: [[0; OUTCOMES]; CAUSES],
            recovery_us: Vec::new(),
            explanations: Vec::new(),
            stale_times: Vec::new(),
            tw_reuse_times: Vec::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            other_server: Row::default(),
            other_client: Row::default(),
            event_span: None,
            kept: Default::default(),
            keep_per_cause,
            open: HashMap::new(),
            current_file: 0,
            bad_lines: 0,
            bad_line_examples: Vec::new(),
        }
    }

    /// stale_ack events in total.
    pub fn stale_acks(&self) -> u64 {
        self.kinds[EventKind::StaleAck as usize]
    }

    /// The incidents to draw: all when they fit in `cap`, otherwise the earliest of each cause
    /// taken in turn (so every cause present is shown), then sorted by time.
    pub fn select(&self, cap: usize) -> Vec<&Incident> {
        let mut out: Vec<&Incident> = Vec::new();
        let mut i = 0;
        while out.len() < cap {
            let mut any = false;
            for list in &self.kept {
                if let Some(inc) = list.get(i) {
                    any = true;
                    if out.len() < cap {
                        out.push(inc);
                    }
                }
            }
            if !any {
                break;
            }
            i += 1;
        }
        out.sort_by_key(|inc| (inc.stale.ts_ns, inc.file, inc.stale.frame));
        out
    }

    /// Mutable access to every kept incident.
    pub fn kept_mut(&mut self) -> impl Iterator<Item = &mut Incident> {
        self.kept.iter_mut().flatten()
    }

    fn label(ev: &Event) -> String {
        let mut s = ev.kind.as_str().to_string();
        if let Some(o) = ev.outcome {
            s.push(' ');
            s.push_str(o.as_str());
        } else if let Some(c) = ev.cause {
            s.push(' ');
            s.push_str(c.as_str());
        }
        s
    }
}

impl EventSink for Model {
    fn event(&mut self, ev: &Event) {
        self.kinds[ev.kind as usize] += 1;
        self.event_span = Some(match self.event_span {
            None => (ev.ts_ns, ev.ts_ns),
            Some((a, b)) => (a.min(ev.ts_ns), b.max(ev.ts_ns)),
        });
        let text = ev.explanation();
        if !self.explanations.iter().any(|(_, t)| std::ptr::eq(*t, text) || *t == text) {
            self.explanations.push((Model::label(ev), text));
        }
        let n = self.servers.len();
        match self.servers.get_mut(&ev.server) {
            Some(r) => r.add(ev),
            None if n < MAX_ROWS => self.servers.entry(ev.server).or_default().add(ev),
            None => self.other_server.add(ev),
        }
        let n = self.clients.len();
        match self.clients.get_mut(&ev.client.ip()) {
            Some(r) => r.add(ev),
            None if n < MAX_ROWS => self.clients.entry(ev.client.ip()).or_default().add(ev),
            None => self.other_client.add(ev),
        }
        if ev.kind == EventKind::StaleAck {
            let cause = ev.cause.unwrap_or(Cause::Unknown);
            self.causes[cause as usize] += 1;
            self.stale_times.push((ev.ts_ns, cause));
            let list = &mut self.kept[cause as usize];
            if list.len() < self.keep_per_cause {
                list.push(Incident {
                    stale: *ev,
                    outcome: None,
                    file: self.current_file,
                    before: Vec::new(),
                    after: Vec::new(),
                    source: SegSource::EventsOnly,
                });
                self.open.insert(tuple_of(ev), (cause as usize, list.len() - 1));
            }
        } else if ev.kind == EventKind::ReuseInTimeWait {
            self.tw_reuse_times.push(ev.ts_ns);
        } else if ev.kind == EventKind::StaleAckOutcome {
            let o = ev.outcome.unwrap_or(Outcome::Unresolved);
            self.cause_outcome[ev.cause.unwrap_or(Cause::Unknown) as usize][o as usize] += 1;
            if o == Outcome::Recovered {
                if let Some(us) = ev.recovery_us {
                    self.recovery_us.push(us);
                }
            }
            if let Some((c, i)) = self.open.remove(&tuple_of(ev)) {
                self.kept[c][i].outcome = Some(*ev);
            }
        }
    }
}

/// The `p`-th percentile (0..=100) of sorted `v`, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn stale(cause: Cause, t: u64, port: u16) -> Event {
        let mut e = Event::new(
            EventKind::StaleAck,
            t,
            t,
            SocketAddr::from(([10, 0, 0, 1], port)),
            SocketAddr::from(([10, 0, 0, 2], 80)),
            crate::packet::NO_VLAN,
            crate::packet::NO_VLAN,
        );
        e.cause = Some(cause);
        e
    }

    #[test]
    fn selection_caps_and_shows_every_cause() {
        let mut m = Model::new(vec![], 10);
        for i in 0..30 {
            m.event(&stale(Cause::TimeWait, i, 1000 + i as u16));
        }
        m.event(&stale(Cause::LingeringClose, 100, 2000));
        assert_eq!(m.stale_acks(), 31);
        let s = m.select(4);
        assert_eq!(s.len(), 4);
        assert!(s.iter().any(|i| i.stale.cause == Some(Cause::LingeringClose)));
        assert!(s.windows(2).all(|w| w[0].stale.ts_ns <= w[1].stale.ts_ns));
        assert_eq!(m.select(100).len(), 11, "10 kept of time_wait + 1");
        assert_eq!(m.explanations.len(), 2);
    }
}
