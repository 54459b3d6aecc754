//! Encapsulations a mirror or a carrier link wraps TCP in, decoded in place.
//!
//! The frame is walked header by header ([`Hdr`]), each step checking its bytes first (a
//! [`ParseError::Len`] otherwise), as the other layers do. The walk is bounded: at most
//! [`MAX_ENCAP_DEPTH`] encapsulations (IP-in-IP, GRE (with ERSPAN), a UDP tunnel, an MPLS stack
//! and PPPoE each count one; VLAN tags do not) and [`MAX_MPLS_LABELS`] labels per stack, so a
//! crafted frame cannot make it loop. Nothing is allocated: the tunnel identity is copied into
//! the fixed-size [`Tunnel`] of the segment.
//!
//! Decoded:
//! - **VXLAN** (RFC 7348): UDP destination port 4789 (or 8472, Linux's and flannel's default),
//!   I flag set; the VNI.
//! - **GENEVE** (RFC 8926): UDP destination port 6081, version 0, not a control packet (O bit),
//!   protocol Ethernet (0x6558) or IPv4/IPv6; options are walked and must fit the header.
//! - **GRE** (RFC 2784, RFC 2890) version 0, with checksum, key and sequence fields; payload
//!   IPv4, IPv6, MPLS, Ethernet (**GRE-TEB**, 0x6558) or ERSPAN. Source routing (RFC 1701) and
//!   version 1 (PPTP) are skipped as `unsupported_gre`.
//! - **ERSPAN** type I (0x88BE without a GRE sequence number: no ERSPAN header), type II
//!   (0x88BE, version 1, 8-byte header) and type III (0x22EB, version 2, 12-byte header plus the
//!   8-byte platform sub-header when the O flag is set; frame type Ethernet or IP); the session id.
//! - **IP-in-IP**: IPv4 protocol / IPv6 next header 4 (IPv4 inside) and 41 (IPv6 inside): 4in4,
//!   6in4, 4in6, 6in6.
//! - **MPLS** label stacks (RFC 3032, ethertype 0x8847/0x8848 or in GRE) up to
//!   [`MAX_MPLS_LABELS`]; the payload after the bottom-of-stack label is told by its first
//!   nibble, as RFC 4385 §2 lays it out: 4 = IPv4, 6 = IPv6, 0 = a pseudowire control word
//!   followed by an Ethernet frame; any other nibble is tried as an Ethernet pseudowire without
//!   control word. **Heuristic:** an Ethernet pseudowire is accepted only when the ethertype at
//!   its byte 12 is one we decode (IPv4, IPv6, a VLAN TPID, MPLS, PPPoE session); otherwise the
//!   frame is skipped as `unsupported_mpls_payload`. An Ethernet pseudowire without control
//!   word whose destination MAC starts with nibble 4 or 6 is read as IP (a misreading the
//!   control word exists to prevent; RFC 4448 §4.6 recommends it).
//! - **PPPoE** session (RFC 2516, ethertype 0x8864), PPP protocol 0x0021 (IPv4) or 0x0057
//!   (IPv6), also with protocol-field compression; other PPP protocols and PPPoE discovery are
//!   skipped as `ppp_not_ip`.

use super::error::{ContentError, Layer, ParseError, SkipReason};
use super::link::{be16, be32, known_ethertype, need, ETH_P_IPV4, ETH_P_IPV6, ETH_P_MPLS_MC, ETH_P_MPLS_UC};
use super::Segment;

/// Most nested encapsulations followed in one frame.
pub const MAX_ENCAP_DEPTH: usize = 4;
/// Most MPLS label stack entries followed in one stack.
pub const MAX_MPLS_LABELS: usize = 8;

/// UDP destination port of VXLAN (IANA).
pub const VXLAN_PORT: u16 = 4789;
/// The port Linux's vxlan driver used before IANA assigned 4789, still flannel's default.
pub const VXLAN_LINUX_PORT: u16 = 8472;
/// UDP destination ports of tunnels we recognise but do not decode: VXLAN-GPE, GTP-U, L2TP,
/// GRE-in-UDP (RFC 8086).
const UNDECODED_UDP_TUNNELS: [u16; 4] = [4790, 2152, 1701, 4754];
/// UDP destination port of GENEVE (IANA).
pub const GENEVE_PORT: u16 = 6081;

const ETH_P_TEB: u16 = 0x6558;
const ETH_P_ERSPAN_I_II: u16 = 0x88BE;
const ETH_P_ERSPAN_III: u16 = 0x22EB;

/// Encapsulation type (`tunnel.type` in events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN (UDP 4789).
    Vxlan = 0,
    /// GENEVE (UDP 6081).
    Geneve,
    /// GRE carrying IP or MPLS.
    Gre,
    /// GRE carrying Ethernet (transparent Ethernet bridging, 0x6558).
    GreTeb,
    /// ERSPAN type I (GRE 0x88BE, no ERSPAN header).
    ErspanI,
    /// ERSPAN type II (GRE 0x88BE).
    ErspanII,
    /// ERSPAN type III (GRE 0x22EB).
    ErspanIII,
    /// IP in IP (4in4, 6in4, 4in6, 6in6).
    IpIp,
    /// MPLS label stack.
    Mpls,
    /// PPPoE session.
    Pppoe,
}

/// Number of [`TunnelKind`] variants.
pub const TUNNEL_KINDS: usize = 10;

impl TunnelKind {
    /// All kinds in index order.
    pub const ALL: [TunnelKind; TUNNEL_KINDS] = [
        TunnelKind::Vxlan,
        TunnelKind::Geneve,
        TunnelKind::Gre,
        TunnelKind::GreTeb,
        TunnelKind::ErspanI,
        TunnelKind::ErspanII,
        TunnelKind::ErspanIII,
        TunnelKind::IpIp,
        TunnelKind::Mpls,
        TunnelKind::Pppoe,
    ];

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
            TunnelKind::GreTeb => "gre_teb",
            TunnelKind::ErspanI => "erspan_i",
            TunnelKind::ErspanII => "erspan_ii",
            TunnelKind::ErspanIII => "erspan_iii",
            TunnelKind::IpIp => "ipip",
            TunnelKind::Mpls => "mpls",
            TunnelKind::Pppoe => "pppoe",
        }
    }

    /// Name of the [`Tunnel::id`] field for this kind (`vni`, `key`, `session_id`, `label`).
    pub const fn id_name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan | TunnelKind::Geneve => "vni",
            TunnelKind::Gre | TunnelKind::GreTeb => "key",
            TunnelKind::ErspanI | TunnelKind::ErspanII | TunnelKind::ErspanIII | TunnelKind::Pppoe => "session_id",
            TunnelKind::IpIp => "id",
            TunnelKind::Mpls => "label",
        }
    }
}

/// The outermost encapsulation a segment arrived in: part of its flow key (two mirror sessions
/// can carry the same inner 4-tuple) and reported in events as `tunnel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// Type of the outermost encapsulation.
    pub kind: TunnelKind,
    /// Its identifier: VXLAN/GENEVE VNI, GRE key, ERSPAN session id, MPLS bottom-of-stack
    /// label, PPPoE session id; `None` when the header has none (IP-in-IP, GRE without key,
    /// ERSPAN type I).
    pub id: Option<u32>,
    /// Outer IP source (IPv4-mapped for IPv4); zero when `outer_ip` is false.
    pub outer_src: [u8; 16],
    /// Outer IP destination.
    pub outer_dst: [u8; 16],
    /// The encapsulation rides on IP (false for MPLS and PPPoE straight on Ethernet).
    pub outer_ip: bool,
    /// The outer IP header is IPv6.
    pub outer_v6: bool,
    /// Encapsulations decoded in this frame (1 when only this one).
    pub depth: u8,
}

impl Tunnel {
    /// Outer source address, when the encapsulation rides on IP.
    pub fn outer_src_ip(&self) -> Option<std::net::IpAddr> {
        self.outer_ip.then(|| super::ip_of(&self.outer_src, self.outer_v6))
    }

    /// Outer destination address, when the encapsulation rides on IP.
    pub fn outer_dst_ip(&self) -> Option<std::net::IpAddr> {
        self.outer_ip.then(|| super::ip_of(&self.outer_dst, self.outer_v6))
    }
}

/// The next header to decode, and where it starts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Hdr {
    /// An Ethernet II header.
    Eth(usize),
    /// The bytes at `off` are what `ethertype` names (VLAN tags not yet followed).
    EtherType { off: usize, ethertype: u16 },
    /// An IP header: `ethertype` IPv4/IPv6, or 0 for "the version nibble decides".
    Ip { off: usize, ethertype: u16 },
    /// A UDP header (of an IP packet with protocol 17).
    Udp(usize),
    /// A GRE header.
    Gre(usize),
    /// An MPLS label stack.
    Mpls(usize),
    /// A PPPoE session header.
    Pppoe(usize),
}

/// A decoded encapsulation: what it is, its id, and what follows it.
pub(super) struct Step {
    pub kind: TunnelKind,
    pub id: Option<u32>,
    pub next: Hdr,
}

type R = Result<Result<Step, SkipReason>, ParseError>;

fn bad(layer: Layer, offset: usize) -> ParseError {
    ParseError::Content { layer, offset, error: ContentError::BadTunnelHeader }
}

#[inline]
fn be24(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([0, d[at], d[at + 1], d[at + 2]])
}

/// Record entering an encapsulation on `seg` (the first one is kept as the tunnel identity).
/// `outer_ip` is true when the header that carried it was IP (its addresses are in `seg`).
/// `offset` is where the encapsulation's header starts (for the error of a too deep nesting).
pub(super) fn enter(seg: &mut Segment, step: &Step, outer_ip: bool, depth: &mut usize, offset: usize) -> Result<(), ParseError> {
    *depth += 1;
    if *depth > MAX_ENCAP_DEPTH {
        return Err(ParseError::Content { layer: step_layer(step.kind), offset, error: ContentError::TooManyEncapsulations });
    }
    match &mut seg.tunnel {
        Some(t) => t.depth = *depth as u8,
        None => {
            seg.tunnel = Some(Tunnel {
                kind: step.kind,
                id: step.id,
                outer_src: if outer_ip { seg.src } else { [0; 16] },
                outer_dst: if outer_ip { seg.dst } else { [0; 16] },
                outer_ip,
                outer_v6: outer_ip && seg.v6,
                depth: 1,
            })
        }
    }
    Ok(())
}

fn step_layer(k: TunnelKind) -> Layer {
    match k {
        TunnelKind::Vxlan => Layer::Vxlan,
        TunnelKind::Geneve => Layer::Geneve,
        TunnelKind::Gre | TunnelKind::GreTeb => Layer::Gre,
        TunnelKind::ErspanI | TunnelKind::ErspanII | TunnelKind::ErspanIII => Layer::Erspan,
        TunnelKind::IpIp => Layer::Ipv4,
        TunnelKind::Mpls => Layer::Mpls,
        TunnelKind::Pppoe => Layer::Pppoe,
    }
}

/// IP protocol 4 / 41 at `off`.
pub(super) fn ipip(off: usize, proto: u8) -> Step {
    let ethertype = if proto == 4 { ETH_P_IPV4 } else { ETH_P_IPV6 };
    Step { kind: TunnelKind::IpIp, id: None, next: Hdr::Ip { off, ethertype } }
}

/// A UDP header at `off`: VXLAN or GENEVE by destination port, otherwise not TCP.
pub(super) fn udp(data: &[u8], off: usize) -> R {
    need(Layer::Udp, data, off, 8)?;
    let body = off + 8;
    match be16(data, off + 2) {
        VXLAN_PORT | VXLAN_LINUX_PORT => {
            // RFC 7348 §5: flags(8) with I = 0x08, reserved(24), VNI(24), reserved(8).
            need(Layer::Vxlan, data, body, 8)?;
            if data[body] & 0x08 == 0 {
                return Ok(Err(SkipReason::UnsupportedUdpTunnel));
            }
            Ok(Ok(Step { kind: TunnelKind::Vxlan, id: Some(be24(data, body + 4)), next: Hdr::Eth(body + 8) }))
        }
        GENEVE_PORT => geneve(data, body),
        p if UNDECODED_UDP_TUNNELS.contains(&p) => Ok(Err(SkipReason::UnsupportedUdpTunnel)),
        _ => Ok(Err(SkipReason::NotTcp)),
    }
}

fn geneve(data: &[u8], off: usize) -> R {
    // RFC 8926 §3.4: Ver(2) Opt Len(6) | O(1) C(1) Rsvd(6) | Protocol Type(16) | VNI(24) Rsvd(8),
    // then Opt Len × 4 bytes of options.
    need(Layer::Geneve, data, off, 8)?;
    if data[off] >> 6 != 0 || data[off + 1] & 0x80 != 0 {
        // Another version, or a control packet (O bit): nothing for the engine.
        return Ok(Err(SkipReason::UnsupportedUdpTunnel));
    }
    let opt_len = usize::from(data[off] & 0x3F) * 4;
    need(Layer::Geneve, data, off, 8 + opt_len)?;
    // Each option: class(16) type(8) rsvd(3) length(5) (4-byte words after this 4-byte head).
    let end = off + 8 + opt_len;
    let mut at = off + 8;
    while at < end {
        if at + 4 > end {
            return Err(bad(Layer::Geneve, at));
        }
        at += 4 + usize::from(data[at + 3] & 0x1F) * 4;
        if at > end {
            return Err(bad(Layer::Geneve, off));
        }
    }
    let next = match be16(data, off + 2) {
        ETH_P_TEB => Hdr::Eth(end),
        et @ (ETH_P_IPV4 | ETH_P_IPV6) => Hdr::Ip { off: end, ethertype: et },
        _ => return Ok(Err(SkipReason::UnsupportedUdpTunnel)),
    };
    Ok(Ok(Step { kind: TunnelKind::Geneve, id: Some(be24(data, off + 4)), next }))
}

/// A GRE header at `off` (RFC 2784 §2.1, RFC 2890 §2).
pub(super) fn gre(data: &[u8], off: usize) -> R {
    need(Layer::Gre, data, off, 4)?;
    let flags = be16(data, off);
    let (c, r, k, s) = (flags & 0x8000 != 0, flags & 0x4000 != 0, flags & 0x2000 != 0, flags & 0x1000 != 0);
    if flags & 0x0007 != 0 || r {
        // Version 1 (enhanced GRE of PPTP) or RFC 1701 source routing.
        return Ok(Err(SkipReason::UnsupportedGre));
    }
    let hlen = 4 + 4 * (c as usize + k as usize + s as usize);
    need(Layer::Gre, data, off, hlen)?;
    let key = k.then(|| be32(data, off + 4 + 4 * c as usize));
    let body = off + hlen;
    let gre = |next| Ok(Ok(Step { kind: TunnelKind::Gre, id: key, next }));
    match be16(data, off + 2) {
        et @ (ETH_P_IPV4 | ETH_P_IPV6) => gre(Hdr::Ip { off: body, ethertype: et }),
        ETH_P_MPLS_UC | ETH_P_MPLS_MC => gre(Hdr::Mpls(body)),
        ETH_P_TEB => Ok(Ok(Step { kind: TunnelKind::GreTeb, id: key, next: Hdr::Eth(body) })),
        // Type I has no sequence number and no ERSPAN header (Wireshark tells them apart so).
        ETH_P_ERSPAN_I_II if !s => Ok(Ok(Step { kind: TunnelKind::ErspanI, id: None, next: Hdr::Eth(body) })),
        ETH_P_ERSPAN_I_II | ETH_P_ERSPAN_III => erspan(data, body),
        _ => Ok(Err(SkipReason::UnsupportedGre)),
    }
}

fn erspan(data: &[u8], off: usize) -> R {
    // Type II: Ver(4)=1 VLAN(12) | COS(3) En(2) T(1) Session ID(10) | Reserved(12) Index(20).
    // Type III: Ver(4)=2 VLAN(12) | COS(3) BSO(2) T(1) Session ID(10) | Timestamp(32) |
    //           SGT(16) P(1) FT(5) Hw ID(6) D(1) Gra(2) O(1) [| platform sub-header(64) if O].
    need(Layer::Erspan, data, off, 8)?;
    let session = Some(u32::from(be16(data, off + 2) & 0x03FF));
    match data[off] >> 4 {
        1 => Ok(Ok(Step { kind: TunnelKind::ErspanII, id: session, next: Hdr::Eth(off + 8) })),
        2 => {
            need(Layer::Erspan, data, off, 12)?;
            let ft = (data[off + 10] >> 2) & 0x1F;
            let hlen = if data[off + 11] & 0x01 != 0 { 20 } else { 12 };
            need(Layer::Erspan, data, off, hlen)?;
            let next = match ft {
                0 => Hdr::Eth(off + hlen),
                2 => Hdr::Ip { off: off + hlen, ethertype: 0 },
                _ => return Ok(Err(SkipReason::UnsupportedErspan)),
            };
            Ok(Ok(Step { kind: TunnelKind::ErspanIII, id: session, next }))
        }
        _ => Ok(Err(SkipReason::UnsupportedErspan)),
    }
}

/// An MPLS label stack at `off` and the payload after it (see the module notes).
pub(super) fn mpls(data: &[u8], off: usize) -> R {
    let mut at = off;
    let mut entries = 0;
    let label = loop {
        if entries == MAX_MPLS_LABELS {
            return Err(ParseError::Content { layer: Layer::Mpls, offset: at, error: ContentError::TooManyEncapsulations });
        }
        need(Layer::Mpls, data, at, 4)?;
        let e = be32(data, at);
        entries += 1;
        at += 4;
        // Bottom of stack (S bit): the label that names the service (VPN, pseudowire).
        if e & 0x100 != 0 {
            break e >> 12;
        }
    };
    need(Layer::Mpls, data, at, 1)?;
    let next = match data[at] >> 4 {
        4 => Hdr::Ip { off: at, ethertype: ETH_P_IPV4 },
        6 => Hdr::Ip { off: at, ethertype: ETH_P_IPV6 },
        nibble => {
            // RFC 4385 §3: a control word starts with nibble 0; an Ethernet frame follows it.
            let eth = if nibble == 0 {
                need(Layer::Mpls, data, at, 4)?;
                at + 4
            } else {
                at
            };
            need(Layer::Mpls, data, eth, 14)?;
            if !known_ethertype(be16(data, eth + 12)) {
                return Ok(Err(SkipReason::UnsupportedMplsPayload));
            }
            Hdr::Eth(eth)
        }
    };
    Ok(Ok(Step { kind: TunnelKind::Mpls, id: Some(label), next }))
}

/// A PPPoE session header at `off` (RFC 2516 §4: VER(4)=1 TYPE(4)=1 CODE(8)=0 SESSION_ID(16)
/// LENGTH(16), then the PPP protocol field, RFC 1661 §2).
pub(super) fn pppoe(data: &[u8], off: usize) -> R {
    need(Layer::Pppoe, data, off, 7)?;
    if data[off] != 0x11 || data[off + 1] != 0 {
        return Err(bad(Layer::Pppoe, off));
    }
    let session = Some(u32::from(be16(data, off + 2)));
    // Protocol-field compression (RFC 1661 §6.5): a one-byte protocol is odd.
    let (proto, body) = if data[off + 6] & 1 == 1 {
        (u16::from(data[off + 6]), off + 7)
    } else {
        need(Layer::Pppoe, data, off, 8)?;
        (be16(data, off + 6), off + 8)
    };
    let ethertype = match proto {
        0x0021 => ETH_P_IPV4,
        0x0057 => ETH_P_IPV6,
        _ => return Ok(Err(SkipReason::PppNotIp)),
    };
    Ok(Ok(Step { kind: TunnelKind::Pppoe, id: session, next: Hdr::Ip { off: body, ethertype } }))
}
