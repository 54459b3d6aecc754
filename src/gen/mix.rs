//! The frame mix: one *story* of TCP control segments per 4-tuple, many stories interleaved.
//!
//! A story is what one client does on its 4-tuple in one lap: an ordinary connection
//! (handshake, then a client-first or server-first close, or an abortive RST), a refused SYN, a
//! retransmitted SYN, two connections in a row (port reuse), or one of the four stale-ACK
//! exchanges ackscope hunts (DESIGN §1): the reuse SYN, the server's bare ACK of the old
//! connection, the client's RST, the retried SYN and the handshake that recovers it, then a
//! client-first close.
//!
//! Every story ends with the 4-tuple closed (client first, server first or reset), so the next
//! lap's story on the same 4-tuple is an ordinary port reuse: its sequence numbers are moved by
//! [`LAP_DELTA`] per lap, which puts a new ISN above the previous lap's receive point and keeps
//! TIME_WAIT from refusing it. The events a lap makes ackscope report are therefore the same on
//! every lap (except the `unknown` cause, see [`Story::StaleNoHistory`]), and
//! [`Expected::after`] says exactly what ackscope must report for any number of frames sent.
//!
//! Stories run concurrently: a window of `concurrency` stories is open at a time and the next
//! frame comes from a pseudo-randomly chosen open story, so the frames of different 4-tuples
//! interleave as they do on a busy link, while each story's own frames stay in order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::detect::{Cause, CAUSES};
use crate::packet::build::{TcpSpec, F};
use crate::packet::SeqNum;

/// Sequence-number offset added per lap (to client and server sequence space alike). Large
/// enough to lift a new ISN above everything the previous lap's story consumed, far below 2³¹.
pub const LAP_DELTA: u32 = 0x0100_0193;

/// Ethernet minimum frame length without FCS; shorter frames are zero-padded.
pub const MIN_FRAME: usize = 60;

/// What one story does on its 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Story {
    /// Handshake, client closes first (FIN, ACK, FIN, ACK).
    Normal = 0,
    /// Handshake, server closes first (HTTP-server style); the server goes to TIME_WAIT.
    ServerClose,
    /// Handshake, then the client aborts with RST.
    Reset,
    /// SYN to a closed port, answered by RST-ACK: a `connection_refused` event.
    Refused,
    /// The SYN is retransmitted once, then handshake and client-first close.
    SynRetransmit,
    /// Two connections in a row on the same 4-tuple (port reuse), client-first closes.
    Reuse,
    /// The server closed first and is in TIME_WAIT; the reuse SYN's ISN lies below the old
    /// receive point: `reuse_in_time_wait`, then `stale_ack` with cause `time_wait`.
    StaleTimeWait,
    /// The previous connection is still open on the server (the client's close was lost): the
    /// reuse SYN gets an RFC 5961 challenge ACK, cause `lingering_established`.
    StaleLingeringEstablished,
    /// The previous connection is half-closed (client FIN acknowledged, server in CLOSE_WAIT):
    /// cause `lingering_close`.
    StaleLingeringClose,
    /// A stale ACK with no earlier connection in the story: cause `unknown` on the first lap
    /// (ackscope has no history of the 4-tuple); on later laps the previous lap's connection,
    /// closed by the client first, is the history, and the cause is `lingering_close`.
    StaleNoHistory,
}

/// Number of story kinds.
pub const STORIES: usize = 10;

impl Story {
    /// All kinds in index order.
    pub const ALL: [Story; STORIES] = [
        Story::Normal,
        Story::ServerClose,
        Story::Reset,
        Story::Refused,
        Story::SynRetransmit,
        Story::Reuse,
        Story::StaleTimeWait,
        Story::StaleLingeringEstablished,
        Story::StaleLingeringClose,
        Story::StaleNoHistory,
    ];

    /// The stale-ACK stories.
    pub const STALE: [Story; 4] =
        [Story::StaleTimeWait, Story::StaleLingeringEstablished, Story::StaleLingeringClose, Story::StaleNoHistory];

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Story::Normal => "normal",
            Story::ServerClose => "server_close",
            Story::Reset => "reset",
            Story::Refused => "refused",
            Story::SynRetransmit => "syn_retransmit",
            Story::Reuse => "reuse",
            Story::StaleTimeWait => "stale_time_wait",
            Story::StaleLingeringEstablished => "stale_lingering_established",
            Story::StaleLingeringClose => "stale_lingering_close",
            Story::StaleNoHistory => "stale_no_history",
        }
    }

    /// True for the stale-ACK exchanges.
    pub const fn is_stale(self) -> bool {
        matches!(
            self,
            Story::StaleTimeWait | Story::StaleLingeringEstablished | Story::StaleLingeringClose | Story::StaleNoHistory
        )
    }

    /// The cause ackscope must name for this story's stale ACK on lap `lap`.
    pub const fn cause(self, lap: u64) -> Option<Cause> {
        match self {
            Story::StaleTimeWait => Some(Cause::TimeWait),
            Story::StaleLingeringEstablished => Some(Cause::LingeringEstablished),
            Story::StaleLingeringClose => Some(Cause::LingeringClose),
            Story::StaleNoHistory if lap == 0 => Some(Cause::Unknown),
            Story::StaleNoHistory => Some(Cause::LingeringClose),
            _ => None,
        }
    }
}

/// Share of each ordinary story among the flows that are not stale-ACK exchanges (per mille).
const ORDINARY_MIX: [(Story, u32); 6] = [
    (Story::Normal, 500),
    (Story::ServerClose, 250),
    (Story::Reset, 100),
    (Story::Reuse, 80),
    (Story::SynRetransmit, 50),
    (Story::Refused, 20),
];

/// What a frame makes ackscope report (or count), for the expectations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Nothing.
    None,
    /// The frame that lets ackscope report a story's stale ACK (the ACK itself, or the client's RST
    /// that confirms it): one `stale_ack` event.
    StaleAck(Story),
    /// A SYN that Linux's TIME_WAIT will refuse: one `reuse_in_time_wait` event.
    ReuseInTimeWait,
    /// RST-ACK answering a SYN: one `connection_refused` event.
    Refused,
    /// The SYN-ACK that completes a stale-ACKed attempt: one `stale_ack_outcome` `recovered`.
    Recovered,
}

/// One frame of the mix.
#[derive(Clone, Debug)]
pub struct MixFrame {
    /// The Ethernet frame (at least [`MIN_FRAME`] bytes, valid checksums).
    pub data: Vec<u8>,
    /// Offset of the TCP header.
    pub l4off: u16,
    /// What it triggers.
    pub trigger: Trigger,
    /// Index of its flow (4-tuple) in the mix.
    pub flow: u32,
    /// The story it belongs to.
    pub story: Story,
    /// Carries TCP payload (a data segment: ackscope's XDP program does not steer it).
    pub data_segment: bool,
    /// A SYN-flood frame ([`MixConfig::syn_flood`]): a new random IPv4 4-tuple every lap
    /// (`flow` is `u32::MAX`, `story` meaningless).
    pub flood: bool,
    /// A server's stale ACK answering a reuse SYN (the first of an exchange or a repeat,
    /// [`MixConfig::stale_ack_repeats`]).
    pub stale_segment: bool,
}

/// How to build the mix.
#[derive(Clone, Debug)]
pub struct MixConfig {
    /// Distinct 4-tuples (one story each per lap).
    pub flows: u32,
    /// Fraction of the stories that are stale-ACK exchanges, split evenly over the four kinds.
    pub stale_ack_rate: f64,
    /// Fraction of the 4-tuples that are IPv6.
    pub ipv6: f64,
    /// Stories open at a time (interleaving depth).
    pub concurrency: u32,
    /// Seed of every pseudo-random choice (kinds, addresses' server, ISNs, interleaving).
    pub seed: u64,
    /// Request and response payload bytes of one data exchange per connection; `None`: none
    /// (a pure control-segment mix).
    pub data: Option<(u16, u16)>,
    /// 802.1Q tag on every frame.
    pub vlan: Option<u16>,
    /// Destination and source MAC of every frame (default 02:00:00:00:00:02 / …:01).
    pub macs: Option<([u8; 6], [u8; 6])>,
    /// Share of all frames (0..1) that are SYN-flood frames: a SYN from a random IPv4 client
    /// in 198.18.128.0/17 (never a story's client) to one of the mix's servers, never
    /// answered; each lap gives every flood slot a new source address and port (in the kernel,
    /// `bpf/gen.bpf.c`), so the flood keeps bringing new 4-tuples.
    pub syn_flood: f64,
    /// Times each stale-ACK exchange repeats after the client's RST: the client retries its
    /// SYN, the server answers with the same stale ACK again (it ignored the RST: RFC 1337
    /// TIME-WAIT handling, or the RST was lost), the client resets again. ackscope keeps the
    /// repeats in the attempt's one `stale_ack` and its outcome (`stale_acks` = 1 + repeats,
    /// `rst_ignored`). 0: the server accepts the first RST.
    pub stale_ack_repeats: u32,
}

impl Default for MixConfig {
    fn default() -> MixConfig {
        MixConfig {
            flows: 10_000,
            stale_ack_rate: 0.01,
            ipv6: 0.2,
            concurrency: 256,
            seed: 1,
            data: None,
            vlan: None,
            macs: None,
            syn_flood: 0.0,
            stale_ack_repeats: 0,
        }
    }
}

/// What ackscope must report for a stretch of the stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Frames sent.
    pub frames: u64,
    /// Data segments among them.
    pub data_segments: u64,
    /// Stale-ACK exchanges injected whose `stale_ack` ackscope can report from the frames sent
    /// (the stale ACK, or the client's RST that confirms it; see `Builder::stale_exchange`).
    pub stale_acks: u64,
    /// Of those, by the cause ackscope must name ([`Cause::ALL`] order).
    pub stale_by_cause: [u64; CAUSES],
    /// `reuse_in_time_wait` events.
    pub reuse_in_time_wait: u64,
    /// `connection_refused` events.
    pub connection_refused: u64,
    /// `stale_ack_outcome` events with `recovered`.
    pub recovered: u64,
    /// SYN-flood frames among the frames sent (no event; each a new 4-tuple per lap).
    pub flood_syns: u64,
    /// Stale ACK segments sent (every exchange's first and its repeats): what the
    /// `stale_acks` of the outcomes add up to once every attempt ended.
    pub stale_ack_segments: u64,
}

impl Expected {
    fn count(&mut self, f: &MixFrame, lap: u64) {
        self.frames += 1;
        self.data_segments += u64::from(f.data_segment);
        self.flood_syns += u64::from(f.flood);
        self.stale_ack_segments += u64::from(f.stale_segment);
        match f.trigger {
            Trigger::None => {}
            Trigger::StaleAck(story) => {
                self.stale_acks += 1;
                if let Some(c) = story.cause(lap) {
                    self.stale_by_cause[c as usize] += 1;
                }
            }
            Trigger::ReuseInTimeWait => self.reuse_in_time_wait += 1,
            Trigger::Refused => self.connection_refused += 1,
            Trigger::Recovered => self.recovered += 1,
        }
    }

    /// Add `o` into `self`.
    pub fn add(&mut self, o: &Expected) {
        self.frames += o.frames;
        self.data_segments += o.data_segments;
        self.stale_acks += o.stale_acks;
        for (a, b) in self.stale_by_cause.iter_mut().zip(o.stale_by_cause) {
            *a += b;
        }
        self.reuse_in_time_wait += o.reuse_in_time_wait;
        self.connection_refused += o.connection_refused;
        self.recovered += o.recovered;
        self.flood_syns += o.flood_syns;
        self.stale_ack_segments += o.stale_ack_segments;
    }

    /// What the first `frames` frames of the endless stream of `lap_frames` (one lap, repeated
    /// with moved sequence numbers) make ackscope report.
    pub fn after(lap_frames: &[MixFrame], frames: u64) -> Expected {
        let mut e = Expected::default();
        let n = lap_frames.len() as u64;
        if n == 0 {
            return e;
        }
        let (laps, rest) = (frames / n, (frames % n) as usize);
        if laps > 0 {
            let mut first = Expected::default();
            for f in lap_frames {
                first.count(f, 0);
            }
            e.add(&first);
            if laps > 1 {
                let mut later = Expected::default();
                for f in lap_frames {
                    later.count(f, 1);
                }
                for v in [
                    &mut later.frames,
                    &mut later.data_segments,
                    &mut later.stale_acks,
                    &mut later.reuse_in_time_wait,
                    &mut later.connection_refused,
                    &mut later.recovered,
                    &mut later.flood_syns,
                    &mut later.stale_ack_segments,
                ] {
                    *v *= laps - 1;
                }
                for v in later.stale_by_cause.iter_mut() {
                    *v *= laps - 1;
                }
                e.add(&later);
            }
        }
        for f in &lap_frames[..rest] {
            e.count(f, laps);
        }
        e
    }
}

/// splitmix64: the mix's only source of pseudo-randomness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

fn hash(seed: u64, a: u64) -> u64 {
    Rng::new(seed ^ a.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

/// The 4-tuples and story kinds of a mix.
#[derive(Clone, Debug)]
pub struct Plan {
    cfg: MixConfig,
    kinds: Vec<Story>,
    v6: Vec<bool>,
    /// The flows this plan sends (all, or one thread's part).
    members: Vec<u32>,
}

/// Client hosts per address family; client ports are spread over the Linux ephemeral range.
const CLIENT_HOSTS: u32 = 4096;
const EPHEMERAL: (u32, u32) = (32768, 28232);
const SERVERS: u32 = 16;
const SERVER_PORTS: [u16; 4] = [80, 443, 8080, 5432];

impl Plan {
    /// Assign story kinds and address families: exactly `round(flows × stale_ack_rate)` stale
    /// stories (the four kinds in turn) and `round(flows × ipv6)` IPv6 4-tuples, placed
    /// pseudo-randomly.
    pub fn new(cfg: &MixConfig) -> Plan {
        let n = cfg.flows as usize;
        let mut rng = Rng::new(cfg.seed);
        let stale = ((cfg.stale_ack_rate.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        let mut kinds = Vec::with_capacity(n);
        for i in 0..stale {
            kinds.push(Story::STALE[i % Story::STALE.len()]);
        }
        let ordinary = n - stale;
        let total: u32 = ORDINARY_MIX.iter().map(|x| x.1).sum();
        let mut placed = 0usize;
        for (i, &(story, share)) in ORDINARY_MIX.iter().enumerate() {
            let k = if i + 1 == ORDINARY_MIX.len() {
                ordinary - placed
            } else {
                ((ordinary as u64 * u64::from(share)) / u64::from(total)) as usize
            };
            kinds.extend(std::iter::repeat(story).take(k));
            placed += k;
        }
        shuffle(&mut kinds, &mut rng);
        let v6n = ((cfg.ipv6.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        let mut v6: Vec<bool> = (0..n).map(|i| i < v6n).collect();
        shuffle(&mut v6, &mut rng);
        Plan { cfg: cfg.clone(), kinds, v6, members: (0..n as u32).collect() }
    }

    /// Part `k` of `parts`: the flows whose index is `k` modulo `parts` (one sending thread's
    /// share; every 4-tuple belongs to exactly one part).
    pub fn part(&self, k: u32, parts: u32) -> Plan {
        let parts = parts.max(1);
        let mut p = self.clone();
        p.members.retain(|i| i % parts == k);
        p
    }

    /// Number of 4-tuples in this plan.
    pub fn flows(&self) -> u32 {
        self.members.len() as u32
    }

    /// The flow indices in this plan.
    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// Story kind of flow `i`.
    pub fn kind(&self, i: u32) -> Story {
        self.kinds[i as usize]
    }

    /// How many flows run each story kind ([`Story::ALL`] order).
    pub fn story_counts(&self) -> [u64; STORIES] {
        let mut c = [0u64; STORIES];
        for &i in &self.members {
            c[self.kinds[i as usize] as usize] += 1;
        }
        c
    }

    /// IPv6 flows.
    pub fn ipv6_flows(&self) -> u64 {
        self.members.iter().filter(|&&i| self.v6[i as usize]).count() as u64
    }

    /// Client and server endpoints of flow `i`.
    pub fn endpoints(&self, i: u32) -> (SocketAddr, SocketAddr) {
        let host = i % CLIENT_HOSTS + 1;
        let port = (EPHEMERAL.0 + (i / CLIENT_HOSTS) % EPHEMERAL.1) as u16;
        let srv = (hash(self.cfg.seed, u64::from(i) | 1 << 40) % u64::from(SERVERS)) as u32;
        let sport = SERVER_PORTS[srv as usize % SERVER_PORTS.len()];
        if self.v6[i as usize] {
            // 2001:2::/48, the IPv6 benchmarking range (RFC 5180).
            let c = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, (host >> 16) as u16, host as u16);
            let s = Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, srv as u16 + 1);
            (SocketAddr::new(IpAddr::V6(c), port), SocketAddr::new(IpAddr::V6(s), sport))
        } else {
            // 198.18.0.0/15, the IPv4 benchmarking range (RFC 2544): clients in 198.18/16,
            // servers in 198.19/16.
            let c = Ipv4Addr::new(198, 18, (host >> 8) as u8, host as u8);
            let s = Ipv4Addr::new(198, 19, 0, srv as u8 + 1);
            (SocketAddr::new(IpAddr::V4(c), port), SocketAddr::new(IpAddr::V4(s), sport))
        }
    }

    /// The frames of flow `i`'s story on lap `lap`, in order.
    pub fn story(&self, i: u32, lap: u64) -> Vec<MixFrame> {
        let (c, s) = self.endpoints(i);
        let off = (lap as u32).wrapping_mul(LAP_DELTA);
        let h = hash(self.cfg.seed, u64::from(i));
        let c_isn = (h as u32).wrapping_add(off);
        let s_isn = ((h >> 32) as u32).wrapping_add(off);
        let mut b = Builder { c, s, cfg: &self.cfg, flow: i, story: self.kind(i), out: Vec::with_capacity(20) };
        b.build(c_isn, s_isn, h);
        b.out
    }

    /// Every frame of lap `lap`, interleaved, in sending order.
    pub fn for_each_frame(&self, lap: u64, mut f: impl FnMut(&MixFrame)) {
        struct Open {
            frames: Vec<MixFrame>,
            at: usize,
        }
        let window = self.cfg.concurrency.max(1) as usize;
        let mut rng = Rng::new(self.cfg.seed ^ 0x005E_ED0F_1A7E);
        let mut open: Vec<Open> = Vec::with_capacity(window);
        let mut next = 0usize;
        // Flood frames per story frame, and this part's own flood client base (threads'
        // parts must not send the same flood 4-tuples).
        let share = self.cfg.syn_flood.clamp(0.0, 0.999);
        let per = share / (1.0 - share);
        let mut owed = 0.0f64;
        let mut flood_rng = Rng::new(self.cfg.seed ^ 0xF100D ^ u64::from(self.members.first().copied().unwrap_or(0)) << 20);
        loop {
            while open.len() < window && next < self.members.len() {
                open.push(Open { frames: self.story(self.members[next], lap), at: 0 });
                next += 1;
            }
            if open.is_empty() {
                break;
            }
            owed += per;
            while owed >= 1.0 {
                owed -= 1.0;
                f(&self.flood_frame(&mut flood_rng, lap));
            }
            let k = rng.below(open.len() as u64) as usize;
            let o = &mut open[k];
            f(&o.frames[o.at]);
            o.at += 1;
            if o.at == o.frames.len() {
                open.swap_remove(k);
            }
        }
    }

    /// One SYN-flood frame: a random client in 198.18.128.0/17 (story clients are below
    /// 198.18.17.0) and port, to one of the mix's IPv4 servers. On later laps the kernel
    /// XORs the lap's hash into the low 15 address bits and the source port, which keeps
    /// the client inside 198.18.128.0/17.
    fn flood_frame(&self, rng: &mut Rng, lap: u64) -> MixFrame {
        let h = rng.next_u64();
        let c = Ipv4Addr::new(198, 18, 128 | ((h >> 8) & 0x7f) as u8, h as u8);
        let cport = 1024 + ((h >> 16) % 64_000) as u16;
        let srv = ((h >> 40) % u64::from(SERVERS)) as u8;
        let s = Ipv4Addr::new(198, 19, 0, srv + 1);
        let sport = SERVER_PORTS[srv as usize % SERVER_PORTS.len()];
        let mut b = Builder {
            c: SocketAddr::new(IpAddr::V4(c), cport),
            s: SocketAddr::new(IpAddr::V4(s), sport),
            cfg: &self.cfg,
            flow: u32::MAX,
            story: Story::Normal,
            out: Vec::with_capacity(1),
        };
        let off = (lap as u32).wrapping_mul(LAP_DELTA);
        b.c((h >> 32) as u32 ^ off, 0, F::SYN);
        let mut fr = b.out.pop().expect("one frame");
        fr.flood = true;
        fr
    }

    /// Lap `lap` as a vector.
    pub fn lap(&self, lap: u64) -> Vec<MixFrame> {
        let mut v = Vec::new();
        self.for_each_frame(lap, |f| v.push(f.clone()));
        v
    }
}

fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Builds one story's frames.
struct Builder<'a> {
    c: SocketAddr,
    s: SocketAddr,
    cfg: &'a MixConfig,
    flow: u32,
    story: Story,
    out: Vec<MixFrame>,
}

/// Sequence state of one connection: next client and server sequence numbers.
#[derive(Clone, Copy)]
struct Conn {
    cn: u32,
    sn: u32,
}

impl Builder<'_> {
    fn frame(&mut self, from_client: bool, seq: u32, ack: u32, flags: u8, payload: usize, trigger: Trigger) {
        let (src, dst) = if from_client { (self.c, self.s) } else { (self.s, self.c) };
        let mut spec = TcpSpec::new(src, dst, seq, ack, flags);
        spec.payload = payload;
        if flags & F::SYN != 0 {
            spec.mss = Some(if src.is_ipv6() { 1440 } else { 1460 });
        }
        if let Some(v) = self.cfg.vlan {
            spec.vlans = vec![v];
        }
        let mut data = spec.ethernet();
        if data.len() < MIN_FRAME {
            data.resize(MIN_FRAME, 0);
        }
        if let Some((dmac, smac)) = self.cfg.macs {
            data[0..6].copy_from_slice(&dmac);
            data[6..12].copy_from_slice(&smac);
        }
        let l4off = 14 + 4 * spec.vlans.len() + if src.is_ipv6() { 40 } else { 20 };
        self.out.push(MixFrame {
            data,
            l4off: l4off as u16,
            trigger,
            flow: self.flow,
            story: self.story,
            data_segment: payload > 0,
            flood: false,
            stale_segment: false,
        });
    }

    fn c(&mut self, seq: u32, ack: u32, flags: u8) {
        self.frame(true, seq, ack, flags, 0, Trigger::None);
    }

    fn s(&mut self, seq: u32, ack: u32, flags: u8) {
        self.frame(false, seq, ack, flags, 0, Trigger::None);
    }

    /// SYN, SYN-ACK, ACK; the SYN-ACK carries `synack_trigger`.
    fn handshake(&mut self, c_isn: u32, s_isn: u32, synack_trigger: Trigger) -> Conn {
        self.c(c_isn, 0, F::SYN);
        self.frame(false, s_isn, c_isn.wrapping_add(1), F::SYN | F::ACK, 0, synack_trigger);
        self.c(c_isn.wrapping_add(1), s_isn.wrapping_add(1), F::ACK);
        Conn { cn: c_isn.wrapping_add(1), sn: s_isn.wrapping_add(1) }
    }

    /// One request/response and the client's ACK of the response, when configured.
    fn exchange(&mut self, k: &mut Conn) {
        let Some((req, resp)) = self.cfg.data else { return };
        let (req, resp) = (u32::from(req), u32::from(resp));
        self.frame(true, k.cn, k.sn, F::PSH | F::ACK, req as usize, Trigger::None);
        k.cn = k.cn.wrapping_add(req);
        self.frame(false, k.sn, k.cn, F::PSH | F::ACK, resp as usize, Trigger::None);
        k.sn = k.sn.wrapping_add(resp);
        self.c(k.cn, k.sn, F::ACK);
    }

    fn close_client_first(&mut self, k: Conn) {
        self.c(k.cn, k.sn, F::FIN | F::ACK);
        self.s(k.sn, k.cn.wrapping_add(1), F::ACK);
        self.s(k.sn, k.cn.wrapping_add(1), F::FIN | F::ACK);
        self.c(k.cn.wrapping_add(1), k.sn.wrapping_add(1), F::ACK);
    }

    /// Returns the server's receive point in TIME_WAIT (client FIN + 1) and its snd_nxt.
    fn close_server_first(&mut self, k: Conn) -> Conn {
        self.s(k.sn, k.cn, F::FIN | F::ACK);
        self.c(k.cn, k.sn.wrapping_add(1), F::ACK);
        self.c(k.cn, k.sn.wrapping_add(1), F::FIN | F::ACK);
        self.s(k.sn.wrapping_add(1), k.cn.wrapping_add(1), F::ACK);
        Conn { cn: k.cn.wrapping_add(1), sn: k.sn.wrapping_add(1) }
    }

    /// The stale-ACK exchange on a reuse SYN with ISN `isn`: the server's bare ACK
    /// `<SEQ=old_snd><ACK=old_rcv>`, the client's RST `<SEQ=old_rcv>` (RFC 9293 §3.10.7.3),
    /// the retried SYN, the recovering handshake (new server ISN `s_isn`), a client-first close.
    ///
    /// Which frame carries the `stale_ack` trigger follows ackscope's rule (detect::shard,
    /// `Phase::Candidate`): an ack below the SYN (before ISN + 1) is a stale ACK at once; an ack
    /// above it (a reuse SYN below the TIME_WAIT receive point) might be a SYN-ACK the capture
    /// missed, so ackscope reports it only when the client confirms it with that RST. A stream
    /// cut between the two frames must not expect the event.
    ///
    /// With [`MixConfig::stale_ack_repeats`] K, the retried SYN gets the same stale ACK K more
    /// times (each answered by the client's RST) before the server accepts one.
    fn stale_exchange(&mut self, isn: u32, syn_trigger: Trigger, old_snd: u32, old_rcv: u32, s_isn: u32) {
        let at_once = SeqNum(old_rcv).before(SeqNum(isn).add(1));
        let stale = Trigger::StaleAck(self.story);
        let (ack_trigger, rst_trigger) = if at_once { (stale, Trigger::None) } else { (Trigger::None, stale) };
        self.frame(true, isn, 0, F::SYN, 0, syn_trigger);
        self.stale_ack(old_snd, old_rcv, ack_trigger);
        self.frame(true, old_rcv, 0, F::RST, 0, rst_trigger);
        for _ in 0..self.cfg.stale_ack_repeats {
            self.c(isn, 0, F::SYN);
            self.stale_ack(old_snd, old_rcv, Trigger::None);
            self.c(old_rcv, 0, F::RST);
        }
        self.c(isn, 0, F::SYN);
        let mut k = self.handshake_after_retry(isn, s_isn);
        self.exchange(&mut k);
        self.close_client_first(k);
    }

    /// The server's bare stale ACK `<SEQ=snd><ACK=rcv>`.
    fn stale_ack(&mut self, snd: u32, rcv: u32, trigger: Trigger) {
        self.frame(false, snd, rcv, F::ACK, 0, trigger);
        if let Some(f) = self.out.last_mut() {
            f.stale_segment = true;
        }
    }

    /// SYN-ACK and ACK answering a retried SYN (its SYN already sent).
    fn handshake_after_retry(&mut self, isn: u32, s_isn: u32) -> Conn {
        self.frame(false, s_isn, isn.wrapping_add(1), F::SYN | F::ACK, 0, Trigger::Recovered);
        self.c(isn.wrapping_add(1), s_isn.wrapping_add(1), F::ACK);
        Conn { cn: isn.wrapping_add(1), sn: s_isn.wrapping_add(1) }
    }

    fn build(&mut self, c_isn: u32, s_isn: u32, h: u64) {
        // A second connection's ISNs: far from the first ones, from the same hash.
        let c2 = c_isn.wrapping_add(0x4000_0000 ^ (h as u32 & 0x00FF_FFF0));
        let s2 = s_isn.wrapping_add(0x2000_0000);
        match self.story {
            Story::Normal => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.close_client_first(k);
            }
            Story::ServerClose => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.close_server_first(k);
            }
            Story::Reset => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.c(k.cn, k.sn, F::RST | F::ACK);
            }
            Story::Refused => {
                self.c(c_isn, 0, F::SYN);
                self.frame(false, 0, c_isn.wrapping_add(1), F::RST | F::ACK, 0, Trigger::Refused);
            }
            Story::SynRetransmit => {
                self.c(c_isn, 0, F::SYN);
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.close_client_first(k);
            }
            Story::Reuse => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.close_client_first(k);
                let mut k = self.handshake(c2, s2, Trigger::None);
                self.exchange(&mut k);
                self.close_client_first(k);
            }
            Story::StaleTimeWait => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                let tw = self.close_server_first(k);
                // An ISN below the TIME_WAIT receive point, no timestamps: Linux refuses it.
                let isn = c_isn.wrapping_sub(0x0001_0000);
                self.stale_exchange(isn, Trigger::ReuseInTimeWait, tw.sn, tw.cn, s2);
            }
            Story::StaleLingeringEstablished => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                // The client's FIN/RST never arrived: the server still holds ESTABLISHED.
                self.stale_exchange(c2, Trigger::None, k.sn, k.cn, s2);
            }
            Story::StaleLingeringClose => {
                let mut k = self.handshake(c_isn, s_isn, Trigger::None);
                self.exchange(&mut k);
                self.c(k.cn, k.sn, F::FIN | F::ACK);
                self.s(k.sn, k.cn.wrapping_add(1), F::ACK);
                // The server never closes its side: CLOSE_WAIT.
                self.stale_exchange(c2, Trigger::None, k.sn, k.cn.wrapping_add(1), s2);
            }
            Story::StaleNoHistory => {
                // An old connection ackscope never saw: its receive point is unrelated to c2.
                self.stale_exchange(c2, Trigger::None, s_isn.wrapping_add(1), c_isn.wrapping_add(1000), s2);
            }
        }
    }
}
