//! Parser tests: every layer, every variant, every truncation.

use super::build::{TcpSpec, F};
use super::*;

fn v4(a: &str) -> std::net::SocketAddr {
    a.parse().unwrap()
}

fn syn_spec() -> TcpSpec {
    let mut s = TcpSpec::new(v4("10.0.0.1:40000"), v4("10.0.0.2:80"), 0xFFFF_FFF0, 0, F::SYN);
    s.mss = Some(1460);
    s.ts = Some((1234, 0));
    s
}

fn tcp(r: Result<Parsed, ParseError>) -> Segment {
    match r {
        Ok(Parsed::Tcp(s)) => s,
        other => panic!("expected a TCP segment, got {other:?}"),
    }
}

#[test]
fn ipv4_syn_with_options() {
    let f = syn_spec().ethernet();
    let s = tcp(parse_frame(LinkType::Ethernet, &f, 7, 1));
    assert_eq!(s.src_addr(), v4("10.0.0.1:40000"));
    assert_eq!(s.dst_addr(), v4("10.0.0.2:80"));
    assert_eq!(s.seq, SeqNum(0xFFFF_FFF0));
    assert!(s.flags.has(TcpFlags::SYN));
    assert_eq!(s.opts.mss, 1460);
    assert!(s.opts.has_ts);
    assert_eq!(s.tsval, 1234);
    assert_eq!(s.payload_len, 0);
    assert_eq!(s.seg_len(), 1);
    assert_eq!(s.vlan, NO_VLAN);
    assert_eq!((s.ts_ns, s.frame), (7, 1));
}

#[test]
fn ipv6_with_extension_headers() {
    let mut spec = TcpSpec::new(v4("[fd00::1]:5000"), v4("[fd00::2]:443"), 1, 2, F::ACK | F::FIN);
    spec.payload = 10;
    let mut ip = spec.ip();
    // Insert hop-by-hop (8 bytes) and a first fragment header (offset 0, M=1) before TCP.
    let tcp_part = ip.split_off(40);
    ip[6] = 0; // next = hop-by-hop
    ip.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // HBH: next=fragment, len 0, PadN
    ip.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]); // fragment: next=TCP, offset 0, M=1
    ip.extend_from_slice(&tcp_part);
    let plen = (ip.len() - 40) as u16;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    let s = tcp(parse_frame(LinkType::RawIp, &ip, 0, 1));
    assert!(s.v6);
    assert_eq!(s.src_addr(), v4("[fd00::1]:5000"));
    assert_eq!(s.payload_len, 10);
    assert_eq!(s.seg_len(), 11);
}

#[test]
fn ipv6_non_first_fragment_is_skipped() {
    let spec = TcpSpec::new(v4("[fd00::1]:5000"), v4("[fd00::2]:443"), 1, 2, F::ACK);
    let mut ip = spec.ip();
    let rest = ip.split_off(40);
    ip[6] = 44;
    ip.extend_from_slice(&[6, 0, 0x01, 0x00, 0, 0, 0, 9]); // offset 32
    ip.extend_from_slice(&rest);
    assert_eq!(parse_frame(LinkType::RawIp, &ip, 0, 1), Ok(Parsed::Skip(SkipReason::NonFirstFragment)));
}

#[test]
fn ipv6_long_chain_is_refused() {
    let spec = TcpSpec::new(v4("[fd00::1]:5000"), v4("[fd00::2]:443"), 1, 2, F::ACK);
    let mut ip = spec.ip();
    let rest = ip.split_off(40);
    ip[6] = 60;
    for _ in 0..20 {
        ip.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    ip.extend_from_slice(&rest);
    let plen = (ip.len() - 40) as u16;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    let e = parse_frame(LinkType::RawIp, &ip, 0, 1).unwrap_err();
    assert_eq!(e.reason(), "ipv6_ext_chain_too_long");
}

#[test]
fn vlan_and_qinq() {
    let mut spec = syn_spec();
    spec.vlans = vec![100];
    let s = tcp(parse_frame(LinkType::Ethernet, &spec.ethernet(), 0, 1));
    assert_eq!((s.vlan, s.svlan), (100, NO_VLAN));
    spec.vlans = vec![10, 200];
    let s = tcp(parse_frame(LinkType::Ethernet, &spec.ethernet(), 0, 1));
    assert_eq!((s.vlan, s.svlan), (200, 10));
    spec.vlans = vec![1, 2];
    let mut f = spec.ethernet();
    // Third tag: splice another 802.1Q tag after the second.
    f.splice(20..20, [0x81, 0x00, 0x00, 0x03]);
    let e = parse_frame(LinkType::Ethernet, &f, 0, 1).unwrap_err();
    assert_eq!(e.reason(), "too_many_vlan_tags");
}

#[test]
fn linux_cooked_v1_and_v2() {
    let ip = syn_spec().ip();
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    assert_eq!(tcp(parse_frame(LinkType::LinuxSll, &sll, 0, 1)).sport, 40000);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll2.extend_from_slice(&ip);
    assert_eq!(tcp(parse_frame(LinkType::LinuxSll2, &sll2, 0, 1)).sport, 40000);
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let mut spec = syn_spec();
    spec.vlans = vec![5, 6];
    for f in [spec.ethernet(), {
        let mut s6 = TcpSpec::new(v4("[fd00::1]:5000"), v4("[fd00::2]:443"), 1, 2, F::SYN);
        s6.ts = Some((1, 2));
        s6.ethernet()
    }] {
        for cut in 0..f.len() {
            match parse_frame(LinkType::Ethernet, &f[..cut], 0, 1) {
                Err(ParseError::Len { .. }) => {}
                other => panic!("cut at {cut}: expected a length error, got {other:?}"),
            }
        }
        assert!(matches!(parse_frame(LinkType::Ethernet, &f, 0, 1), Ok(Parsed::Tcp(_))));
    }
}

#[test]
fn bad_ihl_data_offset_total_length_options() {
    let f = syn_spec().ethernet();
    let mut bad = f.clone();
    bad[14] = 0x44; // IHL 4
    assert_eq!(parse_frame(LinkType::Ethernet, &bad, 0, 1).unwrap_err().reason(), "bad_ipv4_ihl");
    let mut bad = f.clone();
    bad[16..18].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(parse_frame(LinkType::Ethernet, &bad, 0, 1).unwrap_err().reason(), "bad_ipv4_total_length");
    let mut bad = f.clone();
    bad[14 + 20 + 12] = 0x40; // data offset 4
    assert_eq!(parse_frame(LinkType::Ethernet, &bad, 0, 1).unwrap_err().reason(), "bad_tcp_data_offset");
    let mut bad = f.clone();
    bad[14 + 20 + 12] = 0xF0; // data offset 60 > IP payload
    assert_eq!(parse_frame(LinkType::Ethernet, &bad, 0, 1).unwrap_err().reason(), "tcp_header_beyond_ip_payload");
    let mut bad = f.clone();
    bad[14 + 20 + 20 + 1] = 40; // MSS option length runs past the header
    let good = tcp(parse_frame(LinkType::Ethernet, &f, 0, 1));
    // A malformed option: the segment is kept (flags, seq, ack, payload), options ignored.
    for len in [40u8, 0] {
        let mut bad = f.clone();
        bad[14 + 20 + 20 + 1] = len;
        let s = tcp(parse_frame(LinkType::Ethernet, &bad, 0, 1));
        assert!(s.opts.malformed, "option length {len}");
        assert_eq!((s.flags, s.seq, s.ack, s.payload_len), (good.flags, good.seq, good.ack, good.payload_len));
        assert_eq!(s.opts.mss, 0);
        assert!(!s.opts.has_ts);
    }
    assert!(!good.opts.malformed);
}

#[test]
fn payload_is_clamped_to_the_frame_on_the_wire_not_to_a_snaplen_cut() {
    let mut spec = TcpSpec::new("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), 1, 2, F::ACK);
    spec.payload = 100;
    let f = spec.ethernet();
    let mut lying = f.clone();
    lying[16..18].copy_from_slice(&1500u16.to_be_bytes()); // IP total length claims 1500
    let s = tcp(crate::packet::parse_frame_wire(LinkType::Ethernet, &lying, lying.len(), 0, 1));
    assert_eq!(s.payload_len, 100, "clamped to the frame");
    // Without a wire length, the IP layer's claim stands (parse_frame).
    assert_eq!(tcp(parse_frame(LinkType::Ethernet, &lying, 0, 1)).payload_len, 1500 - 40);
    // A snaplen cut: 60 bytes captured of a frame that was longer on the wire.
    let s = tcp(crate::packet::parse_frame_wire(LinkType::Ethernet, &f[..60], f.len(), 0, 1));
    assert_eq!(s.payload_len, 100, "a snaplen cut keeps the IP length");
    // The wire length itself bounds the claim.
    let s = tcp(crate::packet::parse_frame_wire(LinkType::Ethernet, &lying[..60], f.len(), 0, 1));
    assert_eq!(s.payload_len, 100);
}

#[test]
fn skips_are_not_errors() {
    let mut arp = vec![0u8; 42];
    arp[12] = 0x08;
    arp[13] = 0x06;
    assert_eq!(parse_frame(LinkType::Ethernet, &arp, 0, 1), Ok(Parsed::Skip(SkipReason::NotIp)));
    let mut udp = syn_spec().ethernet();
    udp[14 + 9] = 17;
    assert_eq!(parse_frame(LinkType::Ethernet, &udp, 0, 1), Ok(Parsed::Skip(SkipReason::NotTcp)));
    let mut frag = syn_spec().ethernet();
    frag[14 + 6] = 0x00;
    frag[14 + 7] = 0x10;
    assert_eq!(parse_frame(LinkType::Ethernet, &frag, 0, 1), Ok(Parsed::Skip(SkipReason::NonFirstFragment)));
    assert_eq!(parse_frame(LinkType::Other(147), &[], 0, 1), Ok(Parsed::Skip(SkipReason::UnsupportedLinkType)));
    assert!(parse_frame(LinkType::Ethernet, &[], 0, 1).is_err());
}

#[test]
fn ethernet_padding_does_not_count_as_payload() {
    let mut f = TcpSpec::new(v4("10.0.0.1:1"), v4("10.0.0.2:2"), 1, 1, F::ACK).ethernet();
    f.resize(60, 0); // minimum Ethernet frame
    assert_eq!(tcp(parse_frame(LinkType::Ethernet, &f, 0, 1)).payload_len, 0);
}
