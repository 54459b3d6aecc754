//! Why a frame could not be turned into a TCP segment.
//!
//! Two families, as in etherparse: the frame is too short for a header it announces
//! ([`ParseError::Len`]), or a header's content is invalid ([`ParseError::Content`]). Both carry
//! the layer and the byte offset of that layer inside the frame. Frames that are valid but not
//! for us (ARP, UDP, non-first fragments) are not errors: see [`SkipReason`].

use core::fmt;

/// Protocol layer a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// Link header (Ethernet, Linux cooked SLL/SLL2).
    Link,
    /// 802.1Q / 802.1ad tag.
    Vlan,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header or an extension header.
    Ipv6,
    /// TCP header or its options.
    Tcp,
    /// UDP header of a UDP tunnel (VXLAN, GENEVE).
    Udp,
    /// VXLAN header (RFC 7348).
    Vxlan,
    /// GENEVE header and its options (RFC 8926).
    Geneve,
    /// GRE header with its optional fields (RFC 2784, RFC 2890).
    Gre,
    /// ERSPAN type II / III header.
    Erspan,
    /// MPLS label stack entry (RFC 3032) or pseudowire control word (RFC 4385).
    Mpls,
    /// PPPoE session header (RFC 2516) and the PPP protocol field.
    Pppoe,
}

/// Number of [`Layer`] variants.
pub const LAYERS: usize = 12;

impl Layer {
    /// Lower-case name used in summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Vlan => "vlan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::Gre => "gre",
            Layer::Erspan => "erspan",
            Layer::Mpls => "mpls",
            Layer::Pppoe => "pppoe",
        }
    }
}

/// What is wrong with a header's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentError {
    /// More VLAN tags in one Ethernet header than we follow ([`super::MAX_VLAN_TAGS`]).
    TooManyVlanTags,
    /// IPv4 version field is not 4 (or IPv6 not 6) where the link layer said it would be.
    BadIpVersion,
    /// IPv4 IHL below 5 (RFC 791: the minimum header is 20 bytes).
    BadIhl,
    /// IPv4 total length smaller than its own header.
    BadTotalLength,
    /// IPv6 extension-header chain longer than we follow (8 headers).
    Ipv6ExtChainTooLong,
    /// TCP data offset below 5 (RFC 9293 §3.1: the minimum header is 20 bytes).
    BadDataOffset,
    /// TCP header (with options) is longer than the IP payload.
    TcpHeaderBeyondIpPayload,
    /// A TCP option's length is < 2 or runs past the end of the header.
    TcpOptionOverrun,
    /// An IPv6 extension header runs past the end of the IPv6 payload length (the frame holds
    /// the bytes, the length field says they are not part of the packet).
    BadIpv6PayloadLength,
    /// More nested encapsulations than we follow ([`super::MAX_ENCAP_DEPTH`]), or an MPLS
    /// label stack deeper than [`super::MAX_MPLS_LABELS`].
    TooManyEncapsulations,
    /// A GENEVE option length runs past the header, or a GRE/ERSPAN/PPPoE header field is
    /// impossible (reserved version, PPPoE code other than session data).
    BadTunnelHeader,
}

/// Number of [`ContentError`] variants.
pub const CONTENT_ERRORS: usize = 11;

impl ContentError {
    /// Stable snake_case name used in summaries and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentError::TooManyVlanTags => "too_many_vlan_tags",
            ContentError::BadIpVersion => "bad_ip_version",
            ContentError::BadIhl => "bad_ipv4_ihl",
            ContentError::BadTotalLength => "bad_ipv4_total_length",
            ContentError::Ipv6ExtChainTooLong => "ipv6_ext_chain_too_long",
            ContentError::BadDataOffset => "bad_tcp_data_offset",
            ContentError::TcpHeaderBeyondIpPayload => "tcp_header_beyond_ip_payload",
            ContentError::TcpOptionOverrun => "tcp_option_overrun",
            ContentError::BadIpv6PayloadLength => "bad_ipv6_payload_length",
            ContentError::TooManyEncapsulations => "too_many_encapsulations",
            ContentError::BadTunnelHeader => "bad_tunnel_header",
        }
    }
}

/// A frame that could not be parsed into a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The frame ends before the header at `layer` does.
    Len {
        /// Layer whose header is cut.
        layer: Layer,
        /// Offset of that layer in the frame.
        offset: usize,
        /// Bytes the header needs from `offset`.
        required: usize,
        /// Bytes available from `offset`.
        available: usize,
    },
    /// The header at `layer` is present but invalid.
    Content {
        /// Layer of the bad header.
        layer: Layer,
        /// Offset of that layer in the frame.
        offset: usize,
        /// What is wrong.
        error: ContentError,
    },
}

/// Number of distinct parse-problem reasons ([`ParseError::reason_index`]).
pub const PARSE_REASONS: usize = LAYERS + CONTENT_ERRORS;

impl ParseError {
    /// A short stable reason name for counters: `truncated_<layer>` or the content error name.
    pub const fn reason(&self) -> &'static str {
        REASON_NAMES[self.reason_index()]
    }

    /// Dense index of [`Self::reason`] in `0..PARSE_REASONS`, for allocation-free counting.
    pub const fn reason_index(&self) -> usize {
        match self {
            ParseError::Len { layer, .. } => *layer as usize,
            ParseError::Content { error, .. } => LAYERS + *error as usize,
        }
    }

    /// Name of reason `i` (see [`Self::reason_index`]).
    pub const fn reason_name(i: usize) -> &'static str {
        REASON_NAMES[i]
    }
}

const REASON_NAMES: [&str; PARSE_REASONS] = [
    "truncated_link",
    "truncated_vlan",
    "truncated_ipv4",
    "truncated_ipv6",
    "truncated_tcp",
    "truncated_udp",
    "truncated_vxlan",
    "truncated_geneve",
    "truncated_gre",
    "truncated_erspan",
    "truncated_mpls",
    "truncated_pppoe",
    ContentError::TooManyVlanTags.as_str(),
    ContentError::BadIpVersion.as_str(),
    ContentError::BadIhl.as_str(),
    ContentError::BadTotalLength.as_str(),
    ContentError::Ipv6ExtChainTooLong.as_str(),
    ContentError::BadDataOffset.as_str(),
    ContentError::TcpHeaderBeyondIpPayload.as_str(),
    ContentError::TcpOptionOverrun.as_str(),
    ContentError::BadIpv6PayloadLength.as_str(),
    ContentError::TooManyEncapsulations.as_str(),
    ContentError::BadTunnelHeader.as_str(),
];

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Len { layer, offset, required, available } => write!(
                f,
                "{} header at byte {offset} needs {required} bytes but the frame has {available} left \
                 (frame truncated; capture with a larger snaplen, e.g. tcpdump -s 256)",
                layer.as_str()
            ),
            ParseError::Content { layer, offset, error } => {
                write!(f, "invalid {} header at byte {offset}: {}", layer.as_str(), error.as_str())
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// A valid frame that carries no TCP segment for the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP.
    NotTcp,
    /// An IPv4 or IPv6 fragment other than the first: no TCP header in it.
    NonFirstFragment,
    /// The capture's link type is not one we decode.
    UnsupportedLinkType,
    /// GRE we do not decode: version 1 (PPTP), source routing (RFC 1701), or a payload
    /// protocol other than IPv4, IPv6, Ethernet (TEB), ERSPAN and MPLS.
    UnsupportedGre,
    /// ERSPAN with an unknown version, or type III carrying something other than Ethernet/IP.
    UnsupportedErspan,
    /// UDP to the VXLAN or GENEVE port that is not a decodable frame (VXLAN without the I
    /// flag, GENEVE control (O bit) or a version/protocol we do not decode), or to the port of
    /// a UDP tunnel we do not decode: VXLAN-GPE (4790), GTP-U (2152), L2TP (1701), GRE-in-UDP
    /// (4754).
    UnsupportedUdpTunnel,
    /// An IP protocol that carries tunnelled traffic we cannot or do not decode: ESP (50,
    /// encrypted), EtherIP (97), L2TPv3 (115).
    UnsupportedIpTunnel,
    /// An MPLS stack whose payload is neither IPv4, IPv6 nor a recognisable Ethernet
    /// pseudowire (see `packet::encap`).
    UnsupportedMplsPayload,
    /// A PPPoE session frame carrying a PPP protocol other than IPv4/IPv6 (LCP, IPCP, ...),
    /// or PPPoE discovery.
    PppNotIp,
}

/// Number of [`SkipReason`] variants.
pub const SKIP_REASONS: usize = 10;

impl SkipReason {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotIp => "not_ip",
            SkipReason::NotTcp => "not_tcp",
            SkipReason::NonFirstFragment => "non_first_fragment",
            SkipReason::UnsupportedLinkType => "unsupported_link_type",
            SkipReason::UnsupportedGre => "unsupported_gre",
            SkipReason::UnsupportedErspan => "unsupported_erspan",
            SkipReason::UnsupportedUdpTunnel => "unsupported_udp_tunnel",
            SkipReason::UnsupportedIpTunnel => "unsupported_ip_tunnel",
            SkipReason::UnsupportedMplsPayload => "unsupported_mpls_payload",
            SkipReason::PppNotIp => "ppp_not_ip",
        }
    }

    /// True for the reasons that name an encapsulation we met but do not decode.
    pub const fn is_unsupported_encap(self) -> bool {
        matches!(
            self,
            SkipReason::UnsupportedGre
                | SkipReason::UnsupportedErspan
                | SkipReason::UnsupportedUdpTunnel
                | SkipReason::UnsupportedIpTunnel
                | SkipReason::UnsupportedMplsPayload
        )
    }

    /// True when the frame was IP (or an IP tunnel) but carried no TCP for us.
    pub const fn saw_ip(self) -> bool {
        !matches!(
            self,
            SkipReason::NotIp | SkipReason::UnsupportedLinkType | SkipReason::PppNotIp | SkipReason::UnsupportedMplsPayload
        )
    }

    /// All variants, in index order.
    pub const ALL: [SkipReason; SKIP_REASONS] = [
        SkipReason::NotIp,
        SkipReason::NotTcp,
        SkipReason::NonFirstFragment,
        SkipReason::UnsupportedLinkType,
        SkipReason::UnsupportedGre,
        SkipReason::UnsupportedErspan,
        SkipReason::UnsupportedUdpTunnel,
        SkipReason::UnsupportedIpTunnel,
        SkipReason::UnsupportedMplsPayload,
        SkipReason::PppNotIp,
    ];
}
