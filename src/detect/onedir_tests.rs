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
