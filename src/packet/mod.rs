//! Packet parsing: a captured or received frame → one [`Segment`], without allocating.
//!
//! Layers are checked once and then read: each parser first checks that the bytes it needs are
//! present (a [`ParseError::Len`] otherwise) and that the header is sane
//! ([`ParseError::Content`]), then reads fields with plain slice indexing that cannot fail.
//! Headers are read from the borrowed frame (a UMEM buffer live, a reusable buffer in replay);
//! only the fields the engine needs are copied into the fixed-size [`Segment`].

pub mod build;
mod encap;
mod error;
mod link;
mod net;
mod seq;
mod tcp;

pub use encap::{Tunnel, TunnelKind, GENEVE_PORT, MAX_ENCAP_DEPTH, MAX_MPLS_LABELS, TUNNEL_KINDS, VXLAN_PORT};
pub use error::{ContentError, Layer, ParseError, SkipReason, CONTENT_ERRORS, LAYERS, PARSE_REASONS, SKIP_REASONS};
pub use link::{LinkType, MAX_VLAN_TAGS};
pub use seq::SeqNum;
pub use tcp::{TcpFlags, TcpOptions};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use encap::Hdr;

/// "No VLAN tag" in [`Segment::vlan`].
pub const NO_VLAN: u16 = 0xFFFF;

/// One TCP segment as the engine sees it: fixed size, `Copy`, no heap.
///
/// Addresses are stored as 16 bytes; IPv4 uses the IPv4-mapped form `::ffff:a.b.c.d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Receive time, ns since the Unix epoch (replay) or a monotonic clock (live).
    pub ts_ns: u64,
    /// 1-based frame number in its capture file (as Wireshark counts), 0 when live.
    pub frame: u64,
    /// Source address (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    /// Destination address (IPv4-mapped for IPv4).
    pub dst: [u8; 16],
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Innermost VLAN id of the Ethernet header that carried the IP packet, or [`NO_VLAN`].
    pub vlan: u16,
    /// The tag just outside it (the service VLAN of a QinQ frame), or [`NO_VLAN`].
    pub svlan: u16,
    /// The outermost encapsulation the segment came in (VXLAN, GRE, ERSPAN, MPLS, ...), or
    /// `None` for plain frames. The addresses and ports above are the inner ones.
    pub tunnel: Option<Tunnel>,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful when [`TcpFlags::ACK`] is set).
    pub ack: SeqNum,
    /// TCP payload length from the IP length fields (not the captured length).
    pub payload_len: u32,
    /// TCP timestamp value (TSval) when `opts.has_ts`.
    pub tsval: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// True for IPv6.
    pub v6: bool,
    /// Parsed TCP options.
    pub opts: TcpOptions,
}

impl Segment {
    /// Sequence space this segment occupies: payload, plus one for SYN and one for FIN
    /// (RFC 9293 §3.4: "the SYN is considered to occur before the first actual data octet …
    /// the FIN is considered to occur after the last actual data octet").
    #[inline]
    pub fn seg_len(&self) -> u32 {
        self.payload_len + self.flags.has(TcpFlags::SYN) as u32 + self.flags.has(TcpFlags::FIN) as u32
    }

    /// Source `ip:port`.
    pub fn src_addr(&self) -> SocketAddr {
        SocketAddr::new(ip_of(&self.src, self.v6), self.sport)
    }

    /// Destination `ip:port`.
    pub fn dst_addr(&self) -> SocketAddr {
        SocketAddr::new(ip_of(&self.dst, self.v6), self.dport)
    }
}

/// The `IpAddr` for a 16-byte stored address.
pub fn ip_of(a: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*a))
    } else {
        IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))
    }
}

/// Result of parsing a frame that is not broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A TCP segment.
    Tcp(Segment),
    /// A valid frame without a TCP header for us.
    Skip(SkipReason),
}

/// Parse one frame of link type `link`.
///
/// Encapsulations (see `encap.rs`: VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP, MPLS, PPPoE) are
/// decoded down to the inner TCP segment, at most [`MAX_ENCAP_DEPTH`] deep; the outermost one
/// is kept in [`Segment::tunnel`]. `ts_ns` and `frame` are copied into the segment. Never
/// panics and never allocates, whatever the bytes.
///
/// The TCP payload length is the IP layer's, whatever `data` holds (a snaplen cut does not
/// shorten it); use [`parse_frame_wire`] when the frame's length on the wire is known.
pub fn parse_frame(link: LinkType, data: &[u8], ts_ns: u64, frame: u64) -> Result<Parsed, ParseError> {
    parse_frame_wire(link, data, usize::MAX, ts_ns, frame)
}

/// [`parse_frame`] for a frame that was `wire_len` bytes long on the wire (a capture's
/// original length; `data.len()` for a whole frame received live): a TCP payload length the
/// IP header claims beyond the frame is clamped to it, while a snaplen cut (`data` shorter
/// than `wire_len`) keeps the IP layer's length.
pub fn parse_frame_wire(link: LinkType, data: &[u8], wire_len: usize, ts_ns: u64, frame: u64) -> Result<Parsed, ParseError> {
    let mut seg = Segment::EMPTY;
    Ok(match parse_frame_into(link, data, wire_len, ts_ns, frame, &mut seg)? {
        None => Parsed::Tcp(seg),
        Some(skip) => Parsed::Skip(skip),
    })
}

impl Segment {
    /// A segment with every field at its "nothing parsed" value (what the parser starts from).
    pub const EMPTY: Segment = Segment {
        ts_ns: 0,
        frame: 0,
        src: [0; 16],
        dst: [0; 16],
        sport: 0,
        dport: 0,
        vlan: NO_VLAN,
        svlan: NO_VLAN,
        tunnel: None,
        seq: SeqNum(0),
        ack: SeqNum(0),
        payload_len: 0,
        tsval: 0,
        flags: TcpFlags(0),
        v6: false,
        opts: TcpOptions::NONE,
    };
}

/// [`parse_frame_wire`] into a segment the caller owns (a slot of a batch or a look-ahead
/// ring): `Ok(None)` when `seg` now holds the frame's TCP segment, `Ok(Some(reason))` for a
/// frame without one. Whatever `seg` held before is overwritten (on a skip or an error it
/// holds a partial parse: do not use it). The hot paths (replay, the live workers) parse
/// this way so the ~140-byte segment is written once, where the engine reads it, instead of
/// being returned by value and copied (issue 18: those copies were ~5–7 % of their time).
pub fn parse_frame_into(link: LinkType, data: &[u8], wire_len: usize, ts_ns: u64, frame: u64, seg: &mut Segment) -> Result<Option<SkipReason>, ParseError> {
    *seg = Segment { ts_ns, frame, ..Segment::EMPTY };
    // The common frame in one step: untagged Ethernet, IPv4 without options (IHL 5), a
    // non-zero total length, not a later fragment, TCP. For exactly these frames the general
    // walk below would take the same steps (Ethernet: no tag; IPv4: the addresses; then the
    // TCP header at 34); here they are done without its per-header dispatch (issue 18). The
    // TCP header is parsed by the same function either way. `parse_general` is the walk alone
    // (the tests compare both on every frame they have).
    if link == LinkType::Ethernet && data.len() >= 34 && data[12] == 0x08 && data[13] == 0x00 && data[14] == 0x45 && data[23] == net::IPPROTO_TCP {
        let total = link::be16(data, 16) as usize;
        if total >= 20 && link::be16(data, 20) & 0x1FFF == 0 {
            seg.src = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, data[26], data[27], data[28], data[29]];
            seg.dst = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, data[30], data[31], data[32], data[33]];
            tcp::parse(data, 34, total - 20, wire_len, seg)?;
            return Ok(None);
        }
    }
    parse_general(link, data, wire_len, seg)
}

/// The header walk of [`parse_frame_into`] (every link type, tag and encapsulation), on a
/// segment already reset with its stamp and frame number.
fn parse_general(link: LinkType, data: &[u8], wire_len: usize, seg: &mut Segment) -> Result<Option<SkipReason>, ParseError> {
    let mut hdr = match link::start(link, data)? {
        Ok(h) => h,
        Err(skip) => return Ok(Some(skip)),
    };
    let mut depth = 0usize;
    // Every iteration consumes one header; encapsulations are bounded by MAX_ENCAP_DEPTH (an
    // error beyond), VLAN tags and MPLS labels inside their own bounded loops, so this ends.
    loop {
        // (step, offset of its header, carried by IP) for an encapsulation; the next header
        // otherwise.
        let (step, at, outer_ip) = match hdr {
            Hdr::Eth(off) => {
                hdr = link::ethernet(data, off, seg)?;
                continue;
            }
            Hdr::EtherType { off, ethertype } => {
                hdr = match link::ethertype(data, off, ethertype, seg)? {
                    Ok(h) => h,
                    Err(skip) => return Ok(Some(skip)),
                };
                continue;
            }
            Hdr::Ip { off, ethertype } => {
                let l4 = match net::parse(ethertype, data, off, seg)? {
                    Ok(l4) => l4,
                    Err(skip) => return Ok(Some(skip)),
                };
                match l4.proto {
                    net::IPPROTO_TCP => {
                        tcp::parse(data, l4.offset, l4.len, wire_len, seg)?;
                        return Ok(None);
                    }
                    net::IPPROTO_IPIP | net::IPPROTO_IPV6 => (encap::ipip(l4.offset, l4.proto), off, true),
                    net::IPPROTO_GRE => {
                        hdr = Hdr::Gre(l4.offset);
                        continue;
                    }
                    net::IPPROTO_UDP => {
                        hdr = Hdr::Udp(l4.offset);
                        continue;
                    }
                    p if net::UNDECODED_IP_TUNNELS.contains(&p) => return Ok(Some(SkipReason::UnsupportedIpTunnel)),
                    _ => return Ok(Some(SkipReason::NotTcp)),
                }
            }
            Hdr::Udp(off) => match encap::udp(data, off)? {
                Ok(step) => (step, off, true),
                Err(skip) => return Ok(Some(skip)),
            },
            Hdr::Gre(off) => match encap::gre(data, off)? {
                Ok(step) => (step, off, true),
                Err(skip) => return Ok(Some(skip)),
            },
            // MPLS and PPPoE: on IP only inside GRE, whose `enter` already took the addresses.
            Hdr::Mpls(off) => match encap::mpls(data, off)? {
                Ok(step) => (step, off, false),
                Err(skip) => return Ok(Some(skip)),
            },
            Hdr::Pppoe(off) => match encap::pppoe(data, off)? {
                Ok(step) => (step, off, false),
                Err(skip) => return Ok(Some(skip)),
            },
        };
        encap::enter(seg, &step, outer_ip, &mut depth, at)?;
        hdr = step.next;
    }
}

#[cfg(test)]
mod tests;
