//! Link layers: Ethernet II with any number (up to [`MAX_VLAN_TAGS`]) of 802.1Q/802.1ad tags,
//! Linux cooked capture v1/v2, raw IP, BSD loopback (LINKTYPE_NULL / LINKTYPE_LOOP).

use super::error::{ContentError, Layer, ParseError, SkipReason};
use super::encap::Hdr;
use super::{Segment, NO_VLAN};

/// Capture link types we decode (pcap LINKTYPE_* values, <https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113), 16-byte Linux cooked header.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276), 20-byte Linux cooked header.
    LinuxSll2,
    /// LINKTYPE_RAW (101, also DLT_RAW 12 and 14): the frame starts with an IPv4/IPv6 header.
    RawIp,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in the capturing host's byte
    /// order (2 = IPv4; 24, 28, 30 (NetBSD/OpenBSD, FreeBSD, macOS) and 10 (Linux) = IPv6).
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, the same 4-byte address family in network order.
    Loop,
    /// Anything else; every frame is skipped and counted.
    Other(u32),
}

impl LinkType {
    /// The pcap link type number (for writing captures).
    pub fn to_linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Other(v) => v,
        }
    }

    /// Map a pcap/pcapng link type number.
    pub fn from_linktype(v: u32) -> LinkType {
        match v {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 | 12 | 14 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }
}

pub(super) const ETH_P_IPV4: u16 = 0x0800;
pub(super) const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;
/// Pre-standard QinQ outer tag some switches still emit.
const ETH_P_QINQ_9100: u16 = 0x9100;
pub(super) const ETH_P_MPLS_UC: u16 = 0x8847;
pub(super) const ETH_P_MPLS_MC: u16 = 0x8848;
const ETH_P_PPPOE_DISC: u16 = 0x8863;
pub(super) const ETH_P_PPPOE_SES: u16 = 0x8864;

/// Most VLAN tags followed in one Ethernet header (802.1Q, 802.1ad, 0x9100, in any order);
/// the innermost two are kept as [`Segment::vlan`] / [`Segment::svlan`].
pub const MAX_VLAN_TAGS: usize = 8;

/// BSD address families that mean IPv6 (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30, Linux 10).
const AF_INET6: [u32; 4] = [24, 28, 30, 10];

#[inline]
pub(super) fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline]
pub(super) fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

#[inline]
pub(super) fn need(layer: Layer, data: &[u8], offset: usize, required: usize) -> Result<(), ParseError> {
    if data.len() < offset + required {
        Err(ParseError::Len { layer, offset, required, available: data.len().saturating_sub(offset) })
    } else {
        Ok(())
    }
}

/// The first header after the capture's link header. `Ok(Err(skip))` for valid frames that
/// carry no IP.
pub(super) fn start(link: LinkType, data: &[u8]) -> Result<Result<Hdr, SkipReason>, ParseError> {
    Ok(Ok(match link {
        LinkType::Ethernet => Hdr::Eth(0),
        LinkType::LinuxSll => {
            // packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
            need(Layer::Link, data, 0, 16)?;
            Hdr::EtherType { off: 16, ethertype: be16(data, 14) }
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD(2) pkttype(1) addrlen(1) addr(8)
            need(Layer::Link, data, 0, 20)?;
            Hdr::EtherType { off: 20, ethertype: be16(data, 0) }
        }
        LinkType::RawIp => Hdr::Ip { off: 0, ethertype: 0 },
        LinkType::Ipv4 => Hdr::Ip { off: 0, ethertype: ETH_P_IPV4 },
        LinkType::Ipv6 => Hdr::Ip { off: 0, ethertype: ETH_P_IPV6 },
        LinkType::Null | LinkType::Loop => {
            need(Layer::Link, data, 0, 4)?;
            // NULL is in the capturing host's order, LOOP in network order; every family is
            // below 256, so whichever reading is small is the right one.
            let b = [data[0], data[1], data[2], data[3]];
            let af = u32::from_le_bytes(b).min(u32::from_be_bytes(b));
            if af == 2 {
                Hdr::Ip { off: 4, ethertype: ETH_P_IPV4 }
            } else if AF_INET6.contains(&af) {
                Hdr::Ip { off: 4, ethertype: ETH_P_IPV6 }
            } else {
                return Ok(Err(SkipReason::NotIp));
            }
        }
        LinkType::Other(_) => return Ok(Err(SkipReason::UnsupportedLinkType)),
    }))
}

/// An Ethernet II header at `off` (the capture's own, or one inside a tunnel).
pub(super) fn ethernet(data: &[u8], off: usize, seg: &mut Segment) -> Result<Hdr, ParseError> {
    need(Layer::Link, data, off, 14)?;
    // The tags that count are those of the Ethernet header that carries the IP packet.
    seg.vlan = NO_VLAN;
    seg.svlan = NO_VLAN;
    Ok(Hdr::EtherType { off: off + 14, ethertype: be16(data, off + 12) })
}

/// Follow VLAN tags from `off` (where `ethertype` says what comes), then name the next header.
pub(super) fn ethertype(
    data: &[u8],
    mut off: usize,
    mut ethertype: u16,
    seg: &mut Segment,
) -> Result<Result<Hdr, SkipReason>, ParseError> {
    let mut ntags = 0;
    while matches!(ethertype, ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_9100) {
        if ntags == MAX_VLAN_TAGS {
            return Err(ParseError::Content { layer: Layer::Vlan, offset: off, error: ContentError::TooManyVlanTags });
        }
        need(Layer::Vlan, data, off, 4)?;
        // Outer first: each new tag is the innermost so far.
        seg.svlan = seg.vlan;
        seg.vlan = be16(data, off) & 0x0FFF;
        ntags += 1;
        ethertype = be16(data, off + 2);
        off += 4;
    }
    Ok(Ok(match ethertype {
        ETH_P_IPV4 | ETH_P_IPV6 => Hdr::Ip { off, ethertype },
        ETH_P_MPLS_UC | ETH_P_MPLS_MC => Hdr::Mpls(off),
        ETH_P_PPPOE_SES => Hdr::Pppoe(off),
        ETH_P_PPPOE_DISC => return Ok(Err(SkipReason::PppNotIp)),
        _ => return Ok(Err(SkipReason::NotIp)),
    }))
}

/// True for an ethertype an Ethernet pseudowire payload plausibly starts with (used by the
/// MPLS heuristic).
pub(super) fn known_ethertype(et: u16) -> bool {
    matches!(
        et,
        ETH_P_IPV4 | ETH_P_IPV6 | ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_9100 | ETH_P_MPLS_UC | ETH_P_MPLS_MC | ETH_P_PPPOE_SES
    )
}
