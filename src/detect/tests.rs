//! State-machine tests, grouped by rule. A `Sim` plays client and server of one 4-tuple.

use super::*;
use crate::detect::{Cause, Config, Event, EventKind, Outcome, PrevState, Severity};
use crate::flow::KeySeed;
use crate::packet::build::{TcpSpec, F};
use crate::packet::{parse_frame, LinkType, Parsed, Segment};

const MS: u64 = 1_000_000;
/// A client ISN near the top of the space: every test crosses 2^32 somewhere.
const C_ISN: u32 = u32::MAX - 100;
const S_ISN: u32 = 7_000;

struct Sim {
    shard: Shard,
    events: Vec<Event>,
    t: u64,
    frame: u64,
    client: std::net::SocketAddr,
    server: std::net::SocketAddr,
    vlans: Vec<u16>,
    ts: Option<(u32, u32)>,
}

impl Sim {
    fn new() -> Sim {
        Sim::with("10.1.0.1:40000", "10.1.0.2:80")
    }
    fn with(c: &str, s: &str) -> Sim {
        Sim {
            shard: Shard::new(Config::default(), KeySeed::fixed(9)),
            events: Vec::new(),
            t: 1_700_000_000_000 * MS,
            frame: 0,
            client: c.parse().unwrap(),
            server: s.parse().unwrap(),
            vlans: vec![],
            ts: None,
        }
    }
    fn seg(&mut self, from_client: bool, seq: u32, ack: u32, flags: u8, payload: usize) {
        let (a, b) = if from_client { (self.client, self.server) } else { (self.server, self.client) };
        let mut spec = TcpSpec::new(a, b, seq, ack, flags);
        spec.payload = payload;
        spec.vlans = self.vlans.clone();
        spec.ts = if from_client { self.ts } else { None };
        self.frame += 1;
        let s: Segment = match parse_frame(LinkType::Ethernet, &spec.ethernet(), self.t, self.frame).unwrap() {
            Parsed::Tcp(s) => s,
            _ => unreachable!(),
        };
        self.shard.process(&s, &mut self.events);
    }
    fn wait_ms(&mut self, ms: u64) {
        self.t += ms * MS;
    }
    fn c(&mut self, seq: u32, ack: u32, flags: u8) {
        self.seg(true, seq, ack, flags, 0)
    }
    fn s(&mut self, seq: u32, ack: u32, flags: u8) {
        self.seg(false, seq, ack, flags, 0)
    }
    /// A full connection: handshake, `up` bytes client→server, teardown with the server
    /// closing first (`server_first`) or the client. Returns the client's final sequence end
    /// (the server's receive point).
    fn connection(&mut self, isn: u32, up: u32, server_first: bool) -> u32 {
        let c1 = isn.wrapping_add(1);
        self.c(isn, 0, F::SYN);
        self.wait_ms(1);
        self.s(S_ISN, c1, F::SYN | F::ACK);
        self.c(c1, S_ISN + 1, F::ACK);
        let c_end = c1.wrapping_add(up);
        if up > 0 {
            self.seg(true, c1, S_ISN + 1, F::ACK | F::PSH, up as usize);
            self.s(S_ISN + 1, c_end, F::ACK);
        }
        if server_first {
            self.s(S_ISN + 1, c_end, F::FIN | F::ACK);
            self.c(c_end, S_ISN + 2, F::ACK);
            self.c(c_end, S_ISN + 2, F::FIN | F::ACK);
            self.s(S_ISN + 2, c_end.wrapping_add(1), F::ACK);
        } else {
            self.c(c_end, S_ISN + 1, F::FIN | F::ACK);
            self.s(S_ISN + 1, c_end.wrapping_add(1), F::FIN | F::ACK);
            self.c(c_end.wrapping_add(1), S_ISN + 2, F::ACK);
        }
        c_end.wrapping_add(1)
    }
    /// The server's bare ACK answering the SYN, and the client's RST <SEQ=SEG.ACK> that a
    /// SYN-SENT client answers an unacceptable ACK with (RFC 9293 §3.10.7.3).
    fn stale(&mut self, seq: u32, ack: u32) {
        self.s(seq, ack, F::ACK);
        self.c(ack, 0, F::RST);
    }
    fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.kind.as_str()).collect()
    }
    fn finish(&mut self) {
        self.shard.finish(&mut self.events);
    }
}

// ---- stale_ack: TIME_WAIT ------------------------------------------------------------------

#[test]
fn time_wait_stale_ack_full_story() {
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 1000, true);
    assert!(sim.events.is_empty());
    sim.wait_ms(200);
    let new_isn = rcv.wrapping_sub(5000); // below the old receive point
    sim.c(new_isn, 0, F::SYN);
    sim.wait_ms(1);
    sim.s(S_ISN + 2, rcv, F::ACK); // TIME_WAIT answers <SEQ=snd_nxt><ACK=rcv_nxt>
    sim.c(rcv, 0, F::RST); // RFC 9293: <SEQ=SEG.ACK><CTL=RST>
    sim.wait_ms(3);
    sim.c(new_isn, 0, F::SYN); // Linux retries after TCP_TIMEOUT_MIN
    sim.wait_ms(1);
    sim.s(90_000, new_isn.wrapping_add(1), F::SYN | F::ACK);
    sim.c(new_isn.wrapping_add(1), 90_001, F::ACK);
    assert_eq!(sim.kinds(), ["reuse_in_time_wait", "stale_ack", "stale_ack_outcome"]);
    let reuse = &sim.events[0];
    assert_eq!(reuse.prev_rcv_nxt.unwrap().0, rcv);
    assert_eq!(reuse.prev_close_age_ms, Some(200));
    let stale = &sim.events[1];
    assert_eq!(stale.cause, Some(Cause::TimeWait));
    assert_eq!(stale.prev_state, Some(PrevState::ClosedByServerFirst));
    assert_eq!(stale.ack.unwrap().0, rcv);
    assert_eq!(stale.expected_ack.unwrap().0, new_isn.wrapping_add(1));
    assert_eq!(stale.ack_delta(), Some(4999));
    assert_eq!(stale.ack_matches_prev(), Some(true));
    assert_eq!(stale.prev_close_age_ms, Some(201));
    assert_eq!(stale.client, sim.client);
    assert_eq!(stale.server, sim.server);
    assert_eq!(stale.severity(), Severity::Critical);
    let out = &sim.events[2];
    assert_eq!(out.outcome, Some(Outcome::Recovered));
    assert_eq!(out.recovery_us, Some(5000)); // SYN at t, SYN-ACK at t+5 ms
    assert_eq!(out.client_rst, Some(true));
    assert_eq!(out.syn_retries, 1);
    assert_eq!(out.stale_acks, 1);
    assert_eq!(sim.shard.counters.port_reuses, 1);
}

#[test]
fn time_wait_isn_above_receive_point_is_silent() {
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 1000, true);
    sim.wait_ms(10);
    let isn = rcv.wrapping_add(1_000_000);
    sim.c(isn, 0, F::SYN);
    sim.s(50, isn.wrapping_add(1), F::SYN | F::ACK);
    sim.c(isn.wrapping_add(1), 51, F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.port_reuses, 1);
}

#[test]
fn time_wait_isn_equal_to_receive_point_is_refused() {
    // after(seq, rcv_nxt) is strict: seq == rcv_nxt is refused.
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 10, true);
    sim.c(rcv, 0, F::SYN);
    assert_eq!(sim.kinds(), ["reuse_in_time_wait"]);
}

#[test]
fn time_wait_newer_timestamp_is_accepted() {
    let mut sim = Sim::new();
    sim.ts = Some((1000, 0));
    let rcv = sim.connection(C_ISN, 100, true);
    sim.ts = Some((1001, 0));
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn time_wait_paws_rejects_older_timestamp_even_with_isn_above() {
    let mut sim = Sim::new();
    sim.ts = Some((5000, 0));
    let rcv = sim.connection(C_ISN, 100, true);
    sim.ts = Some((10, 0));
    sim.c(rcv.wrapping_add(100), 0, F::SYN);
    assert_eq!(sim.kinds(), ["reuse_in_time_wait"]);
}

#[test]
fn time_wait_expired_is_silent_and_a_late_stale_ack_is_lingering_close() {
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 100, true);
    sim.wait_ms(61_000);
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    assert!(sim.events.is_empty());
    sim.stale(S_ISN + 2, rcv);
    assert_eq!(sim.events[0].cause, Some(Cause::LingeringClose));
    assert!(sim.events[0].prev_close_age_ms.unwrap() >= 61_000);
}

#[test]
fn time_wait_configurable() {
    let mut sim = Sim::new();
    sim.shard = Shard::new(Config { time_wait_ms: 30_000, ..Config::default() }, KeySeed::fixed(1));
    let rcv = sim.connection(C_ISN, 100, true);
    sim.wait_ms(31_000);
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    assert!(sim.events.is_empty());
}

#[test]
fn client_closed_first_no_reuse_warning() {
    // The client holds TIME_WAIT, not the server: Linux's server side is free.
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 100, false);
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    assert!(sim.events.is_empty());
    // If the server answers stale anyway, its LAST_ACK lingered.
    sim.stale(S_ISN + 2, rcv);
    assert_eq!(sim.events[0].cause, Some(Cause::LingeringClose));
    assert_eq!(sim.events[0].prev_state, Some(PrevState::ClosedByClientFirst));
}

// ---- stale_ack: lingering ------------------------------------------------------------------

#[test]
fn lingering_established_challenge_ack_below_isn() {
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, C_ISN.wrapping_add(1), F::SYN | F::ACK);
    sim.c(C_ISN.wrapping_add(1), S_ISN + 1, F::ACK);
    sim.seg(true, C_ISN.wrapping_add(1), S_ISN + 1, F::ACK, 500);
    let rcv = C_ISN.wrapping_add(501); // crosses 2^32
    sim.wait_ms(5000);
    // The client's RST was lost; it reconnects with a fresh ISN far above.
    let isn = 2_000_000_000u32;
    sim.c(isn, 0, F::SYN);
    sim.s(S_ISN + 1, rcv, F::ACK); // RFC 5961 §4 challenge ACK
    sim.c(rcv, 0, F::RST);
    sim.wait_ms(1000);
    sim.c(isn, 0, F::SYN);
    sim.s(1, isn + 1, F::SYN | F::ACK);
    assert_eq!(sim.kinds(), ["stale_ack", "stale_ack_outcome"]);
    let e = &sim.events[0];
    assert_eq!(e.cause, Some(Cause::LingeringEstablished));
    assert_eq!(e.prev_state, Some(PrevState::Open));
    assert!(e.ack_delta().unwrap() < 0, "below the ISN: {:?}", e.ack_delta());
    assert_eq!(e.ack_matches_prev(), Some(true));
    assert_eq!(e.prev_close_age_ms, None);
    assert_eq!(sim.events[1].recovery_us, Some(1_000_000));
}

#[test]
fn lingering_fin_wait2_is_lingering_close() {
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, C_ISN.wrapping_add(1), F::SYN | F::ACK);
    sim.c(C_ISN.wrapping_add(1), S_ISN + 1, F::ACK);
    sim.s(S_ISN + 1, C_ISN.wrapping_add(1), F::FIN | F::ACK);
    sim.c(C_ISN.wrapping_add(1), S_ISN + 2, F::ACK);
    sim.wait_ms(2000);
    sim.c(100, 0, F::SYN);
    sim.s(S_ISN + 2, C_ISN.wrapping_add(1), F::ACK);
    assert_eq!(sim.kinds(), ["stale_ack"]);
    assert_eq!(sim.events[0].cause, Some(Cause::LingeringClose));
    assert_eq!(sim.events[0].prev_state, Some(PrevState::HalfClosedByServer));
    assert_eq!(sim.events[0].prev_close_age_ms, Some(2000));
}

#[test]
fn close_wait_is_lingering_close() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.c(c1, S_ISN + 1, F::FIN | F::ACK);
    sim.s(S_ISN + 1, c1.wrapping_add(1), F::ACK);
    sim.c(5, 0, F::SYN);
    sim.s(S_ISN + 1, c1.wrapping_add(1), F::ACK);
    assert_eq!(sim.events[0].cause, Some(Cause::LingeringClose));
    assert_eq!(sim.events[0].prev_state, Some(PrevState::HalfClosedByClient));
}

#[test]
fn unknown_history() {
    let mut sim = Sim::new();
    sim.c(3, 0, F::SYN);
    sim.stale(99, 12345);
    assert_eq!(sim.kinds(), ["stale_ack"]);
    assert_eq!(sim.events[0].cause, Some(Cause::Unknown));
    assert_eq!(sim.events[0].prev_state, Some(PrevState::None));
    assert_eq!(sim.events[0].prev_rcv_nxt, None);
}

#[test]
fn mid_stream_history_is_enough_for_lingering() {
    // ackscope started during the old connection: only its data was seen.
    let mut sim = Sim::new();
    sim.seg(true, 500, 77, F::ACK, 100);
    sim.s(77, 600, F::ACK);
    sim.c(9_000_000, 0, F::SYN);
    sim.s(77, 600, F::ACK);
    assert_eq!(sim.events[0].cause, Some(Cause::LingeringEstablished));
    assert_eq!(sim.events[0].prev_rcv_nxt.unwrap().0, 600);
}

// ---- wraparound: both halves of the ack space ------------------------------------------------

#[test]
fn stale_ack_on_both_sides_of_isn_plus_one_across_2_pow_32() {
    for (isn, ack, sign) in [
        (u32::MAX, 5u32, 1i32),          // isn+1 wraps to 0; ack 5 is above
        (u32::MAX, u32::MAX - 5, -1),    // below, before the wrap
        (u32::MAX - 2, 3, 1),            // above, across the wrap
        (2, u32::MAX - 3, -1),           // below, across the wrap
    ] {
        let mut sim = Sim::new();
        sim.c(isn, 0, F::SYN);
        sim.stale(1, ack);
        assert_eq!(sim.kinds(), ["stale_ack"], "isn {isn} ack {ack}");
        let d = sim.events[0].ack_delta().unwrap();
        assert_eq!(d.signum(), sign, "isn {isn} ack {ack} delta {d}");
        assert_eq!(sim.events[0].expected_ack.unwrap().0, isn.wrapping_add(1));
    }
    // ack == isn+1 across the wrap is not stale.
    let mut sim = Sim::new();
    sim.c(u32::MAX, 0, F::SYN);
    sim.s(1, 0, F::SYN | F::ACK);
    assert!(sim.events.is_empty());
}

// ---- outcomes ------------------------------------------------------------------------------

#[test]
fn rfc1337_rst_ignored_then_failed_at_timeout() {
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 10, true);
    let isn = rcv.wrapping_sub(100);
    sim.c(isn, 0, F::SYN);
    sim.s(S_ISN + 2, rcv, F::ACK);
    sim.c(rcv, 0, F::RST);
    for _ in 0..3 {
        sim.wait_ms(1000);
        sim.c(isn, 0, F::SYN);
        sim.s(S_ISN + 2, rcv, F::ACK);
        sim.c(rcv, 0, F::RST);
    }
    sim.wait_ms(9000);
    // Any later segment moves the clock past the deadline.
    let mut other = Sim::with("10.9.9.9:1", "10.9.9.8:2");
    std::mem::swap(&mut other.shard, &mut sim.shard);
    other.t = sim.t;
    other.c(1, 0, F::SYN);
    let ev = other.events;
    assert_eq!(sim.kinds(), ["reuse_in_time_wait", "stale_ack"]);
    assert_eq!(ev.len(), 1);
    let out = &ev[0];
    assert_eq!(out.outcome, Some(Outcome::Failed));
    assert_eq!(out.stale_acks, 4);
    assert_eq!(out.syn_retries, 3);
    assert_eq!(out.rst_ignored, Some(true));
    assert_eq!(out.severity(), Severity::Critical);
    // Reported at the deadline: 10 s after the stale-ACKed SYN.
    assert_eq!(out.ts_ns - sim.events[1].ts_ns, 10_000 * MS);
}

#[test]
fn unresolved_or_failed_at_end_of_input() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.finish();
    assert_eq!(sim.events[1].outcome, Some(Outcome::Unresolved));
    // `unresolved` names the attempt's last frame (the client's RST, frame 3).
    assert_eq!((sim.events[1].frame, sim.events[1].last_frame), (3, 3));
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.shard.tick(sim.t + 10_001 * MS, &mut sim.events);
    assert_eq!(sim.events[1].outcome, Some(Outcome::Failed));
}

#[test]
fn new_isn_means_the_client_gave_up() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.c(5000, 0, F::SYN);
    assert_eq!(sim.kinds(), ["stale_ack", "stale_ack_outcome"]);
    assert_eq!(sim.events[1].frame, 4, "decided by the new SYN");
    assert_eq!(sim.events[1].outcome, Some(Outcome::Failed));
}

#[test]
fn refused_retry_is_failed() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.s(1, 99, F::ACK);
    sim.c(99, 0, F::RST);
    sim.c(1, 0, F::SYN);
    sim.s(0, 2, F::RST | F::ACK);
    assert_eq!(sim.kinds(), ["stale_ack", "connection_refused", "stale_ack_outcome"]);
    assert_eq!(sim.events[2].outcome, Some(Outcome::Failed));
}

#[test]
fn one_stale_ack_event_per_attempt() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    for _ in 0..4 {
        sim.s(1, 99, F::ACK);
    }
    assert_eq!(sim.kinds(), ["stale_ack"]);
    assert_eq!(sim.shard.counters.stale_ack_repeats, 4);
}

// ---- the other events ------------------------------------------------------------------------

#[test]
fn synack_wrong_ack() {
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(5, C_ISN.wrapping_add(2), F::SYN | F::ACK);
    assert!(sim.events.is_empty(), "reported only once the client answers it with RST");
    sim.c(C_ISN.wrapping_add(2), 0, F::RST);
    sim.s(5, C_ISN.wrapping_add(2), F::SYN | F::ACK);
    assert_eq!(sim.kinds(), ["synack_wrong_ack"]);
    let e = &sim.events[0];
    assert_eq!(e.ack_delta(), Some(1));
    // The right SYN-ACK afterwards completes the handshake silently.
    sim.s(5, C_ISN.wrapping_add(1), F::SYN | F::ACK);
    sim.c(C_ISN.wrapping_add(1), 6, F::ACK);
    assert_eq!(sim.events.len(), 1);
}

#[test]
fn connection_refused_is_not_a_stale_ack() {
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(0, C_ISN.wrapping_add(1), F::RST | F::ACK);
    assert_eq!(sim.kinds(), ["connection_refused"]);
    assert_eq!(sim.events[0].severity(), Severity::Info);
    // A RST whose ack is wrong is dropped by the client (RFC 9293 §3.10.7.3): no event.
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(0, 5, F::RST | F::ACK);
    assert!(sim.events.is_empty());
}

#[test]
fn acked_unseen_in_teardown_and_handshake() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.s(S_ISN + 1, c1, F::FIN | F::ACK);
    sim.c(c1, S_ISN + 500, F::ACK); // acks 498 bytes never sent after the FIN
    sim.c(c1, S_ISN + 600, F::ACK); // reported once per connection
    assert_eq!(sim.kinds(), ["acked_unseen"]);
    assert_eq!(sim.events[0].expected_ack.unwrap().0, S_ISN + 2);
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 9, F::ACK);
    assert_eq!(sim.kinds(), ["acked_unseen"]);
}

#[test]
fn data_unseen_is_not_acked_unseen_outside_handshake_and_teardown() {
    // Live mode steers only control segments: acks of data never seen are normal.
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.c(c1, S_ISN + 100_000, F::FIN | F::ACK);
    sim.s(S_ISN + 100_000, c1.wrapping_add(1), F::FIN | F::ACK);
    sim.c(c1.wrapping_add(1), S_ISN + 100_001, F::ACK);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn port_reuse_alone_is_a_counter() {
    let mut sim = Sim::new();
    for i in 0..5u32 {
        sim.connection(i.wrapping_mul(1_000_000_000), 10, i % 2 == 0);
        sim.wait_ms(70_000);
    }
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.port_reuses, 4);
    assert!(sim.shard.counters.rtt_us.iter().sum::<u64>() == 5);
}

#[test]
fn syn_retransmissions_are_not_reuse() {
    let mut sim = Sim::new();
    for _ in 0..4 {
        sim.c(10, 0, F::SYN);
        sim.wait_ms(1000);
    }
    assert_eq!(sim.shard.counters.syn_retransmits, 3);
    assert_eq!(sim.shard.counters.port_reuses, 0);
}

// ---- IPv6 and VLAN -------------------------------------------------------------------------

#[test]
fn ipv6_time_wait() {
    let mut sim = Sim::with("[fd00::1]:40000", "[fd00::2]:443");
    let rcv = sim.connection(C_ISN, 1000, true);
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    sim.stale(S_ISN + 2, rcv);
    assert_eq!(sim.kinds(), ["reuse_in_time_wait", "stale_ack"]);
    assert_eq!(sim.events[1].cause, Some(Cause::TimeWait));
    assert_eq!(sim.events[1].client.to_string(), "[fd00::1]:40000");
}

#[test]
fn vlan_separates_flows_and_is_reported() {
    let mut sim = Sim::new();
    sim.vlans = vec![10];
    let rcv = sim.connection(C_ISN, 100, true);
    // Same 4-tuple on another VLAN: a different flow, no history.
    sim.vlans = vec![20];
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    sim.stale(S_ISN + 2, rcv);
    assert_eq!(sim.kinds(), ["stale_ack"]);
    assert_eq!(sim.events[0].cause, Some(Cause::Unknown));
    assert_eq!(sim.events[0].vlan(), Some(20));
    // On the original VLAN it is TIME_WAIT.
    sim.vlans = vec![10];
    sim.c(rcv.wrapping_sub(10), 0, F::SYN);
    sim.stale(S_ISN + 2, rcv);
    assert_eq!(sim.events[2].cause, Some(Cause::TimeWait));
    assert_eq!(sim.events[2].vlan(), Some(10));
    // QinQ: outer tag kept too.
    let mut sim = Sim::new();
    sim.vlans = vec![100, 200];
    sim.c(1, 0, F::SYN);
    sim.stale(1, 77);
    assert_eq!((sim.events[0].vlan, sim.events[0].svlan), (200, 100));
}

#[test]
fn reversed_roles_on_one_4_tuple() {
    // The server side becomes the client of the next connection on the same 4-tuple.
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 10, true);
    let _ = rcv;
    std::mem::swap(&mut sim.client, &mut sim.server);
    sim.c(5, 0, F::SYN);
    sim.stale(S_ISN + 2, 999);
    assert_eq!(sim.events[0].client.port(), 80);
    assert_eq!(sim.events[0].kind, EventKind::StaleAck);
}

#[test]
fn flood_of_syns_stays_under_the_cap() {
    let mut shard = Shard::new(Config { max_flows: 1000, ..Config::default() }, KeySeed::fixed(3));
    let mut out = Vec::new();
    for i in 0..20_000u32 {
        let a = std::net::SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 1000 + (i % 50000) as u16));
        let spec = TcpSpec::new(a, "10.0.0.1:80".parse().unwrap(), i, 0, F::SYN);
        if let Parsed::Tcp(s) = parse_frame(LinkType::Ethernet, &spec.ethernet(), u64::from(i) * MS, 1).unwrap() {
            shard.process(&s, &mut out);
        }
        assert!(shard.flows() <= 1000);
    }
    assert!(out.is_empty());
    assert!(shard.evictions().live >= 19_000);
}

// ---- issue 11: field patterns that must stay silent, or be right ----------------------------

#[test]
fn fast_open_syn_payload_is_sequence_space() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.seg(true, C_ISN, 0, F::SYN, 200); // SYN with 200 bytes of data
    sim.s(S_ISN, c1.wrapping_add(200), F::SYN | F::ACK); // acks ISN+1+200
    sim.c(c1.wrapping_add(200), S_ISN + 1, F::ACK);
    sim.s(S_ISN + 1, c1.wrapping_add(200), F::ACK);
    sim.s(S_ISN + 1, c1.wrapping_add(200), F::FIN | F::ACK);
    sim.c(c1.wrapping_add(200), S_ISN + 2, F::FIN | F::ACK);
    sim.s(S_ISN + 2, c1.wrapping_add(201), F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    // A Fast Open server that refuses the data acks only the SYN: also right.
    let mut sim = Sim::new();
    sim.seg(true, C_ISN, 0, F::SYN, 200);
    sim.s(99, 12, F::ACK); // bare ACK of something else: a candidate…
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    // …and an ACK acknowledging part of the SYN's data before the SYN-ACK is acceptable.
    let mut sim = Sim::new();
    sim.seg(true, C_ISN, 0, F::SYN, 200);
    sim.stale(S_ISN + 1, c1.wrapping_add(100));
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn synack_payload_is_sequence_space() {
    // No kernel here puts data on its SYN-ACK; some stacks do. The client's ACK of it is not
    // "acked unseen".
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.seg(false, S_ISN, c1, F::SYN | F::ACK, 300);
    sim.c(c1, S_ISN + 301, F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn data_answering_a_syn_is_no_stale_ack() {
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.seg(false, 5000, 12345, F::ACK | F::PSH, 100);
    sim.c(12345, 0, F::RST);
    sim.s(5000, 12345, F::FIN | F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.syn_answers_not_bare, 2);
}

#[test]
fn a_missed_synack_does_not_make_the_next_ack_stale() {
    // The capture lost the SYN-ACK, the client's ACK and its first data: the server's ACK of
    // that data is a bare ACK above ISN+1. The client then goes on (it is connected).
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN + 1, c1.wrapping_add(500), F::ACK);
    assert!(sim.events.is_empty());
    sim.seg(true, c1.wrapping_add(500), S_ISN + 1, F::ACK | F::PSH, 100);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.stale_ack_unconfirmed, 1);
    // Nothing follows at all: still no event.
    let mut sim = Sim::new();
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN + 1, c1.wrapping_add(500), F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn an_older_timestamp_echo_is_evidence_at_once() {
    let mut sim = Sim::new();
    sim.ts = Some((50_000, 0));
    sim.c(C_ISN, 0, F::SYN);
    // The answer echoes TSval 40 000, older than the SYN's: another connection's.
    let mut spec = TcpSpec::new(sim.server, sim.client, S_ISN, C_ISN.wrapping_add(900), F::ACK);
    spec.ts = Some((1, 40_000));
    sim.frame += 1;
    if let Parsed::Tcp(s) = parse_frame(LinkType::Ethernet, &spec.ethernet(), sim.t, sim.frame).unwrap() {
        sim.shard.process(&s, &mut sim.events);
    }
    assert_eq!(sim.kinds(), ["stale_ack"]);
}

#[test]
fn simultaneous_open_keeps_the_first_syn_sender_as_client() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, 0, F::SYN);
    sim.c(C_ISN, S_ISN + 1, F::SYN | F::ACK);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.s(S_ISN + 1, c1, F::ACK);
    sim.s(S_ISN + 1, c1, F::FIN | F::ACK);
    sim.c(c1, S_ISN + 2, F::FIN | F::ACK);
    sim.s(S_ISN + 2, c1.wrapping_add(1), F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.simultaneous_opens, 1);
    // A later stale ACK names the first SYN's sender as the client.
    sim.wait_ms(10);
    sim.c(5, 0, F::SYN);
    sim.stale(S_ISN + 2, c1.wrapping_add(1));
    assert_eq!(sim.events[0].client, sim.client);
}

#[test]
fn duplicate_and_competing_synacks_change_nothing() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.s(S_ISN + 50_000, c1, F::SYN | F::ACK); // competing, another ISN
    sim.c(c1, S_ISN + 50_001, F::ACK); // the client took the second one
    sim.seg(true, c1, S_ISN + 50_001, F::ACK, 100);
    sim.s(S_ISN, c1, F::SYN | F::ACK); // retransmitted after data flowed
    sim.c(c1.wrapping_add(100), S_ISN + 50_001, F::FIN | F::ACK);
    sim.s(S_ISN + 50_001, c1.wrapping_add(101), F::FIN | F::ACK);
    sim.c(c1.wrapping_add(101), S_ISN + 50_002, F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.port_reuses, 0);
    assert_eq!(sim.shard.counters.synack_duplicates, 2);
}

#[test]
fn syn_retries_in_syn_received_are_not_port_reuse() {
    // The server's SYN-ACKs are captured but never reach the client (nftables): it retries.
    let mut sim = Sim::new();
    for _ in 0..5 {
        sim.c(C_ISN, 0, F::SYN);
        sim.s(S_ISN, C_ISN.wrapping_add(1), F::SYN | F::ACK);
        sim.wait_ms(1000);
    }
    sim.c(C_ISN.wrapping_add(1), S_ISN + 1, F::ACK);
    sim.finish();
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.shard.counters.port_reuses, 0);
    assert_eq!(sim.shard.counters.syn_retransmits, 4);
}

#[test]
fn mid_stream_events_say_the_roles_are_unknown() {
    let mut sim = Sim::new();
    sim.seg(true, 500, 77, F::ACK, 100);
    sim.s(77, 600, F::FIN | F::ACK);
    sim.c(600, 5000, F::ACK); // beyond the FIN
    assert_eq!(sim.kinds(), ["acked_unseen"]);
    assert_eq!(sim.events[0].roles, crate::detect::Roles::Unknown);
    // The side with the higher port is named `client`; nothing claims a SYN was seen.
    assert_eq!(sim.events[0].client, sim.client);
}

#[test]
fn recovered_needs_a_synack_otherwise_connected_unseen() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.c(1, 0, F::SYN);
    // The SYN-ACK is not in the capture; the client's ACK is.
    sim.c(2, 7001, F::ACK);
    assert_eq!(sim.kinds(), ["stale_ack"], "the SYN-ACK may still come (two queues)");
    sim.finish();
    assert_eq!(sim.kinds(), ["stale_ack", "stale_ack_outcome"]);
    assert_eq!(sim.events[1].outcome, Some(Outcome::ConnectedUnseen));
    assert_eq!(sim.events[1].recovery_us, None);
    assert_eq!(sim.events[1].frame, 5);
    assert_eq!(sim.events[1].last_frame, 4);
}

#[test]
fn a_late_handshake_revises_failed() {
    let mut sim = Sim::new();
    let rcv = sim.connection(C_ISN, 10, true);
    let isn = rcv.wrapping_sub(100);
    sim.c(isn, 0, F::SYN);
    sim.stale(S_ISN + 2, rcv);
    for _ in 0..4 {
        sim.wait_ms(4000);
        sim.c(isn, 0, F::SYN); // retries past the 10 s connect timeout
    }
    sim.s(4242, isn.wrapping_add(1), F::SYN | F::ACK);
    let k = sim.kinds();
    assert_eq!(k, ["reuse_in_time_wait", "stale_ack", "stale_ack_outcome", "stale_ack_outcome"]);
    assert_eq!(sim.events[2].outcome, Some(Outcome::Failed));
    assert_eq!(sim.events[3].outcome, Some(Outcome::Recovered));
    assert_eq!(sim.events[3].revises, Some(Outcome::Failed));
    assert_eq!(sim.events[3].recovery_us, Some(16_000_000));
    assert_eq!(sim.shard.counters.outcomes_revised, 1);
    sim.finish();
    assert_eq!(sim.events.len(), 4);
}

#[test]
fn malformed_options_are_counted_and_the_segment_kept() {
    let mut sim = Sim::new();
    let mut spec = TcpSpec::new(sim.client, sim.server, C_ISN, 0, F::SYN);
    spec.mss = Some(1460);
    let mut f = spec.ethernet();
    f[14 + 20 + 20 + 1] = 40; // MSS length past the header
    if let Parsed::Tcp(s) = parse_frame(LinkType::Ethernet, &f, sim.t, 1).unwrap() {
        sim.shard.process(&s, &mut sim.events);
    }
    sim.s(S_ISN, C_ISN.wrapping_add(1), F::SYN | F::ACK);
    assert_eq!(sim.shard.counters.tcp_options_ignored, 1);
    assert_eq!(sim.shard.counters.rtt_us.iter().sum::<u64>(), 1, "the SYN counted: the handshake completed");
}

#[test]
fn a_failed_verdict_is_forgotten_after_its_revision_window() {
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.shard.tick(sim.t + 11_000 * MS, &mut sim.events);
    assert_eq!(sim.events[1].outcome, Some(Outcome::Failed));
    assert_eq!(sim.shard.pending_outcomes(), 0);
    sim.shard.tick(sim.t + 601_000 * MS, &mut sim.events);
    sim.t += 601_000 * MS;
    sim.s(5, 2, F::SYN | F::ACK); // too late to revise: nothing
    assert_eq!(sim.events.len(), 2, "{:?}", sim.events);
}

#[test]
fn a_synack_after_the_clients_ack_is_still_recovered() {
    // Two receive queues: the client's ACK can reach the engine before the SYN-ACK.
    let mut sim = Sim::new();
    sim.c(1, 0, F::SYN);
    sim.stale(1, 99);
    sim.wait_ms(3);
    sim.c(1, 0, F::SYN);
    sim.c(2, 7001, F::ACK);
    sim.s(7000, 2, F::SYN | F::ACK);
    assert_eq!(sim.kinds(), ["stale_ack", "stale_ack_outcome"]);
    assert_eq!(sim.events[1].outcome, Some(Outcome::Recovered));
    assert_eq!(sim.events[1].frame, 6);
    sim.finish();
    assert_eq!(sim.events.len(), 2);
}

// ---- issue 19: evidence of the lingering causes from control segments only ----------------

#[test]
fn lingering_established_control_only_is_within_window_never_false() {
    // What host mode delivers: the handshake only; the 1009 request bytes were not steered.
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.wait_ms(3000);
    sim.c(2_000_000_000, 0, F::SYN);
    let rcv = c1.wrapping_add(1009);
    sim.s(S_ISN + 1 + 500, rcv, F::ACK); // challenge ACK: the server's receive point
    let e = &sim.events[0];
    assert_eq!(e.cause, Some(Cause::LingeringEstablished));
    assert_eq!(e.ack_matches_prev(), None, "unseen data must not give a false");
    assert_eq!(e.ack_evidence, Some(crate::detect::AckEvidence::WithinWindow));
    assert_eq!(e.ack_window, Some(crate::detect::ACK_WINDOW));
    assert_eq!(e.prev_rcv_nxt.unwrap().0, c1, "the last receive point seen: the SYN-ACK's ack");
    assert_eq!(e.prev_last_seen_ms, Some(3000));
}

#[test]
fn lingering_established_full_view_is_exact() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.seg(true, c1, S_ISN + 1, F::ACK | F::PSH, 1009);
    let rcv = c1.wrapping_add(1009);
    sim.s(S_ISN + 1, rcv, F::ACK);
    sim.wait_ms(700);
    sim.c(2_000_000_000, 0, F::SYN);
    sim.s(S_ISN + 1, rcv, F::ACK);
    let e = &sim.events[0];
    assert_eq!((e.ack_evidence, e.ack_matches_prev()), (Some(crate::detect::AckEvidence::Exact), Some(true)));
    assert_eq!(e.prev_rcv_nxt.unwrap().0, rcv);
    assert_eq!(e.prev_last_seen_ms, Some(700));
}

#[test]
fn fin_wait2_control_only_learns_the_receive_point_from_the_servers_fin() {
    // Host mode: handshake, then the server's FIN (ack = after the unseen request) and the
    // client's ACK of it; the request data itself was never steered.
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    let rcv = c1.wrapping_add(1009);
    sim.s(S_ISN + 1, rcv, F::FIN | F::ACK);
    sim.c(rcv, S_ISN + 2, F::ACK);
    sim.wait_ms(2000);
    sim.c(100, 0, F::SYN);
    // Above the new ISN+1 with no timestamps: reported once the client confirms it with its
    // RST <SEQ=SEG.ACK> (issue 11).
    sim.stale(S_ISN + 2, rcv);
    let e = &sim.events[0];
    assert_eq!(e.cause, Some(Cause::LingeringClose));
    assert_eq!((e.ack_evidence, e.ack_matches_prev()), (Some(crate::detect::AckEvidence::Exact), Some(true)));
    assert_eq!(e.prev_rcv_nxt.unwrap().0, rcv);
}

#[test]
fn server_acks_do_not_move_the_acked_unseen_horizon() {
    // The server's FIN acks data the client was never seen sending (live: not steered): no
    // acked_unseen for that, but the horizon of the *server's* FIN stays exact.
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    let rcv = c1.wrapping_add(300);
    sim.s(S_ISN + 1, rcv, F::FIN | F::ACK);
    sim.c(rcv, S_ISN + 2, F::ACK);
    assert!(sim.events.is_empty(), "{:?}", sim.kinds());
    sim.c(rcv, S_ISN + 3, F::ACK); // acks one byte beyond the server's FIN
    assert_eq!(sim.kinds(), ["acked_unseen"]);
}

#[test]
fn stale_ack_below_the_servers_last_ack_is_an_exact_false() {
    let mut sim = Sim::new();
    let c1 = C_ISN.wrapping_add(1);
    sim.c(C_ISN, 0, F::SYN);
    sim.s(S_ISN, c1, F::SYN | F::ACK);
    sim.c(c1, S_ISN + 1, F::ACK);
    sim.s(S_ISN + 1, c1.wrapping_add(1000), F::FIN | F::ACK);
    sim.c(5, 0, F::SYN);
    sim.s(S_ISN + 2, c1.wrapping_add(10), F::ACK); // not that socket's receive point
    let e = &sim.events[0];
    assert_eq!((e.ack_evidence, e.ack_matches_prev()), (Some(crate::detect::AckEvidence::Exact), Some(false)));
}

#[test]
fn the_old_connections_fin_crossing_the_new_syn_is_not_a_stale_ack() {
    // Seen live on a load balancer (tests/live/lb.sh): the server retransmits its FIN as the
    // client, already closed, reuses the port; the clone of the FIN arrives after the SYN's.
    let mut sim = Sim::new();
    let c_end = sim.connection(C_ISN, 35, true);
    sim.c(1_000_000, 0, F::SYN);
    sim.s(S_ISN + 1, c_end.wrapping_sub(1), F::FIN | F::ACK); // the FIN retransmission
    sim.s(50_000, 1_000_001, F::SYN | F::ACK);
    sim.c(1_000_001, 50_001, F::ACK);
    assert!(sim.events.iter().all(|e| e.kind != EventKind::StaleAck), "{:?}", sim.kinds());
}
