//! Network layer: IPv4 (RFC 791) with options and fragments, IPv6 (RFC 8200) with extension
//! headers.

use super::error::{ContentError, Layer, ParseError, SkipReason};
use super::link::{be16, need, ETH_P_IPV4, ETH_P_IPV6};
use super::Segment;

pub(super) const IPPROTO_TCP: u8 = 6;
pub(super) const IPPROTO_UDP: u8 = 17;
/// IPv4 in IP (RFC 2003).
pub(super) const IPPROTO_IPIP: u8 = 4;
/// IPv6 in IP (RFC 4213 §3.5, RFC 2473).
pub(super) const IPPROTO_IPV6: u8 = 41;
pub(super) const IPPROTO_GRE: u8 = 47;
/// IP protocols that carry other traffic we cannot (ESP: encrypted) or do not decode:
/// ESP (50), EtherIP (97, RFC 3378), L2TPv3 (115, RFC 3931).
pub(super) const UNDECODED_IP_TUNNELS: [u8; 3] = [50, 97, 115];
const IPV6_HOPOPTS: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_AH: u8 = 51;
const IPV6_DSTOPTS: u8 = 60;
/// Longest extension-header chain we follow; a longer (or looping) chain is an error.
pub(super) const MAX_IPV6_EXT: usize = 8;

/// Where the transport (or tunnelled) header starts, how many bytes the IP layer says it has
/// (header + payload), and its IP protocol number.
pub(super) struct L4 {
    pub offset: usize,
    pub len: usize,
    pub proto: u8,
}

pub(super) fn parse(
    proto: u16,
    data: &[u8],
    offset: usize,
    seg: &mut Segment,
) -> Result<Result<L4, SkipReason>, ParseError> {
    let proto = if proto == 0 {
        // Raw IP: the version nibble decides.
        need(Layer::Ipv4, data, offset, 1)?;
        match data[offset] >> 4 {
            4 => ETH_P_IPV4,
            6 => ETH_P_IPV6,
            _ => {
                return Err(ParseError::Content { layer: Layer::Ipv4, offset, error: ContentError::BadIpVersion })
            }
        }
    } else {
        proto
    };
    if proto == ETH_P_IPV4 {
        ipv4(data, offset, seg)
    } else {
        ipv6(data, offset, seg)
    }
}

fn ipv4(data: &[u8], off: usize, seg: &mut Segment) -> Result<Result<L4, SkipReason>, ParseError> {
    need(Layer::Ipv4, data, off, 20)?;
    let content = |error| ParseError::Content { layer: Layer::Ipv4, offset: off, error };
    if data[off] >> 4 != 4 {
        return Err(content(ContentError::BadIpVersion));
    }
    // RFC 791 §3.1: "Internet Header Length is the length of the internet header in 32 bit
    // words … the minimum value for a correct header is 5."
    let ihl = ((data[off] & 0x0F) as usize) * 4;
    if ihl < 20 {
        return Err(content(ContentError::BadIhl));
    }
    need(Layer::Ipv4, data, off, ihl)?;
    let total = be16(data, off + 2) as usize;
    if total < ihl {
        // Total length 0 happens with TSO captured on the sending host; treat it as "the rest
        // of the frame" only when it is exactly 0, as Wireshark does.
        if total != 0 {
            return Err(content(ContentError::BadTotalLength));
        }
    }
    let frag = be16(data, off + 6);
    if frag & 0x1FFF != 0 {
        // Non-first fragment: "fragment offset" non-zero, no TCP header here.
        return Ok(Err(SkipReason::NonFirstFragment));
    }
    // Whole addresses are written: an outer IPv6 header of a tunnel may have filled them.
    seg.src = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, data[off + 12], data[off + 13], data[off + 14], data[off + 15]];
    seg.dst = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, data[off + 16], data[off + 17], data[off + 18], data[off + 19]];
    seg.v6 = false;
    let len = if total == 0 { data.len() - off - ihl } else { total - ihl };
    Ok(Ok(L4 { offset: off + ihl, len, proto: data[off + 9] }))
}

fn ipv6(data: &[u8], off: usize, seg: &mut Segment) -> Result<Result<L4, SkipReason>, ParseError> {
    need(Layer::Ipv6, data, off, 40)?;
    if data[off] >> 4 != 6 {
        return Err(ParseError::Content { layer: Layer::Ipv6, offset: off, error: ContentError::BadIpVersion });
    }
    let payload_len = be16(data, off + 4) as usize;
    let mut next = data[off + 6];
    seg.src.copy_from_slice(&data[off + 8..off + 24]);
    seg.dst.copy_from_slice(&data[off + 24..off + 40]);
    seg.v6 = true;
    // Payload length 0 means a jumbogram (RFC 2675) or a TSO capture: use what the frame holds.
    let mut remaining = if payload_len == 0 { data.len() - off - 40 } else { payload_len };
    let mut at = off + 40;
    let mut hops = 0;
    loop {
        match next {
            IPV6_HOPOPTS | IPV6_ROUTING | IPV6_DSTOPTS | IPV6_FRAGMENT | IPV6_AH => {
                if hops == MAX_IPV6_EXT {
                    return Err(ParseError::Content {
                        layer: Layer::Ipv6,
                        offset: at,
                        error: ContentError::Ipv6ExtChainTooLong,
                    });
                }
                hops += 1;
                need(Layer::Ipv6, data, at, 8)?;
                let hlen = match next {
                    // RFC 8200 §4.5: the fragment header is always 8 bytes.
                    IPV6_FRAGMENT => {
                        if be16(data, at + 2) & 0xFFF8 != 0 {
                            return Ok(Err(SkipReason::NonFirstFragment));
                        }
                        8
                    }
                    // RFC 4302 §2.2: AH "Payload Len" is in 4-octet units, minus 2.
                    IPV6_AH => (data[at + 1] as usize + 2) * 4,
                    // RFC 8200 §4.3-4.6: "Hdr Ext Len" in 8-octet units, not counting the first 8.
                    _ => (data[at + 1] as usize + 1) * 8,
                };
                need(Layer::Ipv6, data, at, hlen)?;
                if hlen > remaining {
                    // The frame has the bytes; the payload length field excludes them. A bad
                    // length, not a truncated capture (found by fuzz/parse_frame).
                    return Err(ParseError::Content {
                        layer: Layer::Ipv6,
                        offset: at,
                        error: ContentError::BadIpv6PayloadLength,
                    });
                }
                next = data[at];
                at += hlen;
                remaining -= hlen;
            }
            // TCP, a tunnel (4, 41, 47, 17) or anything else: the caller decides.
            _ => return Ok(Ok(L4 { offset: at, len: remaining, proto: next })),
        }
    }
}
