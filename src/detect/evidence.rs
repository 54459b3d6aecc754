//! How sure ackscope is that a stale ACK carries the previous connection's receive point
//! (`ack_evidence`, `ack_window`, `ack_matches_prev`).
//!
//! The stale ACK a server sends from an old socket (TIME_WAIT, FIN_WAIT2, LAST_ACK, or an
//! RFC 5961 challenge ACK from ESTABLISHED) carries `ack = rcv_nxt` of that socket. What
//! ackscope knows about that receive point `R` of the previous connection is an interval:
//!
//! - `R >= rcv`, the highest ack the server itself was seen sending on it (`Flow::rcv`: the
//!   SYN-ACK, every later ACK, FIN and RST the engine was given) — receive points only grow;
//! - `R <= sent` when the client's FIN was seen (`sent` = the FIN's sequence end): the client
//!   cannot have sent beyond its FIN.
//!
//! Live, only control segments are steered (docs/MODES.md): the data that moves `R` while a
//! connection is open is not seen, so for a connection that lingers ESTABLISHED the interval
//! stays open above the handshake. Replay of a full capture usually pins `R` exactly. The
//! rules below give the same answer for the same segments in both, and never a `false` that
//! the segments do not prove.

use crate::packet::SeqNum;

/// How far after the last receive point it saw ackscope accepts an ack as "within the
/// previous connection's client sequence space" when nothing bounds it from above: 16 MiB of
/// request data the client may have sent unseen (live: data segments are not steered).
pub const ACK_WINDOW: u32 = 1 << 24;

/// `ack_evidence` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckEvidence {
    /// Decided: the ack equals a receive point of the previous connection that its segments
    /// show (`ack_matches_prev: true`), or lies outside every receive point they allow
    /// (`false`).
    Exact,
    /// Not decided: the ack lies after the last receive point seen (`prev_rcv_nxt`) by at
    /// most `ack_window` bytes, which the unseen data may explain.
    WithinWindow,
    /// Nothing seen bounds the receive point near the ack.
    Unknown,
}

impl AckEvidence {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckEvidence::Exact => "exact",
            AckEvidence::WithinWindow => "within_window",
            AckEvidence::Unknown => "unknown",
        }
    }
}

/// What the previous connection's segments showed of the server's receive point.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PrevRcv {
    /// The highest ack the server sent on it (a lower bound of the receive point).
    pub rcv: Option<SeqNum>,
    /// The client's highest sequence end seen on it.
    pub sent: Option<SeqNum>,
    /// `sent` is the client's FIN end: an upper bound of the receive point.
    pub sent_final: bool,
}

/// The verdict for one stale ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub evidence: AckEvidence,
    /// `prev_rcv_nxt`: the receive point the ack was compared with (the ack itself when it
    /// matched; else the last one seen).
    pub prev_rcv_nxt: Option<SeqNum>,
    /// `ack_matches_prev`, only when `Exact`.
    pub matches: Option<bool>,
    /// `ack_window` (bytes after `prev_rcv_nxt`), only when `WithinWindow`.
    pub window: Option<u32>,
}

/// Judge `ack` against what was seen of the previous connection.
pub(crate) fn judge(ack: SeqNum, p: PrevRcv) -> Verdict {
    let hi = if p.sent_final { p.sent } else { None };
    let exact = |point: SeqNum, matches: bool| Verdict {
        evidence: AckEvidence::Exact,
        prev_rcv_nxt: Some(point),
        matches: Some(matches),
        window: None,
    };
    // Equal to a point of the old client sequence space the segments showed: the server's
    // own last ack, or the client's last sequence end (the server received all of it).
    if p.rcv == Some(ack) || p.sent == Some(ack) {
        return exact(ack, true);
    }
    // Outside [rcv, FIN end]: not that receive point, whatever was not seen.
    if let Some(lo) = p.rcv {
        if lo.after(ack) {
            return exact(lo, false);
        }
    }
    if let Some(hi) = hi {
        if ack.after(hi) {
            return exact(hi, false);
        }
    }
    let Some(lo) = p.rcv else {
        return Verdict { evidence: AckEvidence::Unknown, prev_rcv_nxt: hi, matches: None, window: None };
    };
    // After the last receive point seen: the unseen data may explain it, up to the FIN end
    // when the client's FIN was seen, else up to ACK_WINDOW.
    let window = hi.map_or(ACK_WINDOW, |hi| hi.delta(lo) as u32);
    let dist = ack.delta(lo) as u32; // > 0: ack is after lo
    if dist <= window {
        Verdict { evidence: AckEvidence::WithinWindow, prev_rcv_nxt: Some(lo), matches: None, window: Some(window) }
    } else {
        Verdict { evidence: AckEvidence::Unknown, prev_rcv_nxt: Some(lo), matches: None, window: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rcv: Option<u32>, sent: Option<u32>, fin: bool) -> PrevRcv {
        PrevRcv { rcv: rcv.map(SeqNum), sent: sent.map(SeqNum), sent_final: fin }
    }

    #[test]
    fn equal_to_a_seen_point_is_an_exact_match() {
        let v = judge(SeqNum(1000), p(Some(1000), Some(1000), false));
        assert_eq!((v.evidence, v.matches, v.prev_rcv_nxt), (AckEvidence::Exact, Some(true), Some(SeqNum(1000))));
        // The client's sequence end, although the server's ack of it was not seen.
        let v = judge(SeqNum(1500), p(Some(1000), Some(1500), false));
        assert_eq!(v.matches, Some(true));
    }

    #[test]
    fn below_the_servers_own_ack_or_above_the_client_fin_is_an_exact_mismatch() {
        let v = judge(SeqNum(900), p(Some(1000), Some(1000), false));
        assert_eq!((v.evidence, v.matches), (AckEvidence::Exact, Some(false)));
        let v = judge(SeqNum(1002), p(Some(1000), Some(1001), true));
        assert_eq!((v.evidence, v.matches, v.prev_rcv_nxt), (AckEvidence::Exact, Some(false), Some(SeqNum(1001))));
    }

    #[test]
    fn unseen_data_is_never_a_false() {
        // Live, lingering ESTABLISHED: only the handshake was seen; the request moved R.
        let v = judge(SeqNum(1 + 1009), p(Some(1), Some(1), false));
        assert_eq!((v.evidence, v.matches, v.window), (AckEvidence::WithinWindow, None, Some(ACK_WINDOW)));
        assert_eq!(v.prev_rcv_nxt, Some(SeqNum(1)));
        // Between the server's last ack and the client's FIN end.
        let v = judge(SeqNum(1500), p(Some(1000), Some(2001), true));
        assert_eq!((v.evidence, v.window), (AckEvidence::WithinWindow, Some(1001)));
        // Far beyond anything seen.
        let v = judge(SeqNum(1 + ACK_WINDOW + 1), p(Some(1), Some(1), false));
        assert_eq!((v.evidence, v.matches), (AckEvidence::Unknown, None));
        // Nothing of the server seen.
        let v = judge(SeqNum(5), p(None, Some(1), false));
        assert_eq!((v.evidence, v.matches), (AckEvidence::Unknown, None));
    }

    #[test]
    fn modular_wrap() {
        let v = judge(SeqNum(10), p(Some(u32::MAX - 10), Some(u32::MAX - 10), false));
        assert_eq!((v.evidence, v.window), (AckEvidence::WithinWindow, Some(ACK_WINDOW)));
    }
}
