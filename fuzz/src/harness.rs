//! What each fuzz target does with one input, and the invariants it checks.
//!
//! Shared by the libFuzzer targets (`fuzz/fuzz_targets/*.rs`) and by the main crate's
//! `tests/fuzz_corpus.rs`, which includes this file with `#[path]` and replays every corpus
//! entry through the same functions without libFuzzer. Only `ackscope`'s public API and `std`
//! are used here.
//!
//! - [`check_parse`]: `parse_frame` result sanity (the target calls `parse_frame` itself so it
//!   can count allocations around the call); [`parse_frame_input`] does both.
//! - [`capture_reader_input`]: the bytes become a capture file on tmpfs; every frame is read
//!   and parsed.
//! - [`engine_input`]: the bytes are decoded ([`decode_engine`]) into segments on a small pool
//!   of 4-tuples; frames are built with `TcpSpec`, parsed back, and fed to a `Shard` with a
//!   small flow cap; then `finish()`.
//! - [`flow_table_input`]: the bytes are operations on the shard's open-addressing
//!   `FlowTable`, checked against a `HashMap` model.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use ackscope::detect::{Config, Event, EventKind, Outcome, Shard, EVENT_KINDS};
use ackscope::flow::{FlowTable, KeySeed, TableEntry};
use ackscope::packet::build::TcpSpec;
use ackscope::packet::{parse_frame, LinkType, ParseError, Parsed, Segment, TcpFlags, PARSE_REASONS, NO_VLAN};
use ackscope::replay::{CaptureError, CaptureReader, MAX_RECORD};

// ---- parse_frame ---------------------------------------------------------------------------

/// Link type for the selector byte (the first input byte of the `parse_frame` target).
pub fn link_of(sel: u8) -> LinkType {
    match sel % 8 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        2 => LinkType::LinuxSll2,
        3 => LinkType::RawIp,
        4 => LinkType::Ipv4,
        5 => LinkType::Ipv6,
        6 => LinkType::Other(147),
        _ if sel == 7 => LinkType::Null,
        _ if sel == 15 => LinkType::Loop,
        _ => LinkType::Other(u32::from(sel)),
    }
}

/// Selector byte for a link type (inverse of [`link_of`] for the decoded types).
pub fn sel_of(link: LinkType) -> u8 {
    match link {
        LinkType::Ethernet => 0,
        LinkType::LinuxSll => 1,
        LinkType::LinuxSll2 => 2,
        LinkType::RawIp => 3,
        LinkType::Ipv4 => 4,
        LinkType::Ipv6 => 5,
        LinkType::Other(_) => 6,
        LinkType::Null => 7,
        LinkType::Loop => 15,
    }
}

/// The whole `parse_frame` target minus the allocation count.
pub fn parse_frame_input(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else { return };
    let link = link_of(sel);
    let r = parse_frame(link, frame, 1, 1);
    check_parse(link, frame, &r);
}

/// Invariants of one `parse_frame` result.
pub fn check_parse(link: LinkType, frame: &[u8], r: &Result<Parsed, ParseError>) {
    // Deterministic.
    assert_eq!(*r, parse_frame(link, frame, 1, 1), "parse_frame is not deterministic");
    match r {
        Err(e) => {
            assert!(e.reason_index() < PARSE_REASONS);
            assert_eq!(e.reason(), ParseError::reason_name(e.reason_index()));
            match *e {
                ParseError::Len { offset, required, available, .. } => {
                    assert!(required > available, "length error with enough bytes: {e:?}");
                    assert_eq!(available, frame.len().saturating_sub(offset), "{e:?}");
                }
                ParseError::Content { offset, .. } => {
                    // `<=`: a too-long IPv6 chain is reported where the next (unfollowed)
                    // header would start, which may be the end of the frame.
                    assert!(offset <= frame.len(), "content error past the frame: {e:?}");
                }
            }
            let _ = e.to_string();
        }
        Ok(Parsed::Skip(reason)) => {
            assert!(!reason.as_str().is_empty());
        }
        Ok(Parsed::Tcp(seg)) => {
            assert!(!matches!(link, LinkType::Other(_)), "TCP from an unsupported link type");
            assert_eq!((seg.ts_ns, seg.frame), (1, 1));
            if !seg.v6 {
                assert_eq!(&seg.src[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]);
                assert_eq!(&seg.dst[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]);
            }
            if matches!(link, LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 | LinkType::Null | LinkType::Loop) && seg.tunnel.is_none() {
                // VLAN tags only come from an Ethernet header (here: one inside a tunnel).
                assert_eq!((seg.vlan, seg.svlan), (NO_VLAN, NO_VLAN));
            }
            if let Some(t) = seg.tunnel {
                assert!(t.depth >= 1 && usize::from(t.depth) <= ackscope::packet::MAX_ENCAP_DEPTH, "{t:?}");
                if !t.outer_v6 {
                    assert_eq!(&t.outer_src[..10], &[0; 10], "{t:?}");
                }
            }
            // The TCP header was inside the frame: at least 20 bytes of it.
            assert!(frame.len() >= 40, "a TCP segment from a {}-byte frame", frame.len());
            let _ = (seg.src_addr(), seg.dst_addr(), seg.seg_len());
        }
    }
}

// ---- capture_reader ------------------------------------------------------------------------

/// A per-process scratch file, on tmpfs when there is one.
pub fn scratch_path(tag: &str) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(|c| c.is_ascii_digit()).collect();
    dir.join(format!("ackscope-fuzz-{tag}-{}-{thread}", std::process::id()))
}

/// What reading one capture gave (for the corpus test's summary).
#[derive(Debug, Default, Clone, Copy)]
pub struct CaptureOutcome {
    /// The file opened as a capture.
    pub opened: bool,
    /// Frames read before the end or the damage.
    pub frames: u64,
    /// Frames that parsed into TCP segments.
    pub tcp: u64,
    /// The read stopped at damage (truncated/corrupt).
    pub damaged: bool,
}

/// The whole `capture_reader` target.
pub fn capture_reader_input(data: &[u8]) -> CaptureOutcome {
    let path = scratch_path("cap");
    std::fs::write(&path, data).expect("write the scratch capture");
    let out = read_capture(&path, data.len() as u64);
    let _ = std::fs::remove_file(&path);
    out
}

fn check_capture_error(e: &CaptureError, file_len: u64) {
    let _ = e.to_string();
    match e {
        CaptureError::Io { .. } => panic!("I/O error on a readable scratch file: {e}"),
        CaptureError::NotACapture { .. } => {}
        CaptureError::Truncated { offset, needed, available, .. } => {
            assert!(needed > available, "{e}");
            assert!(*offset + *available <= file_len, "truncation report past the end: {e}");
        }
        CaptureError::Corrupt { offset, .. } => assert!(*offset < file_len, "{e}"),
    }
}

fn read_capture(path: &std::path::Path, file_len: u64) -> CaptureOutcome {
    let mut out = CaptureOutcome::default();
    let mut r = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            check_capture_error(&e, file_len);
            return out;
        }
    };
    out.opened = true;
    loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                out.frames += 1;
                assert_eq!(f.number, out.frames, "frame numbers are 1-based and consecutive");
                assert!(f.data.len() <= MAX_RECORD);
                // Every record/block is at least 12 bytes: no frame from nothing, no endless loop.
                assert!(out.frames * 12 <= file_len, "{} frames from {file_len} bytes", out.frames);
                if let Ok(Parsed::Tcp(_)) = parse_frame(f.link, f.data, f.ts_ns, f.number) {
                    out.tcp += 1;
                }
                assert!(r.offset() <= file_len, "reader offset {} past the end {file_len}", r.offset());
            }
            Ok(None) => {
                // A clean end stays an end.
                assert!(matches!(r.next_frame(), Ok(None)));
                break;
            }
            Err(e) => {
                assert!(!e.is_fatal(), "fatal error after the header: {e}");
                check_capture_error(&e, file_len);
                out.damaged = true;
                break;
            }
        }
    }
    out
}

// ---- engine --------------------------------------------------------------------------------
//
// Input encoding (all fields optional: a short input is padded with zeros).
//
// Header, 3 bytes:
//   h0  max_flows = 16 + (h0 & 31)        (the table's minimum cap is 16)
//   h1  bits 0-1 connect_timeout_ms  [1, 10, 1000, 10000]
//       bits 2-3 time_wait_ms        [0, 100, 60000, u32::MAX]
//       bit  4   tombstone_ttl_ms    [600000, 100]
//       bit  5   idle_timeout_ms     [3600000, 1000]
//   h2  first timestamp (ns)         [1.7e18, 0, u64::MAX - 2^40, u64::MAX - 10^6][h2 & 3]
//
// Then one op per segment, 6 bytes plus literals:
//   o0  tuple: bits 0-3 pool index (16 tuples, IPv4 and IPv6), bit 4 sender is the server,
//       bits 5-7 VLAN tags: 0-5 none, 6 [7], 7 [3, 7].  o0 = 0xFF: no segment, `tick()`.
//   o1  flags: o1 < 0xC0: FLAG_TABLE[o1 % 12], else o1 & 0x3F (raw)
//   o2  seq: kind = o2 & 7, d = (o2 >> 3) as -16..=15
//       0, 4, 5, 6: own next seq + d   1: peer's last ack + d   2: SPECIAL[d & 7]
//       3: own next seq + d * 65536   7: 4-byte literal follows
//   o3  ack: kind = o3 & 7, d as above
//       0, 4, 5, 6: peer's next seq + d   1: own last ack + d   2: SPECIAL[d & 7]
//       3: peer's last SYN seq + 1 + d   7: 4-byte literal follows
//   o4  time step: 0xFF: 1 ms backwards; 0xFE: 4-byte µs literal follows;
//       else (o4 & 63) × [1 µs, 1 ms, 100 ms, 10 s][o4 >> 6]
//   o5  bits 0-2 payload [0, 0, 0, 1, 10, 100, 1448, 2-byte literal (≤ 16000)]
//       bit 3 TCP timestamps option; bits 4-6 TSval: own last +[1, 0, 1000, -1, -2, 2^31],
//       6: peer's last, 7: 4-byte literal; TSecr = peer's last TSval
//   literals follow the op in the order seq, ack, time, payload, tsval (big-endian).

const F_FIN: u8 = TcpFlags::FIN;
const F_SYN: u8 = TcpFlags::SYN;
const F_RST: u8 = TcpFlags::RST;
const F_PSH: u8 = TcpFlags::PSH;
const F_ACK: u8 = TcpFlags::ACK;

/// The flag combinations a 4-tuple's life is made of.
pub const FLAG_TABLE: [u8; 12] = [
    F_SYN,
    F_SYN | F_ACK,
    F_ACK,
    F_ACK,
    F_ACK | F_PSH,
    F_FIN | F_ACK,
    F_RST,
    F_RST | F_ACK,
    F_SYN,
    F_ACK,
    F_FIN,
    F_SYN | F_ACK,
];

/// Sequence numbers where modular comparisons turn.
pub const SPECIAL: [u32; 8] = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0xFFFF_FF00, 0x8000_0001];

const PAYLOADS: [usize; 7] = [0, 0, 0, 1, 10, 100, 1448];
const MAX_LITERAL_PAYLOAD: usize = 16_000;
const BASE_TS: [u64; 4] = [1_700_000_000_000_000_000, 0, u64::MAX - (1 << 40), u64::MAX - 1_000_000];
const TIME_UNITS: [u64; 4] = [1_000, 1_000_000, 100_000_000, 10_000_000_000];
const POOL: usize = 16;

/// The pool of 4-tuples: (client, server). Several share addresses or ports.
pub fn tuple(i: usize) -> (SocketAddr, SocketAddr) {
    let i = i % POOL;
    let cport = [40000u16, 40001, 65535, 1024][i % 4];
    let sport = [80u16, 443][(i / 4) % 2];
    if i < 8 {
        let c = Ipv4Addr::new(10, 0, 0, 1 + (i / 4) as u8 * 100);
        let s = Ipv4Addr::new(10, 0, 0, 9);
        (SocketAddr::new(IpAddr::V4(c), cport), SocketAddr::new(IpAddr::V4(s), sport))
    } else {
        let c: Ipv6Addr = if i < 12 { "fd00::1".parse().unwrap() } else { "fd00::ffff:a00:1".parse().unwrap() };
        let s: Ipv6Addr = "fd00::9".parse().unwrap();
        (SocketAddr::new(IpAddr::V6(c), cport), SocketAddr::new(IpAddr::V6(s), sport))
    }
}

fn vlans(code: u8) -> Vec<u16> {
    match code {
        6 => vec![7],
        7 => vec![3, 7],
        _ => Vec::new(),
    }
}

/// What the decoder remembers per (tuple, direction) to make sequence numbers meaningful.
#[derive(Clone, Copy, Default, Debug)]
pub struct DirState {
    /// Next sequence number after the last segment sent.
    pub next_seq: u32,
    /// Last ack sent.
    pub last_ack: u32,
    /// Seq of the last SYN sent.
    pub syn_seq: u32,
    /// Last TSval sent.
    pub tsval: u32,
}

/// Decoder state: per pool tuple, [client, server].
#[derive(Clone, Default, Debug)]
pub struct DecodeState {
    /// Direction states.
    pub dirs: [[DirState; 2]; POOL],
    /// Current time, ns.
    pub t: u64,
}

/// Engine settings from the header bytes.
pub fn engine_config(h0: u8, h1: u8) -> Config {
    Config {
        max_flows: 16 + usize::from(h0 & 31),
        connect_timeout_ms: [1, 10, 1000, 10_000][usize::from(h1 & 3)],
        time_wait_ms: [0, 100, 60_000, u32::MAX][usize::from((h1 >> 2) & 3)],
        tombstone_ttl_ms: [600_000, 100][usize::from((h1 >> 4) & 1)],
        idle_timeout_ms: [3_600_000, 1_000][usize::from((h1 >> 5) & 1)],
        pressure_min_reuses: [8, 1][usize::from((h1 >> 6) & 1)],
        ..Config::default()
    }
}

/// One decoded step.
#[derive(Clone, Debug)]
pub enum Step {
    /// A segment (the frame to build, and when).
    Seg {
        /// Pool index and VLANs and direction (for the decoder's own bookkeeping).
        spec: TcpSpec,
        /// Timestamp, ns.
        ts: u64,
    },
    /// `Shard::tick` at this time.
    Tick(u64),
}

struct Reader<'a> {
    d: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let v = self.d.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn more(&self) -> bool {
        self.at < self.d.len()
    }
}

fn small(b: u8) -> i32 {
    i32::from(b >> 3) - 16
}

/// Decode the header and every step.
pub fn decode_engine(data: &[u8]) -> (Config, Vec<Step>) {
    let mut r = Reader { d: data, at: 0 };
    let (h0, h1, h2) = (r.u8(), r.u8(), r.u8());
    let cfg = engine_config(h0, h1);
    let mut st = DecodeState { t: BASE_TS[usize::from(h2 & 3)], ..DecodeState::default() };
    let mut steps = Vec::new();
    while r.more() {
        let o: [u8; 6] = [r.u8(), r.u8(), r.u8(), r.u8(), r.u8(), r.u8()];
        let seq_lit = if o[2] & 7 == 7 { Some(r.u32()) } else { None };
        let ack_lit = if o[3] & 7 == 7 { Some(r.u32()) } else { None };
        let time_lit = if o[4] == 0xFE { Some(r.u32()) } else { None };
        let pay_lit = if o[5] & 7 == 7 { Some(r.u16()) } else { None };
        let ts_lit = if o[5] & 8 != 0 && (o[5] >> 4) & 7 == 7 { Some(r.u32()) } else { None };
        st.t = match (o[4], time_lit) {
            (0xFF, _) => st.t.saturating_sub(1_000_000),
            (_, Some(us)) => st.t.saturating_add(u64::from(us) * 1000),
            (b, _) => st.t.saturating_add(u64::from(b & 63) * TIME_UNITS[usize::from(b >> 6)]),
        };
        if o[0] == 0xFF {
            steps.push(Step::Tick(st.t));
            continue;
        }
        let ti = usize::from(o[0] & 0x0F);
        let from = usize::from((o[0] >> 4) & 1);
        let (c, s) = tuple(ti);
        let (src, dst) = if from == 0 { (c, s) } else { (s, c) };
        let flags = if o[1] < 0xC0 { FLAG_TABLE[usize::from(o[1] % 12)] } else { o[1] & 0x3F };
        let me = st.dirs[ti][from];
        let peer = st.dirs[ti][1 - from];
        let d = small(o[2]);
        let seq = match o[2] & 7 {
            1 => peer.last_ack.wrapping_add_signed(d),
            2 => SPECIAL[(d & 7) as usize],
            3 => me.next_seq.wrapping_add_signed(d.wrapping_mul(65536)),
            7 => seq_lit.unwrap_or(0),
            _ => me.next_seq.wrapping_add_signed(d),
        };
        let d = small(o[3]);
        let ack = match o[3] & 7 {
            1 => me.last_ack.wrapping_add_signed(d),
            2 => SPECIAL[(d & 7) as usize],
            3 => peer.syn_seq.wrapping_add(1).wrapping_add_signed(d),
            7 => ack_lit.unwrap_or(0),
            _ => peer.next_seq.wrapping_add_signed(d),
        };
        let payload = match pay_lit {
            Some(n) => usize::from(n).min(MAX_LITERAL_PAYLOAD),
            None => PAYLOADS[usize::from(o[5] & 7)],
        };
        let ts = if o[5] & 8 != 0 {
            let tsval = match (o[5] >> 4) & 7 {
                0 => me.tsval.wrapping_add(1),
                1 => me.tsval,
                2 => me.tsval.wrapping_add(1000),
                3 => me.tsval.wrapping_sub(1),
                4 => me.tsval.wrapping_sub(2),
                5 => me.tsval.wrapping_add(0x8000_0000),
                6 => peer.tsval,
                _ => ts_lit.unwrap_or(0),
            };
            Some((tsval, peer.tsval))
        } else {
            None
        };
        let mut spec = TcpSpec::new(src, dst, seq, ack, flags);
        spec.payload = payload;
        spec.ts = ts;
        spec.vlans = vlans(o[0] >> 5);
        // Bookkeeping as the sender would see it.
        let seg_len = payload as u32 + u32::from(flags & F_SYN != 0) + u32::from(flags & F_FIN != 0);
        let m = &mut st.dirs[ti][from];
        m.next_seq = seq.wrapping_add(seg_len);
        if flags & F_ACK != 0 {
            m.last_ack = ack;
        }
        if flags & F_SYN != 0 {
            m.syn_seq = seq;
        }
        if let Some((v, _)) = ts {
            m.tsval = v;
        }
        steps.push(Step::Seg { spec, ts: st.t });
    }
    (cfg, steps)
}

/// Identity of a stale_ack, as its outcome repeats it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AttemptId {
    client: SocketAddr,
    server: SocketAddr,
    vlan: u16,
    svlan: u16,
    syn_seq: Option<u32>,
    ack: Option<u32>,
    expected_ack: Option<u32>,
    cause: Option<ackscope::detect::Cause>,
    prev_state: Option<ackscope::detect::PrevState>,
    prev_close_age_ms: Option<u32>,
    prev_rcv_nxt: Option<u32>,
}

impl AttemptId {
    fn of(e: &Event) -> AttemptId {
        AttemptId {
            client: e.client,
            server: e.server,
            vlan: e.vlan,
            svlan: e.svlan,
            syn_seq: e.syn_seq.map(|s| s.0),
            ack: e.ack.map(|s| s.0),
            expected_ack: e.expected_ack.map(|s| s.0),
            cause: e.cause,
            prev_state: e.prev_state,
            prev_close_age_ms: e.prev_close_age_ms,
            prev_rcv_nxt: e.prev_rcv_nxt.map(|s| s.0),
        }
    }
    fn same_tuple(&self, o: &AttemptId) -> bool {
        let a = (self.client, self.server);
        (a == (o.client, o.server) || a == (o.server, o.client)) && (self.vlan, self.svlan) == (o.vlan, o.svlan)
    }
}

/// Checks the event stream as it comes.
#[derive(Default)]
struct Checker {
    /// Open attempts and the time of their stale ACK.
    open: Vec<(AttemptId, u64)>,
    /// Attempts whose `failed` a later outcome may still revise (issue 11), at most once.
    failed: Vec<AttemptId>,
    kinds: [u64; EVENT_KINDS],
    seen: usize,
}

impl Checker {
    fn take(&mut self, events: &[Event], shard: &Shard) {
        for e in &events[self.seen..] {
            self.kinds[e.kind as usize] += 1;
            assert!(e.ts_ns <= shard.now_ns(), "event from the future: {e:?}");
            let _ = (e.severity(), e.explanation(), e.ack_delta(), e.ack_matches_prev());
            match e.kind {
                EventKind::StaleAck => {
                    let (syn, ack, exp) = (e.syn_seq.unwrap(), e.ack.unwrap(), e.expected_ack.unwrap());
                    assert_eq!(exp, syn.add(1), "{e:?}");
                    assert_ne!(ack, exp, "a stale ACK that acknowledges the SYN: {e:?}");
                    assert!(e.cause.is_some() && e.prev_state.is_some() && e.outcome.is_none(), "{e:?}");
                    let id = AttemptId::of(e);
                    if let Some(o) = self.open.iter().find(|o| o.0.same_tuple(&id)) {
                        panic!("second stale_ack on a 4-tuple whose attempt is still open:\n  open: {o:?}\n  new:  {e:?}");
                    }
                    self.open.push((id, e.ts_ns));
                }
                EventKind::StaleAckOutcome => {
                    let id = AttemptId::of(e);
                    if e.revises.is_some() {
                        // A later outcome revising a `failed` one: of a failed attempt, once.
                        let Some(i) = self.failed.iter().position(|f| *f == id) else {
                            panic!("revised outcome without a failed attempt: {e:?}\n  failed: {:?}", self.failed)
                        };
                        self.failed.swap_remove(i);
                        assert_eq!(e.revises, Some(Outcome::Failed), "{e:?}");
                        assert!(matches!(e.outcome, Some(Outcome::Recovered | Outcome::ConnectedUnseen)), "{e:?}");
                        continue;
                    }
                    let Some(i) = self.open.iter().position(|o| o.0 == id) else {
                        panic!("stale_ack_outcome without an open stale_ack: {e:?}\n  open: {:?}", self.open)
                    };
                    let (_, stale_ts) = self.open.swap_remove(i);
                    // An outcome is stamped at or after its attempt's SYN, which the engine
                    // dates at most 2^32 µs before the stale ACK: never decades earlier (a
                    // wrapped deadline, which release builds would not otherwise show).
                    assert!(e.ts_ns.saturating_add((1 << 32) * 1000) >= stale_ts, "outcome long before its stale_ack at {stale_ts}: {e:?}");
                    let outcome = e.outcome.expect("an outcome");
                    if outcome == Outcome::Failed {
                        self.failed.retain(|f| !f.same_tuple(&id));
                        self.failed.push(id);
                    }
                    assert!(e.recovery_us.is_none() || outcome == Outcome::Recovered, "{e:?}");
                    assert!(e.stale_acks >= 1 && e.client_rst.is_some() && e.rst_ignored.is_some(), "{e:?}");
                }
                EventKind::SynackWrongAck => {
                    assert_ne!(e.ack.unwrap(), e.expected_ack.unwrap(), "{e:?}");
                }
                EventKind::PortPressure => {
                    let p = e.pressure.expect("port_pressure carries its window");
                    assert!(p.reuses >= 1 && p.in_time_wait <= p.reuses && p.in_time_wait * 100 >= p.reuses * 50, "{e:?}");
                    assert!(p.port_min <= p.port_max && p.ports_seen >= 1, "{e:?}");
                }
                EventKind::ReuseInTimeWait | EventKind::ConnectionRefused | EventKind::AckedUnseen => {}
            }
        }
        self.seen = events.len();
        assert_eq!(shard.pending_outcomes(), self.open.len(), "pending attempts vs open stale_acks");
        assert_eq!(shard.counters.events, self.kinds, "event counters vs events emitted");
    }
}

/// Run the decoded steps through one shard; returns the events. Panics on a broken invariant.
pub fn run_engine(cfg: Config, steps: &[Step], seed: KeySeed) -> Vec<Event> {
    let mut shard = Shard::new(cfg, seed);
    let cap = cfg.max_flows.max(16);
    let mut events = Vec::new();
    let mut chk = Checker::default();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Tick(t) => shard.tick(*t, &mut events),
            Step::Seg { spec, ts } => {
                let frame = spec.ethernet();
                let seg = match parse_frame(LinkType::Ethernet, &frame, *ts, i as u64 + 1) {
                    Ok(Parsed::Tcp(seg)) => seg,
                    other => panic!("a built frame does not parse: {other:?}\n{spec:?}"),
                };
                check_roundtrip(spec, &seg);
                shard.process(&seg, &mut events);
            }
        }
        assert!(shard.flows() <= cap, "{} flows over the cap {cap}", shard.flows());
        chk.take(&events, &shard);
    }
    shard.finish(&mut events);
    chk.take(&events, &shard);
    assert!(chk.open.is_empty(), "stale_acks without an outcome after finish(): {:?}", chk.open);
    assert_eq!(shard.pending_outcomes(), 0);
    let c = &shard.counters;
    assert_eq!(c.causes.iter().sum::<u64>(), c.events[EventKind::StaleAck as usize]);
    assert_eq!(c.outcomes.iter().sum::<u64>(), c.events[EventKind::StaleAckOutcome as usize]);
    events
}

fn check_roundtrip(spec: &TcpSpec, seg: &Segment) {
    assert_eq!(seg.src_addr(), spec.src);
    assert_eq!(seg.dst_addr(), spec.dst);
    assert_eq!((seg.seq.0, seg.ack.0, seg.flags.0), (spec.seq, spec.ack, spec.flags));
    assert_eq!(seg.payload_len as usize, spec.payload);
    assert_eq!(seg.opts.has_ts, spec.ts.is_some());
    if let Some((tsval, tsecr)) = spec.ts {
        assert_eq!((seg.tsval, seg.opts.tsecr), (tsval, tsecr));
    }
    let (vlan, svlan) = match spec.vlans[..] {
        [] => (NO_VLAN, NO_VLAN),
        [v] => (v, NO_VLAN),
        [s, v] => (v, s),
        _ => unreachable!(),
    };
    assert_eq!((seg.vlan, seg.svlan), (vlan, svlan));
}

/// The whole `engine` target: decode, run under two fingerprint seeds, compare.
pub fn engine_input(data: &[u8]) -> usize {
    let (cfg, steps) = decode_engine(data);
    let a = run_engine(cfg, &steps, KeySeed::fixed(1));
    // The fingerprint seed must not change what is reported.
    let b = run_engine(cfg, &steps, KeySeed::fixed(0x5EED));
    assert_eq!(a, b, "events depend on the fingerprint seed");
    a.len()
}

// ---- seeds ---------------------------------------------------------------------------------

/// Encode segments (e.g. from a real capture) into an `engine` input: each distinct 4-tuple
/// gets a pool index (the client is the SYN sender, else the first sender), sequence numbers,
/// acks, TSvals and time steps are encoded exactly (relative where the decoder's state allows,
/// literal otherwise). At most 16 tuples; later ones reuse pool slots.
pub fn encode_engine(h: [u8; 3], segs: &[Segment]) -> Vec<u8> {
    let mut out = h.to_vec();
    let mut st = DecodeState { t: BASE_TS[usize::from(h[2] & 3)], ..DecodeState::default() };
    let mut tuples: Vec<(SocketAddr, SocketAddr, u16, u16)> = Vec::new();
    let mut first = true;
    let mut base = 0u64;
    for seg in segs {
        let (src, dst) = (seg.src_addr(), seg.dst_addr());
        let key = |a: SocketAddr, b: SocketAddr| (a, b, seg.vlan, seg.svlan);
        let (ti, from) = match tuples.iter().position(|t| *t == key(src, dst)) {
            Some(i) => (i, 0),
            None => match tuples.iter().position(|t| *t == key(dst, src)) {
                Some(i) => (i, 1),
                None => {
                    // New tuple: the sender is the client unless this is a SYN-ACK.
                    let server_sent = seg.flags.has(F_SYN | F_ACK);
                    tuples.push(if server_sent { key(dst, src) } else { key(src, dst) });
                    (tuples.len() - 1, usize::from(server_sent))
                }
            },
        };
        // Keep the family of the real tuple: v4 tuples in 0..8, v6 in 8..16.
        let slot = if seg.v6 { 8 + ti % 8 } else { ti % 8 };
        let vl = match (seg.vlan, seg.svlan) {
            (NO_VLAN, _) => 0u8,
            (_, NO_VLAN) => 6,
            _ => 7,
        };
        let o0 = slot as u8 | (from as u8) << 4 | vl << 5;
        let o0 = if o0 == 0xFF { 0x7F } else { o0 };
        let flags = seg.flags.0 & 0x3F;
        let o1 = match FLAG_TABLE.iter().position(|&f| f == flags) {
            Some(i) => i as u8,
            None => 0xC0 | flags,
        };
        let me = st.dirs[slot][from];
        let peer = st.dirs[slot][1 - from];
        let (o2, seq_lit) = encode_value(seg.seq.0, &[(0, me.next_seq), (1, peer.last_ack)]);
        let (o3, ack_lit) = encode_value(seg.ack.0, &[(0, peer.next_seq), (1, me.last_ack), (3, peer.syn_seq.wrapping_add(1))]);
        // Time: relative to the first segment's own time.
        if first {
            base = seg.ts_ns;
            first = false;
        }
        let target = st.t.saturating_add(seg.ts_ns.saturating_sub(base));
        base = seg.ts_ns.max(base);
        let step = target - st.t;
        let (o4, time_lit) = if step == 0 {
            (0u8, None)
        } else if let Some(b) = (0..4u8).rev().find(|&u| {
            let unit = TIME_UNITS[usize::from(u)];
            // 0xFE and 0xFF are the literal and backwards codes.
            step % unit == 0 && step / unit < if u == 3 { 62 } else { 64 }
        }) {
            (b << 6 | (step / TIME_UNITS[usize::from(b)]) as u8, None)
        } else {
            (0xFE, Some((step / 1000).min(u64::from(u32::MAX)) as u32))
        };
        st.t = match time_lit {
            Some(us) => st.t.saturating_add(u64::from(us) * 1000),
            None => st.t.saturating_add(u64::from(o4 & 63) * TIME_UNITS[usize::from(o4 >> 6)]),
        };
        let payload = (seg.payload_len as usize).min(MAX_LITERAL_PAYLOAD);
        let (mut o5, pay_lit) = match PAYLOADS.iter().position(|&p| p == payload) {
            Some(i) => (i as u8, None),
            None => (7u8, Some(payload as u16)),
        };
        let mut ts_lit = None;
        if seg.opts.has_ts {
            o5 |= 8;
            let v = seg.tsval;
            let choice = [
                me.tsval.wrapping_add(1),
                me.tsval,
                me.tsval.wrapping_add(1000),
                me.tsval.wrapping_sub(1),
                me.tsval.wrapping_sub(2),
                me.tsval.wrapping_add(0x8000_0000),
                peer.tsval,
            ]
            .iter()
            .position(|&c| c == v);
            match choice {
                Some(k) => o5 |= (k as u8) << 4,
                None => {
                    o5 |= 7 << 4;
                    ts_lit = Some(v);
                }
            }
        }
        out.extend_from_slice(&[o0, o1, o2, o3, o4, o5]);
        for v in [seq_lit, ack_lit, time_lit].into_iter().flatten() {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if let Some(p) = pay_lit {
            out.extend_from_slice(&p.to_be_bytes());
        }
        if let Some(v) = ts_lit {
            out.extend_from_slice(&v.to_be_bytes());
        }
        // Mirror the decoder's bookkeeping.
        let seg_len = payload as u32 + u32::from(flags & F_SYN != 0) + u32::from(flags & F_FIN != 0);
        let m = &mut st.dirs[slot][from];
        m.next_seq = seg.seq.0.wrapping_add(seg_len);
        if flags & F_ACK != 0 {
            m.last_ack = seg.ack.0;
        }
        if flags & F_SYN != 0 {
            m.syn_seq = seg.seq.0;
        }
        if seg.opts.has_ts {
            m.tsval = seg.tsval;
        }
    }
    out
}

/// (selector byte, literal) for `v` given the relative bases `(kind, base)` the decoder offers.
fn encode_value(v: u32, bases: &[(u8, u32)]) -> (u8, Option<u32>) {
    for &(kind, base) in bases {
        let d = v.wrapping_sub(base) as i32;
        if (-16..=15).contains(&d) {
            return (kind | (((d + 16) as u8) << 3), None);
        }
    }
    if let Some(i) = SPECIAL.iter().position(|&s| s == v) {
        // d & 7 == i with d in -16..=15: d = i - 16 works for every i < 8.
        return (2 | ((i as u8) << 3), None);
    }
    (7, Some(v))
}

// ---- flow_table ----------------------------------------------------------------------------
//
// h0: cap = 16 + h0 % 64. Then 4-byte ops [op, k, l, x]:
//   key  fp = k << 32 | LOW[l & 3]: 256 × 4 keys; the low 32 bits (which pick the home bucket)
//        take only four values, so probes collide and wrap; k = 0 with l & 3 ∈ {0, 1} gives
//        the special fingerprints 0 and 1
//   op % 8: 0-2 insert {last = now - x, tomb = l & 4}   3 remove   4 get_mut and touch
//           5 expire(now, ttl = x·8, idle = x·16)        6 now += x   7 now += x << 16

const LOW: [u64; 4] = [0, 1, 0x8000_0000, 0xFFFF_FFFF];

/// A table entry that knows who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestEntry {
    /// Its key.
    pub fp: u64,
    /// Insertion serial number.
    pub serial: u32,
    /// Last activity, ms.
    pub last: u32,
    /// Tombstone.
    pub tomb: bool,
}

impl TableEntry for TestEntry {
    fn last_ms(&self) -> u32 {
        self.last
    }
    fn is_tombstone(&self) -> bool {
        self.tomb
    }
}

fn evicted_total(t: &FlowTable<TestEntry>) -> u64 {
    let e = t.evictions;
    e.tombstones + e.live + e.expired
}

/// The table holds exactly the model's entries; entries gone from the table since the model
/// last agreed are dropped from the model and returned (the caller checks they were counted).
fn reconcile(t: &mut FlowTable<TestEntry>, model: &mut std::collections::HashMap<u64, TestEntry>) -> u64 {
    let mut vanished = Vec::new();
    for (fp, want) in model.iter() {
        match t.get_mut(*fp) {
            Some(got) => assert_eq!(*got, *want, "entry {fp:#x} changed"),
            None => vanished.push(*fp),
        }
    }
    for fp in &vanished {
        model.remove(fp);
    }
    assert_eq!(t.len(), model.len(), "len() disagrees with the entries found");
    vanished.len() as u64
}

/// The whole `flow_table` target.
pub fn flow_table_input(data: &[u8]) {
    let Some((&h0, ops)) = data.split_first() else { return };
    let cap = 16 + usize::from(h0 % 64);
    let mut t: FlowTable<TestEntry> = FlowTable::new(cap);
    let mut model: std::collections::HashMap<u64, TestEntry> = std::collections::HashMap::new();
    let mut now: u32 = 1 << 20;
    let mut serial = 0u32;
    for op in ops.chunks(4) {
        let [o, k, l, x] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0), *op.get(3).unwrap_or(&0)];
        let fp = u64::from(k) << 32 | LOW[usize::from(l & 3)];
        let before = evicted_total(&t);
        match o % 8 {
            0..=2 => {
                serial += 1;
                let v = TestEntry { fp, serial, last: now.wrapping_sub(u32::from(x)), tomb: l & 4 != 0 };
                let stored = *t.insert(fp, v, now);
                assert_eq!(stored, v);
                model.insert(fp, v);
                assert_eq!(t.get_mut(fp).copied(), Some(v), "the entry just inserted is gone");
                // Whatever vanished was evicted (and counted), never the new entry.
                let gone = reconcile(&mut t, &mut model);
                assert_eq!(gone, evicted_total(&t) - before, "entries vanished without being counted");
                assert!(t.len() <= t.cap(), "{} entries over the cap {}", t.len(), t.cap());
            }
            3 => {
                assert_eq!(t.remove(fp), model.remove(&fp), "remove({fp:#x})");
                assert_eq!(t.get_mut(fp), None);
            }
            4 => {
                assert_eq!(t.get_mut(fp).copied(), model.get(&fp).copied(), "get_mut({fp:#x})");
                if let Some(v) = t.get_mut(fp) {
                    v.last = now;
                    model.get_mut(&fp).expect("model agrees").last = now;
                }
            }
            5 => {
                let (ttl, idle) = (u32::from(x) * 8, u32::from(x) * 16);
                t.expire(now, ttl, idle);
                let n = model.len();
                model.retain(|_, v| {
                    let age = now.wrapping_sub(v.last);
                    if v.tomb {
                        age < ttl
                    } else {
                        age < idle
                    }
                });
                assert_eq!((n - model.len()) as u64, evicted_total(&t) - before, "expire() count");
            }
            6 => now = now.wrapping_add(u32::from(x)),
            _ => now = now.wrapping_add(u32::from(x) << 16),
        }
        assert_eq!(reconcile(&mut t, &mut model), 0, "entries vanished outside insert/expire");
        let _ = t.memory_bytes();
    }
}
