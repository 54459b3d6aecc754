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

/// `parse_frame_into`'s one-step path for plain IPv4/TCP (and its option shortcut) gives what
/// the general walk gives, on every frame: the real-kernel and field captures, built frames,
/// every truncation of them and seeded byte mutations of the headers.
#[test]
fn fast_path_equals_the_general_walk() {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".pcap") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 10, "captures found: {}", files.len());
    for f in &files {
        let Ok(mut r) = crate::replay::CaptureReader::open(f) else { continue };
        while let Ok(Some(fr)) = r.next_frame() {
            if fr.link == LinkType::Ethernet && frames.len() < 200_000 {
                frames.push(fr.data.to_vec());
            }
        }
    }
    let a = v4("10.0.0.1:40000");
    let b = v4("10.0.0.2:80");
    for flags in [F::SYN, F::SYN | F::ACK, F::ACK, F::ACK | F::PSH, F::FIN | F::ACK, F::RST] {
        for ts in [None, Some((1, 2))] {
            for mss in [None, Some(1460)] {
                let mut t = TcpSpec::new(a, b, 7, 9, flags);
                t.ts = ts;
                t.mss = mss;
                t.payload = if flags & F::PSH != 0 { 10 } else { 0 };
                frames.push(t.ethernet());
                t.vlans = vec![5];
                frames.push(t.ethernet());
            }
        }
    }
    let check = |f: &[u8], wire: usize| {
        let mut x = Segment::EMPTY;
        let mut y = Segment { ts_ns: 3, frame: 4, ..Segment::EMPTY };
        let fast = parse_frame_into(LinkType::Ethernet, f, wire, 3, 4, &mut x);
        let general = parse_general(LinkType::Ethernet, f, wire, &mut y);
        assert_eq!(fast, general, "frame {f:02x?}");
        if fast == Ok(None) {
            assert_eq!(x, y, "frame {f:02x?}");
        }
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let built = frames.len();
    let mut n = 0u64;
    for (i, f) in frames.iter().enumerate() {
        check(f, f.len());
        check(f, usize::MAX);
        if i % 50 == 0 || i >= built - 48 {
            for cut in 0..f.len().min(80) {
                check(&f[..cut], f.len());
            }
            for _ in 0..32 {
                let mut m = f.clone();
                let k = 1 + (next() % 3) as usize;
                for _ in 0..k {
                    let at = (next() as usize) % m.len().min(80).max(1);
                    if at < m.len() {
                        m[at] = next() as u8;
                    }
                }
                check(&m, m.len());
                n += 1;
            }
        }
    }
    eprintln!("fast path check: {} frames ({} from {} captures), {n} mutations", frames.len(), built - 48, files.len());
    assert!(frames.len() > 1000 && n > 1000, "{} frames, {n} mutations", frames.len());
}

#[test]
fn parse_into_a_used_slot_equals_parse_by_value() {
    assert_eq!(TcpOptions::NONE, TcpOptions::default());
    // A slot that held a tunnelled IPv6 segment with options, then a plain IPv4 SYN, a bare
    // ACK and a frame without TCP: each parse in place gives what the by-value parse gives.
    let mut v6 = TcpSpec::new("[2001:db8::1]:5000".parse().unwrap(), "[2001:db8::2]:443".parse().unwrap(), 9, 77, F::ACK);
    v6.ts = Some((5, 6));
    let frames = [
        crate::packet::build::wrap(&crate::packet::build::Wrap::Vxlan { vni: 42, outer: ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()) }, &v6.ethernet(), 0),
        syn_spec().ethernet(),
        TcpSpec::new(v4("10.0.0.2:80"), v4("10.0.0.1:40000"), 1, 2, F::ACK).ethernet(),
        vec![0u8; 60],
    ];
    let mut slot = Segment::EMPTY;
    for (i, f) in frames.iter().enumerate() {
        let (ts, n) = (100 + i as u64, 1 + i as u64);
        let by_value = parse_frame_wire(LinkType::Ethernet, f, f.len(), ts, n);
        let in_place = parse_frame_into(LinkType::Ethernet, f, f.len(), ts, n, &mut slot);
        match (by_value, in_place) {
            (Ok(Parsed::Tcp(s)), Ok(None)) => assert_eq!(s, slot, "frame {i}"),
            (Ok(Parsed::Skip(a)), Ok(Some(b))) => assert_eq!(a, b, "frame {i}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "frame {i}"),
            (a, b) => panic!("frame {i}: by value {a:?}, in place {b:?}"),
        }
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
    // Third tag: splice another 802.1Q tag after the second; the innermost two are kept.
    f.splice(20..20, [0x81, 0x00, 0x00, 0x03]);
    let s = tcp(parse_frame(LinkType::Ethernet, &f, 0, 1));
    assert_eq!((s.vlan, s.svlan), (3, 2));
    // Up to MAX_VLAN_TAGS tags in all, then refused.
    for _ in 3..MAX_VLAN_TAGS {
        f.splice(20..20, [0x81, 0x00, 0x00, 0x09]);
    }
    assert_eq!(tcp(parse_frame(LinkType::Ethernet, &f, 0, 1)).vlan, 3);
    f.splice(20..20, [0x81, 0x00, 0x00, 0x09]);
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

// ---- encapsulations ---------------------------------------------------------------------------

use super::build::{wrap, Wrap};

fn ipa(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn wraps() -> Vec<Wrap> {
    let o4 = (ipa("192.0.2.1"), ipa("192.0.2.2"));
    let o6 = (ipa("2001:db8::1"), ipa("2001:db8::2"));
    vec![
        Wrap::Vxlan { vni: 0xFFFFFF, outer: o4 },
        Wrap::Geneve { vni: 5, opts: 0, outer: o4 },
        Wrap::Geneve { vni: 5, opts: 7, outer: o6 },
        Wrap::Gre { csum: false, key: None, seq: None, outer: o4 },
        Wrap::Gre { csum: true, key: Some(0), seq: Some(9), outer: o6 },
        Wrap::GreTeb { key: 1, outer: o4 },
        Wrap::ErspanII { session: 1023, outer_vlan: Some(7), outer: o4 },
        Wrap::ErspanIII { session: 5, subheader: false, outer: o4 },
        Wrap::ErspanIII { session: 5, subheader: true, outer: o6 },
        Wrap::IpIp { outer: o4 },
        Wrap::IpIp { outer: o6 },
        Wrap::Mpls { labels: vec![1048575], pw: false },
        Wrap::Mpls { labels: vec![1, 2, 3, 4, 5, 6, 7, 8], pw: true },
        Wrap::Pppoe { session: 0xFFFF, vlan: Some(3) },
        Wrap::Null { af: 2, big_endian: true },
        Wrap::Null { af: 28, big_endian: false },
        Wrap::Loop { af: 30 },
    ]
}

fn inner_frames() -> Vec<Vec<u8>> {
    let mut v6 = TcpSpec::new(v4("[fd00::1]:5000"), v4("[fd00::2]:443"), 7, 9, F::ACK);
    v6.ts = Some((3, 4));
    v6.payload = 5;
    // The IPv6 inner for the NULL/LOOP IPv6 families, IPv4 for AF 2.
    vec![syn_spec().ethernet(), v6.ethernet()]
}

fn link_of(w: &Wrap) -> LinkType {
    LinkType::from_linktype(w.linktype())
}

#[test]
fn every_encapsulation_gives_the_inner_segment_and_its_tunnel() {
    for w in wraps() {
        for inner in inner_frames() {
            let is_v6 = inner[12] == 0x86;
            match w {
                Wrap::Null { af, .. } | Wrap::Loop { af } if (af == 2) == is_v6 => continue,
                _ => {}
            }
            let plain = tcp(parse_frame(LinkType::Ethernet, &inner, 0, 1));
            let f = wrap(&w, &inner, 3);
            let s = tcp(parse_frame(link_of(&w), &f, 0, 1));
            let ctx = format!("{w:?} v6={is_v6}");
            assert_eq!((s.src, s.dst, s.sport, s.dport, s.seq, s.ack, s.flags, s.payload_len), (plain.src, plain.dst, plain.sport, plain.dport, plain.seq, plain.ack, plain.flags, plain.payload_len), "{ctx}");
            assert_eq!((s.v6, s.opts, s.tsval), (plain.v6, plain.opts, plain.tsval), "{ctx}");
            let t = s.tunnel;
            let (kind, id) = match &w {
                Wrap::Vxlan { vni, .. } | Wrap::Geneve { vni, .. } => (if matches!(w, Wrap::Vxlan { .. }) { "vxlan" } else { "geneve" }, Some(*vni)),
                Wrap::Gre { key, .. } => ("gre", *key),
                Wrap::GreTeb { key, .. } => ("gre_teb", Some(*key)),
                Wrap::ErspanII { session, .. } => ("erspan_ii", Some(u32::from(*session))),
                Wrap::ErspanIII { session, .. } => ("erspan_iii", Some(u32::from(*session))),
                Wrap::IpIp { .. } => ("ipip", None),
                Wrap::Mpls { labels, .. } => ("mpls", labels.last().copied()),
                Wrap::Pppoe { session, .. } => ("pppoe", Some(u32::from(*session))),
                _ => {
                    assert_eq!(t, None, "{ctx}");
                    continue;
                }
            };
            let t = t.unwrap_or_else(|| panic!("{ctx}: no tunnel"));
            assert_eq!((t.kind.as_str(), t.id, t.depth), (kind, id, 1), "{ctx}");
            if let Wrap::Vxlan { outer, .. } | Wrap::Gre { outer, .. } | Wrap::IpIp { outer } | Wrap::ErspanIII { outer, .. } = &w {
                assert_eq!((t.outer_src_ip(), t.outer_dst_ip()), (Some(outer.0), Some(outer.1)), "{ctx}");
            }
            if let Wrap::ErspanII { .. } = &w {
                // The outer VLAN belongs to the mirror transport, not the inner flow.
                assert_eq!(s.vlan, NO_VLAN, "{ctx}");
            }
            if let Wrap::Pppoe { vlan, .. } = &w {
                assert_eq!(s.vlan, vlan.unwrap(), "{ctx}");
                assert!(!t.outer_ip);
            }
        }
    }
}

#[test]
fn encapsulated_truncations_are_length_errors_of_the_layer_cut() {
    for w in wraps() {
        let inner = &inner_frames()[match w {
            Wrap::Null { af: 28, .. } | Wrap::Loop { .. } => 1,
            _ => 0,
        }];
        let f = wrap(&w, inner, 0);
        let full = tcp(parse_frame(link_of(&w), &f, 0, 1));
        let mut layers = std::collections::BTreeSet::new();
        for cut in 0..f.len() {
            match parse_frame(link_of(&w), &f[..cut], 0, 1) {
                Err(e @ ParseError::Len { offset, available, .. }) => {
                    assert!(offset <= cut && available == cut - offset.min(cut), "{w:?} cut {cut}: {e:?}");
                    layers.insert(e.reason());
                }
                Ok(Parsed::Tcp(s)) if s == full => {}
                other => panic!("{w:?} cut {cut}: {other:?}"),
            }
        }
        let want: &[&str] = match w {
            Wrap::Vxlan { .. } => &["truncated_udp", "truncated_vxlan", "truncated_link", "truncated_ipv4", "truncated_tcp"],
            Wrap::Geneve { .. } => &["truncated_udp", "truncated_geneve", "truncated_link"],
            Wrap::Gre { .. } | Wrap::GreTeb { .. } => &["truncated_gre"],
            Wrap::ErspanII { .. } | Wrap::ErspanIII { .. } => &["truncated_gre", "truncated_erspan", "truncated_vlan"][..if matches!(w, Wrap::ErspanII { .. }) { 3 } else { 2 }],
            Wrap::Mpls { .. } => &["truncated_mpls"],
            Wrap::Pppoe { .. } => &["truncated_pppoe", "truncated_vlan"],
            _ => &["truncated_link", "truncated_tcp"],
        };
        for l in want {
            assert!(layers.contains(l), "{w:?}: no {l} among {layers:?}");
        }
    }
}

#[test]
fn unsupported_and_broken_encapsulations() {
    let inner = syn_spec().ethernet();
    let o4 = (ipa("192.0.2.1"), ipa("192.0.2.2"));
    let skip = |f: &[u8]| match parse_frame(LinkType::Ethernet, f, 0, 1) {
        Ok(Parsed::Skip(r)) => r.as_str(),
        other => panic!("expected a skip, got {other:?}"),
    };
    let err = |f: &[u8]| parse_frame(LinkType::Ethernet, f, 0, 1).unwrap_err().reason();
    // VXLAN without the I flag; VXLAN-GPE; plain UDP.
    let mut f = wrap(&Wrap::Vxlan { vni: 1, outer: o4 }, &inner, 0);
    f[14 + 20 + 8] = 0;
    assert_eq!(skip(&f), "unsupported_udp_tunnel");
    let mut f = wrap(&Wrap::Vxlan { vni: 1, outer: o4 }, &inner, 0);
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&4790u16.to_be_bytes());
    assert_eq!(skip(&f), "unsupported_udp_tunnel");
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&53u16.to_be_bytes());
    assert_eq!(skip(&f), "not_tcp");
    // Linux's pre-IANA VXLAN port (flannel's default) is VXLAN too (UDP checksum not checked).
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&8472u16.to_be_bytes());
    assert_eq!(tcp(parse_frame(LinkType::Ethernet, &f, 0, 1)).tunnel.map(|t| t.kind), Some(TunnelKind::Vxlan));
    // GTP-U, L2TP, GRE-in-UDP: recognised, not decoded.
    for port in [2152u16, 1701, 4754] {
        f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&port.to_be_bytes());
        assert_eq!(skip(&f), "unsupported_udp_tunnel", "port {port}");
    }
    // ESP, EtherIP, L2TPv3 over IP.
    for proto in [50u8, 97, 115] {
        let ip = super::build::ip_packet(o4.0, o4.1, proto, &[0; 40]);
        let f = super::build::ethernet_frame(&[], 0x0800, &ip);
        assert_eq!(skip(&f), "unsupported_ip_tunnel", "protocol {proto}");
    }
    // GENEVE control packet; option running past the options area.
    let mut f = wrap(&Wrap::Geneve { vni: 1, opts: 2, outer: o4 }, &inner, 0);
    f[14 + 28 + 1] = 0x80;
    assert_eq!(skip(&f), "unsupported_udp_tunnel");
    let mut f = wrap(&Wrap::Geneve { vni: 1, opts: 2, outer: o4 }, &inner, 0);
    f[14 + 28 + 8 + 3] = 5;
    assert_eq!(err(&f), "bad_tunnel_header");
    // GRE version 1, routing present, unknown protocol.
    let g = wrap(&Wrap::Gre { csum: false, key: None, seq: None, outer: o4 }, &inner, 0);
    let mut f = g.clone();
    f[14 + 20 + 1] = 1;
    assert_eq!(skip(&f), "unsupported_gre");
    let mut f = g.clone();
    f[14 + 20] = 0x40;
    assert_eq!(skip(&f), "unsupported_gre");
    let mut f = g;
    f[14 + 20 + 2] = 0x12;
    assert_eq!(skip(&f), "unsupported_gre");
    // ERSPAN of an unknown version; type III of an unknown frame type.
    let mut f = wrap(&Wrap::ErspanII { session: 1, outer_vlan: None, outer: o4 }, &inner, 0);
    f[14 + 20 + 8] = 0x70;
    assert_eq!(skip(&f), "unsupported_erspan");
    let mut f = wrap(&Wrap::ErspanIII { session: 1, subheader: false, outer: o4 }, &inner, 0);
    f[14 + 20 + 8 + 10] = 0x3 << 2;
    assert_eq!(skip(&f), "unsupported_erspan");
    // ERSPAN type I: GRE 0x88BE without a sequence number, the frame right after GRE.
    let mut e1 = super::build::gre_header(false, None, None, 0x88BE, &inner);
    e1 = super::build::ip_packet(o4.0, o4.1, 47, &e1);
    let s = tcp(parse_frame(LinkType::Ethernet, &super::build::ethernet_frame(&[], 0x0800, &e1), 0, 1));
    assert_eq!(s.tunnel.map(|t| (t.kind, t.id)), Some((TunnelKind::ErspanI, None)));
    // MPLS: payload neither IP nor a recognisable Ethernet; a stack deeper than the bound.
    let mut f = wrap(&Wrap::Mpls { labels: vec![5], pw: true }, &inner, 0);
    f[14 + 4 + 4 + 12] = 0x12;
    assert_eq!(skip(&f), "unsupported_mpls_payload");
    let f = wrap(&Wrap::Mpls { labels: (1..=MAX_MPLS_LABELS as u32 + 1).collect(), pw: false }, &inner, 0);
    assert_eq!(err(&f), "too_many_encapsulations");
    // PPPoE: LCP; discovery; a bad version; protocol-field compression.
    let p = wrap(&Wrap::Pppoe { session: 1, vlan: None }, &inner, 0);
    let mut f = p.clone();
    f[14 + 6..14 + 8].copy_from_slice(&0xC021u16.to_be_bytes());
    assert_eq!(skip(&f), "ppp_not_ip");
    let mut f = p.clone();
    f[12..14].copy_from_slice(&0x8863u16.to_be_bytes());
    assert_eq!(skip(&f), "ppp_not_ip");
    let mut f = p.clone();
    f[14] = 0x21;
    assert_eq!(err(&f), "bad_tunnel_header");
    let mut f = p;
    f.remove(14 + 6);
    let s = tcp(parse_frame(LinkType::Ethernet, &f, 0, 1));
    assert_eq!(s.sport, 40000);
    // NULL with an unknown family.
    assert_eq!(parse_frame(LinkType::Null, &[7, 0, 0, 0, 0x45], 0, 1), Ok(Parsed::Skip(SkipReason::NotIp)));
    assert_eq!(parse_frame(LinkType::Loop, &[0, 0], 0, 1).unwrap_err().reason(), "truncated_link");
}

#[test]
fn nesting_is_bounded_and_the_outermost_tunnel_is_kept() {
    let o4 = (ipa("192.0.2.1"), ipa("192.0.2.2"));
    let mut f = syn_spec().ethernet();
    for depth in 1..=MAX_ENCAP_DEPTH + 1 {
        f = wrap(&Wrap::Vxlan { vni: depth as u32, outer: o4 }, &f, 0);
        let r = parse_frame(LinkType::Ethernet, &f, 0, 1);
        if depth <= MAX_ENCAP_DEPTH {
            let t = tcp(r).tunnel.unwrap();
            assert_eq!((t.id, t.depth as usize), (Some(depth as u32), depth));
        } else {
            assert_eq!(r.unwrap_err().reason(), "too_many_encapsulations");
        }
    }
    // IP-in-IP nested without end is refused as well (no loop on a crafted chain).
    let mut ip = syn_spec().ip();
    for _ in 0..=MAX_ENCAP_DEPTH {
        ip = super::build::ip_packet(o4.0, o4.1, 4, &ip);
    }
    assert_eq!(parse_frame(LinkType::RawIp, &ip, 0, 1).unwrap_err().reason(), "too_many_encapsulations");
}

#[test]
fn reason_tables_are_dense() {
    for i in 0..PARSE_REASONS {
        assert!(!ParseError::reason_name(i).is_empty());
    }
    let e = ParseError::Content { layer: Layer::Gre, offset: 0, error: ContentError::BadTunnelHeader };
    assert_eq!(e.reason(), "bad_tunnel_header");
    let e = ParseError::Len { layer: Layer::Pppoe, offset: 0, required: 8, available: 0 };
    assert_eq!(e.reason(), "truncated_pppoe");
    assert_eq!(SkipReason::ALL.len(), SKIP_REASONS);
    for (i, r) in SkipReason::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i);
    }
}

#[test]
fn segment_stays_small() {
    // The tunnel identity (outer addresses, id) made Segment grow from 88 bytes; it is copied
    // through the shard hand-off rings, so keep an eye on it.
    let n = std::mem::size_of::<Segment>();
    eprintln!("Segment: {n} bytes, Tunnel: {} bytes", std::mem::size_of::<Tunnel>());
    assert!(n <= 136, "Segment is {n} bytes");
}
