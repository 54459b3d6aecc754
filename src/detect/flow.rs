//! Per-4-tuple state: 32 bytes, `Copy`.

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
    /// synack_wrong_ack already reported for this attempt.
    pub const WRONG_SYNACK: u16 = 1 << 14;
    /// The server's receive point (its highest ack) is known; it lives in the `syn_us` slot,
    /// which is read only in SYN-SENT (see `Flow::advance_rcv`).
    pub const RCV: u16 = 1 << 15;

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
    /// The server's receive point of it is known: held in the server side's `nxt` slot,
    /// free until the new attempt's SYN-ACK (see `Flow::stash_prev`).
    pub const RCV: u8 = 1 << 7;
}

/// One tracked 4-tuple. Sequence state is kept per canonical side (Lo, Hi) so it can be
/// recorded before anyone knows which side is the client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    /// Engine ms of last activity; a closed connection's close time (also while a new attempt
    /// reuses it, until its handshake completes).
    pub last_ms: u32,
    /// Engine µs (mod 2³²) of the latest client SYN: handshake RTT and stale-SYN time, read
    /// only in SYN-SENT. From the SYN-ACK on, with `fl::RCV`: the server's receive point
    /// (`advance_rcv`).
    pub syn_us: u32,
    /// Client ISN of the current attempt.
    pub isn: SeqNum,
    /// Highest sequence end seen per side. During a new attempt (SYN-SENT) the client side
    /// still holds the previous connection's value (the client's old sequence end), and the
    /// server side the server's old acked point (`stash_prev`).
    pub nxt: [SeqNum; 2],
    /// Latest TSval per side; like `nxt`, the previous connection's during SYN-SENT (client
    /// side), and the server side holds its last activity (ms) then (`stash_prev`).
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

    #[inline]
    pub fn known_nxt(&self, side: Side) -> Option<SeqNum> {
        self.has(fl::nxt(side.idx())).then_some(self.nxt[side.idx()])
    }

    // ---- The server's receive point (issue 19) -----------------------------------------
    //
    // What the server *acknowledged* of the client's sequence space is kept apart from `nxt`,
    // what each side was seen *sending* (the exact horizon `acked_unseen` needs): live, the
    // client's data is not steered, but the server's FIN, RST and teardown ACKs are, and their
    // ack field says how far the client's data reached. It costs no byte: it lives in the
    // `syn_us` slot (free from the SYN-ACK on), and during a new attempt in the server side's
    // `nxt` slot (free until the new SYN-ACK).

    /// Record that the server acknowledged the client's sequence space up to `ack`. Only
    /// once the handshake is answered (not in SYN-SENT, where `syn_us` is the SYN's time).
    #[inline]
    pub fn advance_rcv(&mut self, ack: SeqNum) {
        debug_assert!(self.state != State::SynSent);
        let v = if self.has(fl::RCV) { SeqNum(self.syn_us).max(ack) } else { ack };
        self.syn_us = v.0;
        self.flags |= fl::RCV;
    }

    /// The server's receive point as its acks showed it (not in SYN-SENT).
    #[inline]
    pub fn known_rcv(&self) -> Option<SeqNum> {
        (self.has(fl::RCV) && self.state != State::SynSent).then_some(SeqNum(self.syn_us))
    }

    /// At a port-reuse SYN, after the flags were cleared for the new attempt: keep the
    /// previous connection's receive point `rcv` and last activity `last_ms` in the server
    /// side's `nxt`/`tsval` slots, whose validity bits are clear until the new SYN-ACK.
    #[inline]
    pub fn stash_prev(&mut self, server: Side, rcv: Option<SeqNum>, last_ms: u32) {
        let i = server.idx();
        debug_assert!(!self.has(fl::nxt(i)) && !self.has(fl::ts(i)));
        if let Some(r) = rcv {
            self.nxt[i] = r;
            self.prev |= pv::RCV;
        }
        self.tsval[i] = last_ms;
    }

    /// During SYN-SENT: the previous connection's receive point kept by `stash_prev` (unless
    /// a segment of the server without ACK took the slot since).
    #[inline]
    pub fn prev_rcv(&self, server: Side) -> Option<SeqNum> {
        let ok = self.state == State::SynSent && self.prev & pv::RCV != 0 && !self.has(fl::nxt(server.idx()));
        ok.then_some(self.nxt[server.idx()])
    }

    /// During SYN-SENT: the previous connection's last activity (engine ms) kept by `stash_prev`.
    #[inline]
    pub fn prev_seen_ms(&self, server: Side) -> Option<u32> {
        let ok = self.state == State::SynSent && self.prev & pv::VALID != 0 && !self.has(fl::ts(server.idx()));
        ok.then_some(self.tsval[server.idx()])
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
    assert_eq!(core::mem::size_of::<Option<Flow>>(), 32);
}
