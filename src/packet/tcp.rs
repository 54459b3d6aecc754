//! TCP header and options (RFC 9293 §3.1, RFC 7323 timestamps and window scale, RFC 2018 SACK).

use super::error::{ContentError, Layer, ParseError};
use super::link::{be16, need};
use super::{SeqNum, Segment};

/// TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: no more data from sender.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push function.
    pub const PSH: u8 = 0x08;
    /// ACK: acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// URG: urgent pointer field significant.
    pub const URG: u8 = 0x20;

    /// True when every bit of `mask` is set.
    #[inline]
    pub const fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

impl core::fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = [(Self::SYN, 'S'), (Self::FIN, 'F'), (Self::RST, 'R'), (Self::PSH, 'P'), (Self::ACK, '.')];
        for (bit, c) in names {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The TCP options ackscope reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), 0 when absent.
    pub mss: u16,
    /// Window scale shift (kind 3), 0xFF when absent.
    pub wscale: u8,
    /// SACK permitted (kind 4).
    pub sack_permitted: bool,
    /// Timestamps option present (kind 8); the TSval is in [`Segment::tsval`].
    pub has_ts: bool,
    /// Timestamp echo reply (TSecr).
    pub tsecr: u32,
    /// The options were malformed (a length running past the header): they were ignored,
    /// the segment kept (flags, sequence numbers and payload do not depend on them).
    pub malformed: bool,
}

impl TcpOptions {
    /// No options read yet (the same as `TcpOptions::default()`, usable in a `const`).
    pub const NONE: TcpOptions = TcpOptions { mss: 0, wscale: 0, sack_permitted: false, has_ts: false, tsecr: 0, malformed: false };
}

/// Parse the TCP header at `off`; `ip_len` is what the IP layer says TCP has (header +
/// payload), `wire_len` the frame's length on the wire (its original length, not a snaplen
/// cut). The payload length is clamped to what the frame can hold.
pub(super) fn parse(data: &[u8], off: usize, ip_len: usize, wire_len: usize, seg: &mut Segment) -> Result<(), ParseError> {
    need(Layer::Tcp, data, off, 20)?;
    // RFC 9293 §3.1: "Data Offset: 4 bits. The number of 32-bit words in the TCP header."
    let doff = ((data[off + 12] >> 4) as usize) * 4;
    let content = |error| ParseError::Content { layer: Layer::Tcp, offset: off, error };
    if doff < 20 {
        return Err(content(ContentError::BadDataOffset));
    }
    if doff > ip_len {
        return Err(content(ContentError::TcpHeaderBeyondIpPayload));
    }
    need(Layer::Tcp, data, off, doff)?;
    seg.sport = be16(data, off);
    seg.dport = be16(data, off + 2);
    seg.seq = SeqNum(u32::from_be_bytes([data[off + 4], data[off + 5], data[off + 6], data[off + 7]]));
    seg.ack = SeqNum(u32::from_be_bytes([data[off + 8], data[off + 9], data[off + 10], data[off + 11]]));
    seg.flags = TcpFlags(data[off + 13]);
    // An IP length claiming more than the frame held on the wire (a broken or rewritten
    // header) would put phantom bytes into sequence space: clamp to the frame. A snaplen cut
    // is not such a claim (the wire length still covers it).
    let on_wire = wire_len.max(data.len()).saturating_sub(off + doff);
    seg.payload_len = (ip_len - doff).min(on_wire) as u32;
    seg.opts = TcpOptions { wscale: 0xFF, ..TcpOptions::default() };
    let o = &data[off + 20..off + doff];
    if o.len() == 12 && o[..4] == [1, 1, 8, 10] {
        // NOP, NOP, timestamps (RFC 7323 Appendix A's layout, what Linux sends after the
        // handshake): what `parse_options` reads from it, without the loop.
        seg.opts.has_ts = true;
        seg.tsval = u32::from_be_bytes([o[4], o[5], o[6], o[7]]);
        seg.opts.tsecr = u32::from_be_bytes([o[8], o[9], o[10], o[11]]);
    } else if parse_options(o, seg).is_err() {
        // A malformed option (length past the header) says nothing about flags, sequence
        // numbers or payload: keep the segment, ignore its options, say so (counted).
        seg.opts = TcpOptions { wscale: 0xFF, malformed: true, ..TcpOptions::default() };
        seg.tsval = 0;
    }
    Ok(())
}

fn parse_options(mut o: &[u8], seg: &mut Segment) -> Result<(), ()> {
    while let Some(&kind) = o.first() {
        match kind {
            0 => break,             // End of option list.
            1 => o = &o[1..],       // No-operation.
            _ => {
                let len = *o.get(1).ok_or(())? as usize;
                if len < 2 || len > o.len() {
                    return Err(());
                }
                let body = &o[2..len];
                match (kind, body.len()) {
                    (2, 2) => seg.opts.mss = u16::from_be_bytes([body[0], body[1]]),
                    (3, 1) => seg.opts.wscale = body[0],
                    (4, 0) => seg.opts.sack_permitted = true,
                    (8, 8) => {
                        seg.opts.has_ts = true;
                        seg.tsval = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                        seg.opts.tsecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    }
                    _ => {}
                }
                o = &o[len..];
            }
        }
    }
    Ok(())
}
