//! Host mode's tc program and its in-kernel handshake/teardown table (bpf/flowtable.h, the
//! XDP program's table), run with `BPF_PROG_RUN` (`tc::test_run_table`; root, else skipped
//! unless ACKSCOPE_REQUIRE_ROOT=1): a `--kernel-flows` smaller than the 4-tuples in handshake
//! evicts, and every eviction is counted exactly (issue 17; the tc program's LRU hash could
//! not count them).

mod common;
use common::root_or_skip;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ackscope::datapath::tc::{test_run_table, TcConfig};
use ackscope::packet::build::{TcpSpec, F};

fn client(i: u32) -> SocketAddr {
    if i % 4 == 3 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (i >> 16) as u16, i as u16)), 1024 + (i % 60000) as u16)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 8, (i >> 8) as u8, i as u8)), 1024 + (i % 60000) as u16)
    }
}

fn server_for(c: &SocketAddr) -> SocketAddr {
    match c {
        SocketAddr::V4(_) => "10.9.0.2:80".parse().unwrap(),
        SocketAddr::V6(_) => "[fd00::2]:80".parse().unwrap(),
    }
}

fn frame(i: u32, from_client: bool, flags: u8) -> Vec<u8> {
    let c = client(i);
    let (a, b) = if from_client { (c, server_for(&c)) } else { (server_for(&c), c) };
    let mut s = TcpSpec::new(a, b, 1000 + i, if flags & F::ACK != 0 { 77 } else { 0 }, flags);
    if flags & F::SYN != 0 {
        s.mss = Some(1460);
    }
    if i % 5 == 4 {
        s.vlans = vec![100 + (i % 7) as u16];
    }
    s.ethernet()
}

fn host(entries: u32, ring: bool) -> TcConfig {
    TcConfig { flow_table_size: entries, ring, ..TcConfig::default() }
}

#[test]
fn host_mode_kernel_table_evicts_and_counts_every_eviction() {
    if !root_or_skip("host_mode_kernel_table_evicts_and_counts_every_eviction") {
        return;
    }
    let n = 1000u32;
    let syns: Vec<Vec<u8>> = (0..n).map(|i| frame(i, true, F::SYN)).collect();
    // Clone path: clones to ifindex 0, which fail (counted) — nothing leaves the test.
    for ring in [true, false] {
        // 64 entries (8 buckets of 8), 1000 new 4-tuples (IPv4, IPv6, VLAN-tagged): the
        // table is full and every 4-tuple that did not fit was an eviction, counted (no
        // deletes happened): entries put = kept + evicted.
        let refs: Vec<&[u8]> = syns.iter().map(Vec::as_slice).collect();
        let (c, entries) = test_run_table(&refs, &host(64, ring), 0).expect("load the tc program");
        assert_eq!(c.packets, u64::from(n), "{c}");
        assert_eq!(c.cloned_syn, u64::from(n), "every SYN is selected whatever the table holds: {c}");
        assert_eq!(entries, 64, "{c}");
        assert_eq!(c.flows_evicted, u64::from(n) - 64, "{c}");
        // The XDP program's shape (status line, metrics, summary, warning) carries them.
        assert_eq!(c.as_steering().flows_evicted, c.flows_evicted);

        // A table large enough evicts nothing; the server's stale ACKs are selected and keep
        // their entries; the clients' ACKs complete the handshakes and delete them all.
        let mut frames = syns.clone();
        frames.extend((0..n).map(|i| frame(i, false, F::ACK)));
        frames.extend((0..n).map(|i| frame(i, true, F::ACK)));
        frames.extend((0..n).map(|i| frame(i, true, F::ACK)));
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let (c, entries) = test_run_table(&refs, &host(65536, ring), 0).expect("load the tc program");
        assert_eq!((c.flows_evicted, entries), (0, 0), "{c}");
        assert_eq!(c.cloned_ack, 2 * u64::from(n), "stale ACKs and the completing ACKs: {c}");
        assert_eq!(c.not_cloned_tcp, u64::from(n), "the ACKs after the handshake: {c}");
        if !ring {
            assert_eq!(c.clone_fail, c.cloned(), "{c}");
        }
    }
}
