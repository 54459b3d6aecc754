//! Per-4-tuple state: 32 bytes, `Copy` (docs/ARCHITECTURE.md, "Flow key and memory").

use crate::flow::{Side, TableEntry};
use crate::packet::SeqNum;

/// Control-plane state of the connection the entry tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Client SYN seen, no valid SYN-ACK yet (RFC 9293 SYN-SENT, as the client sees it).
    SynSent,
    /// Valid SYN-ACK seen, client's ACK not yet (SYN-RECEIVED on the server).
    SynRcvd,
    /// Handshake completed or data seen; FIN flags tell half-closes.
    Established,
    /// Both FINs, or a RST: the entry is a tombstone.
    Closed,
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            State::SynSent => "SYN-SENT",
            State::SynRcvd => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::Closed => "CLOSED",
        })
    }
}

/// `Flow::flags` bits.
pub(crate) mod fl {
    /// The client is the `Hi` side (valid with `CLIENT_KNOWN`).
    pub const CLIENT_HI: u16 = 1 << 0;
    /// A SYN told us who the client is.
    pub const CLIENT_KNOWN: u16 = 1 << 1;
    /// FIN seen from Lo / Hi.
    pub const FIN_LO: u16 = 1 << 2;
    pub const FIN_HI: u16 = 1 << 3;
    /// The first FIN came from Hi.
    pub const FIRST_FIN_HI: u16 = 1 << 4;
    /// RST seen.
    pub const RST: u16 = 1 << 5;
    /// `tsval[Lo]` / `tsval[Hi]` valid.
    pub const TS_LO: u16 = 1 << 6;
    #[allow(dead_code)] // addressed as TS_LO << 1
    pub const TS_HI: u16 = 1 << 7;
    /// `nxt[Lo]` / `nxt[Hi]` valid.
    pub const NXT_LO: u16 = 1 << 8;
    #[allow(dead_code)] // addressed as NXT_LO << 1
    pub const NXT_HI: u16 = 1 << 9;
    /// The current attempt got a stale ACK; its outcome is pending.
    pub const STALE: u16 = 1 << 10;
    /// acked_unseen already reported for this connection.
    pub const UNSEEN_REPORTED: u16 = 1 << 11;
    /// Handshake completed or data seen: the connection was open.
    pub const OPENED: u16 = 1 << 12;
    /// The client sent RST during the current attempt.
    pub const CLIENT_RST: u16 = 1 << 13;
    /// synack_wrong_ack reported, or awaiting the client's confirmation, for this attempt.
    pub const WRONG_SYNACK: u16 = 1 << 14;
    /// The roles come from a SYN-ACK (its receiver is the client), not from a SYN.
    pub const ROLES_SYNACK: u16 = 1 << 15;

    #[inline]
    pub const fn fin(side: usize) -> u16 {
        FIN_LO << side
    }
    #[inline]
    pub const fn ts(side: usize) -> u16 {
        TS_LO << side
    }
    #[inline]
    pub const fn nxt(side: usize) -> u16 {
        NXT_LO << side
    }
}

/// `Flow::prev` bits: the previous connection, relative to the new attempt's client/server.
pub(crate) mod pv {
    /// A previous connection (or attempt) was tracked.
    pub const VALID: u8 = 1 << 0;
    /// It was open (handshake or data seen).
    pub const OPEN: u8 = 1 << 1;
    /// Server / client FIN seen.
    pub const SFIN: u8 = 1 << 2;
    pub const CFIN: u8 = 1 << 3;
    /// The server's FIN came first.
    pub const SFIN_FIRST: u8 = 1 << 4;
    /// A RST was seen.
    pub const RST: u8 = 1 << 5;
    /// It was closed (both FINs or RST); `Flow::last_ms` is its close time until the new
    /// handshake completes.
    pub const CLOSED: u8 = 1 << 6;
    /// Segments from the server side were seen in it (a timestamp or FIN): the server's
    /// direction is visible (one-direction visibility, `onedir.rs`).
    pub const SERVER_SEEN: u8 = 1 << 7;
}

/// One tracked 4-tuple. Sequence state is kept per canonical side (Lo, Hi) so it can be
/// recorded before anyone knows which side is the client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    /// Engine ms of last activity; a closed connection's close time (also while a new attempt
    /// reuses it, until its handshake completes).
    pub last_ms: u32,
    /// Engine µs (mod 2³²) of the latest client SYN: handshake RTT and stale-SYN time.
    pub syn_us: u32,
    /// Client ISN of the current attempt.
    pub isn: SeqNum,
    /// Highest sequence end seen per side. During a new attempt (SYN-SENT) the client side
    /// still holds the previous connection's value: the server's old receive point; the
    /// server side, which has sent nothing of this attempt yet, holds the attempt's SYN end
    /// (ISN + 1 + SYN payload: the highest ack the SYN makes acceptable, TCP Fast Open
    /// included). See [`Flow::syn_end`].
    pub nxt: [SeqNum; 2],
    /// Latest TSval per side; like `nxt`, the previous connection's during SYN-SENT on the
    /// client side, and the TSval of the attempt's first SYN on the server side (valid with
    /// `ts(server)`).
    pub tsval: [u32; 2],
    pub state: State,
    pub prev: u8,
    pub flags: u16,
}

impl Flow {
    #[inline]
    pub fn has(&self, bits: u16) -> bool {
        self.flags & bits == bits
    }

    /// The client side, if a SYN told us.
    #[inline]
    pub fn client(&self) -> Option<Side> {
        if !self.has(fl::CLIENT_KNOWN) {
            None
        } else if self.has(fl::CLIENT_HI) {
            Some(Side::Hi)
        } else {
            Some(Side::Lo)
        }
    }

    #[inline]
    pub fn set_client(&mut self, side: Side) {
        self.flags |= fl::CLIENT_KNOWN;
        if side == Side::Hi {
            self.flags |= fl::CLIENT_HI;
        } else {
            self.flags &= !fl::CLIENT_HI;
        }
    }

    /// Record that `side` sent sequence space up to `end`.
    #[inline]
    pub fn advance_nxt(&mut self, side: Side, end: SeqNum) {
        let i = side.idx();
        if self.has(fl::nxt(i)) {
            self.nxt[i] = self.nxt[i].max(end);
        } else {
            self.nxt[i] = end;
            self.flags |= fl::nxt(i);
        }
    }

    /// SYN-SENT only: the end of the client's SYN (ISN + 1 + its payload), kept in the server
    /// side's `nxt` slot (the server has sent nothing of the attempt yet).
    #[inline]
    pub fn syn_end(&self, client: Side) -> SeqNum {
        let s = client.peer().idx();
        if self.has(fl::nxt(s)) {
            self.nxt[s]
        } else {
            self.isn.add(1)
        }
    }

    /// SYN-SENT only: record the attempt's SYN (`end` = ISN + 1 + payload, first TSval).
    #[inline]
    pub fn set_syn(&mut self, client: Side, end: SeqNum, tsval: Option<u32>, first: bool) {
        let s = client.peer().idx();
        if first || !self.has(fl::nxt(s)) {
            self.nxt[s] = end;
            self.flags |= fl::nxt(s);
        } else {
            self.nxt[s] = self.nxt[s].max(end);
        }
        if first {
            self.flags &= !fl::ts(s);
            if let Some(v) = tsval {
                self.tsval[s] = v;
                self.flags |= fl::ts(s);
            }
        }
    }

    /// SYN-SENT only: the TSval of the attempt's first SYN, if it had one.
    #[inline]
    pub fn syn_tsval(&self, client: Side) -> Option<u32> {
        let s = client.peer().idx();
        self.has(fl::ts(s)).then_some(self.tsval[s])
    }

    #[inline]
    pub fn known_nxt(&self, side: Side) -> Option<SeqNum> {
        self.has(fl::nxt(side.idx())).then_some(self.nxt[side.idx()])
    }
}

impl TableEntry for Flow {
    #[inline]
    fn last_ms(&self) -> u32 {
        self.last_ms
    }
    #[inline]
    fn is_tombstone(&self) -> bool {
        self.state == State::Closed
    }
}

#[cfg(test)]
#[test]
fn flow_is_32_bytes() {
    assert_eq!(core::mem::size_of::<Flow>(), 32);
}
