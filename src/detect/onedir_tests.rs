//! Unit tests of the one-direction rules (onedir.rs), one per rule.

use crate::detect::{Cause, Config, Event, EventKind, InferredFrom, Outcome, Shard, Visibility};
use crate::flow::KeySeed;
use crate::packet::build::{TcpSpec, F};
use crate::packet::{parse_frame, LinkType, Parsed, Segment};

const MS: u64 = 1_000_000;
const ISN1: u32 = u32::MAX - 50;
const S_ISN: u32 = 9_000;

struct Sim {
    shard: Shard,
    events: Vec<Event>,
    t: u64,
    frame: u64,
}

impl Sim {
    fn new() -> Sim {
        Sim { shard: Shard::new(Config::default(), KeySeed::fixed(3)), events: Vec::new(), t: 1_700_000_000_000 * MS, frame: 0 }
    }
    fn seg(&mut self, from_client: bool, seq: u32, ack: u32, flags: u8, payload: usize) {
        let (c, s) = ("10.2.0.1:41000".parse().unwrap(), "10.2.0.2:80".parse().unwrap());
        let (a, b) = if from_client { (c, s) } else { (s, c) };
        let mut spec = TcpSpec::new(a, b, seq, ack, flags);
        spec.payload = payload;
        self.frame += 1;
        let seg: Segment = match parse_frame(LinkType::Ethernet, &spec.ethernet(), self.t, self.frame).unwrap() {
            Parsed::Tcp(s) => s,
            _ => unreachable!(),
        };
        self.shard.process(&seg, &mut self.events);
    }
    fn c(&mut self, seq: u32, ack: u32, flags: u8) {
        self.seg(true, seq, ack, flags, 0)
    }
    fn wait(&mut self, ms: u64) {
        self.t += ms * MS;
    }
    /// The client's half of a connection with `up` bytes that the client closes (FIN) after
    /// the server's FIN; returns the client's sequence end (the server's receive point).
    fn client_half(&mut self, isn: u32, up: u32, server_seen: bool) -> u32 {
        let c1 = isn.wrapping_add(1);
        self.c(isn, 0, F::SYN);
        if server_seen {
            self.seg(false, S_ISN, c1, F::SYN | F::ACK, 0);
        }
        self.c(c1, S_ISN + 1, F::ACK);
        self.seg(true, c1, S_ISN + 1, F::ACK | F::PSH, up as usize);
        let end = c1.wrapping_add(up);
        if server_seen {
            self.seg(false, S_ISN + 1, end, F::FIN | F::ACK, 0);
        }
        self.c(end, S_ISN + 2, F::ACK);
        self.c(end, S_ISN + 2, F::FIN | F::ACK);
        end.wrapping_add(1)
    }
    fn kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

#[test]
fn client_rst_then_same_syn_is_an_inferred_stale_ack_that_recovers_at_the_clients_ack() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 1000, false);
    s.wait(500);
    let isn2 = ISN1.wrapping_sub(1_000_000);
    s.c(isn2, 0, F::SYN);
    s.c(end, 0, F::RST);
    s.wait(1);
    s.c(isn2, 0, F::SYN);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck]);
    let e = s.events[0];
    assert_eq!(e.inferred_from, Some(InferredFrom::ClientRst));
    assert_eq!(e.visibility, Some(Visibility::ClientOnly));
    assert_eq!(e.cause, Some(Cause::TimeWait));
    assert_eq!(e.ack.map(|a| a.0), Some(end));
    assert_eq!(e.ack, e.prev_rcv_nxt);
    assert_eq!(e.syn_seq.map(|a| a.0), Some(isn2));
    s.wait(1);
    s.c(isn2.wrapping_add(1), 5, F::ACK);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    let o = s.events[1];
    assert_eq!(o.outcome, Some(Outcome::Recovered));
    assert_eq!(o.client_rst, Some(true));
    assert_eq!(o.syn_retries, 1);
    assert_eq!(o.visibility, Some(Visibility::ClientOnly));
    assert_eq!(o.recovery_us, Some(2000));
}

#[test]
fn a_client_rst_without_the_same_isn_retry_is_no_evidence() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 10, false);
    s.wait(500);
    s.c(7, 0, F::SYN);
    s.c(end, 0, F::RST);
    s.wait(1);
    s.c(99, 0, F::SYN); // a new ISN: the client gave up, not the retry
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_rst_inside_the_attempts_own_sequence_space_is_no_evidence() {
    let mut s = Sim::new();
    s.c(500, 0, F::SYN);
    s.c(501, 0, F::RST); // seq i+1: an abort of its own attempt
    s.c(500, 0, F::SYN);
    s.c(500, 0, F::RST); // seq i
    s.c(500, 0, F::SYN);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_retry_outside_the_window_is_no_evidence() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 10, false);
    s.wait(500);
    s.c(7, 0, F::SYN);
    s.c(end, 0, F::RST);
    s.wait(3_001);
    s.c(7, 0, F::SYN);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_rst_below_the_previous_connections_end_is_no_evidence() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 1000, false);
    s.wait(500);
    s.c(7, 0, F::SYN);
    s.c(end.wrapping_sub(10), 0, F::RST);
    s.c(7, 0, F::SYN);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_rst_with_ack_is_no_evidence() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 10, false);
    s.wait(500);
    s.c(7, 0, F::SYN);
    s.c(end, 5, F::RST | F::ACK);
    s.c(7, 0, F::SYN);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn a_lost_stale_ack_with_the_server_visible_says_both() {
    let mut s = Sim::new();
    let end = s.client_half(ISN1, 10, true);
    s.wait(500);
    let isn2 = ISN1.wrapping_sub(1_000_000);
    s.c(isn2, 0, F::SYN);
    let n = s.events.len(); // reuse_in_time_wait: the server's FIN came first
    s.c(end, 0, F::RST);
    s.c(isn2, 0, F::SYN);
    let e = s.events[n];
    assert_eq!(e.kind, EventKind::StaleAck);
    assert_eq!(e.visibility, Some(Visibility::Both));
    assert_eq!(e.inferred_from, Some(InferredFrom::ClientRst));
    // Both FINs seen, the server's first: the two-direction cause.
    assert_eq!(e.cause, Some(Cause::TimeWait));
}

/// Live host mode (tests/live/lb.sh): the previous connection's request data and the
/// server's challenge ACK were not steered, only the client's RST <SEQ=the unseen ACK's ack>.
/// The RST's seq lies after everything seen of the old client sequence space: the unseen data
/// may explain it, so `ack_matches_prev` is not `false` (evidence.rs: never a `false` that the
/// segments do not prove).
#[test]
fn an_inferred_stale_ack_after_unseen_data_is_within_the_window_not_a_mismatch() {
    let mut s = Sim::new();
    let c1 = ISN1.wrapping_add(1);
    s.c(ISN1, 0, F::SYN);
    s.seg(false, S_ISN, c1, F::SYN | F::ACK, 0);
    s.c(c1, S_ISN + 1, F::ACK);
    // 1 000 bytes of request data, not steered; the connection lingers ESTABLISHED.
    let unseen_end = c1.wrapping_add(1000);
    s.wait(500);
    let isn2 = ISN1.wrapping_add(3_000_000);
    s.c(isn2, 0, F::SYN);
    s.c(unseen_end, 0, F::RST);
    s.c(isn2, 0, F::SYN);
    let e = s.events.iter().find(|e| e.kind == EventKind::StaleAck).copied().expect("inferred stale ACK");
    assert_eq!(e.inferred_from, Some(InferredFrom::ClientRst));
    assert_eq!(e.cause, Some(Cause::LingeringEstablished));
    assert_eq!(e.ack.map(|a| a.0), Some(unseen_end));
    assert_eq!(e.ack_evidence, Some(crate::detect::AckEvidence::WithinWindow));
    assert_eq!(e.ack_window, Some(crate::detect::evidence::ACK_WINDOW));
    assert_eq!(e.prev_rcv_nxt.map(|a| a.0), Some(c1), "the server's last ack seen");
    assert_eq!(e.ack_matches_prev(), None);
}

#[test]
fn without_history_the_cause_is_unknown_and_the_attempt_fails_at_the_timeout() {
    let mut s = Sim::new();
    s.c(1000, 0, F::SYN);
    s.c(123_456, 0, F::RST);
    s.c(1000, 0, F::SYN);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck]);
    assert_eq!(s.events[0].cause, Some(Cause::Unknown));
    assert_eq!(s.events[0].visibility, Some(Visibility::ClientOnly));
    s.wait(11_000);
    s.c(5000, 0, F::SYN); // another 4-tuple's clock? same tuple, new ISN: gives up
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    assert_eq!(s.events[1].outcome, Some(Outcome::Failed));
}

// ---- Server → client only (rules 5, 6) ----------------------------------------------------

const C_ISN: u32 = u32::MAX - 20; // the client's sequence space wraps during the connection

impl Sim {
    fn s(&mut self, seq: u32, ack: u32, flags: u8) {
        self.seg(false, seq, ack, flags, 0)
    }
    /// The server's half of a connection: SYN-ACK, `down` bytes acking `up` bytes of the
    /// client's, then (with `fin`) its FIN and the ACK of the client's FIN. Returns the
    /// server's (seq, ack) after it: the SND.NXT and RCV.NXT a stale ACK repeats.
    fn server_half(&mut self, up: u32, down: usize, fin: bool) -> (u32, u32) {
        let c1 = C_ISN.wrapping_add(1);
        self.s(S_ISN, c1, F::SYN | F::ACK);
        let rcv = c1.wrapping_add(up);
        self.seg(false, S_ISN + 1, rcv, F::ACK | F::PSH, down);
        let nxt = S_ISN + 1 + down as u32;
        if !fin {
            return (nxt, rcv);
        }
        self.s(nxt, rcv, F::FIN | F::ACK);
        self.s(nxt + 1, rcv.wrapping_add(1), F::ACK); // the client's FIN acknowledged
        (nxt + 1, rcv.wrapping_add(1))
    }
}

const ISN2: u32 = 77_000;
const S_ISN2: u32 = 5_000_000;

#[test]
fn server_bare_ack_after_its_close_then_synack_is_an_inferred_time_wait_stale_ack() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(1000, 300, true);
    s.wait(800);
    s.s(nxt, rcv, F::ACK); // the stale ACK (answering an unseen SYN)
    s.wait(3);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK); // the retry's SYN-ACK
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    let e = s.events[0];
    assert_eq!(e.inferred_from, Some(InferredFrom::ServerAck));
    assert_eq!(e.visibility, Some(Visibility::ServerOnly));
    assert_eq!(e.cause, Some(Cause::TimeWait));
    assert_eq!(e.prev_state, Some(crate::detect::PrevState::ClosedByServerFirst));
    assert_eq!(e.prev_close_age_ms, Some(800));
    assert_eq!(e.ack.map(|a| a.0), Some(rcv));
    assert_eq!(e.prev_rcv_nxt, e.ack);
    assert_eq!(e.ack_matches_prev(), Some(true));
    assert_eq!(e.syn_seq.map(|a| a.0), Some(ISN2));
    assert_eq!(e.expected_ack.map(|a| a.0), Some(ISN2 + 1));
    assert_eq!(e.frame, 5);
    let o = s.events[1];
    assert_eq!(o.outcome, Some(Outcome::Recovered));
    assert_eq!(o.recovery_us, Some(3000));
    assert_eq!(o.client_rst, None, "the client's RST is not visible");
    assert_eq!(o.visibility, Some(Visibility::ServerOnly));
    s.shard.finish(&mut s.events);
    assert_eq!(s.events.len(), 2, "{:?}", s.kinds());
}

#[test]
fn server_fin_without_an_ack_after_it_is_a_lingering_close() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, false);
    s.s(nxt, rcv, F::FIN | F::ACK); // FIN_WAIT2: the client never closes
    s.wait(90_000);
    s.s(nxt + 1, rcv, F::ACK);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    assert_eq!(s.events[0].cause, Some(Cause::LingeringClose));
    assert_eq!(s.events[0].prev_state, Some(crate::detect::PrevState::HalfClosedByServer));
}

#[test]
fn server_challenge_ack_on_an_idle_open_connection_is_lingering_established() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, false);
    s.wait(2_000);
    s.s(nxt, rcv, F::ACK); // RFC 5961 §4 challenge ACK
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    let e = s.events[0];
    assert_eq!(e.cause, Some(Cause::LingeringEstablished));
    assert_eq!(e.prev_last_seen_ms, Some(2_000));
}

#[test]
fn a_duplicate_ack_on_a_busy_open_connection_is_no_evidence() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, false);
    s.wait(400); // shorter than IDLE_MS
    s.s(nxt, rcv, F::ACK);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.kinds());
}

#[test]
fn a_bare_ack_without_a_synack_after_it_is_no_evidence() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, true);
    s.wait(500);
    s.s(nxt, rcv, F::ACK);
    s.wait(10_000);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.kinds());
}

#[test]
fn a_synack_after_the_retry_window_is_no_evidence() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, true);
    s.wait(500);
    s.s(nxt, rcv, F::ACK);
    s.wait(201);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.kinds());
}

#[test]
fn a_keepalive_probe_or_a_moved_ack_is_no_evidence() {
    for (dseq, dack) in [(-1i32, 0i32), (0, 1), (1, 0)] {
        let mut s = Sim::new();
        let (nxt, rcv) = s.server_half(10, 10, false);
        s.wait(5_000);
        s.s(nxt.wrapping_add_signed(dseq), rcv.wrapping_add_signed(dack), F::ACK);
        s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
        s.shard.finish(&mut s.events);
        assert!(s.events.is_empty(), "{dseq} {dack}: {:?}", s.kinds());
    }
}

#[test]
fn another_server_segment_between_bare_ack_and_synack_is_no_evidence() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, false);
    s.wait(5_000);
    s.s(nxt, rcv, F::ACK);
    s.seg(false, nxt, rcv, F::ACK | F::PSH, 100); // the old connection still talks
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.kinds());
}

#[test]
fn the_old_connections_synack_again_is_no_evidence() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(1000, 10, true);
    s.wait(500);
    s.s(nxt, rcv, F::ACK);
    s.s(S_ISN, C_ISN.wrapping_add(1), F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.iter().all(|e| e.inferred_from.is_none()), "{:?}", s.kinds());
}

#[test]
fn a_new_isn_inside_the_old_client_space_is_the_time_wait_case() {
    // tw_repair: the new ISN 1000 below the old receive point, which is why TIME_WAIT
    // answered with its old ACK.
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(5000, 10, true);
    s.wait(200);
    s.s(nxt, rcv, F::ACK);
    s.wait(8);
    let isn2 = rcv.wrapping_sub(1000);
    s.s(S_ISN2, isn2.wrapping_add(1), F::SYN | F::ACK);
    assert_eq!(s.kinds(), vec![EventKind::StaleAck, EventKind::StaleAckOutcome]);
    assert_eq!(s.events[0].syn_seq.map(|a| a.0), Some(isn2));
    assert_eq!(s.events[0].cause, Some(Cause::TimeWait));
}

#[test]
fn a_bare_ack_acceptable_for_the_new_syn_is_no_evidence() {
    // ack = the new ISN + 1: that would have been the handshake's ACK, not a stale one.
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, true);
    s.wait(500);
    s.s(nxt, rcv, F::ACK);
    s.s(S_ISN2, rcv, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.iter().all(|e| e.inferred_from.is_none()), "{:?}", s.kinds());
}

#[test]
fn a_visible_client_turns_the_server_rule_off() {
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, true);
    s.c(rcv, nxt, F::ACK); // something of the client's direction is seen
    s.wait(500);
    s.s(nxt, rcv, F::ACK);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.iter().all(|e| e.inferred_from.is_none()), "{:?}", s.kinds());
}

#[test]
fn the_same_bare_ack_twice_is_no_evidence() {
    // A lb.sh capture: the client's ISN made the TIME_WAIT ACK acceptable to it (no RST), its
    // SYN retry got the same ACK, and a SYN-ACK came 2 s later for a new attempt.
    let mut s = Sim::new();
    let (nxt, rcv) = s.server_half(10, 10, true);
    s.wait(3);
    s.s(nxt, rcv, F::ACK);
    s.wait(1_000);
    s.s(nxt, rcv, F::ACK);
    s.wait(1_000);
    s.s(nxt, rcv, F::ACK);
    s.wait(900);
    s.s(S_ISN2, ISN2 + 1, F::SYN | F::ACK);
    s.shard.finish(&mut s.events);
    assert!(s.events.is_empty(), "{:?}", s.kinds());
}
