//! One shard: a flow table owned by one thread, the state machine, pending outcomes.
//!
//! Heads up: read RFC 9293 §3.10.7 (segment arrival), RFC 5961 §4 (challenge ACKs) and Linux's
//! `tcp_timewait_state_process()` (net/ipv4/tcp_minisocks.c) before changing a rule here.

use std::collections::VecDeque;
use std::net::SocketAddr;

use hashbrown::HashMap;

use super::event::{Cause, Event, EventKind, Outcome, PrevState, Roles, CAUSES, EVENT_KINDS, OUTCOMES};
use super::evidence::{judge, AckEvidence, PrevRcv};
use super::flow::{fl, pv, Flow, State};
use super::Config;
use super::pressure::{Pressure, Reuse};
use crate::flow::{FlowKey, FlowTable, KeySeed, Side};
use crate::packet::{Segment, SeqNum, TcpFlags};

/// Where a shard delivers events.
pub trait EventSink {
    /// Take one event.
    fn event(&mut self, ev: &Event);
}

impl EventSink for Vec<Event> {
    fn event(&mut self, ev: &Event) {
        self.push(*ev);
    }
}

/// Handshake RTT histogram buckets: bucket `i` counts RTTs in `[2^(i-1), 2^i)` µs.
pub const RTT_BUCKETS: usize = 28;

/// What a shard counted. Plain integers; summed across shards by the caller.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Segments processed.
    pub segments: u64,
    /// Client SYNs (without ACK), retransmissions included.
    pub syn: u64,
    /// SYN retransmissions (same ISN, same attempt).
    pub syn_retransmits: u64,
    /// SYN-ACKs.
    pub synack: u64,
    /// Segments with FIN.
    pub fin: u64,
    /// Segments with RST.
    pub rst: u64,
    /// SYNs that reused a 4-tuple with a tracked previous connection (normal; not an event).
    pub port_reuses: u64,
    /// New 4-tuples tracked.
    pub flows_created: u64,
    /// Stale ACKs after the first one of an attempt (reported in the outcome, not as events).
    pub stale_ack_repeats: u64,
    /// Events by kind ([`EventKind::ALL`] order).
    pub events: [u64; EVENT_KINDS],
    /// stale_ack events by cause ([`Cause::ALL`] order).
    pub causes: [u64; CAUSES],
    /// stale_ack_outcome events by outcome ([`Outcome::ALL`] order).
    pub outcomes: [u64; OUTCOMES],
    /// Handshake RTT (SYN → SYN-ACK) histogram, see [`RTT_BUCKETS`].
    pub rtt_us: [u64; RTT_BUCKETS],
    /// Segments whose timestamp went backwards (reordered input); processed at the shard clock.
    pub time_backwards: u64,
    /// Events the sink could not take (set by sinks that drop).
    pub events_dropped: u64,
    /// Unacceptable bare ACKs answering a SYN that never got the client's confirmation (its
    /// RST <SEQ=SEG.ACK> or a retransmission of the same SYN): no event. What a missed
    /// SYN-ACK looks like under capture loss.
    pub stale_ack_unconfirmed: u64,
    /// SYN-ACKs with a wrong ack that the client never answered with RST: no event.
    pub synack_wrong_unconfirmed: u64,
    /// Segments with payload or FIN answering a SYN (not the bare ACK of a stale ACK): no event.
    pub syn_answers_not_bare: u64,
    /// SYN-ACKs repeated after the handshake was answered (retransmitted, or a competing one
    /// with another ISN): they change nothing.
    pub synack_duplicates: u64,
    /// SYNs from both sides of one 4-tuple (simultaneous open, RFC 9293 §3.5).
    pub simultaneous_opens: u64,
    /// `failed` outcomes replaced by a later one (the handshake completed after all).
    pub outcomes_revised: u64,
    /// Segments whose TCP options were malformed: kept, options ignored.
    pub tcp_options_ignored: u64,
    /// One-direction evidence that did not complete (a client RST without its same-ISN retry,
    /// or not pointing at the previous connection's end): no event (`onedir.rs`).
    pub onedir_unconfirmed: u64,
}

impl Counters {
    /// Add `o` into `self`.
    pub fn add(&mut self, o: &Counters) {
        self.segments += o.segments;
        self.syn += o.syn;
        self.syn_retransmits += o.syn_retransmits;
        self.synack += o.synack;
        self.fin += o.fin;
        self.rst += o.rst;
        self.port_reuses += o.port_reuses;
        self.flows_created += o.flows_created;
        self.stale_ack_repeats += o.stale_ack_repeats;
        self.time_backwards += o.time_backwards;
        self.events_dropped += o.events_dropped;
        self.stale_ack_unconfirmed += o.stale_ack_unconfirmed;
        self.synack_wrong_unconfirmed += o.synack_wrong_unconfirmed;
        self.syn_answers_not_bare += o.syn_answers_not_bare;
        self.synack_duplicates += o.synack_duplicates;
        self.simultaneous_opens += o.simultaneous_opens;
        self.outcomes_revised += o.outcomes_revised;
        self.tcp_options_ignored += o.tcp_options_ignored;
        self.onedir_unconfirmed += o.onedir_unconfirmed;
        for (a, b) in self.events.iter_mut().zip(o.events) {
            *a += b;
        }
        for (a, b) in self.causes.iter_mut().zip(o.causes) {
            *a += b;
        }
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a += b;
        }
        for (a, b) in self.rtt_us.iter_mut().zip(o.rtt_us) {
            *a += b;
        }
    }
}

/// Where a stale-ACKed attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// An unacceptable bare ACK answered the SYN, but nothing yet rules out a SYN-ACK the
    /// capture missed: no event until the client confirms (RST <SEQ=SEG.ACK>, or the same
    /// SYN again: it is still in SYN-SENT).
    Candidate,
    /// `stale_ack` reported; the outcome is pending.
    Confirmed,
    /// `failed` reported at the connect timeout; kept so that a handshake completing later
    /// revises it.
    Failed,
}

/// An attempt that got a stale ACK and whose end we wait for.
#[derive(Clone, Copy, Debug)]
struct Pending {
    ev: Event,
    stale_syn_ns: u64,
    deadline_ns: u64,
    generation: u64,
    rst_ns: u64,
    phase: Phase,
    /// The attempt's latest frame: SYN, stale ACK or client RST.
    last_frame: u64,
    /// When (and in which frame) the client went on as connected without a SYN-ACK having
    /// been seen; 0 if not. The SYN-ACK may still come (input from two queues is not strictly
    /// in order): then the outcome is `recovered`, else `connected_unseen` at the deadline.
    connected: (u64, u64),
}

/// How long after the stale-ACKed SYN a `failed` verdict can still be revised (Linux
/// `tcp_syn_retries` = 127 retries would take longer; 6, the default, take ~127 s).
const REVISE_FOR_NS: u64 = 600 * 1_000_000_000;

/// Handshake RTT of one server (`ip:port`): a histogram over [`RTT_BUCKETS`] and its sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerRtt {
    /// Counts per bucket (see [`RTT_BUCKETS`]).
    pub buckets: [u64; RTT_BUCKETS],
    /// Sum of the RTTs, µs.
    pub sum_us: u64,
}

impl ServerRtt {
    /// Handshakes measured.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Add `o` into `self`.
    pub fn add(&mut self, o: &ServerRtt) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
        self.sum_us += o.sum_us;
    }
}

/// Servers tracked per shard for RTT histograms; handshakes of further servers count under
/// "other", so the label set stays bounded.
pub const MAX_RTT_SERVERS: usize = 512;

/// How often (engine time) aged entries are swept out.
const SWEEP_EVERY_MS: u32 = 10_000;

/// A flow table, the state machine that runs over it, and the attempts awaiting an outcome.
pub struct Shard {
    cfg: Config,
    seed: KeySeed,
    table: FlowTable<Flow>,
    pending: HashMap<u64, Pending>,
    wrong_synack: HashMap<u64, Event>,
    deadlines: VecDeque<(u64, u64, u64)>,
    /// Until when each `failed` verdict may be revised (in order: failures fire in deadline
    /// order and all get the same window).
    revisable: VecDeque<(u64, u64, u64)>,
    generation: u64,
    epoch_ns: Option<u64>,
    now_ns: u64,
    /// Frame of the segment being processed (the one whose clock fires deadlines).
    cur_frame: u64,
    next_sweep_ms: u32,
    /// What this shard counted.
    pub counters: Counters,
    servers: HashMap<SocketAddr, ServerRtt>,
    other_servers: ServerRtt,
    pressure: Pressure,
    onedir: onedir::OneDir,
}

/// The per-segment context: what the transitions need besides the flow.
struct Ctx<'a, S: EventSink> {
    seg: &'a Segment,
    from: Side,
    now_ns: u64,
    now_ms: u32,
    now_us: u32,
    cfg: &'a Config,
    counters: &'a mut Counters,
    pending: &'a mut HashMap<u64, Pending>,
    wrong_synack: &'a mut HashMap<u64, Event>,
    deadlines: &'a mut VecDeque<(u64, u64, u64)>,
    generation: &'a mut u64,
    fp: u64,
    out: &'a mut S,
    servers: &'a mut HashMap<SocketAddr, ServerRtt>,
    other_servers: &'a mut ServerRtt,
    pressure: &'a mut Pressure,
    onedir: &'a mut onedir::OneDir,
}

impl Shard {
    /// A shard with settings `cfg` and fingerprint seed `seed` (every shard of an engine must
    /// use the same seed).
    pub fn new(cfg: Config, seed: KeySeed) -> Shard {
        Shard {
            table: FlowTable::new(cfg.max_flows),
            cfg,
            seed,
            pending: HashMap::new(),
            wrong_synack: HashMap::new(),
            deadlines: VecDeque::new(),
            revisable: VecDeque::new(),
            generation: 0,
            epoch_ns: None,
            now_ns: 0,
            cur_frame: 0,
            next_sweep_ms: SWEEP_EVERY_MS,
            counters: Counters::default(),
            servers: HashMap::new(),
            other_servers: ServerRtt::default(),
            pressure: Pressure::default(),
            onedir: onedir::OneDir::default(),
        }
    }

    /// Port pressure per (client IP, server) pair (detect/pressure.rs).
    pub fn pressure(&self) -> &Pressure {
        &self.pressure
    }

    /// Handshake RTT per server (at most [`MAX_RTT_SERVERS`]), and everything else summed.
    pub fn server_rtts(&self) -> (impl Iterator<Item = (&SocketAddr, &ServerRtt)>, &ServerRtt) {
        (self.servers.iter(), &self.other_servers)
    }

    /// Start loading the flow-table bucket of `key` into the CPU cache. Call it a few
    /// segments ahead of `process_keyed` for the same key, so the cache misses of a batch
    /// overlap instead of following one another.
    #[inline]
    pub fn prefetch(&self, key: &FlowKey) {
        self.table.prefetch(key.fp);
    }

    /// Two-stage look-ahead, fetching only the lines a lookup needs (src/flow/table.rs): call
    /// this for a key, then [`Shard::prefetch_entry`] for it a few segments later, then
    /// `process_keyed` a few more later (or, per batch: every key's `prefetch_fps`, then
    /// every key's `prefetch_entry`, then the segments).
    #[inline]
    pub fn prefetch_fps(&self, key: &FlowKey) {
        self.table.prefetch_fps(key.fp);
    }

    /// Second stage of [`Shard::prefetch_fps`]: start loading the key's entry.
    #[inline]
    pub fn prefetch_entry(&self, key: &FlowKey) {
        self.table.prefetch_entry(key.fp);
    }

    /// Tracked 4-tuples (live and tombstones).
    pub fn flows(&self) -> usize {
        self.table.len()
    }

    /// Bytes the flow table occupies.
    pub fn table_bytes(&self) -> usize {
        self.table.memory_bytes()
    }

    /// Entries evicted or expired so far.
    pub fn evictions(&self) -> crate::flow::Evictions {
        self.table.evictions
    }

    /// Attempts still waiting for an outcome (a `stale_ack` was reported for each).
    pub fn pending_outcomes(&self) -> usize {
        self.pending.values().filter(|p| p.phase == Phase::Confirmed).count()
    }

    /// The shard's clock (latest segment timestamp), ns.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The key of a segment under this shard's seed.
    #[inline]
    pub fn key(&self, seg: &Segment) -> FlowKey {
        FlowKey::of(seg, &self.seed)
    }

    /// Advance the clock to `ts_ns` without a segment: fires connect timeouts (live mode calls
    /// this when traffic is idle).
    pub fn tick<S: EventSink>(&mut self, ts_ns: u64, out: &mut S) {
        if ts_ns > self.now_ns {
            self.now_ns = ts_ns;
        }
        self.cur_frame = 0;
        self.fire_deadlines(out);
    }

    /// Process one segment.
    #[inline]
    pub fn process<S: EventSink>(&mut self, seg: &Segment, out: &mut S) {
        let key = self.key(seg);
        self.process_keyed(seg, key, out);
    }

    /// Process one segment whose key the caller already computed (to pick this shard).
    pub fn process_keyed<S: EventSink>(&mut self, seg: &Segment, key: FlowKey, out: &mut S) {
        let epoch = *self.epoch_ns.get_or_insert(seg.ts_ns);
        if seg.ts_ns >= self.now_ns {
            self.now_ns = seg.ts_ns;
        } else {
            // Out-of-order input: judge with the shard clock, never go back.
            self.counters.time_backwards += 1;
        }
        self.cur_frame = seg.frame;
        if seg.opts.malformed {
            self.counters.tcp_options_ignored += 1;
        }
        if self.deadlines.front().is_some_and(|d| d.0 <= self.now_ns) || self.revisable.front().is_some_and(|d| d.0 <= self.now_ns) {
            self.fire_deadlines(out);
        }
        let rel = self.now_ns.saturating_sub(epoch);
        let now_ms = (rel / 1_000_000) as u32;
        if now_ms >= self.next_sweep_ms {
            self.next_sweep_ms = now_ms.saturating_add(SWEEP_EVERY_MS);
            self.table.expire(now_ms, self.cfg.tombstone_ttl_ms, self.cfg.idle_timeout_ms);
        }
        self.counters.segments += 1;
        let mut cx = Ctx {
            seg,
            from: key.from,
            now_ns: self.now_ns,
            now_ms,
            now_us: (rel / 1000) as u32,
            cfg: &self.cfg,
            counters: &mut self.counters,
            pending: &mut self.pending,
            wrong_synack: &mut self.wrong_synack,
            deadlines: &mut self.deadlines,
            generation: &mut self.generation,
            fp: key.fp,
            out,
            servers: &mut self.servers,
            other_servers: &mut self.other_servers,
            pressure: &mut self.pressure,
            onedir: &mut self.onedir,
        };
        let f = seg.flags;
        if f.has(TcpFlags::FIN) {
            cx.counters.fin += 1;
        }
        if f.has(TcpFlags::RST) {
            cx.counters.rst += 1;
        }
        match self.table.get_mut(key.fp) {
            Some(flow) => cx.existing(flow),
            None => {
                if let Some(flow) = cx.first_segment() {
                    cx.counters.flows_created += 1;
                    self.table.insert(key.fp, flow, now_ms);
                }
            }
        }
    }

    /// End of input: every attempt still waiting becomes `failed` (its deadline passed by the
    /// last timestamp) or `unresolved`, oldest first.
    ///
    /// `failed` names the last frame read (its clock passed the deadline); `unresolved` names
    /// the attempt's last frame. Unconfirmed stale-ACK candidates end silently (counted).
    pub fn finish<S: EventSink>(&mut self, out: &mut S) {
        self.fire_deadlines(out);
        let mut left: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        left.sort_by_key(|p| (p.stale_syn_ns, p.ev.frame));
        for p in left {
            match p.phase {
                Phase::Candidate => self.counters.stale_ack_unconfirmed += 1,
                Phase::Failed => {}
                Phase::Confirmed if p.connected.0 != 0 => {
                    let (ts, frame) = p.connected;
                    emit_outcome(&mut self.counters, out, p, Outcome::ConnectedUnseen, ts, frame, None);
                }
                Phase::Confirmed => {
                    let (outcome, frame) = if self.now_ns >= p.deadline_ns {
                        (Outcome::Failed, self.cur_frame)
                    } else {
                        (Outcome::Unresolved, p.last_frame)
                    };
                    emit_outcome(&mut self.counters, out, p, outcome, self.now_ns, frame, None);
                }
            }
        }
        self.counters.synack_wrong_unconfirmed += self.wrong_synack.len() as u64;
        self.wrong_synack.clear();
        self.deadlines.clear();
        self.revisable.clear();
    }

    fn fire_deadlines<S: EventSink>(&mut self, out: &mut S) {
        while let Some(&(deadline, fp, generation)) = self.deadlines.front() {
            if deadline > self.now_ns {
                break;
            }
            self.deadlines.pop_front();
            let Some(p) = self.pending.get_mut(&fp).filter(|p| p.generation == generation) else { continue };
            match p.phase {
                Phase::Confirmed if p.connected.0 != 0 => {
                    // The client went on as connected and no SYN-ACK came by the deadline.
                    let done = *p;
                    self.pending.remove(&fp);
                    if let Some(flow) = self.table.get_mut(fp) {
                        flow.flags &= !fl::STALE;
                    }
                    let (ts, frame) = done.connected;
                    emit_outcome(&mut self.counters, out, done, Outcome::ConnectedUnseen, ts, frame, None);
                }
                Phase::Confirmed => {
                    // RFC 9293 §3.10.7.3 leaves the client in SYN-SENT; it is the connect
                    // timeout that ends the attempt. Report it at the deadline, not at the
                    // next packet, naming the frame whose clock passed it. Keep the attempt:
                    // a handshake that completes later revises the verdict.
                    let done = *p;
                    p.phase = Phase::Failed;
                    self.generation += 1;
                    p.generation = self.generation;
                    let until = p.stale_syn_ns.saturating_add(REVISE_FOR_NS).max(deadline);
                    self.revisable.push_back((until, fp, self.generation));
                    emit_outcome(&mut self.counters, out, done, Outcome::Failed, deadline, self.cur_frame, None);
                }
                Phase::Candidate | Phase::Failed => {
                    if p.phase == Phase::Candidate {
                        self.counters.stale_ack_unconfirmed += 1;
                    }
                    self.pending.remove(&fp);
                    if let Some(flow) = self.table.get_mut(fp) {
                        flow.flags &= !fl::STALE;
                    }
                }
            }
        }
        // `failed` verdicts past their revision window: forget them.
        while let Some(&(until, fp, generation)) = self.revisable.front() {
            if until > self.now_ns {
                break;
            }
            self.revisable.pop_front();
            if self.pending.get(&fp).is_some_and(|p| p.generation == generation && p.phase == Phase::Failed) {
                self.pending.remove(&fp);
                if let Some(flow) = self.table.get_mut(fp) {
                    flow.flags &= !fl::STALE;
                }
            }
        }
    }
}

fn emit_outcome<S: EventSink>(
    counters: &mut Counters,
    out: &mut S,
    p: Pending,
    outcome: Outcome,
    ts_ns: u64,
    frame: u64,
    recovery_us: Option<u64>,
) {
    let mut ev = p.ev;
    ev.kind = EventKind::StaleAckOutcome;
    ev.ts_ns = ts_ns;
    ev.frame = frame;
    ev.last_frame = p.last_frame;
    ev.outcome = Some(outcome);
    ev.recovery_us = recovery_us;
    ev.client_rst = Some(p.rst_ns != 0);
    if p.phase == Phase::Failed {
        ev.revises = Some(Outcome::Failed);
        counters.outcomes_revised += 1;
    }
    counters.events[EventKind::StaleAckOutcome as usize] += 1;
    counters.outcomes[outcome as usize] += 1;
    out.event(&ev);
}

#[inline]
fn rtt_bucket(us: u32) -> usize {
    ((32 - us.leading_zeros()) as usize).min(RTT_BUCKETS - 1)
}

/// Cap on SYN-ACKs with a wrong ack awaiting the client's RST; beyond it the oldest are
/// dropped (counted as unconfirmed).
const MAX_WRONG_SYNACK: usize = 65_536;

impl<S: EventSink> Ctx<'_, S> {
    fn event(&self, kind: EventKind, client: Side) -> Event {
        let (c, s) = self.endpoints(client);
        let mut ev = Event::new(kind, self.now_ns, self.seg.frame, c, s, self.seg.vlan, self.seg.svlan);
        ev.tunnel = self.seg.tunnel;
        ev
    }

    /// An event about `flow`, with the roles as far as they are known. Without a handshake
    /// (capture started mid-connection) nobody knows who the client is: the side with the
    /// higher port is named `client` and the event says `roles: unknown`.
    fn flow_event(&self, kind: EventKind, flow: &Flow) -> Event {
        let (client, roles) = match flow.client() {
            Some(c) if flow.has(fl::ROLES_SYNACK) => (c, Roles::Synack),
            Some(c) => (c, Roles::Syn),
            None => {
                let sender_higher = self.seg.sport >= self.seg.dport;
                (if sender_higher { self.from } else { self.from.peer() }, Roles::Unknown)
            }
        };
        let mut ev = self.event(kind, client);
        ev.roles = roles;
        ev
    }

    fn endpoints(&self, client: Side) -> (SocketAddr, SocketAddr) {
        if client == self.from {
            (self.seg.src_addr(), self.seg.dst_addr())
        } else {
            (self.seg.dst_addr(), self.seg.src_addr())
        }
    }

    fn emit(&mut self, ev: &Event) {
        self.counters.events[ev.kind as usize] += 1;
        if let (EventKind::StaleAck, Some(c)) = (ev.kind, ev.cause) {
            self.counters.causes[c as usize] += 1;
        }
        self.out.event(ev);
        self.pressure.stale(ev);
    }

    /// Port pressure: a SYN that opens a connection (`reuse` when on a tracked 4-tuple); the
    /// warning, when it crosses the threshold, goes out before anything this SYN may bring.
    fn pressure_syn(&mut self, client: Side, reuse: Option<Reuse>) {
        let (c, s) = self.endpoints(client);
        if let Some(info) = self.pressure.syn(c, s, reuse, self.now_ns, self.cfg) {
            let mut ev = self.event(EventKind::PortPressure, client);
            ev.pressure = Some(info);
            ev.prev_close_age_ms = reuse.map(|r| r.interval_ms);
            self.emit(&ev);
        }
    }

    /// First segment of an untracked 4-tuple: what entry, if any, to create.
    fn first_segment(&mut self) -> Option<Flow> {
        let seg = self.seg;
        let f = seg.flags;
        let mut flow = Flow::new(self.now_ms, self.now_us, seg.seq, State::SynSent);
        if f.has(TcpFlags::RST) {
            // RST for nothing we track: nothing to remember.
            return None;
        }
        if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) {
            self.counters.syn += 1;
            flow.set_client(self.from);
            // DESIGN §6: the SYN's payload (TCP Fast Open) occupies sequence space too.
            flow.set_syn(seg.seq.add(seg.seg_len()), seg.opts.has_ts.then_some(seg.tsval), true);
            self.pressure_syn(self.from, None);
        } else if f.has(TcpFlags::SYN) {
            // SYN-ACK of a SYN we did not see: the receiver is the client (inferred).
            self.counters.synack += 1;
            flow.set_client(self.from.peer());
            flow.flags |= fl::ROLES_SYNACK;
            flow.state = State::SynRcvd;
            flow.isn = seg.ack.add(u32::MAX); // ack - 1
            flow.advance_nxt(self.from, seg.seq.add(seg.seg_len()));
            flow.advance_nxt(self.from.peer(), seg.ack);
            flow.advance_rcv(seg.ack);
        } else {
            // Mid-connection (capture or ackscope started later): open, client unknown.
            flow.state = State::Established;
            flow.flags |= fl::OPENED;
            self.track_segment(&mut flow);
        }
        self.note_ts(&mut flow);
        Some(flow)
    }

    fn note_ts(&self, flow: &mut Flow) {
        if !self.seg.opts.has_ts {
            return;
        }
        let i = self.from.idx();
        flow.tsval[i] = self.seg.tsval;
        flow.flags |= fl::ts(i);
    }

    /// Sequence, FIN and state bookkeeping of an ordinary segment (no SYN, no RST).
    fn track_segment(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        let x = self.from;
        flow.advance_nxt(x, seg.seq.add(seg.seg_len()));
        if seg.flags.has(TcpFlags::FIN) {
            if flow.flags & (fl::FIN_LO | fl::FIN_HI) == 0 && x == Side::Hi {
                flow.flags |= fl::FIRST_FIN_HI;
            }
            flow.flags |= fl::fin(x.idx());
        }
        if seg.payload_len > 0 {
            flow.flags |= fl::OPENED;
        }
    }

    fn existing(&mut self, flow: &mut Flow) {
        self.onedir_note(flow); // one-direction visibility (onedir.rs)
        let f = self.seg.flags;
        let (syn, ack, rst) = (f.has(TcpFlags::SYN), f.has(TcpFlags::ACK), f.has(TcpFlags::RST));
        match (syn, ack, rst) {
            (true, false, false) => self.on_syn(flow),
            (true, true, false) => self.on_synack(flow),
            (_, _, true) => self.on_rst(flow),
            (false, _, false) => self.on_segment(flow),
        }
    }

    // ---- SYN -----------------------------------------------------------------------------

    fn on_syn(&mut self, flow: &mut Flow) {
        self.counters.syn += 1;
        let seg = self.seg;
        let from = self.from;
        let syn_end = seg.seq.add(seg.seg_len());
        let tsval = seg.opts.has_ts.then_some(seg.tsval);
        let attempt_open = matches!(flow.state, State::SynSent | State::SynRcvd);
        if attempt_open && flow.client() == Some(from) && seg.seq == flow.isn {
            // Retransmission of the attempt's SYN: after a SYN-ACK the client never got (it
            // may be in the capture: SYN-RECEIVED), or the quick retry Linux makes after it
            // answered an unacceptable ACK with RST. Not a new connection: no port reuse.
            self.counters.syn_retransmits += 1;
            if flow.state == State::SynSent {
                flow.set_syn(syn_end, tsval, false);
                if !flow.has(fl::STALE) && flow.has(fl::CLIENT_RST) {
                    self.onedir_client_retry(flow, from); // one-direction hook (onedir.rs)
                }
                // The client is still in SYN-SENT after the unacceptable ACK or SYN-ACK: it did
                // not take it for a handshake. That confirms it.
                if flow.has(fl::STALE) {
                    self.stale_syn_retry();
                }
                if flow.has(fl::WRONG_SYNACK) {
                    self.confirm_wrong_synack(None);
                }
            }
            flow.syn_us = self.now_us;
            return;
        }
        if flow.state == State::SynSent && flow.client() == Some(from) {
            // A new ISN: the client gave up on the attempt and starts another one. The
            // previous *connection* (flow.prev) is still what the server may hold.
            self.resolve_pending(flow, Outcome::Failed, None);
            self.drop_wrong_synack(flow);
            flow.isn = seg.seq;
            flow.syn_us = self.now_us;
            flow.flags &= !(fl::CLIENT_RST | fl::WRONG_SYNACK);
            flow.set_syn(syn_end, tsval, true);
            self.check_time_wait_reuse(flow);
            return;
        }
        if attempt_open && flow.client() == Some(from.peer()) {
            if flow.state == State::SynRcvd {
                // The other half of a simultaneous open again, or noise: changes nothing.
                return;
            }
            // Simultaneous open (RFC 9293 §3.5, figure 8): the other side sends a SYN too.
            // The first SYN's sender stays the client (DESIGN §6); both ISNs are known now,
            // as in SYN-RECEIVED. Each side's SYN-ACK then acknowledges the other's SYN.
            self.counters.simultaneous_opens += 1;
            let client = from.peer();
            let c_end = flow.syn_end();
            self.drop_wrong_synack(flow);
            flow.flags &= fl::CLIENT_KNOWN | fl::CLIENT_HI | fl::STALE;
            flow.prev = 0;
            flow.state = State::SynRcvd;
            flow.advance_nxt(client, c_end);
            flow.advance_nxt(from, syn_end);
            flow.last_ms = self.now_ms;
            self.note_ts(flow);
            return;
        }
        // A SYN on a 4-tuple with a tracked connection (open or closed): a new connection,
        // port reuse. Normal; counted, not an event. Remember what the server may still hold.
        self.counters.port_reuses += 1;
        let client = from;
        let server = client.peer();
        let mut prev = pv::VALID;
        if flow.has(fl::OPENED) || flow.state == State::SynRcvd {
            prev |= pv::OPEN;
        }
        if flow.has(fl::fin(server.idx())) {
            prev |= pv::SFIN;
        }
        if flow.has(fl::fin(client.idx())) {
            prev |= pv::CFIN;
        }
        let first_fin_hi = flow.has(fl::FIRST_FIN_HI);
        if prev & pv::SFIN != 0 && (first_fin_hi == (server == Side::Hi) || prev & pv::CFIN == 0) {
            prev |= pv::SFIN_FIRST;
        }
        if flow.has(fl::RST) {
            prev |= pv::RST;
        }
        // issue 19: what the server acknowledged of it (valid only for the same client side)
        // and its last activity, kept for the evidence of a stale ACK (`stash_prev`).
        let prev_rcv = if flow.client() == Some(client) { flow.known_rcv() } else { None };
        let prev_seen_ms = flow.last_ms;
        // Port pressure: the reuse interval (from the close, or the last segment of a
        // connection never seen closing) and whether the server holds it in TIME_WAIT.
        let interval_ms = self.now_ms.wrapping_sub(prev_seen_ms);
        let server_tw = pv::VALID | pv::SFIN | pv::CFIN | pv::SFIN_FIRST;
        let closed = flow.state == State::Closed;
        let in_time_wait = closed && prev & server_tw == server_tw && prev & pv::RST == 0 && interval_ms < self.cfg.time_wait_ms;
        self.pressure_syn(client, Some(Reuse { interval_ms, in_time_wait }));
        let server_seen = onedir::server_seen(flow, server); // one-direction hook (onedir.rs)
        if flow.state == State::Closed {
            prev |= pv::CLOSED;
        } else if prev & (pv::SFIN | pv::CFIN) == 0 {
            flow.last_ms = self.now_ms;
        }
        // else: half-closed; `last_ms` stays the time of its last activity, for the age.
        // Keep: nxt/tsval of the client side (the server's old receive point and ts_recent)
        // and their validity bits. Clear the rest for the new attempt.
        let keep = fl::nxt(client.idx()) | fl::ts(client.idx());
        flow.flags &= keep;
        if server_seen {
            flow.flags |= fl::PREV_SERVER_SEEN;
        }
        flow.set_client(client);
        flow.prev = prev;
        flow.stash_prev(prev_rcv, prev_seen_ms);
        flow.state = State::SynSent;
        flow.isn = seg.seq;
        flow.syn_us = self.now_us;
        flow.set_syn(syn_end, tsval, true);
        self.check_time_wait_reuse(flow);
    }

    /// The predictive rule: will Linux's TIME_WAIT socket refuse this SYN?
    ///
    /// Linux `tcp_timewait_state_process()` accepts a SYN for a TIME_WAIT 4-tuple when
    /// `!paws_reject && (after(seq, tw_rcv_nxt) || (saw_tstamp && (s32)(tw_ts_recent - rcv_tsval) < 0))`;
    /// otherwise it answers with an ACK of the old connection. PAWS (RFC 7323 §5.3) rejects a
    /// SYN whose TSval is older than ts_recent by more than `TCP_PAWS_WINDOW` (1).
    fn check_time_wait_reuse(&mut self, flow: &mut Flow) {
        let p = flow.prev;
        let server_tw = pv::VALID | pv::SFIN | pv::CFIN | pv::SFIN_FIRST | pv::CLOSED;
        if p & server_tw != server_tw || p & pv::RST != 0 {
            return;
        }
        let age = self.now_ms.wrapping_sub(flow.last_ms);
        if age >= self.cfg.time_wait_ms {
            return;
        }
        let client = self.from;
        let Some(old_rcv) = flow.known_nxt(client) else { return };
        let seg = self.seg;
        let had_ts = flow.has(fl::ts(client.idx()));
        let ts_recent = if had_ts { flow.tsval[client.idx()] } else { 0 };
        let ts_diff = ts_recent.wrapping_sub(seg.tsval) as i32;
        let paws_reject = seg.opts.has_ts && had_ts && ts_diff > 1;
        let ts_newer = seg.opts.has_ts && ts_diff < 0;
        let accepted = !paws_reject && (seg.seq.after(old_rcv) || ts_newer);
        if accepted {
            return;
        }
        let mut ev = self.flow_event(EventKind::ReuseInTimeWait, flow);
        ev.syn_seq = Some(seg.seq);
        ev.prev_rcv_nxt = Some(old_rcv);
        ev.prev_close_age_ms = Some(age);
        ev.prev_state = Some(PrevState::ClosedByServerFirst);
        self.emit(&ev);
    }

    // ---- SYN-ACK -------------------------------------------------------------------------

    fn on_synack(&mut self, flow: &mut Flow) {
        self.counters.synack += 1;
        let seg = self.seg;
        let Some(client) = flow.client() else {
            return self.restart_from_synack(flow);
        };
        let server = client.peer();
        if self.from != server {
            return; // A SYN-ACK from the client side: its half of a simultaneous open.
        }
        let first = flow.isn.add(1);
        match flow.state {
            State::SynSent => {
                let syn_end = flow.syn_end();
                // RFC 9293 §3.10.7.3 (SYN-SENT): "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a
                // reset". Acceptable is ISN+1 ..= ISN+1+SYN payload: a Fast Open server acks
                // the SYN's data too, or only the SYN when it refuses the data.
                if seg.ack.before(first) || seg.ack.after(syn_end) {
                    if !flow.has(fl::WRONG_SYNACK) {
                        flow.flags |= fl::WRONG_SYNACK;
                        let mut ev = self.flow_event(EventKind::SynackWrongAck, flow);
                        ev.syn_seq = Some(flow.isn);
                        ev.ack = Some(seg.ack);
                        ev.expected_ack = Some(first);
                        // Reported once the client answers it with RST <SEQ=SEG.ACK> (or sends
                        // the same SYN again): a SYN-ACK of a SYN the capture missed is not
                        // answered so.
                        if self.wrong_synack.len() >= MAX_WRONG_SYNACK {
                            self.counters.synack_wrong_unconfirmed += self.wrong_synack.len() as u64;
                            self.wrong_synack.clear();
                        }
                        self.wrong_synack.insert(self.fp, ev);
                    }
                    return;
                }
                let rtt = self.now_us.wrapping_sub(flow.syn_us);
                let b = rtt_bucket(rtt);
                self.counters.rtt_us[b] += 1;
                let server_addr = seg.src_addr();
                let room = self.servers.len() < MAX_RTT_SERVERS;
                let slot = if room || self.servers.contains_key(&server_addr) {
                    self.servers.entry(server_addr).or_default()
                } else {
                    &mut *self.other_servers
                };
                slot.buckets[b] += 1;
                slot.sum_us += u64::from(rtt);
                self.complete_synack(flow, client);
            }
            State::SynRcvd | State::Established
                if !seg.ack.before(first) && !seg.ack.after(flow.known_nxt(client).unwrap_or(first)) =>
            {
                // A SYN-ACK for this attempt again: retransmitted (also after data flowed) or
                // a competing one with another ISN. The handshake is answered; it changes
                // neither the sequence horizons nor the roles.
                self.counters.synack_duplicates += 1;
                if flow.has(fl::STALE) {
                    // The SYN-ACK of a stale-ACKed attempt, arriving after the client's ACK
                    // (the client went on as connected first in the input): `recovered`.
                    let stale_syn = self.pending.get(&self.fp).map(|p| p.stale_syn_ns);
                    let recovery = stale_syn.map(|t| self.now_ns.saturating_sub(t) / 1000);
                    self.resolve_pending(flow, Outcome::Recovered, recovery);
                }
                if flow.state == State::SynRcvd && flow.known_nxt(server) != Some(seg.seq.add(seg.seg_len())) {
                    // Two server ISNs: which one the client takes is not known, so the
                    // handshake horizon is not exact any more: no acked_unseen from it.
                    flow.flags |= fl::UNSEEN_REPORTED;
                }
            }
            _ => self.restart_from_synack(flow),
        }
    }

    /// A valid SYN-ACK for the current attempt: the handshake is answered.
    fn complete_synack(&mut self, flow: &mut Flow, client: Side) {
        let seg = self.seg;
        let c_end = flow.syn_end();
        if flow.has(fl::STALE) {
            let stale_syn = self.pending.get(&self.fp).map(|p| p.stale_syn_ns);
            let recovery = stale_syn.map(|t| self.now_ns.saturating_sub(t) / 1000);
            self.resolve_pending(flow, Outcome::Recovered, recovery);
        }
        self.drop_wrong_synack(flow);
        let keep = fl::CLIENT_KNOWN | fl::CLIENT_HI;
        flow.flags &= keep;
        flow.prev = 0;
        flow.state = State::SynRcvd;
        flow.advance_nxt(client, c_end);
        // A SYN-ACK's payload occupies sequence space too (DESIGN §6).
        flow.advance_nxt(self.from, seg.seq.add(seg.seg_len()));
        flow.advance_rcv(seg.ack); // ISN+1, or up to the SYN's end (TCP Fast Open)
        flow.last_ms = self.now_ms;
        self.note_ts(flow);
    }

    /// A SYN-ACK we cannot place (no SYN seen for it): start tracking from it.
    fn restart_from_synack(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        if flow.state != State::SynSent {
            // A new connection on a tracked 4-tuple whose SYN the capture missed.
            self.counters.port_reuses += 1;
        }
        self.resolve_pending(flow, Outcome::Failed, None);
        self.drop_wrong_synack(flow);
        *flow = Flow::new(self.now_ms, self.now_us, seg.ack.add(u32::MAX), State::SynRcvd);
        flow.set_client(self.from.peer());
        flow.flags |= fl::ROLES_SYNACK;
        flow.advance_nxt(self.from, seg.seq.add(seg.seg_len()));
        flow.advance_nxt(self.from.peer(), seg.ack);
        flow.advance_rcv(seg.ack);
        self.note_ts(flow);
    }

    // ---- RST -----------------------------------------------------------------------------

    fn on_rst(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        if flow.state == State::SynSent {
            if let Some(client) = flow.client() {
                if self.from == client {
                    // RFC 9293 §3.10.7.3: in SYN-SENT, an unacceptable ACK is answered with
                    // <SEQ=SEG.ACK><CTL=RST> (no ACK bit): the client's reply to a stale ACK.
                    // It stays in SYN-SENT and retries. That reply confirms the stale ACK.
                    flow.flags |= fl::CLIENT_RST;
                    let answer = !seg.flags.has(TcpFlags::ACK);
                    if answer && !flow.has(fl::STALE) && !flow.has(fl::WRONG_SYNACK) {
                        self.onedir_client_rst(flow); // one-direction hook (onedir.rs)
                    }
                    if flow.has(fl::STALE) {
                        let now = self.now_ns;
                        let mut confirm = false;
                        if let Some(p) = self.pending.get_mut(&self.fp) {
                            p.last_frame = seg.frame;
                            if p.phase == Phase::Candidate {
                                if answer && p.ev.ack == Some(seg.seq) {
                                    p.rst_ns = now;
                                    confirm = true;
                                }
                            } else if p.rst_ns == 0 {
                                p.rst_ns = now;
                            }
                        }
                        if confirm {
                            self.confirm_stale();
                        }
                    }
                    if answer && flow.has(fl::WRONG_SYNACK) {
                        self.confirm_wrong_synack(Some(seg.seq));
                    }
                    return;
                }
                // RFC 9293 §3.10.7.3: "If the RST bit is set: If the ACK was acceptable, then
                // signal to the user 'error: connection reset', drop the segment, enter CLOSED".
                // Acceptable means ISN+1 ..= SND.NXT (ack outside it: the client drops the RST).
                if seg.flags.has(TcpFlags::ACK) && !seg.ack.before(flow.isn.add(1)) && !seg.ack.after(flow.syn_end()) {
                    let mut ev = self.flow_event(EventKind::ConnectionRefused, flow);
                    ev.syn_seq = Some(flow.isn);
                    ev.ack = Some(seg.ack);
                    self.emit(&ev);
                    self.resolve_pending(flow, Outcome::Failed, None);
                    self.drop_wrong_synack(flow);
                    flow.state = State::Closed;
                    flow.flags |= fl::RST;
                    flow.prev = 0;
                    flow.last_ms = self.now_ms;
                }
                return;
            }
        }
        self.note_server_ack(flow);
        if flow.state != State::Closed {
            flow.last_ms = self.now_ms;
        }
        flow.state = State::Closed;
        flow.flags |= fl::RST;
    }

    // ---- ACK, data, FIN --------------------------------------------------------------------

    fn on_segment(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        let has_ack = seg.flags.has(TcpFlags::ACK);
        if flow.state == State::SynSent {
            if let Some(client) = flow.client() {
                if self.from != client {
                    if has_ack {
                        return self.answer_in_syn_sent(flow, client);
                    }
                    return; // No ACK bit: nothing a SYN-SENT client would act on.
                }
                if has_ack {
                    // The client acknowledges something: it is connected, so it got a SYN-ACK
                    // that the capture does not hold (yet: from two queues it may come a
                    // little later). A stale ACK before it is resolved by that SYN-ACK
                    // (`recovered`), else at the deadline as `connected_unseen`, never as
                    // `recovered` without one. A candidate ends here, silently.
                    if flow.has(fl::STALE) && !self.onedir_client_connected(flow) {
                        let (now, frame) = (self.now_ns, seg.frame);
                        match self.pending.get_mut(&self.fp) {
                            Some(p) if p.phase == Phase::Confirmed => {
                                if p.connected.0 == 0 {
                                    p.connected = (now, frame);
                                }
                            }
                            Some(p) if p.phase == Phase::Failed => {
                                self.resolve_pending(flow, Outcome::ConnectedUnseen, None);
                            }
                            _ => self.resolve_pending(flow, Outcome::ConnectedUnseen, None),
                        }
                    }
                    self.drop_wrong_synack(flow);
                    // A new connection: forget the previous one's sequence state (not the
                    // pending outcome).
                    let c_end = flow.syn_end();
                    flow.flags &= fl::CLIENT_KNOWN | fl::CLIENT_HI | fl::STALE;
                    flow.advance_nxt(client, c_end);
                    flow.advance_nxt(client.peer(), seg.ack);
                    flow.state = State::Established;
                    flow.advance_rcv(flow.isn.add(1)); // the server got the SYN
                    flow.flags |= fl::OPENED;
                    flow.prev = 0;
                }
            }
        }
        if has_ack && !flow.has(fl::UNSEEN_REPORTED) {
            self.check_acked_unseen(flow);
        }
        let was_closed = flow.state == State::Closed;
        self.track_segment(flow);
        self.note_server_ack(flow);
        self.note_ts(flow);
        if flow.state == State::SynRcvd && has_ack && flow.client() == Some(self.from) {
            flow.state = State::Established;
            flow.flags |= fl::OPENED;
        }
        if flow.has(fl::FIN_LO | fl::FIN_HI) && flow.state != State::Closed {
            // Both FINs: closed. The first closer's TIME_WAIT starts when it receives the
            // second FIN (RFC 9293 §3.6, FIN-WAIT-2 → TIME-WAIT), so that is the close time.
            flow.state = State::Closed;
            flow.last_ms = self.now_ms;
        } else if !was_closed {
            flow.last_ms = self.now_ms;
        }
    }

    /// The server side answers the client's SYN with a segment that has ACK set and SYN and
    /// RST clear. A *bare* one (no payload, no FIN) whose ack is not acceptable for the SYN is
    /// the stale ACK (DESIGN §3, §6) — once the evidence rules out a SYN-ACK the capture
    /// missed (see [`Phase::Candidate`]).
    fn answer_in_syn_sent(&mut self, flow: &mut Flow, client: Side) {
        let seg = self.seg;
        let expected = flow.isn.add(1);
        let syn_end = flow.syn_end();
        if !seg.ack.before(expected) && !seg.ack.after(syn_end) {
            // Acceptable (RFC 9293 §3.10.7.3: SND.UNA < SEG.ACK =< SND.NXT), a Fast Open
            // SYN's data included. Without SYN it is no handshake; the client drops it.
            return;
        }
        if seg.payload_len > 0 || seg.flags.has(TcpFlags::FIN) {
            // Not a bare ACK: data answering a SYN is a capture that started mid-stream, a
            // SYN-ACK the capture missed, or a middlebox. No stack answers a SYN with a FIN:
            // that is the previous connection's FIN (a retransmission) crossing the new SYN,
            // which a live capture may even deliver after it (host mode: clones of the two
            // directions race; issue 19, tests/live/lb.sh). No stale ACK; counted.
            self.counters.syn_answers_not_bare += 1;
            return;
        }
        if flow.has(fl::STALE) {
            let strong = self.stale_evidence(flow);
            let mut confirm = false;
            if let Some(p) = self.pending.get_mut(&self.fp) {
                if p.phase != Phase::Failed {
                    self.counters.stale_ack_repeats += 1;
                    p.last_frame = seg.frame;
                    p.ev.stale_acks += 1;
                    if p.rst_ns != 0 {
                        // A stale ACK after the client's RST: the server ignored the RST
                        // (tcp_rfc1337=1 in TIME_WAIT, RFC 1337 "TIME-WAIT Assassination").
                        p.ev.rst_ignored = Some(true);
                    }
                    confirm = p.phase == Phase::Candidate && strong;
                }
            }
            if confirm {
                self.confirm_stale();
            }
            return;
        }
        if let Some(orphan) = self.pending.remove(&self.fp) {
            // An earlier stale-ACKed attempt on this 4-tuple that the flow entry lost track of
            // (its STALE flag was cleared by a SYN from the other side or a reuse, or the entry
            // was evicted and re-created). A new attempt supersedes it: end it now instead of
            // overwriting it, so every stale_ack keeps exactly one outcome (found by fuzz/engine).
            match orphan.phase {
                Phase::Confirmed => emit_outcome(self.counters, self.out, orphan, Outcome::Failed, self.now_ns, seg.frame, None),
                Phase::Candidate => self.counters.stale_ack_unconfirmed += 1,
                Phase::Failed => {}
            }
        }
        let strong = self.stale_evidence(flow);
        let (cause, prev_state, age) = self.cause(flow);
        let mut ev = self.flow_event(EventKind::StaleAck, flow);
        ev.syn_seq = Some(flow.isn);
        ev.ack = Some(seg.ack);
        ev.expected_ack = Some(expected);
        ev.cause = Some(cause);
        ev.prev_state = Some(prev_state);
        ev.prev_close_age_ms = age;
        self.prev_evidence(flow, client, seg.ack, &mut ev);
        if strong {
            self.emit(&ev);
        }
        flow.flags |= fl::STALE;
        // The SYN that got this ACK is the latest client SYN.
        let since_syn_ns = u64::from(self.now_us.wrapping_sub(flow.syn_us)) * 1000;
        let stale_syn_ns = self.now_ns.saturating_sub(since_syn_ns);
        *self.generation += 1;
        // Saturating: segment clocks near u64::MAX (a pcapng timestamp that saturated) must
        // not wrap the deadline to the past (found by fuzz/engine).
        let deadline_ns = stale_syn_ns.saturating_add(u64::from(self.cfg.connect_timeout_ms) * 1_000_000);
        let mut pev = ev;
        pev.stale_acks = 1;
        pev.rst_ignored = Some(false);
        let phase = if strong { Phase::Confirmed } else { Phase::Candidate };
        let p = Pending {
            ev: pev,
            stale_syn_ns,
            deadline_ns,
            generation: *self.generation,
            rst_ns: 0,
            phase,
            last_frame: seg.frame,
            connected: (0, 0),
        };
        self.pending.insert(self.fp, p);
        self.deadlines.push_back((deadline_ns, self.fp, *self.generation));
    }

    /// Evidence in the answering ACK itself that it belongs to another sequence space, so no
    /// missed SYN-ACK can explain it:
    /// - its ack lies *below* ISN+1: every segment of a connection opened by this SYN acks
    ///   at least ISN+1;
    /// - it echoes a TSval older than the attempt's first SYN (RFC 7323 §4.3: the echo is the
    ///   peer's `TS.Recent`, which a connection opened by this SYN sets from that SYN or later).
    ///
    /// An ack *above* the SYN's end is also what the ACK of the client's first data looks
    /// like when the capture lost the SYN-ACK and the client's first segments; that needs the
    /// client's own confirmation.
    fn stale_evidence(&self, flow: &Flow) -> bool {
        let seg = self.seg;
        if seg.ack.before(flow.isn.add(1)) {
            return true;
        }
        match flow.syn_tsval() {
            Some(t) if seg.opts.has_ts && seg.opts.tsecr != 0 => (seg.opts.tsecr.wrapping_sub(t) as i32) < 0,
            _ => false,
        }
    }

    /// A candidate stale ACK is confirmed: report it (with its own frame and time).
    fn confirm_stale(&mut self) {
        let Some(p) = self.pending.get_mut(&self.fp) else { return };
        if p.phase != Phase::Candidate {
            return;
        }
        p.phase = Phase::Confirmed;
        let mut ev = p.ev;
        ev.stale_acks = 0;
        ev.syn_retries = 0;
        ev.rst_ignored = None;
        self.emit(&ev);
    }

    /// The same SYN again after a stale ACK: a retry (confirms a candidate).
    fn stale_syn_retry(&mut self) {
        let frame = self.seg.frame;
        let Some(p) = self.pending.get_mut(&self.fp) else { return };
        if p.phase == Phase::Failed {
            return;
        }
        p.last_frame = frame;
        p.ev.syn_retries += 1;
        if p.phase == Phase::Candidate {
            self.confirm_stale();
        }
    }

    /// A SYN-ACK with a wrong ack is confirmed by the client's RST `<SEQ=SEG.ACK>` (or, with
    /// `None`, by the same SYN again).
    fn confirm_wrong_synack(&mut self, rst_seq: Option<SeqNum>) {
        let Some(ev) = self.wrong_synack.get(&self.fp) else { return };
        if rst_seq.is_some() && ev.ack != rst_seq {
            return;
        }
        let ev = self.wrong_synack.remove(&self.fp).expect("checked above");
        self.emit(&ev);
    }

    fn drop_wrong_synack(&mut self, flow: &Flow) {
        if flow.has(fl::WRONG_SYNACK) && self.wrong_synack.remove(&self.fp).is_some() {
            self.counters.synack_wrong_unconfirmed += 1;
        }
    }

    /// The server acknowledged the client's sequence space up to `seg.ack` (any server segment
    /// with ACK after the handshake: live, its FIN, RST and teardown ACKs are steered even when
    /// the data they acknowledge is not).
    fn note_server_ack(&self, flow: &mut Flow) {
        if self.seg.flags.has(TcpFlags::ACK) && flow.state != State::SynSent && flow.client() == Some(self.from.peer()) {
            flow.advance_rcv(self.seg.ack);
        }
    }

    /// `prev_rcv_nxt`, `ack_evidence`, `ack_window` (evidence.rs) and `prev_last_seen_ms` of a
    /// stale ACK, from what was seen of the previous connection.
    fn prev_evidence(&self, flow: &Flow, client: Side, ack: SeqNum, ev: &mut Event) {
        ev.ack_evidence = Some(AckEvidence::Unknown);
        if flow.prev & pv::VALID == 0 {
            return;
        }
        let p = PrevRcv { rcv: flow.prev_rcv(), sent: flow.known_nxt(client), sent_final: flow.prev & pv::CFIN != 0 };
        let v = judge(ack, p);
        ev.prev_rcv_nxt = v.prev_rcv_nxt;
        ev.ack_evidence = Some(v.evidence);
        ev.ack_window = v.window;
        if ev.prev_state == Some(PrevState::Open) {
            ev.prev_last_seen_ms = flow.prev_seen_ms().map(|t| self.now_ms.wrapping_sub(t));
        }
    }

    /// Name the cause of a stale ACK from what was seen of the previous connection.
    fn cause(&self, flow: &Flow) -> (Cause, PrevState, Option<u32>) {
        let p = flow.prev;
        if p & pv::VALID == 0 {
            return (Cause::Unknown, PrevState::None, None);
        }
        let age = self.now_ms.wrapping_sub(flow.last_ms);
        let closed_age = (p & pv::CLOSED != 0).then_some(age);
        let (sfin, cfin) = (p & pv::SFIN != 0, p & pv::CFIN != 0);
        match (sfin, cfin) {
            (true, true) if p & pv::SFIN_FIRST != 0 => {
                // The server closed first: it is in TIME_WAIT for TCP_TIMEWAIT_LEN (60 s).
                let cause = if age < self.cfg.time_wait_ms { Cause::TimeWait } else { Cause::LingeringClose };
                (cause, PrevState::ClosedByServerFirst, closed_age)
            }
            // The client closed first: the server went CLOSE_WAIT → LAST_ACK → CLOSED. An old
            // ACK from it means LAST_ACK lingers (the client's last ACK was lost).
            (true, true) => (Cause::LingeringClose, PrevState::ClosedByClientFirst, closed_age),
            (true, false) => (Cause::LingeringClose, PrevState::HalfClosedByServer, Some(age)),
            (false, true) => (Cause::LingeringClose, PrevState::HalfClosedByClient, Some(age)),
            (false, false) if p & pv::RST != 0 => (Cause::LingeringEstablished, PrevState::Reset, closed_age),
            (false, false) if p & pv::OPEN != 0 => (Cause::LingeringEstablished, PrevState::Open, None),
            (false, false) => (Cause::Unknown, PrevState::AttemptOnly, None),
        }
    }

    /// In handshake or teardown the other side's sequence horizon is known exactly: its ISN+1
    /// (plus SYN-ACK payload) before the handshake completes, its FIN+1 after its FIN. An ack
    /// beyond it acknowledges something never seen (Wireshark's "ACKed unseen segment").
    /// Not once the connection is closed (both FINs or RST): a segment then belongs to a new
    /// connection whose handshake the capture missed.
    fn check_acked_unseen(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        let other = self.from.peer();
        if flow.state == State::Closed {
            return;
        }
        let in_handshake = flow.state == State::SynRcvd && flow.client() == Some(self.from);
        let other_finished = flow.has(fl::fin(other.idx()));
        if !(in_handshake || other_finished) {
            return;
        }
        let Some(horizon) = flow.known_nxt(other) else { return };
        if !seg.ack.after(horizon) {
            return;
        }
        flow.flags |= fl::UNSEEN_REPORTED;
        let mut ev = self.flow_event(EventKind::AckedUnseen, flow);
        if flow.client().is_some() {
            ev.syn_seq = Some(flow.isn);
        }
        ev.ack = Some(seg.ack);
        ev.expected_ack = Some(horizon);
        self.emit(&ev);
    }

    /// End the attempt's pending outcome. A candidate ends silently (counted); a `failed`
    /// verdict already reported is revised only by a connection after all.
    fn resolve_pending(&mut self, flow: &mut Flow, outcome: Outcome, recovery_us: Option<u64>) {
        if !flow.has(fl::STALE) {
            return;
        }
        flow.flags &= !fl::STALE;
        if let Some(p) = self.pending.remove(&self.fp) {
            match p.phase {
                Phase::Candidate => self.counters.stale_ack_unconfirmed += 1,
                Phase::Confirmed => emit_outcome(self.counters, self.out, p, outcome, self.now_ns, self.seg.frame, recovery_us),
                Phase::Failed => {
                    if matches!(outcome, Outcome::Recovered | Outcome::ConnectedUnseen) {
                        emit_outcome(self.counters, self.out, p, outcome, self.now_ns, self.seg.frame, recovery_us);
                    }
                }
            }
        }
    }
}

#[path = "onedir.rs"]
mod onedir;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
