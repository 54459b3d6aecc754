//! Frame builder: well-formed Ethernet/VLAN/IPv4/IPv6/TCP frames with valid checksums.
//!
//! Used by the unit tests, the benchmarks' capture writer, the fuzz seeds and the traffic
//! generator. Building allocates (it returns a `Vec`); it is never on a receive path.

use std::net::{IpAddr, SocketAddr};


/// A TCP segment to build.
#[derive(Clone, Debug)]
pub struct TcpSpec {
    /// Source endpoint.
    pub src: SocketAddr,
    /// Destination endpoint (same IP family as `src`).
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags, e.g. `TcpFlags::SYN | TcpFlags::ACK`.
    pub flags: u8,
    /// Payload bytes (zeros) to append.
    pub payload: usize,
    /// TCP timestamps option (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
    /// MSS option.
    pub mss: Option<u16>,
    /// VLAN tags, outer first (0 to 2).
    pub vlans: Vec<u16>,
}

impl TcpSpec {
    /// A segment with no options, payload or VLAN.
    pub fn new(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, flags: u8) -> TcpSpec {
        TcpSpec { src, dst, seq, ack, flags, payload: 0, ts: None, mss: None, vlans: Vec::new() }
    }

    /// Build the Ethernet frame.
    pub fn ethernet(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(128 + self.payload);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
        for (i, v) in self.vlans.iter().enumerate() {
            let tpid: u16 = if i == 0 && self.vlans.len() == 2 { 0x88A8 } else { 0x8100 };
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        let ethertype: u16 = if self.src.is_ipv6() { 0x86DD } else { 0x0800 };
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&self.ip());
        f
    }

    /// Build the IP packet (no link header).
    pub fn ip(&self) -> Vec<u8> {
        let tcp = self.tcp_header_and_payload();
        let mut p = Vec::with_capacity(40 + tcp.len());
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = (20 + tcp.len()) as u16;
                p.extend_from_slice(&[0x45, 0]);
                p.extend_from_slice(&total.to_be_bytes());
                p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                let c = checksum(&[&p[..]], 0);
                p[10..12].copy_from_slice(&c.to_be_bytes());
                let mut pseudo = Vec::with_capacity(12);
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&[0, 6]);
                pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
                let mut tcp = tcp;
                let c = checksum(&[&pseudo, &tcp], 0);
                tcp[16..18].copy_from_slice(&c.to_be_bytes());
                p.extend_from_slice(&tcp);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                p.extend_from_slice(&[0x60, 0, 0, 0]);
                p.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
                p.extend_from_slice(&[6, 64]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                let mut pseudo = Vec::with_capacity(40);
                pseudo.extend_from_slice(&s.octets());
                pseudo.extend_from_slice(&d.octets());
                pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 6]);
                let mut tcp = tcp;
                let c = checksum(&[&pseudo, &tcp], 0);
                tcp[16..18].copy_from_slice(&c.to_be_bytes());
                p.extend_from_slice(&tcp);
            }
            _ => panic!("TcpSpec: src and dst must be the same IP family"),
        }
        p
    }

    fn tcp_header_and_payload(&self) -> Vec<u8> {
        let mut opts = Vec::new();
        if let Some(mss) = self.mss {
            opts.extend_from_slice(&[2, 4]);
            opts.extend_from_slice(&mss.to_be_bytes());
        }
        if let Some((tsval, tsecr)) = self.ts {
            opts.extend_from_slice(&[1, 1, 8, 10]);
            opts.extend_from_slice(&tsval.to_be_bytes());
            opts.extend_from_slice(&tsecr.to_be_bytes());
        }
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let doff = (20 + opts.len()) / 4;
        let mut t = Vec::with_capacity(20 + opts.len() + self.payload);
        t.extend_from_slice(&self.src.port().to_be_bytes());
        t.extend_from_slice(&self.dst.port().to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.push((doff as u8) << 4);
        t.push(self.flags);
        t.extend_from_slice(&64240u16.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]);
        t.extend_from_slice(&opts);
        t.resize(t.len() + self.payload, 0);
        t
    }
}

/// Internet checksum (RFC 1071) over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]], initial: u32) -> u16 {
    let mut sum = initial;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in part.iter() {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// `TcpFlags` re-exported for builders: `F::SYN | F::ACK`.
pub use crate::packet::TcpFlags as F;

// ---- encapsulations ---------------------------------------------------------------------------
//
// Wrappers that put an existing frame (usually a real-kernel capture's Ethernet frame) inside
// the encapsulations the parser decodes. They write what the specifications say, with valid
// IPv4 header and UDP checksums, so tshark decodes the result (tests/encap_captures.rs checks
// that it does, frame by frame). examples/encap_fixtures.rs uses them to make
// tests/captures/encap/.

/// An encapsulation to wrap a frame in (see [`wrap`]).
#[derive(Clone, Debug)]
pub enum Wrap {
    /// VLAN tags (outer first) on the Ethernet frame itself; TPID 0x88A8 for the first of
    /// several, 0x8100 for the others.
    Vlans(Vec<u16>),
    /// VXLAN over UDP/IP between `outer` endpoints (UDP source port 49152 + vni % 1024).
    Vxlan { vni: u32, outer: (IpAddr, IpAddr) },
    /// GENEVE with Ethernet payload and `opts` 4-byte words of options (one TLV per 2 words).
    Geneve { vni: u32, opts: u8, outer: (IpAddr, IpAddr) },
    /// GRE carrying the inner IP packet, with the optional checksum, key and sequence fields.
    Gre { csum: bool, key: Option<u32>, seq: Option<u32>, outer: (IpAddr, IpAddr) },
    /// GRE transparent Ethernet bridging (0x6558) with a key.
    GreTeb { key: u32, outer: (IpAddr, IpAddr) },
    /// ERSPAN type II (GRE 0x88BE with a sequence number), optionally with an outer VLAN tag.
    ErspanII { session: u16, outer_vlan: Option<u16>, outer: (IpAddr, IpAddr) },
    /// ERSPAN type III (GRE 0x22EB), with the 8-byte platform sub-header when `subheader`.
    ErspanIII { session: u16, subheader: bool, outer: (IpAddr, IpAddr) },
    /// The inner IP packet in an outer IP header (protocol 4 or 41 by the inner version).
    IpIp { outer: (IpAddr, IpAddr) },
    /// MPLS label stack (outermost first) over Ethernet; payload the inner IP packet, or with
    /// `pw` the whole inner Ethernet frame behind a control word.
    Mpls { labels: Vec<u32>, pw: bool },
    /// PPPoE session over Ethernet carrying the inner IP packet, with optional VLAN tag.
    Pppoe { session: u16, vlan: Option<u16> },
    /// LINKTYPE_NULL: the inner IP packet behind a 4-byte address family (`af`), little- or
    /// big-endian.
    Null { af: u32, big_endian: bool },
    /// LINKTYPE_LOOP: the inner IP packet behind a 4-byte address family in network order.
    Loop { af: u32 },
}

impl Wrap {
    /// The pcap link type of a wrapped frame.
    pub fn linktype(&self) -> u32 {
        match self {
            Wrap::Null { .. } => 0,
            Wrap::Loop { .. } => 108,
            _ => 1,
        }
    }
}

const OUTER_DST_MAC: [u8; 6] = [0x02, 0xAC, 0, 0, 0, 2];
const OUTER_SRC_MAC: [u8; 6] = [0x02, 0xAC, 0, 0, 0, 1];

/// An Ethernet frame with `tags` (outer first) and `ethertype` around `payload`.
pub fn ethernet_frame(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + 4 * tags.len() + payload.len());
    f.extend_from_slice(&OUTER_DST_MAC);
    f.extend_from_slice(&OUTER_SRC_MAC);
    for (i, v) in tags.iter().enumerate() {
        let tpid: u16 = if i == 0 && tags.len() > 1 { 0x88A8 } else { 0x8100 };
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 or IPv6 header with protocol `proto` around `payload` (IPv4 header checksum set).
pub fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let c = checksum(&[&p[..]], 0);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend_from_slice(&[proto, 64]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        _ => panic!("ip_packet: src and dst must be the same IP family"),
    }
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram in IP with a valid checksum.
pub fn udp_packet(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&len.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
        }
        _ => panic!("udp_packet: src and dst must be the same IP family"),
    }
    let c = match checksum(&[&pseudo, &u], 0) {
        0 => 0xFFFF,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ip_packet(src, dst, 17, &u)
}

/// A GRE header (RFC 2784/2890) with protocol `proto` around `payload`.
pub fn gre_header(csum: bool, key: Option<u32>, seq: Option<u32>, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut flags = 0u16;
    if csum {
        flags |= 0x8000;
    }
    if key.is_some() {
        flags |= 0x2000;
    }
    if seq.is_some() {
        flags |= 0x1000;
    }
    let mut g = Vec::with_capacity(16 + payload.len());
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&proto.to_be_bytes());
    if csum {
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    if let Some(k) = key {
        g.extend_from_slice(&k.to_be_bytes());
    }
    if let Some(s) = seq {
        g.extend_from_slice(&s.to_be_bytes());
    }
    g.extend_from_slice(payload);
    if csum {
        // RFC 2784 §2.5: the checksum covers the GRE header and payload.
        let c = checksum(&[&g[..]], 0);
        g[4..6].copy_from_slice(&c.to_be_bytes());
    }
    g
}

/// The IP packet of an untagged Ethernet frame (bytes 14..).
pub fn ip_of_ethernet(eth: &[u8]) -> &[u8] {
    &eth[14..]
}

fn ip_proto_of(inner_ip: &[u8]) -> (u8, u16) {
    if inner_ip[0] >> 4 == 6 {
        (41, 0x86DD)
    } else {
        (4, 0x0800)
    }
}

/// Wrap `inner` (an untagged Ethernet frame) in `w`; the result's link type is
/// [`Wrap::linktype`].
pub fn wrap(w: &Wrap, inner: &[u8], seq_no: u32) -> Vec<u8> {
    let outer_eth = |outer: &(IpAddr, IpAddr), pkt: Vec<u8>| {
        let et = if outer.0.is_ipv6() { 0x86DD } else { 0x0800 };
        ethernet_frame(&[], et, &pkt)
    };
    let ip = ip_of_ethernet(inner);
    let (ipproto, ip_et) = ip_proto_of(ip);
    match w {
        Wrap::Vlans(tags) => ethernet_frame(tags, u16::from_be_bytes([inner[12], inner[13]]), ip),
        Wrap::Vxlan { vni, outer } => {
            let mut v = vec![0x08, 0, 0, 0];
            v.extend_from_slice(&(vni << 8).to_be_bytes());
            v.extend_from_slice(inner);
            outer_eth(outer, udp_packet(outer.0, outer.1, 49152 + (*vni % 1024) as u16, super::VXLAN_PORT, &v))
        }
        Wrap::Geneve { vni, opts, outer } => {
            let mut g = vec![*opts & 0x3F, 0, 0x65, 0x58];
            g.extend_from_slice(&(vni << 8).to_be_bytes());
            let mut left = *opts;
            while left > 0 {
                // class 0x0101, a non-critical type (high bit clear), length in words.
                let body = left.min(2) - 1;
                g.extend_from_slice(&[0x01, 0x01, left & 0x7F, body]);
                g.resize(g.len() + 4 * body as usize, 0xAB);
                left -= body + 1;
            }
            g.extend_from_slice(inner);
            outer_eth(outer, udp_packet(outer.0, outer.1, 49152 + (*vni % 1024) as u16, super::GENEVE_PORT, &g))
        }
        Wrap::Gre { csum, key, seq, outer } => {
            let g = gre_header(*csum, *key, seq.map(|s| s.wrapping_add(seq_no)), ip_et, ip);
            outer_eth(outer, ip_packet(outer.0, outer.1, 47, &g))
        }
        Wrap::GreTeb { key, outer } => {
            let g = gre_header(false, Some(*key), None, 0x6558, inner);
            outer_eth(outer, ip_packet(outer.0, outer.1, 47, &g))
        }
        Wrap::ErspanII { session, outer_vlan, outer } => {
            // Ver 1, VLAN 0 | COS 0, En 0 (original frame untagged), T 0, session | index 0.
            let mut e = vec![0x10, 0x00];
            e.extend_from_slice(&(session & 0x3FF).to_be_bytes());
            e.extend_from_slice(&[0, 0, 0, 0]);
            e.extend_from_slice(inner);
            let g = gre_header(false, None, Some(seq_no), 0x88BE, &e);
            let pkt = ip_packet(outer.0, outer.1, 47, &g);
            let et = if outer.0.is_ipv6() { 0x86DD } else { 0x0800 };
            ethernet_frame(outer_vlan.as_slice(), et, &pkt)
        }
        Wrap::ErspanIII { session, subheader, outer } => {
            // Ver 2, VLAN 0 | COS 0, BSO 0, T 0, session | timestamp | SGT 0 | P 0, FT 0
            // (Ethernet), HW id 1, D 0, Gra 3 (IEEE 1588), O.
            let mut e = vec![0x20, 0x00];
            e.extend_from_slice(&(session & 0x3FF).to_be_bytes());
            e.extend_from_slice(&seq_no.wrapping_mul(1000).to_be_bytes());
            e.extend_from_slice(&[0, 0, 0x00, 0x10 | 0x06 | u8::from(*subheader)]);
            if *subheader {
                // Platform sub-header, platform id 3 (RFC draft-foschiano-erspan §4.3.1).
                e.extend_from_slice(&[0x0C, 0, 0, 0, 0, 0, 0, 0]);
            }
            e.extend_from_slice(inner);
            let g = gre_header(false, None, Some(seq_no), 0x22EB, &e);
            outer_eth(outer, ip_packet(outer.0, outer.1, 47, &g))
        }
        Wrap::IpIp { outer } => outer_eth(outer, ip_packet(outer.0, outer.1, ipproto, ip)),
        Wrap::Mpls { labels, pw } => {
            let mut m = Vec::new();
            for (i, l) in labels.iter().enumerate() {
                let bos = if i + 1 == labels.len() { 0x100 } else { 0 };
                m.extend_from_slice(&((l << 12) | bos | 64).to_be_bytes());
            }
            if *pw {
                // RFC 4385 control word: nibble 0, flags 0, length 0, sequence number.
                m.extend_from_slice(&[0, 0]);
                m.extend_from_slice(&(seq_no as u16).to_be_bytes());
                m.extend_from_slice(inner);
            } else {
                m.extend_from_slice(ip);
            }
            ethernet_frame(&[], 0x8847, &m)
        }
        Wrap::Pppoe { session, vlan } => {
            let ppp: u16 = if ipproto == 41 { 0x0057 } else { 0x0021 };
            let mut p = vec![0x11, 0x00];
            p.extend_from_slice(&session.to_be_bytes());
            p.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
            p.extend_from_slice(&ppp.to_be_bytes());
            p.extend_from_slice(ip);
            ethernet_frame(vlan.as_slice(), 0x8864, &p)
        }
        Wrap::Null { af, big_endian } => {
            let mut f = if *big_endian { af.to_be_bytes().to_vec() } else { af.to_le_bytes().to_vec() };
            f.extend_from_slice(ip);
            f
        }
        Wrap::Loop { af } => {
            let mut f = af.to_be_bytes().to_vec();
            f.extend_from_slice(ip);
            f
        }
    }
}

/// The wrapped fixtures in tests/captures/encap/: (name, real-kernel capture it wraps, wrap).
///
/// Every one carries the frames of `tw_repair` (IPv4) or `tw_repair_v6` unchanged inside, so
/// its expected events are that capture's, each with a `tunnel` object.
pub fn encap_fixtures() -> Vec<(&'static str, &'static str, Wrap)> {
    let ip = |s: &str| -> IpAddr { s.parse().expect("fixture address") };
    let v4 = (ip("192.0.2.10"), ip("198.51.100.20"));
    let v6 = (ip("2001:db8::10"), ip("2001:db8::20"));
    vec![
        ("vlan3", "tw_repair", Wrap::Vlans(vec![100, 200, 300])),
        ("vxlan", "tw_repair", Wrap::Vxlan { vni: 4242, outer: v4 }),
        ("vxlan_v6", "tw_repair_v6", Wrap::Vxlan { vni: 77, outer: v6 }),
        ("geneve_opts", "tw_repair", Wrap::Geneve { vni: 0xABCDE, opts: 5, outer: v6 }),
        ("gre_key_seq_csum", "tw_repair", Wrap::Gre { csum: true, key: Some(0xDEAD_BEEF), seq: Some(1), outer: v4 }),
        ("gre_plain_v6", "tw_repair_v6", Wrap::Gre { csum: false, key: None, seq: None, outer: v4 }),
        ("gre_teb", "tw_repair", Wrap::GreTeb { key: 7, outer: v4 }),
        ("erspan2", "tw_repair", Wrap::ErspanII { session: 17, outer_vlan: Some(10), outer: v4 }),
        ("erspan3", "tw_repair", Wrap::ErspanIII { session: 300, subheader: true, outer: v4 }),
        ("ipip_4in4", "tw_repair", Wrap::IpIp { outer: v4 }),
        ("ipip_6in4", "tw_repair_v6", Wrap::IpIp { outer: v4 }),
        ("ipip_4in6", "tw_repair", Wrap::IpIp { outer: v6 }),
        ("ipip_6in6", "tw_repair_v6", Wrap::IpIp { outer: v6 }),
        ("mpls_ip", "tw_repair", Wrap::Mpls { labels: vec![16, 1001], pw: false }),
        ("mpls_pw", "tw_repair", Wrap::Mpls { labels: vec![2000, 3000], pw: true }),
        ("pppoe", "tw_repair", Wrap::Pppoe { session: 0x1234, vlan: Some(42) }),
        ("pppoe_v6", "tw_repair_v6", Wrap::Pppoe { session: 9, vlan: None }),
        ("null_le", "tw_repair", Wrap::Null { af: 2, big_endian: false }),
        ("null_be_v6", "tw_repair_v6", Wrap::Null { af: 30, big_endian: true }),
        ("loop_v6", "tw_repair_v6", Wrap::Loop { af: 24 }),
    ]
}

/// A classic pcap (µs timestamps) of `frames` (timestamp ns, untagged Ethernet frame) each
/// wrapped in `w`; frame `i` (0-based) gets sequence number `i` where the wrap has one.
pub fn wrap_capture(frames: &[(u64, Vec<u8>)], w: &Wrap) -> Vec<u8> {
    let mut out = crate::output::PcapWriter::new(Vec::new(), w.linktype(), false).expect("pcap to memory");
    for (i, (ts, f)) in frames.iter().enumerate() {
        out.write(*ts, &wrap(w, f, i as u32)).expect("pcap to memory");
    }
    out.into_inner().expect("pcap to memory")
}
