//! Events: what ackscope reports, with the evidence and one actionable sentence each.

use std::net::SocketAddr;

use super::evidence::AckEvidence;
use crate::packet::{SeqNum, Tunnel, NO_VLAN};

/// Event kinds (DESIGN §3). The names are the stable `kind` field values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A SYN answered by an ACK (SYN and RST clear) whose ack ≠ ISN+1.
    StaleAck = 0,
    /// How an attempt that got a stale ACK ended.
    StaleAckOutcome,
    /// A SYN that Linux's TIME_WAIT rule will refuse.
    ReuseInTimeWait,
    /// SYN-ACK whose ack ≠ ISN+1.
    SynackWrongAck,
    /// RST answering a SYN.
    ConnectionRefused,
    /// In handshake or teardown, an ack beyond what the other side was seen to send.
    AckedUnseen,
    /// A (client IP, server) pair reuses 4-tuples inside the server's TIME_WAIT often enough
    /// that stale ACKs are coming (detect/pressure.rs): the predictive warning.
    PortPressure,
}

/// Number of event kinds.
pub const EVENT_KINDS: usize = 7;

impl EventKind {
    /// All kinds in index order.
    pub const ALL: [EventKind; EVENT_KINDS] = [
        EventKind::StaleAck,
        EventKind::StaleAckOutcome,
        EventKind::ReuseInTimeWait,
        EventKind::SynackWrongAck,
        EventKind::ConnectionRefused,
        EventKind::AckedUnseen,
        EventKind::PortPressure,
    ];

    /// Stable snake_case name (`kind` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::StaleAck => "stale_ack",
            EventKind::StaleAckOutcome => "stale_ack_outcome",
            EventKind::ReuseInTimeWait => "reuse_in_time_wait",
            EventKind::SynackWrongAck => "synack_wrong_ack",
            EventKind::ConnectionRefused => "connection_refused",
            EventKind::AckedUnseen => "acked_unseen",
            EventKind::PortPressure => "port_pressure",
        }
    }

    /// True when an event of this kind flags its 4-tuple for a flagged-flow capture
    /// (`--pcap-dir`): the anomalies themselves, not outcomes or refusals.
    pub const fn opens_capture(self) -> bool {
        match self {
            EventKind::StaleAck | EventKind::ReuseInTimeWait | EventKind::SynackWrongAck | EventKind::AckedUnseen => true,
            EventKind::StaleAckOutcome | EventKind::ConnectionRefused | EventKind::PortPressure => false,
        }
    }
}

/// Severity (`severity` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Normal but worth knowing.
    Info,
    /// Something will go or may have gone wrong.
    Warning,
    /// A connection attempt was disturbed.
    Critical,
}

impl Severity {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Why the server answered with a stale ACK (`cause` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The server closed the previous connection first, less than TIME_WAIT ago.
    TimeWait = 0,
    /// The previous connection was seen open and never seen closing.
    LingeringEstablished,
    /// The previous connection was half-closed, or closed longer ago than TIME_WAIT.
    LingeringClose,
    /// No history of this 4-tuple.
    Unknown,
}

/// Number of causes.
pub const CAUSES: usize = 4;

impl Cause {
    /// All causes in index order.
    pub const ALL: [Cause; CAUSES] = [Cause::TimeWait, Cause::LingeringEstablished, Cause::LingeringClose, Cause::Unknown];

    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::TimeWait => "time_wait",
            Cause::LingeringEstablished => "lingering_established",
            Cause::LingeringClose => "lingering_close",
            Cause::Unknown => "unknown",
        }
    }
}

/// How a stale-ACKed attempt ended (`outcome` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A handshake completed later on the same 4-tuple.
    Recovered = 0,
    /// No handshake within the connect timeout, or the client gave up.
    Failed,
    /// The input ended before either.
    Unresolved,
    /// The client went on as connected (it acknowledged a SYN-ACK), but the capture does not
    /// hold that SYN-ACK: the attempt connected, when is unknown.
    ConnectedUnseen,
}

/// Number of outcomes.
pub const OUTCOMES: usize = 4;

impl Outcome {
    /// All outcomes in index order.
    pub const ALL: [Outcome; OUTCOMES] = [Outcome::Recovered, Outcome::Failed, Outcome::Unresolved, Outcome::ConnectedUnseen];

    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Recovered => "recovered",
            Outcome::Failed => "failed",
            Outcome::Unresolved => "unresolved",
            Outcome::ConnectedUnseen => "connected_unseen",
        }
    }
}

/// How ackscope knows which side is the client (`roles` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roles {
    /// A SYN without ACK was seen: its sender is the client.
    Syn,
    /// Inferred from a SYN-ACK (its receiver is the client); the SYN was not seen.
    Synack,
    /// No handshake seen (capture started mid-connection): unknown; `client` is merely the
    /// side with the higher port.
    Unknown,
}

impl Roles {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Roles::Syn => "syn",
            Roles::Synack => "synack",
            Roles::Unknown => "unknown",
        }
    }
}

/// Which directions of the flow ackscope saw (`visibility` field, DESIGN §6). Events from
/// two-direction evidence leave it out (`None`: both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Segments from both sides were seen on the 4-tuple.
    Both,
    /// Only the client's segments (a DSR load balancer, one TAP output).
    ClientOnly,
    /// Only the server's segments (the return path).
    ServerOnly,
}

impl Visibility {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Visibility::Both => "both",
            Visibility::ClientOnly => "client_only",
            Visibility::ServerOnly => "server_only",
        }
    }
}

/// What a stale ACK that was not itself seen is inferred from (`inferred_from` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferredFrom {
    /// The client's RST `<SEQ=SEG.ACK>` answering it, then the same SYN again.
    ClientRst,
    /// The server's bare ACK in the previous connection's sequence space, then its SYN-ACK.
    ServerAck,
}

impl InferredFrom {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            InferredFrom::ClientRst => "client_rst",
            InferredFrom::ServerAck => "server_ack",
        }
    }
}

/// What ackscope saw of the previous connection on the 4-tuple (`prev_state` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrevState {
    /// Nothing: the 4-tuple was not seen before.
    None,
    /// Only a connection attempt, never answered.
    AttemptOnly,
    /// Open: handshake or data seen, no FIN, no RST.
    Open,
    /// Reset by RST, no FIN.
    Reset,
    /// Server sent FIN, client did not (server in FIN_WAIT2).
    HalfClosedByServer,
    /// Client sent FIN, server did not (server in CLOSE_WAIT).
    HalfClosedByClient,
    /// Both FINs, the server's first (server in TIME_WAIT).
    ClosedByServerFirst,
    /// Both FINs, the client's first (server went through LAST_ACK).
    ClosedByClientFirst,
}

impl PrevState {
    /// Stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PrevState::None => "none",
            PrevState::AttemptOnly => "attempt_only",
            PrevState::Open => "open",
            PrevState::Reset => "reset",
            PrevState::HalfClosedByServer => "half_closed_by_server",
            PrevState::HalfClosedByClient => "half_closed_by_client",
            PrevState::ClosedByServerFirst => "closed_by_server_first",
            PrevState::ClosedByClientFirst => "closed_by_client_first",
        }
    }
}

/// One detection. `Copy` and heap-free: the engine emits it without allocating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When (the triggering segment's timestamp, ns).
    pub ts_ns: u64,
    /// Triggering frame (1-based) in replay, 0 live.
    pub frame: u64,
    /// The side that sent the SYN.
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Innermost VLAN id or [`NO_VLAN`].
    pub vlan: u16,
    /// Outer VLAN id of QinQ or [`NO_VLAN`].
    pub svlan: u16,
    /// The encapsulation the flow came in (mirror session, tunnel), `None` for plain frames.
    pub tunnel: Option<Tunnel>,
    /// The client's ISN of the attempt.
    pub syn_seq: Option<SeqNum>,
    /// The ack number in question.
    pub ack: Option<SeqNum>,
    /// What a correct ack would have been.
    pub expected_ack: Option<SeqNum>,
    /// Cause (stale_ack, stale_ack_outcome).
    pub cause: Option<Cause>,
    /// What was seen of the previous connection.
    pub prev_state: Option<PrevState>,
    /// Age of the previous connection's close (or last activity when half-closed), ms.
    pub prev_close_age_ms: Option<u32>,
    /// The previous connection's receive point on the server as its segments showed it: the
    /// stale ack itself when it matched a point they showed, else the server's last ack seen
    /// (reuse_in_time_wait: the client's FIN end).
    pub prev_rcv_nxt: Option<SeqNum>,
    /// How sure `ack_matches_prev` is (stale_ack, stale_ack_outcome; evidence.rs).
    pub ack_evidence: Option<AckEvidence>,
    /// With `within_window`: the ack lies at most this many bytes after `prev_rcv_nxt`.
    pub ack_window: Option<u32>,
    /// Previous connection open: ms since its last segment ackscope saw (live: its last
    /// control segment, so the server may have seen data since).
    pub prev_last_seen_ms: Option<u32>,
    /// Outcome (stale_ack_outcome).
    pub outcome: Option<Outcome>,
    /// From the SYN that got the stale ACK to the SYN-ACK that completed the attempt, µs.
    pub recovery_us: Option<u64>,
    /// Stale ACKs this attempt received (stale_ack_outcome).
    pub stale_acks: u32,
    /// SYN retransmissions after the first stale ACK (stale_ack_outcome).
    pub syn_retries: u32,
    /// The client answered the stale ACK with RST (stale_ack_outcome).
    pub client_rst: Option<bool>,
    /// The server ignored the client's RST (stale ACKs kept coming after it: tcp_rfc1337=1).
    pub rst_ignored: Option<bool>,
    /// How the client/server roles are known.
    pub roles: Roles,
    /// stale_ack_outcome: the attempt's last frame (replay; its latest SYN, stale ACK or RST).
    pub last_frame: u64,
    /// stale_ack_outcome: the earlier verdict this one replaces (a `failed` that the
    /// handshake completing later proved wrong).
    pub revises: Option<Outcome>,
    /// port_pressure: the pair's reuse window at the warning.
    pub pressure: Option<super::pressure::PressureInfo>,
    /// What was visible of the flow, when not both directions (DESIGN §6).
    pub visibility: Option<Visibility>,
    /// What the stale ACK is inferred from, when it was not itself seen.
    pub inferred_from: Option<InferredFrom>,
}

impl Event {
    /// An event with only the common fields set.
    pub fn new(kind: EventKind, ts_ns: u64, frame: u64, client: SocketAddr, server: SocketAddr, vlan: u16, svlan: u16) -> Event {
        Event {
            kind,
            ts_ns,
            frame,
            client,
            server,
            vlan,
            svlan,
            tunnel: None,
            syn_seq: None,
            ack: None,
            expected_ack: None,
            cause: None,
            prev_state: None,
            prev_close_age_ms: None,
            prev_rcv_nxt: None,
            ack_evidence: None,
            ack_window: None,
            prev_last_seen_ms: None,
            outcome: None,
            recovery_us: None,
            stale_acks: 0,
            syn_retries: 0,
            client_rst: None,
            rst_ignored: None,
            roles: Roles::Syn,
            last_frame: 0,
            revises: None,
            pressure: None,
            visibility: None,
            inferred_from: None,
        }
    }

    /// Severity, from kind and outcome.
    pub fn severity(&self) -> Severity {
        match (self.kind, self.outcome) {
            (EventKind::StaleAck, _) => Severity::Critical,
            (EventKind::StaleAckOutcome, Some(Outcome::Failed)) => Severity::Critical,
            (EventKind::StaleAckOutcome, Some(Outcome::Unresolved)) => Severity::Warning,
            (EventKind::StaleAckOutcome, _) => Severity::Info,
            (EventKind::ReuseInTimeWait | EventKind::SynackWrongAck | EventKind::AckedUnseen | EventKind::PortPressure, _) => Severity::Warning,
            (EventKind::ConnectionRefused, _) => Severity::Info,
        }
    }

    /// Signed modular distance `ack - expected_ack`.
    pub fn ack_delta(&self) -> Option<i32> {
        Some(self.ack?.delta(self.expected_ack?))
    }

    /// True when the stale ack equals the previous connection's receive point; only when the
    /// evidence decides it (`ack_evidence` exact), never a guess.
    pub fn ack_matches_prev(&self) -> Option<bool> {
        match self.ack_evidence {
            Some(AckEvidence::Exact) | None => Some(self.ack? == self.prev_rcv_nxt?),
            Some(AckEvidence::WithinWindow | AckEvidence::Unknown) => None,
        }
    }

    /// VLAN as an option.
    pub fn vlan(&self) -> Option<u16> {
        (self.vlan != NO_VLAN).then_some(self.vlan)
    }

    /// One sentence a person can act on.
    pub fn explanation(&self) -> &'static str {
        match (self.kind, self.cause, self.outcome) {
            (EventKind::StaleAck, Some(Cause::TimeWait), _) => {
                "The server still holds this 4-tuple in TIME_WAIT from a connection it closed first, and the new ISN is not \
                 above its old receive point, so it answered the SYN with an ACK of the old connection; let clients close \
                 first, keep TCP timestamps on (net.ipv4.tcp_timestamps=1) on clients, or widen net.ipv4.ip_local_port_range."
            }
            (EventKind::StaleAck, Some(Cause::LingeringEstablished), _) => {
                "The server still believes the previous connection on this 4-tuple is open (the client's FIN or RST never \
                 reached it) and sent an RFC 5961 challenge ACK; find where the client's RST/FIN is lost (firewall, conntrack, \
                 load balancer) and enable TCP keepalive on the server."
            }
            (EventKind::StaleAck, Some(Cause::LingeringClose), _) => {
                "The server still holds the previous connection on this 4-tuple half-closed or unfinished (FIN_WAIT2, \
                 CLOSE_WAIT or LAST_ACK) and answered with its old ACK; check that the server application closes its \
                 sockets, look for lost FINs, and consider a lower net.ipv4.tcp_fin_timeout."
            }
            (EventKind::StaleAck, _, _) => {
                "The SYN was answered by an ACK of another sequence space: the server holds state from a previous connection \
                 on this 4-tuple that ackscope did not see (it started later); look for TIME_WAIT reuse and lost RST/FIN."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::Recovered)) if self.revises.is_some() => {
                "This replaces the earlier failed verdict: a retried SYN completed the handshake after all, recovery_ms after \
                 the stale-ACKed SYN (the client retried longer than --connect-timeout); stop reusing 4-tuples the server \
                 still holds."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::Recovered)) if self.inferred_from == Some(InferredFrom::ServerAck) => {
                "Seen from the server's side only: the server answered the client's retried SYN with a SYN-ACK recovery_ms \
                 after its stale ACK (the client's RST that freed the old state travels the direction not visible); each \
                 occurrence adds that latency to a connect — stop reusing 4-tuples the server still holds."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::Recovered)) if self.client_rst == Some(true) => {
                "The client reset the stale state and its retried SYN completed the handshake after recovery_ms; each \
                 occurrence adds that latency to a connect — stop reusing 4-tuples the server still holds."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::Recovered)) => {
                "The server let go of the stale state by itself (no client RST was seen) and a retried SYN completed the \
                 handshake after recovery_ms; each occurrence adds that latency to a connect — stop reusing 4-tuples the \
                 server still holds."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::ConnectedUnseen)) => {
                "The client later acknowledged a SYN-ACK that is not in the capture (lost by the mirror or capture), so the \
                 attempt did connect, but when is unknown; if this replaces a failed verdict, that verdict was wrong."
            }
            (EventKind::StaleAckOutcome, _, Some(Outcome::Failed)) => {
                "No handshake completed within the connect timeout after the stale ACK, so the connection attempt failed \
                 (with net.ipv4.tcp_rfc1337=1 the server ignores the client's RST and only TIME_WAIT's end frees the \
                 4-tuple); stop reusing 4-tuples the server still holds."
            }
            (EventKind::StaleAckOutcome, _, _) => {
                "The input ended before this stale-ACKed attempt completed or timed out; capture longer to see its outcome."
            }
            (EventKind::ReuseInTimeWait, _, _) => {
                "This SYN reuses a 4-tuple the server closed first less than TIME_WAIT ago, with an ISN not above the old \
                 receive point and no newer TCP timestamp, so Linux will answer it with a stale ACK; keep TCP timestamps on \
                 at the client or let the client close first."
            }
            (EventKind::SynackWrongAck, _, _) => {
                "The SYN-ACK acknowledges something other than ISN+1: it belongs to another attempt or a middlebox rewrote \
                 sequence numbers; check sequence-randomizing firewalls and NAT on the path."
            }
            (EventKind::ConnectionRefused, _, _) => {
                "The server answered the SYN with RST: nothing listens on that port or a firewall rejects it (not a stale ACK)."
            }
            (EventKind::PortPressure, _, _) => {
                "This client reuses 4-tuples to this server while the server still holds them in TIME_WAIT (the server \
                 closes first): a reuse whose ISN is not above the old receive point and carries no newer TCP timestamp \
                 gets a stale ACK; widen the client's net.ipv4.ip_local_port_range, keep TCP timestamps on at the client, \
                 let the client close first, or use more server addresses or ports."
            }
            (EventKind::AckedUnseen, _, _) => {
                "An ACK acknowledges data the other side was never seen to send during handshake or teardown: segments are \
                 missing from the capture or mirror, or a middlebox rewrote sequence numbers."
            }
        }
    }
}
