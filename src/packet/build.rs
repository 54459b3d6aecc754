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
