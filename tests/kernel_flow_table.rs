//! The XDP program's in-kernel handshake/teardown table (bpf/flowtable.h), run with
//! `BPF_PROG_RUN` (`classify_test_run_table`; root, else skipped unless
//! ACKSCOPE_REQUIRE_ROOT=1): a `--kernel-flows` smaller than the flows put evicts, and every
//! eviction is counted exactly (issue 17); the steering decisions are flowtrack.h's (issue 18
//! replaced the LRU hash, not the rules).

mod common;
use common::root_or_skip;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ackscope::datapath::xdp::{classify_test_run_table, SteerConfig, SteerMode};
use ackscope::packet::build::{TcpSpec, F};

const SERVER: &str = "10.9.0.2:80";

fn client(i: u32) -> SocketAddr {
    if i % 4 == 3 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (i >> 16) as u16, i as u16)), 1024 + (i % 60000) as u16)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 8, (i >> 8) as u8, i as u8)), 1024 + (i % 60000) as u16)
    }
}

fn server_for(c: &SocketAddr) -> SocketAddr {
    match c {
        SocketAddr::V4(_) => SERVER.parse().unwrap(),
        SocketAddr::V6(_) => "[fd00::2]:80".parse().unwrap(),
    }
}

fn syn(i: u32) -> Vec<u8> {
    let c = client(i);
    let mut s = TcpSpec::new(c, server_for(&c), 1000 + i, 0, F::SYN);
    s.mss = Some(1460);
    if i % 5 == 4 {
        s.vlans = vec![100 + (i % 7) as u16];
    }
    s.ethernet()
}

/// The server's bare ACK of flow `i` (the stale-ACK direction: keeps the entry).
fn server_ack(i: u32) -> Vec<u8> {
    let c = client(i);
    let mut s = TcpSpec::new(server_for(&c), c, 5000, 77, F::ACK);
    if i % 5 == 4 {
        s.vlans = vec![100 + (i % 7) as u16];
    }
    s.ethernet()
}

fn mirror(entries: u32) -> SteerConfig {
    SteerConfig { steer_mode: SteerMode::Mirror, flow_table_size: entries, ..SteerConfig::default() }
}

#[test]
fn a_small_kernel_table_evicts_and_counts_every_eviction() {
    if !root_or_skip("a_small_kernel_table_evicts_and_counts_every_eviction") {
        return;
    }
    // 64 entries (8 buckets of 8), 1000 new 4-tuples (IPv4, IPv6, VLAN-tagged).
    let n = 1000u32;
    let mut frames: Vec<Vec<u8>> = (0..n).map(syn).collect();
    // Then the server's bare ACK of the newest flow (kept: nothing came after it) and of the
    // 200 oldest (most evicted).
    frames.push(server_ack(n - 1));
    frames.extend((0..200).map(server_ack));
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let (runs, total, entries) = classify_test_run_table(&refs, &mirror(64)).expect("load the XDP program");
    assert_eq!(total.frames, u64::from(n) + 201);
    // Every SYN is steered whatever the table holds.
    assert_eq!(total.steered_syn, u64::from(n), "{total}");
    // The table is full and every entry that did not fit was an eviction, counted: inserts =
    // entries kept + evicted (no deletes happened; the server's ACKs keep their entries).
    assert_eq!(entries, 64, "{total}");
    assert_eq!(total.flows_evicted, u64::from(n) - 64, "{total}");
    assert_eq!(runs[n as usize].counters.steered_ack, 1, "the newest entry survives: {}", runs[n as usize].counters);
    let old_steered: u64 = runs[n as usize + 1..].iter().map(|r| r.counters.steered_ack).sum();
    assert!(old_steered < 64, "at most the table's entries of the oldest 200 are still there: {old_steered}");
    assert_eq!(total.steered_ack, 1 + old_steered);
    assert_eq!(total.not_steered_tcp, 200 - old_steered, "{total}");

    // A table large enough evicts nothing.
    let refs: Vec<&[u8]> = frames[..n as usize].iter().map(Vec::as_slice).collect();
    let (_, total, entries) = classify_test_run_table(&refs, &mirror(65536)).expect("load the XDP program");
    assert_eq!((total.flows_evicted, entries), (0, n as usize), "{total}");
}

/// One frame of a 4-tuple's exchange and whether it must be steered.
fn seg(from_client: bool, flags: u8, payload: usize) -> Vec<u8> {
    let (c, s): (SocketAddr, SocketAddr) = ("10.9.0.1:40001".parse().unwrap(), SERVER.parse().unwrap());
    let (a, b) = if from_client { (c, s) } else { (s, c) };
    let mut t = TcpSpec::new(a, b, 1, 1, flags);
    t.payload = payload;
    t.ethernet()
}

#[test]
fn the_table_keeps_flowtrack_decisions() {
    if !root_or_skip("the_table_keeps_flowtrack_decisions") {
        return;
    }
    // (frame, steered?, entries after)
    let steps: Vec<(Vec<u8>, bool)> = vec![
        (seg(false, F::ACK, 0), false),           // bare ACK, no entry
        (seg(true, F::SYN, 0), true),             // SYN: entry
        (seg(false, F::ACK, 0), true),            // server's stale ACK: kept
        (seg(true, F::RST, 0), true),             // client's RST in SYN state: kept
        (seg(false, F::ACK, 0), true),            // so the next stale ACK is steered
        (seg(true, F::SYN, 0), true),             // retried SYN
        (seg(false, F::SYN | F::ACK, 0), true),   // SYN-ACK: the same entry
        (seg(true, F::ACK | F::PSH, 100), false), // data: never
        (seg(true, F::ACK, 0), true),             // client's ACK: handshake complete, deleted
        (seg(true, F::ACK, 0), false),            // gone
        (seg(false, F::ACK, 0), false),
        (seg(true, F::FIN | F::ACK, 0), true),    // FIN: entry
        (seg(false, F::ACK, 0), true),            // ACK of one FIN: kept
        (seg(true, F::FIN | F::ACK, 0), true),    // retransmitted FIN, same side
        (seg(false, F::ACK, 0), true),            // still one side: kept
        (seg(false, F::FIN | F::ACK, 0), true),   // the other side's FIN
        (seg(true, F::ACK, 0), true),             // last ACK: deleted
        (seg(true, F::ACK, 0), false),
        (seg(true, F::SYN, 0), true),
        (seg(false, F::RST | F::ACK, 0), true),   // server's RST: deleted
        (seg(false, F::ACK, 0), false),
    ];
    let refs: Vec<&[u8]> = steps.iter().map(|(f, _)| f.as_slice()).collect();
    let (runs, total, entries) = classify_test_run_table(&refs, &mirror(1024)).expect("load the XDP program");
    for (i, ((_, want), r)) in steps.iter().zip(&runs).enumerate() {
        assert_eq!(r.counters.steered() == 1, *want, "step {i}: {}", r.counters);
    }
    assert_eq!(entries, 0, "every entry ended: {total}");
    assert_eq!(total.flows_evicted, 0);
}
