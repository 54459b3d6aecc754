//! One-direction visibility (DESIGN §6, issue 12): a stale ACK inferred from the one direction
//! a DSR load balancer or one TAP output carries.
//!
//! Client → server only: the stale ACK itself goes the other way, but the client's reaction
//! does not. RFC 9293 §3.10.7.3 (SYN-SENT): an unacceptable ACK is answered with
//! `<SEQ=SEG.ACK><CTL=RST>` (no ACK bit) and the client stays in SYN-SENT, so it sends the same
//! SYN again (Linux re-arms its SYN timer at `TCP_TIMEOUT_MIN` for that). The rule:
//!
//! 1. SYN with ISN i (the attempt), no STALE, no wrong SYN-ACK seen for it;
//! 2. a RST from the client without ACK whose seq lies outside everything the client sent in
//!    this attempt (`i ..= i + 1 + SYN payload`): not an abort of its own attempt;
//! 3. the same SYN (ISN i) again within [`RETRY_WINDOW_NS`] of the RST;
//! 4. if the 4-tuple's previous connection was tracked, the RST's seq must lie in its client
//!    sequence space: at or beyond the client's last seen sequence end (the server's old
//!    receive point; equal to it when the capture holds all of the client's segments, beyond
//!    it when the capture missed some of its data); otherwise no event.
//!
//! Only then a `stale_ack` is reported, with `inferred_from: "client_rst"`, `ack` = the RST's
//! seq (judged against the previous connection by evidence.rs like a seen ack), and the
//! attempt's outcome follows from the retries as for a seen stale ACK.
//!
//! Visibility: a flow is called `client_only` when the inference rests on client segments only
//! and nothing of the server was seen in the previous connection either (no server timestamp,
//! no server FIN: [`fl::PREV_SERVER_SEEN`]); then at least the three client segments of rule 1–3
//! plus the whole tracked previous connection were one-sided. Otherwise it is `both` (the
//! server's ACK was lost by the capture). Flows start unknown; events from seen stale ACKs
//! leave the field out.
//!
//! Server → client only (the return path, the other TAP output): the stale ACK itself is
//! visible, the SYN it answers is not. RFC 9293 §3.10.7.4 (and §3.10.7.3 for TIME-WAIT): a
//! connection that receives an unacceptable segment (the new SYN, out of its window) answers
//! `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`; RFC 5961 §4 makes the same challenge ACK the answer
//! to any SYN in a synchronized state. The client resets it (`<SEQ=SEG.ACK><CTL=RST>`, not
//! visible), the old socket goes, and the client's retry is answered with a SYN-ACK whose ack
//! reveals the new ISN (ack − 1). The rule, on a flow whose roles come from a SYN-ACK and on
//! which nothing from the client side was ever seen (`fl::CLIENT_SEEN` clear):
//!
//! 5. a bare ACK from the server (ACK only, no payload) that repeats its whole state: seq = the
//!    server's sequence end seen (SND.NXT) and ack = the highest ack it sent (RCV.NXT), on a
//!    connection the server had ended (its FIN seen, no RST) or that was idle for at least
//!    [`IDLE_MS`] (a keepalive probe has seq = SND.NXT − 1 and does not match);
//! 6. then, within [`SERVER_RETRY_WINDOW_NS`], a SYN-ACK from the server that starts a new connection
//!    (its ack is not the previous connection's ISN + 1; a new ISN inside the old client space
//!    is what makes a TIME_WAIT socket answer with a stale ACK, so that is allowed) and for
//!    whose SYN the bare ACK's ack is unacceptable (RFC 9293 §3.10.7.3: `SEG.ACK =< ISS`
//!    or `SEG.ACK > SND.NXT`), with no other server segment between them — not even the same
//!    bare ACK again (then the old state outlived the client's RST, or the client took the ACK
//!    as acceptable and sent none, and the SYN-ACK may answer another attempt).
//!
//! Then a `stale_ack` with `inferred_from: "server_ack"`, `visibility: "server_only"`, the
//! bare ACK's time, frame and ack, `syn_seq` = the SYN-ACK's ack − 1, and at once its outcome
//! `recovered` (the SYN-ACK is the answer to the client's retry; recovery timed from the bare
//! ACK). A bare ACK that no SYN-ACK follows is no evidence (a duplicate ACK): no event, so this
//! side reports no `failed` outcomes. The cause from what the server's half shows: its FIN and
//! then an ack of more (the client's FIN) → the server closed first: `time_wait` while younger
//! than TIME_WAIT, else `lingering_close`; its FIN only → `lingering_close`
//! (`half_closed_by_server`); no FIN → `lingering_established` (`open`, with
//! `prev_last_seen_ms`). Known limit: a client that retransmits its last FIN (the server's ACK
//! was lost on the way back) gets a duplicate ACK from the server's TIME_WAIT that looks the
//! same; only a reuse of the same port within [`SERVER_RETRY_WINDOW_NS`] after it would then be
//! reported. TCP timestamps would tell them apart (that duplicate's TSecr is the retransmitted
//! FIN's TSval) but the Flow has no room for the server's last TSecr.
//!
//! State: a small side table of client RSTs awaiting their retry (only SYN-SENT flows whose
//! client sent a RST without ACK, rare in ordinary traffic), bounded by [`MAX_RST`]; the flow
//! entry itself keeps its size (one spare bit of `Flow::flags`). Likewise a side table of server
//! bare ACKs awaiting their SYN-ACK (only server-only flows that ended or idled), bounded by
//! [`MAX_SERVER_ACK`]; `fl::SERVER_ACK_CAND` marks the flows that have an entry, so no other
//! segment looks it up.

use super::*;
use crate::detect::event::{InferredFrom, Visibility};

/// How long after its RST the client's same-ISN SYN still counts as the retry that confirms an
/// unacceptable ACK. Linux retries at once (`TCP_TIMEOUT_MIN`) after such a RST, else at its
/// SYN RTO (1 s, then 2 s): 3 s covers both; a later SYN is no evidence.
pub(super) const RETRY_WINDOW_NS: u64 = 3_000_000_000;

/// Cap on client RSTs awaiting their retry; beyond it the table is cleared (counted).
pub(super) const MAX_RST: usize = 65_536;

/// Rule 6: how soon after the server's bare ACK its SYN-ACK must come. Only a single bare ACK
/// counts, i.e. one that answered the attempt's first SYN (a retransmitted SYN would have got
/// one before), and after that Linux re-arms its SYN timer at `TCP_TIMEOUT_MIN` (2 jiffies,
/// at most 20 ms) when it resets the unacceptable ACK; 200 ms allows for the round trip. A
/// later SYN-ACK may answer another attempt (a client that gave up, new ISN), which the
/// server's half cannot tell apart: no evidence (lb.sh captures have such cases at ~1 s).
pub(super) const SERVER_RETRY_WINDOW_NS: u64 = 200_000_000;

/// Cap on server bare ACKs awaiting their SYN-ACK; pruned like [`MAX_RST`].
pub(super) const MAX_SERVER_ACK: usize = 65_536;

/// How long a connection that did not end must have been silent before a repeat of its last
/// ACK counts as an answer to something unseen (rule 5): at least the longest delay an ACK may
/// have (RFC 9293 §3.8.6.3: delayed ACKs "MUST be less than 0.5 seconds"), which rules out
/// the ordinary duplicate ACKs of loss recovery, sent within an RTT of the segments they answer.
pub(super) const IDLE_MS: u32 = 500;

/// A server's bare ACK awaiting its SYN-ACK (rule 5), with what the server's half showed of
/// the previous connection then.
#[derive(Clone, Copy, Debug)]
pub(super) struct ServerAck {
    ack: SeqNum,
    ns: u64,
    frame: u64,
    cause: Cause,
    prev_state: PrevState,
    /// Ms from the previous connection's last activity to the bare ACK.
    age_ms: u32,
}

/// A client RST answering something the capture did not hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientRst {
    isn: SeqNum,
    seq: SeqNum,
    ns: u64,
    frame: u64,
}

/// Side state of the one-direction rules.
#[derive(Default)]
pub(super) struct OneDir {
    rst: HashMap<u64, ClientRst>,
    sack: HashMap<u64, ServerAck>,
}

impl OneDir {
    /// Entries held.
    #[allow(dead_code)]
    pub(super) fn len(&self) -> usize {
        self.rst.len() + self.sack.len()
    }
}

impl<S: EventSink> Ctx<'_, S> {
    /// Hook (`on_rst`, SYN-SENT, from the client, no ACK bit, no stale ACK seen): remember the
    /// RST if its seq is not explained by the client's own attempt (rule 2).
    pub(super) fn onedir_client_rst(&mut self, flow: &Flow) {
        let seq = self.seg.seq;
        if !seq.before(flow.isn) && !seq.after(flow.syn_end()) {
            return;
        }
        if self.onedir.rst.len() >= MAX_RST {
            // Full: drop the RSTs whose retry window has passed (they can confirm nothing),
            // and everything if that is not enough.
            let now = self.now_ns;
            let before = self.onedir.rst.len();
            self.onedir.rst.retain(|_, r| now.saturating_sub(r.ns) <= RETRY_WINDOW_NS);
            if self.onedir.rst.len() >= MAX_RST {
                self.onedir.rst.clear();
            }
            self.counters.onedir_unconfirmed += (before - self.onedir.rst.len()) as u64;
        }
        let r = ClientRst { isn: flow.isn, seq, ns: self.now_ns, frame: self.seg.frame };
        if self.onedir.rst.insert(self.fp, r).is_some() {
            self.counters.onedir_unconfirmed += 1;
        }
    }

    /// Hook (`on_syn`, a retransmission of the attempt's SYN in SYN-SENT, no stale ACK seen):
    /// rules 3 and 4; report the inferred stale ACK and keep its outcome pending.
    pub(super) fn onedir_client_retry(&mut self, flow: &mut Flow, client: Side) {
        let Some(r) = self.onedir.rst.remove(&self.fp) else { return };
        if r.isn != flow.isn || self.now_ns.saturating_sub(r.ns) > RETRY_WINDOW_NS || flow.has(fl::WRONG_SYNACK) {
            self.counters.onedir_unconfirmed += 1;
            return;
        }
        let prev_seen = flow.prev & pv::VALID != 0;
        let old_rcv = if prev_seen { flow.known_nxt(client) } else { None };
        if prev_seen && !old_rcv.is_some_and(|o| !r.seq.before(o)) {
            // The previous connection was tracked but the RST does not point into its
            // sequence space (at or beyond the client's last seen sequence end: the server
            // may have received more than the capture holds): no evidence that the unseen
            // segment was an ACK of it.
            self.counters.onedir_unconfirmed += 1;
            return;
        }
        if let Some(orphan) = self.pending.remove(&self.fp) {
            match orphan.phase {
                Phase::Confirmed => emit_outcome(self.counters, self.out, orphan, Outcome::Failed, self.now_ns, self.seg.frame, None),
                Phase::Candidate => self.counters.stale_ack_unconfirmed += 1,
                Phase::Failed => {}
            }
        }
        let server_seen = flow.has(fl::PREV_SERVER_SEEN);
        let (cause, prev_state, age) = self.onedir_cause(flow, server_seen);
        let expected = flow.isn.add(1);
        let mut ev = self.flow_event(EventKind::StaleAck, flow);
        // The event is the RST's: the evidence that the unseen ACK arrived.
        ev.ts_ns = r.ns;
        ev.frame = r.frame;
        ev.syn_seq = Some(flow.isn);
        ev.ack = Some(r.seq);
        ev.expected_ack = Some(expected);
        ev.cause = Some(cause);
        ev.prev_state = Some(prev_state);
        ev.prev_close_age_ms = age;
        // The unseen ACK's ack is the RST's seq (RFC 9293 §3.10.7.3): judged like a seen one, so
        // `ack_matches_prev` is never a `false` the segments do not prove (live, the client's
        // data and a server ACK of it may not have been steered). With nothing of the server's
        // receive point seen, the client's last sequence end is the point it was compared with.
        self.prev_evidence(flow, client, r.seq, &mut ev);
        ev.prev_rcv_nxt = ev.prev_rcv_nxt.or(old_rcv);
        ev.visibility = Some(if server_seen { Visibility::Both } else { Visibility::ClientOnly });
        ev.inferred_from = Some(InferredFrom::ClientRst);
        self.emit(&ev);
        flow.flags |= fl::STALE;
        let since_syn_ns = u64::from(self.now_us.wrapping_sub(flow.syn_us)) * 1000;
        let syn_ns = self.now_ns.saturating_sub(since_syn_ns);
        // The SYN the unseen ACK answered: the latest before the RST.
        let stale_syn_ns = syn_ns.min(r.ns);
        *self.generation += 1;
        let deadline_ns = stale_syn_ns.saturating_add(u64::from(self.cfg.connect_timeout_ms) * 1_000_000);
        let mut pev = ev;
        pev.stale_acks = 1;
        pev.rst_ignored = Some(false);
        let p = Pending {
            ev: pev,
            stale_syn_ns,
            deadline_ns,
            generation: *self.generation,
            rst_ns: r.ns,
            phase: Phase::Confirmed,
            last_frame: r.frame,
            connected: (0, 0),
        };
        self.pending.insert(self.fp, p);
        self.deadlines.push_back((deadline_ns, self.fp, *self.generation));
    }

    /// The cause from what was visible of the previous connection. With the server's half
    /// visible it is the two-direction rule. With only the client's half, the server's FIN
    /// cannot be seen: a previous connection the client closed (FIN) and whose end the RST
    /// names (the server received that FIN and still answered with its old ACK) is held in
    /// TIME_WAIT when it is younger than TIME_WAIT — the state that holds a 4-tuple that long
    /// after the client's FIN is the server's TIME_WAIT (LAST_ACK ends one RTT after the
    /// client's last ACK) — else `lingering_close`.
    fn onedir_cause(&self, flow: &Flow, server_seen: bool) -> (Cause, PrevState, Option<u32>) {
        let p = flow.prev;
        if server_seen || p & pv::VALID == 0 || p & pv::CFIN == 0 || p & pv::SFIN != 0 {
            return self.cause(flow);
        }
        let age = self.now_ms.wrapping_sub(flow.last_ms);
        let cause = if age < self.cfg.time_wait_ms { Cause::TimeWait } else { Cause::LingeringClose };
        (cause, PrevState::HalfClosedByClient, Some(age))
    }
}

/// Hook (`on_syn`, port reuse): was the server's direction visible in the previous connection?
#[inline]
pub(super) fn server_seen(flow: &Flow, server: Side) -> bool {
    flow.state != State::SynSent && (flow.has(fl::ts(server.idx())) || flow.has(fl::fin(server.idx())))
}

impl<S: EventSink> Ctx<'_, S> {
    /// Hook (`on_segment`, SYN-SENT, the client acknowledges: it connected): an inferred
    /// `client_only` stale ACK recovered. With only the client's direction no SYN-ACK can be
    /// seen, so the client's ACK is the handshake's completion: `recovered`, timed to it.
    /// Returns whether it resolved the attempt.
    pub(super) fn onedir_client_connected(&mut self, flow: &mut Flow) -> bool {
        let Some(p) = self.pending.get(&self.fp) else { return false };
        if p.phase == Phase::Candidate || p.ev.visibility != Some(Visibility::ClientOnly) {
            return false;
        }
        let recovery = self.now_ns.saturating_sub(p.stale_syn_ns) / 1000;
        self.resolve_pending(flow, Outcome::Recovered, Some(recovery));
        true
    }
}

impl<S: EventSink> Ctx<'_, S> {
    /// Hook (`existing`, every segment of a tracked flow, before its transition): what is
    /// visible of the flow (`fl::CLIENT_SEEN`), and the server → client rule (5, 6).
    #[inline]
    pub(super) fn onedir_note(&mut self, flow: &mut Flow) {
        let Some(client) = flow.client() else { return };
        if self.from == client {
            flow.flags |= fl::CLIENT_SEEN;
            if flow.has(fl::SERVER_ACK_CAND) {
                self.onedir_drop_server_ack(flow); // the client is visible after all
            }
            return;
        }
        if !flow.has(fl::ROLES_SYNACK) || flow.has(fl::CLIENT_SEEN) {
            return; // not a server-only flow: the two-direction rules decide
        }
        self.onedir_server_segment(flow);
    }

    /// A server segment of a server-only flow.
    #[cold]
    fn onedir_server_segment(&mut self, flow: &mut Flow) {
        let seg = self.seg;
        let f = seg.flags;
        let server = self.from;
        let (syn, fin, rst, ack) = (f.has(TcpFlags::SYN), f.has(TcpFlags::FIN), f.has(TcpFlags::RST), f.has(TcpFlags::ACK));
        let bare = ack && !syn && !fin && !rst && seg.payload_len == 0;
        if flow.has(fl::SERVER_ACK_CAND) {
            if syn && ack && !rst {
                return self.onedir_server_synack(flow);
            }
            // Anything else from the server between the bare ACK and a SYN-ACK: the old
            // connection is still talking, no evidence. The same bare ACK again: the old state
            // answered a second SYN, so the client's RST did not free it (tcp_rfc1337=1, or the
            // ack was acceptable to the client, which then sends no RST), and a later SYN-ACK
            // may answer another attempt: no evidence either, for the rest of this connection.
            let same = bare && self.onedir.sack.get(&self.fp).is_some_and(|c| c.ack == seg.ack) && flow.known_nxt(server) == Some(seg.seq);
            if same {
                flow.flags |= fl::SERVER_ACK_REPEATED;
            }
            self.onedir_drop_server_ack(flow);
            return;
        }
        // The server acked more after its FIN: the client's FIN (or data after the server's
        // FIN). Noted before `note_server_ack` moves `rcv`.
        if ack && !syn && !fin && flow.has(fl::fin(server.idx())) && flow.known_rcv().is_some_and(|r| seg.ack.after(r)) {
            flow.flags |= fl::ACK_AFTER_SFIN;
        }
        if !bare || flow.has(fl::RST) || flow.has(fl::STALE) || flow.has(fl::SERVER_ACK_REPEATED) {
            return;
        }
        // Rule 5: the whole state repeated, <SEQ=SND.NXT><ACK=RCV.NXT>.
        if flow.known_nxt(server) != Some(seg.seq) || flow.known_rcv() != Some(seg.ack) {
            return;
        }
        let age = self.now_ms.wrapping_sub(flow.last_ms);
        let sfin = flow.has(fl::fin(server.idx()));
        if !sfin && age < IDLE_MS {
            return;
        }
        let (cause, prev_state) = if sfin && flow.has(fl::ACK_AFTER_SFIN) {
            // Both FINs, the server's first: it is in TIME_WAIT for TCP_TIMEWAIT_LEN.
            let c = if age < self.cfg.time_wait_ms { Cause::TimeWait } else { Cause::LingeringClose };
            (c, PrevState::ClosedByServerFirst)
        } else if sfin {
            (Cause::LingeringClose, PrevState::HalfClosedByServer)
        } else {
            (Cause::LingeringEstablished, PrevState::Open)
        };
        if self.onedir.sack.len() >= MAX_SERVER_ACK {
            let now = self.now_ns;
            let before = self.onedir.sack.len();
            self.onedir.sack.retain(|_, c| now.saturating_sub(c.ns) <= SERVER_RETRY_WINDOW_NS);
            if self.onedir.sack.len() >= MAX_SERVER_ACK {
                self.onedir.sack.clear();
            }
            // The flows of dropped entries keep their bit; their lookup misses and clears it.
            self.counters.onedir_unconfirmed += (before - self.onedir.sack.len()) as u64;
        }
        let c = ServerAck { ack: seg.ack, ns: self.now_ns, frame: seg.frame, cause, prev_state, age_ms: age };
        self.onedir.sack.insert(self.fp, c);
        flow.flags |= fl::SERVER_ACK_CAND;
    }

    fn onedir_drop_server_ack(&mut self, flow: &mut Flow) {
        flow.flags &= !fl::SERVER_ACK_CAND;
        if self.onedir.sack.remove(&self.fp).is_some() {
            self.counters.onedir_unconfirmed += 1;
        }
    }

    /// Rule 6: the SYN-ACK after a server-only flow's bare ACK. Runs before `on_synack`, which
    /// then starts tracking the new connection from it (`restart_from_synack`).
    fn onedir_server_synack(&mut self, flow: &mut Flow) {
        flow.flags &= !fl::SERVER_ACK_CAND;
        let Some(c) = self.onedir.sack.remove(&self.fp) else { return };
        let seg = self.seg;
        let new_isn = seg.ack.add(u32::MAX); // ack − 1
        // Not the previous connection's own SYN-ACK again (ack = its ISN + 1). A new ISN inside
        // the old client space is expected: a TIME_WAIT socket answers with a stale ACK exactly
        // when the new ISN is not above its RCV.NXT (and no newer timestamp).
        let old = seg.ack == flow.isn.add(1);
        // RFC 9293 §3.10.7.3: acceptable for the new SYN is ISS < SEG.ACK =< SND.NXT.
        let acceptable = c.ack.after(new_isn) && !c.ack.after(seg.ack);
        if old || acceptable || self.now_ns.saturating_sub(c.ns) > SERVER_RETRY_WINDOW_NS {
            self.counters.onedir_unconfirmed += 1;
            return;
        }
        let mut ev = self.flow_event(EventKind::StaleAck, flow);
        ev.ts_ns = c.ns;
        ev.frame = c.frame;
        ev.syn_seq = Some(new_isn);
        ev.ack = Some(c.ack);
        ev.expected_ack = Some(seg.ack);
        ev.cause = Some(c.cause);
        ev.prev_state = Some(c.prev_state);
        if c.prev_state == PrevState::Open {
            ev.prev_last_seen_ms = Some(c.age_ms);
        } else {
            ev.prev_close_age_ms = Some(c.age_ms);
        }
        // The ack repeats the server's own last ack: the receive point the segments show.
        let v = judge(c.ack, PrevRcv { rcv: flow.known_rcv(), sent: None, sent_final: false });
        ev.prev_rcv_nxt = v.prev_rcv_nxt;
        ev.ack_evidence = Some(v.evidence);
        ev.ack_window = v.window;
        ev.visibility = Some(Visibility::ServerOnly);
        ev.inferred_from = Some(InferredFrom::ServerAck);
        self.emit(&ev);
        // At once its outcome: the SYN-ACK answers the client's retry, it connects (the server
        // half cannot show the client's ACK). Recovery timed from the bare ACK, which answered
        // the stale SYN. The client's RST is in the direction not seen: `client_rst` unknown.
        let mut o = ev;
        o.kind = EventKind::StaleAckOutcome;
        o.ts_ns = self.now_ns;
        o.frame = seg.frame;
        o.last_frame = seg.frame;
        o.outcome = Some(Outcome::Recovered);
        o.recovery_us = Some(self.now_ns.saturating_sub(c.ns) / 1000);
        o.stale_acks = 1;
        o.client_rst = None;
        o.rst_ignored = Some(false);
        self.counters.outcomes[Outcome::Recovered as usize] += 1;
        self.emit(&o);
    }
}

#[cfg(test)]
#[path = "onedir_tests.rs"]
mod tests;
