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
//! seq, and the attempt's outcome follows from the retries as for a seen stale ACK.
//!
//! Visibility: a flow is called `client_only` when the inference rests on client segments only
//! and nothing of the server was seen in the previous connection either (no server timestamp,
//! no server FIN: [`pv::SERVER_SEEN`]); then at least the three client segments of rule 1–3
//! plus the whole tracked previous connection were one-sided. Otherwise it is `both` (the
//! server's ACK was lost by the capture). Flows start unknown; events from seen stale ACKs
//! leave the field out.
//!
//! State: a small side table of client RSTs awaiting their retry (only SYN-SENT flows whose
//! client sent a RST without ACK, rare in ordinary traffic), bounded by [`MAX_RST`]; the flow
//! entry itself keeps its size (one spare bit of `Flow::prev`).

use super::*;
use crate::detect::event::{InferredFrom, Visibility};

/// How long after its RST the client's same-ISN SYN still counts as the retry that confirms an
/// unacceptable ACK. Linux retries at once (`TCP_TIMEOUT_MIN`) after such a RST, else at its
/// SYN RTO (1 s, then 2 s): 3 s covers both; a later SYN is no evidence.
pub(super) const RETRY_WINDOW_NS: u64 = 3_000_000_000;

/// Cap on client RSTs awaiting their retry; beyond it the table is cleared (counted).
pub(super) const MAX_RST: usize = 65_536;

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
}

impl OneDir {
    /// Entries held.
    #[allow(dead_code)]
    pub(super) fn len(&self) -> usize {
        self.rst.len()
    }
}

impl<S: EventSink> Ctx<'_, S> {
    /// Hook (`on_rst`, SYN-SENT, from the client, no ACK bit, no stale ACK seen): remember the
    /// RST if its seq is not explained by the client's own attempt (rule 2).
    pub(super) fn onedir_client_rst(&mut self, flow: &Flow, client: Side) {
        let seq = self.seg.seq;
        if !seq.before(flow.isn) && !seq.after(flow.syn_end(client)) {
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
        let server_seen = flow.prev & pv::SERVER_SEEN != 0;
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
        ev.prev_rcv_nxt = old_rcv;
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

#[cfg(test)]
#[path = "onedir_tests.rs"]
mod tests;
