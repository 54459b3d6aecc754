//! Per-4-tuple state: 48 bytes, `Copy`, every fact in its own field (docs/ARCHITECTURE.md,
//! "Flow key and memory").

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
    pub const CLIENT_HI: u32 = 1 << 0;
    /// A SYN told us who the client is.
    pub const CLIENT_KNOWN: u32 = 1 << 1;
    /// FIN seen from Lo / Hi.
    pub const FIN_LO: u32 = 1 << 2;
    pub const FIN_HI: u32 = 1 << 3;
    /// The first FIN came from Hi.
    pub const FIRST_FIN_HI: u32 = 1 << 4;
    /// RST seen.
    pub const RST: u32 = 1 << 5;
    /// `tsval[Lo]` / `tsval[Hi]` valid.
    pub const TS_LO: u32 = 1 << 6;
    #[allow(dead_code)] // addressed as TS_LO << 1
    pub const TS_HI: u32 = 1 << 7;
    /// `nxt[Lo]` / `nxt[Hi]` valid.
    pub const NXT_LO: u32 = 1 << 8;
    #[allow(dead_code)] // addressed as NXT_LO << 1
    pub const NXT_HI: u32 = 1 << 9;
    /// The current attempt got a stale ACK; its outcome is pending.
    pub const STALE: u32 = 1 << 10;
    /// acked_unseen already reported for this connection.
    pub const UNSEEN_REPORTED: u32 = 1 << 11;
    /// Handshake completed or data seen: the connection was open.
    pub const OPENED: u32 = 1 << 12;
    /// The client sent RST during the current attempt.
    pub const CLIENT_RST: u32 = 1 << 13;
    /// synack_wrong_ack reported, or awaiting the client's confirmation, for this attempt.
    pub const WRONG_SYNACK: u32 = 1 << 14;
    /// The roles come from a SYN-ACK (its receiver is the client), not from a SYN.
    pub const ROLES_SYNACK: u32 = 1 << 15;
    /// `Flow::syn_tsval` valid (SYN-SENT: the attempt's first SYN had a timestamp).
    pub const SYN_TS: u32 = 1 << 16;
    /// `Flow::rcv` valid for the tracked connection: the server's receive point as its own
    /// acks showed it (issue 19).
    pub const RCV: u32 = 1 << 17;
    /// SYN-SENT with a previous connection: segments from the server side were seen in it (a
    /// timestamp or FIN): the server's direction is visible (one-direction visibility,
    /// `onedir.rs`). A fact of the previous connection like `Flow::prev` (`pv`), kept here
    /// because `prev` has no bit left; cleared with `prev` when the handshake is answered.
    pub const PREV_SERVER_SEEN: u32 = 1 << 18;
    /// A segment from the client side was seen since the roles were set (one-direction
    /// visibility: a flow whose roles come from a SYN-ACK and that never had this bit is seen
    /// from the server's side only, `onedir.rs`).
    pub const CLIENT_SEEN: u32 = 1 << 19;
    /// A server-only flow has a bare ACK awaiting its SYN-ACK in the one-direction side table
    /// (`onedir.rs`): only flows with this bit are looked up there.
    pub const SERVER_ACK_CAND: u32 = 1 << 20;
    /// The server acknowledged more after its own FIN (the client's FIN, or data after the
    /// server's FIN), seen on a server-only flow: what tells TIME_WAIT there (`onedir.rs`).
    pub const ACK_AFTER_SFIN: u32 = 1 << 21;
    /// A server-only flow's bare ACK came twice: the client's RST did not free the old state
    /// (or it took the ACK as acceptable and sent none); no more candidates on this connection.
    pub const SERVER_ACK_REPEATED: u32 = 1 << 22;

    #[inline]
    pub const fn fin(side: usize) -> u32 {
        FIN_LO << side
    }
    #[inline]
    pub const fn ts(side: usize) -> u32 {
        TS_LO << side
    }
    #[inline]
    pub const fn nxt(side: usize) -> u32 {
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
    /// The server's receive point of it is known: `Flow::rcv` (see `Flow::stash_prev`).
    pub const RCV: u8 = 1 << 7;
    // No bit is left: "the server's direction was seen in it" (one-direction visibility) is
    // `fl::PREV_SERVER_SEEN`, kept in `Flow::flags` during SYN-SENT so the Flow stays 48 bytes.
}

/// One tracked 4-tuple. Sequence state is kept per canonical side (Lo, Hi) so it can be
/// recorded before anyone knows which side is the client. Every fact has its own field (no
/// slot means two things in two states); the validity bits are in `flags` (`fl`) and, for the
/// previous connection during a new attempt, in `prev` (`pv`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    /// Engine ms of last activity; a closed connection's close time (also while a new attempt
    /// reuses it, until its handshake completes).
    pub last_ms: u32,
    /// Engine µs (mod 2³²) of the latest client SYN: handshake RTT and stale-SYN time.
    pub syn_us: u32,
    /// Client ISN of the current attempt.
    pub isn: SeqNum,
    /// Highest sequence end seen per side (what each side was seen *sending*). During a new
    /// attempt (SYN-SENT) the client side still holds the previous connection's value (the
    /// client's old sequence end).
    pub nxt: [SeqNum; 2],
    /// Latest TSval per side; like `nxt`, the previous connection's during SYN-SENT on the
    /// client side (its `ts_recent` on the server).
    pub tsval: [u32; 2],
    /// The server's receive point: the highest ack the server side sent (SYN-ACK, ACKs, FIN,
    /// RST), kept apart from `nxt[client]` (issue 19). Valid with `fl::RCV`; during SYN-SENT it
    /// is the previous connection's (valid with `pv::RCV`), like `nxt[client]`.
    pub rcv: SeqNum,
    /// SYN-SENT with a previous connection: engine ms of its last activity (for
    /// `prev_last_seen_ms`; `last_ms` is the new attempt's then when it was open).
    pub prev_seen_ms: u32,
    /// SYN-SENT: the TSval of the attempt's first SYN (valid with `fl::SYN_TS`).
    pub syn_tsval: u32,
    pub flags: u32,
    pub state: State,
    pub prev: u8,
    /// SYN-SENT: the attempt's SYN payload (TCP Fast Open) in sequence space, so its end is
    /// ISN + 1 + `syn_len` (see [`Flow::syn_end`]); saturates at 65 535 (no IP packet carries
    /// more).
    pub syn_len: u16,
}

impl Flow {
    #[inline]
    pub fn has(&self, bits: u32) -> bool {
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

    /// SYN-SENT only: the end of the client's SYN (ISN + 1 + its payload): the highest ack
    /// the SYN makes acceptable, TCP Fast Open included.
    #[inline]
    pub fn syn_end(&self) -> SeqNum {
        self.isn.add(1).add(u32::from(self.syn_len))
    }

    /// SYN-SENT only: record the attempt's SYN (`end` = ISN + 1 + payload, first TSval). A
    /// retransmission of it (`first` false) keeps the first TSval and the longest payload.
    #[inline]
    pub fn set_syn(&mut self, end: SeqNum, tsval: Option<u32>, first: bool) {
        let len = u16::try_from(end.delta(self.isn.add(1)).max(0)).unwrap_or(u16::MAX);
        self.syn_len = if first { len } else { self.syn_len.max(len) };
        if first {
            self.flags &= !fl::SYN_TS;
            if let Some(v) = tsval {
                self.syn_tsval = v;
                self.flags |= fl::SYN_TS;
            }
        }
    }

    /// SYN-SENT only: the TSval of the attempt's first SYN, if it had one.
    #[inline]
    pub fn syn_tsval(&self) -> Option<u32> {
        self.has(fl::SYN_TS).then_some(self.syn_tsval)
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
    // ack field says how far the client's data reached.

    /// Record that the server acknowledged the client's sequence space up to `ack`. Only
    /// once the handshake is answered (in SYN-SENT `rcv` is the previous connection's).
    #[inline]
    pub fn advance_rcv(&mut self, ack: SeqNum) {
        debug_assert!(self.state != State::SynSent);
        self.rcv = if self.has(fl::RCV) { self.rcv.max(ack) } else { ack };
        self.flags |= fl::RCV;
    }

    /// The server's receive point as its acks showed it (not in SYN-SENT).
    #[inline]
    pub fn known_rcv(&self) -> Option<SeqNum> {
        (self.has(fl::RCV) && self.state != State::SynSent).then_some(self.rcv)
    }

    /// At a port-reuse SYN, after the flags were cleared for the new attempt (`fl::RCV`
    /// included): keep the previous connection's receive point `rcv` and last activity
    /// `last_ms` for the evidence of a stale ACK.
    #[inline]
    pub fn stash_prev(&mut self, rcv: Option<SeqNum>, last_ms: u32) {
        debug_assert!(!self.has(fl::RCV));
        if let Some(r) = rcv {
            self.rcv = r;
            self.prev |= pv::RCV;
        }
        self.prev_seen_ms = last_ms;
    }

    /// During SYN-SENT: the previous connection's receive point kept by `stash_prev`.
    #[inline]
    pub fn prev_rcv(&self) -> Option<SeqNum> {
        (self.state == State::SynSent && self.prev & pv::RCV != 0).then_some(self.rcv)
    }

    /// During SYN-SENT: the previous connection's last activity (engine ms) kept by `stash_prev`.
    #[inline]
    pub fn prev_seen_ms(&self) -> Option<u32> {
        (self.state == State::SynSent && self.prev & pv::VALID != 0).then_some(self.prev_seen_ms)
    }

    /// A fresh entry: nothing known but the times, the ISN and the state.
    #[inline]
    pub fn new(last_ms: u32, syn_us: u32, isn: SeqNum, state: State) -> Flow {
        Flow {
            last_ms,
            syn_us,
            isn,
            nxt: [SeqNum(0); 2],
            tsval: [0; 2],
            rcv: SeqNum(0),
            prev_seen_ms: 0,
            syn_tsval: 0,
            flags: 0,
            state,
            prev: 0,
            syn_len: 0,
        }
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
fn flow_is_48_bytes() {
    // A table slot is the entry plus an 8-byte fingerprint: 56 bytes, 61–74 bytes per 4-tuple
    // at the table's 76–92 % load; 40 bytes would make it 52–64 and 32 bytes (never straddling
    // a cache line) 43–53 (docs/ARCHITECTURE.md, "Flow key and memory").
    assert_eq!(core::mem::size_of::<Flow>(), 48);
    assert_eq!(core::mem::size_of::<Option<Flow>>(), 48);
}
