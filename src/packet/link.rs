//! Link layers: Ethernet II with 802.1Q/802.1ad tags, Linux cooked capture v1/v2, raw IP.

use super::error::{ContentError, Layer, ParseError, SkipReason};
use super::NO_VLAN;

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

/// Where the network layer starts and what it is.
pub(super) struct L3 {
    pub offset: usize,
    /// `ETH_P_IPV4`, `ETH_P_IPV6`, or 0 for "look at the version nibble" (raw IP).
    pub proto: u16,
    pub vlan: u16,
    pub svlan: u16,
}

#[inline]
pub(super) fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline]
pub(super) fn need(layer: Layer, data: &[u8], offset: usize, required: usize) -> Result<(), ParseError> {
    if data.len() < offset + required {
        Err(ParseError::Len { layer, offset, required, available: data.len().saturating_sub(offset) })
    } else {
        Ok(())
    }
}



/// Parse the link header. `Ok(Err(skip))` for valid frames that carry no IP.
pub(super) fn parse(link: LinkType, data: &[u8]) -> Result<Result<L3, SkipReason>, ParseError> {
    let (mut offset, mut ethertype) = match link {
        LinkType::Ethernet => {
            need(Layer::Link, data, 0, 14)?;
            (14, be16(data, 12))
        }
        LinkType::LinuxSll => {
            // packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
            need(Layer::Link, data, 0, 16)?;
            (16, be16(data, 14))
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD(2) pkttype(1) addrlen(1) addr(8)
            need(Layer::Link, data, 0, 20)?;
            (20, be16(data, 0))
        }
        LinkType::RawIp => return Ok(Ok(L3 { offset: 0, proto: 0, vlan: NO_VLAN, svlan: NO_VLAN })),
        LinkType::Ipv4 => return Ok(Ok(L3 { offset: 0, proto: ETH_P_IPV4, vlan: NO_VLAN, svlan: NO_VLAN })),
        LinkType::Ipv6 => return Ok(Ok(L3 { offset: 0, proto: ETH_P_IPV6, vlan: NO_VLAN, svlan: NO_VLAN })),
        LinkType::Other(_) => return Ok(Err(SkipReason::UnsupportedLinkType)),
    };
    // Up to two tags: [802.1ad|802.1Q|0x9100 outer] [802.1Q inner]. A third is refused.
    let mut tags = [NO_VLAN; 2];
    let mut ntags = 0;
    while matches!(ethertype, ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ_9100) {
        if ntags == 2 {
            return Err(ParseError::Content { layer: Layer::Vlan, offset, error: ContentError::TooManyVlanTags });
        }
        need(Layer::Vlan, data, offset, 4)?;
        tags[ntags] = be16(data, offset) & 0x0FFF;
        ntags += 1;
        ethertype = be16(data, offset + 2);
        offset += 4;
    }
    let (vlan, svlan) = match ntags {
        0 => (NO_VLAN, NO_VLAN),
        1 => (tags[0], NO_VLAN),
        _ => (tags[1], tags[0]),
    };
    match ethertype {
        ETH_P_IPV4 | ETH_P_IPV6 => Ok(Ok(L3 { offset, proto: ethertype, vlan, svlan })),
        _ => Ok(Err(SkipReason::NotIp)),
    }
}
