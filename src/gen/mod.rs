//! Traffic generator (`ackscope gen`): a realistic mix of TCP control segments, with a known
//! number of stale-ACK exchanges, sent out of an interface at a target rate.
//!
//! - [`mix`] builds the frames: one story per 4-tuple (handshakes, client- and server-first
//!   closes, resets, refused SYNs, retransmitted SYNs, port reuses, and the four stale-ACK
//!   exchanges), interleaved, over IPv4 and IPv6, and says what ackscope must report for any
//!   number of frames sent ([`Expected::after`]).
//! - [`inject`] sends them with `BPF_PROG_RUN` live frames (`BPF_F_TEST_XDP_LIVE_FRAMES`): a
//!   tiny XDP program (`bpf/gen.bpf.c`) writes the next frame of the mix and returns `XDP_TX`,
//!   so frames leave through the interface's own transmit path (`ndo_xdp_xmit`), on a veth or a
//!   real NIC, without a socket or a copy per frame from user space.
//! - [`run`] drives it: one thread per part of the flows (each pinned, each with its own
//!   program instance), rate control by chunks of `repeat`, and a [`GenReport`] with frames
//!   sent, the achieved rate, the interface's transmit counters and the expectations.
//!
//! - [`run`] with [`GenConfig::pcap`] set sends a capture's Ethernet frames instead of the mix
//!   (`ackscope gen --pcap FILE`): each once, in order, as captured (malformed ones included),
//!   through the same `BPF_PROG_RUN` path, at the target rate; [`PcapSent`] says what was sent
//!   and what could not be (not Ethernet, shorter than an Ethernet header, longer than
//!   [`GEN_PCAP_SLOT`]).
//!
//! On a veth, the peer must run NAPI for `XDP_TX`/redirected frames to arrive: an XDP program
//! attached natively (ackscope's is) or GRO enabled on the peer. The frame sequence loops over
//! one lap of the mix; each later lap moves every sequence number by [`mix::LAP_DELTA`] in the
//! kernel, so 4-tuples are reused with fresh ISNs.

pub mod inject;
pub mod mix;
mod packet;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use inject::{Injector, TxPath, GEN_PCAP_SLOT, GEN_SLOT, MAX_BATCH};
pub use mix::{Expected, MixConfig, MixFrame, Plan, Story, Trigger, LAP_DELTA, MIN_FRAME, STORIES};

use crate::detect::Cause;

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// A setting that cannot work.
    #[error("{0}")]
    Config(String),
    /// The interface does not exist (in this network namespace).
    #[error("interface {0} not found (in this network namespace)")]
    NoInterface(String),
    /// Loading the generator program failed.
    #[error("BPF: cannot {stage} the generator program: {source} (needs root or CAP_BPF + CAP_NET_ADMIN)")]
    Bpf {
        /// What was being done.
        stage: &'static str,
        /// libbpf's error.
        source: libbpf_rs::Error,
    },
    /// `BPF_PROG_RUN` failed.
    #[error("BPF_PROG_RUN (live frames) on ifindex {ifindex} failed: {source}; live frames need Linux ≥ 5.18, and on a veth the peer needs NAPI (an XDP program attached natively, or `ethtool -K PEER gro on`)")]
    Run {
        /// Interface index in the context.
        ifindex: u32,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// The `AF_PACKET` path (kernels that refuse live frames) could not open or send.
    #[error("AF_PACKET socket on ifindex {ifindex}: {source} (this kernel refuses BPF_PROG_RUN live frames, so the generator sends through a packet socket: needs root or CAP_NET_RAW, and the interface up)")]
    Packet {
        /// Interface index.
        ifindex: u32,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// A signal interrupted a run.
    #[error("interrupted")]
    Interrupted,
}

/// How to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Interface to send out of.
    pub iface: String,
    /// The mix.
    pub mix: MixConfig,
    /// Target rate, frames per second over all threads; 0: as fast as possible.
    pub rate: u64,
    /// Stop after this long (`None`: until `max_frames` or the stop flag).
    pub duration: Option<Duration>,
    /// Stop after this many frames (all threads together).
    pub max_frames: Option<u64>,
    /// Frames per kernel batch (`batch_size`, 1..=256).
    pub batch: u32,
    /// Sending threads; each sends its own part of the flows.
    pub threads: u32,
    /// Core of each thread (default: thread i on core i).
    pub cpus: Option<Vec<usize>>,
    /// `rx_queue_index` in the program's context (unused by the program; any valid queue).
    pub queue: u32,
    /// Frames per `BPF_PROG_RUN` call (`repeat`); `None`: about 100 ms of frames at the target
    /// rate (at most [`MAX_CHUNK`]); unpaced, about [`UNPACED_CALL`] of frames. Each call
    /// has a fixed off-CPU cost (with `repeat` > 1 the kernel adds the program to the XDP
    /// dispatcher before the runs and removes it after, each a `synchronize_rcu()`: ~38 ms per
    /// call measured here, serialized across threads), so larger chunks send faster and
    /// smaller ones pace more smoothly.
    pub chunk: Option<u32>,
    /// Send this capture's frames (each once, in order) instead of the mix; `mix` and
    /// `threads` are then unused, `max_frames` limits the frames taken from the capture.
    pub pcap: Option<std::path::PathBuf>,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            iface: String::new(),
            mix: MixConfig::default(),
            rate: 0,
            duration: Some(Duration::from_secs(10)),
            max_frames: None,
            batch: 64,
            threads: 1,
            cpus: None,
            queue: 0,
            chunk: None,
            pcap: None,
        }
    }
}

/// Transmit counters of an interface (`/sys/class/net/IF/statistics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceTx {
    /// `tx_packets`.
    pub packets: u64,
    /// `tx_dropped`.
    pub dropped: u64,
    /// `tx_errors`.
    pub errors: u64,
}

impl IfaceTx {
    /// Read the counters of `iface` (zeros where unreadable).
    pub fn read(iface: &str) -> IfaceTx {
        let rd = |n: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{n}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        IfaceTx { packets: rd("tx_packets"), dropped: rd("tx_dropped"), errors: rd("tx_errors") }
    }

    fn since(self, before: IfaceTx) -> IfaceTx {
        IfaceTx {
            packets: self.packets.wrapping_sub(before.packets),
            dropped: self.dropped.wrapping_sub(before.dropped),
            errors: self.errors.wrapping_sub(before.errors),
        }
    }
}

/// One sending thread's result.
#[derive(Clone, Debug, Default)]
pub struct ThreadReport {
    /// Core it ran on (if pinned).
    pub cpu: Option<usize>,
    /// Frames transmitted (program runs that produced a frame).
    pub frames: u64,
    /// Program runs that produced no frame.
    pub errors: u64,
    /// Frames in its lap.
    pub lap_len: u64,
    /// Its flows.
    pub flows: u64,
    /// What its frames make ackscope report.
    pub expected: Expected,
    /// Time spent inside `BPF_PROG_RUN`.
    pub busy: Duration,
    /// CPU time the thread used (`CLOCK_THREAD_CPUTIME_ID`): the program runs, the transmit
    /// path and whatever softirq work ran on its core in its context (on a veth, the peer's
    /// NAPI: its XDP program or GRO and the stack).
    pub cpu_time: Duration,
    /// The error that stopped it, if any.
    pub error: Option<String>,
    /// How it transmitted (`None`: it sent nothing).
    pub path: Option<TxPath>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct GenReport {
    /// Interface.
    pub iface: String,
    /// Frames transmitted (all threads).
    pub frames: u64,
    /// Program runs that produced no frame.
    pub errors: u64,
    /// Wall time from the first send to the last thread's end.
    pub elapsed: Duration,
    /// Target rate (0: unlimited).
    pub target_rate: u64,
    /// Distinct 4-tuples.
    pub flows: u64,
    /// IPv6 4-tuples.
    pub ipv6_flows: u64,
    /// Flows per story kind ([`Story::ALL`] order).
    pub stories: [u64; STORIES],
    /// Frames per lap (all threads).
    pub lap_frames: u64,
    /// What ackscope must report for the frames sent.
    pub expected: Expected,
    /// The interface's transmit counters over the run.
    pub iface_tx: IfaceTx,
    /// Per thread.
    pub threads: Vec<ThreadReport>,
    /// With [`GenConfig::pcap`]: the capture and what of it was sent.
    pub pcap: Option<PcapSent>,
}

/// What `run` made of a capture ([`GenConfig::pcap`]).
#[derive(Clone, Debug, Default)]
pub struct PcapSent {
    /// The file.
    pub file: String,
    /// Frames read from it.
    pub records: u64,
    /// Frames loaded for sending (the rest are counted below); `GenReport::frames` of them left.
    pub loaded: u64,
    /// Not Ethernet (the link type of the capture or of its interface block).
    pub not_ethernet: u64,
    /// Shorter than an Ethernet header (14 bytes): no interface sends them.
    pub too_short: u64,
    /// Longer than [`GEN_PCAP_SLOT`] bytes (jumbo frames, TSO captures).
    pub too_long: u64,
    /// Frames past `max_frames` (`--frames`), not read.
    pub cut: bool,
}

/// Most frames `run` loads from one capture (the frame table, kernel memory: about 1.5 KiB
/// per frame, 48 MiB at this bound).
pub const PCAP_MAX_FRAMES: u64 = 32_768;

impl GenReport {
    /// Achieved rate, frames per second.
    pub fn rate(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// How the frames left: "live_frames" (`BPF_PROG_RUN`), "af_packet" (a kernel that
    /// refuses live frames) or "none" (nothing was sent).
    pub fn tx_path(&self) -> &'static str {
        match self.threads.iter().find_map(|t| t.path) {
            Some(TxPath::LiveFrames) => "live_frames",
            Some(TxPath::Packet) => "af_packet",
            None => "none",
        }
    }

    /// Laps of the mix sent.
    pub fn laps(&self) -> f64 {
        self.frames as f64 / (self.lap_frames.max(1)) as f64
    }

    /// Human-readable report.
    pub fn render_text(&self) -> String {
        if let Some(p) = &self.pcap {
            return self.render_pcap_text(p);
        }
        let e = &self.expected;
        let mut s = String::new();
        let target = if self.target_rate == 0 { "max".to_string() } else { format!("{}", self.target_rate) };
        let _ = writeln!(
            s,
            "gen on {} ({}): sent {} frames in {:.3} s = {:.0} frames/s (target {target}); {:.2} laps of {} frames over {} 4-tuples ({} IPv6); {} program errors",
            self.iface,
            self.tx_path(),
            self.frames,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.laps(),
            self.lap_frames,
            self.flows,
            self.ipv6_flows,
            self.errors
        );
        let stories: Vec<String> =
            Story::ALL.iter().zip(self.stories).filter(|(_, n)| *n > 0).map(|(k, n)| format!("{}={n}", k.as_str())).collect();
        let _ = writeln!(s, "stories per lap: {}", stories.join(" "));
        let causes: Vec<String> = Cause::ALL.iter().zip(e.stale_by_cause).map(|(c, n)| format!("{}={n}", c.as_str())).collect();
        let _ = writeln!(
            s,
            "injected: stale-ACK exchanges {} ({}); ackscope must report stale_ack {}, reuse_in_time_wait {}, connection_refused {}, stale_ack_outcome recovered {} (the last attempts may be unresolved if a lap was cut)",
            e.stale_acks,
            causes.join(" "),
            e.stale_acks,
            e.reuse_in_time_wait,
            e.connection_refused,
            e.recovered
        );
        if e.stale_ack_segments > e.stale_acks {
            let _ = writeln!(
                s,
                "stale ACK segments sent {} (the exchanges' repeats included; each attempt's outcome counts its own)",
                e.stale_ack_segments
            );
        }
        let _ = writeln!(s, "data segments sent {} (not steered by ackscope's XDP program)", e.data_segments);
        if e.flood_syns > 0 {
            let _ = writeln!(s, "SYN-flood frames sent {} (random IPv4 4-tuples, no event expected)", e.flood_syns);
        }
        let _ = writeln!(
            s,
            "interface {} tx counters over the run: packets {} dropped {} errors {}",
            self.iface, self.iface_tx.packets, self.iface_tx.dropped, self.iface_tx.errors
        );
        for (i, t) in self.threads.iter().enumerate() {
            let _ = writeln!(
                s,
                "thread {i} (cpu {}): sent {} frames, {} errors, busy in BPF_PROG_RUN {:.3} s, CPU {:.3} s ({:.0} ns per frame){}",
                t.cpu.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                t.frames,
                t.errors,
                t.busy.as_secs_f64(),
                t.cpu_time.as_secs_f64(),
                t.cpu_time.as_nanos() as f64 / t.frames.max(1) as f64,
                t.error.as_ref().map(|e| format!(", stopped: {e}")).unwrap_or_default()
            );
        }
        s
    }

    fn render_pcap_text(&self, p: &PcapSent) -> String {
        let mut s = String::new();
        let target = if self.target_rate == 0 { "max".to_string() } else { format!("{}", self.target_rate) };
        let _ = writeln!(
            s,
            "gen on {} ({}) from {}: sent {} of {} frames in {:.3} s = {:.0} frames/s (target {target}); {} program errors",
            self.iface,
            self.tx_path(),
            p.file,
            self.frames,
            p.loaded,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.errors
        );
        let _ = writeln!(
            s,
            "capture: {} frames read{}; not sent: {} not Ethernet, {} shorter than 14 bytes, {} longer than {GEN_PCAP_SLOT} bytes",
            p.records,
            if p.cut { " (cut by --frames)" } else { "" },
            p.not_ethernet,
            p.too_short,
            p.too_long
        );
        if self.frames < p.loaded {
            let _ = writeln!(s, "warning: {} loaded frames were not sent (the duration ended or the run was stopped: raise --duration or --rate)", p.loaded - self.frames);
        }
        let _ = writeln!(
            s,
            "interface {} tx counters over the run: packets {} dropped {} errors {}",
            self.iface, self.iface_tx.packets, self.iface_tx.dropped, self.iface_tx.errors
        );
        if let Some(e) = self.threads.iter().find_map(|t| t.error.as_ref()) {
            let _ = writeln!(s, "stopped: {e}");
        }
        s
    }

    fn render_pcap_json(&self, p: &PcapSent) -> String {
        format!(
            "{{\"iface\":\"{}\",\"tx_path\":\"{}\",\"pcap\":\"{}\",\"records\":{},\"loaded\":{},\"frames\":{},\"unsent\":{},\"errors\":{},\"not_ethernet\":{},\"too_short\":{},\"too_long\":{},\"cut\":{},\"elapsed_s\":{:.6},\"rate_fps\":{:.1},\"target_rate\":{},\"iface_tx_packets\":{},\"iface_tx_dropped\":{},\"iface_tx_errors\":{}}}",
            self.iface.replace(['"', '\\'], "_"),
            self.tx_path(),
            p.file.replace(['"', '\\'], "_"),
            p.records,
            p.loaded,
            self.frames,
            p.loaded.saturating_sub(self.frames),
            self.errors,
            p.not_ethernet,
            p.too_short,
            p.too_long,
            p.cut,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.target_rate,
            self.iface_tx.packets,
            self.iface_tx.dropped,
            self.iface_tx.errors
        )
    }

    /// The report as one JSON object (for scripts).
    pub fn render_json(&self) -> String {
        if let Some(p) = &self.pcap {
            return self.render_pcap_json(p);
        }
        let e = &self.expected;
        let mut s = String::from("{");
        let _ = write!(
            s,
            "\"iface\":\"{}\",\"tx_path\":\"{}\",\"frames\":{},\"errors\":{},\"elapsed_s\":{:.6},\"rate_fps\":{:.1},\"target_rate\":{},\"flows\":{},\"ipv6_flows\":{},\"lap_frames\":{},\"laps\":{:.4},",
            self.iface.replace(['"', '\\'], "_"),
            self.tx_path(),
            self.frames,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.target_rate,
            self.flows,
            self.ipv6_flows,
            self.lap_frames,
            self.laps()
        );
        s.push_str("\"stories\":{");
        let st: Vec<String> = Story::ALL.iter().zip(self.stories).map(|(k, n)| format!("\"{}\":{n}", k.as_str())).collect();
        s.push_str(&st.join(","));
        s.push_str("},\"stale_ack_by_cause\":{");
        let c: Vec<String> = Cause::ALL.iter().zip(e.stale_by_cause).map(|(c, n)| format!("\"{}\":{n}", c.as_str())).collect();
        s.push_str(&c.join(","));
        let _ = write!(
            s,
            "}},\"stale_acks\":{},\"reuse_in_time_wait\":{},\"connection_refused\":{},\"recovered\":{},\"data_segments\":{},\"flood_syns\":{},\"stale_ack_segments\":{},\"iface_tx_packets\":{},\"iface_tx_dropped\":{},\"iface_tx_errors\":{},\"threads\":[",
            e.stale_acks,
            e.reuse_in_time_wait,
            e.connection_refused,
            e.recovered,
            e.data_segments,
            e.flood_syns,
            e.stale_ack_segments,
            self.iface_tx.packets,
            self.iface_tx.dropped,
            self.iface_tx.errors
        );
        let th: Vec<String> = self
            .threads
            .iter()
            .map(|t| {
                format!(
                    "{{\"cpu\":{},\"frames\":{},\"errors\":{},\"busy_s\":{:.6},\"cpu_s\":{:.6},\"cpu_ns_per_frame\":{:.1}}}",
                    t.cpu.map(|c| c.to_string()).unwrap_or_else(|| "null".into()),
                    t.frames,
                    t.errors,
                    t.busy.as_secs_f64(),
                    t.cpu_time.as_secs_f64(),
                    t.cpu_time.as_nanos() as f64 / t.frames.max(1) as f64
                )
            })
            .collect();
        s.push_str(&th.join(","));
        s.push_str("]}");
        s
    }
}

/// Index of `iface` in the current network namespace.
pub fn ifindex_of(iface: &str) -> Result<u32, GenError> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| GenError::NoInterface(iface.to_string()))
}

/// Largest automatic chunk (`repeat`) of one `BPF_PROG_RUN` call.
pub const MAX_CHUNK: u64 = 1 << 22;

/// Length of one `BPF_PROG_RUN` call the unpaced generator aims at (it adapts its chunk to
/// the measured speed): each call's fixed cost (two RCU grace periods, ~38 ms per call here)
/// is then under a tenth of the time.
pub const UNPACED_CALL: Duration = Duration::from_millis(400);

/// Generate until the duration, the frame budget or `stop` ends it.
///
/// The mix is built once ([`Plan`]); thread `t` of `T` sends the flows whose index is `t`
/// modulo `T` with its own program instance (one lap of its part in the frame table) and its
/// [`thread_share`] of the rate and of `max_frames`, pinned to its core (`cpus[t]`). Each
/// thread's frames for a flow leave in order; with
/// several threads, different flows' frames interleave across them.
pub fn run(cfg: &GenConfig, stop: &AtomicBool) -> Result<GenReport, GenError> {
    if let Some(p) = &cfg.pcap {
        return run_pcap(cfg, p, stop);
    }
    let threads = cfg.threads.max(1);
    if cfg.mix.flows < threads {
        return Err(GenError::Config(format!("--flows ({}) must be at least the thread count ({threads})", cfg.mix.flows)));
    }
    if cfg.rate > 0 && cfg.rate < u64::from(threads) {
        return Err(GenError::Config(format!("--rate ({}) must be at least the thread count ({threads})", cfg.rate)));
    }
    let ifindex = ifindex_of(&cfg.iface)?;
    let plan = Plan::new(&cfg.mix);
    // Load every thread's program before the clock starts.
    let mut parts = Vec::with_capacity(threads as usize);
    for t in 0..threads {
        let part = plan.part(t, threads);
        let lap = part.lap(0);
        let inj = Injector::load(ifindex, cfg.queue, &lap, cfg.batch)?;
        parts.push((part, lap, inj));
    }
    let lap_frames: u64 = parts.iter().map(|p| p.1.len() as u64).sum();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let before = IfaceTx::read(&cfg.iface);
    let start = Instant::now();
    let results: Vec<ThreadReport> = std::thread::scope(|sc| {
        let handles: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(t, (part, lap, inj))| {
                let cpu = match &cfg.cpus {
                    Some(list) => list.get(t).copied(),
                    None if threads > 1 => Some(t % ncpu),
                    None => None,
                };
                let duration = cfg.duration;
                let (per_rate, per_max) = (thread_share(cfg.rate, threads, t), cfg.max_frames.map(|m| thread_share(m, threads, t)));
                sc.spawn(move || {
                    if let Some(c) = cpu {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c });
                    }
                    let mut r = send_loop(inj, per_rate, duration, per_max, cfg.chunk, start, stop);
                    r.cpu = cpu;
                    r.flows = u64::from(part.flows());
                    r.expected = Expected::after(&lap, r.frames + r.errors);
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| ThreadReport { error: Some("panicked".into()), ..Default::default() })).collect()
    });
    let elapsed = start.elapsed();
    let iface_tx = IfaceTx::read(&cfg.iface).since(before);
    let mut expected = Expected::default();
    for r in &results {
        expected.add(&r.expected);
    }
    if let Some(e) = results.iter().find_map(|r| r.error.clone()) {
        if results.iter().all(|r| r.frames == 0) {
            return Err(GenError::Config(e));
        }
    }
    Ok(GenReport {
        iface: cfg.iface.clone(),
        frames: results.iter().map(|r| r.frames).sum(),
        errors: results.iter().map(|r| r.errors).sum(),
        elapsed,
        target_rate: cfg.rate,
        flows: u64::from(plan.flows()),
        ipv6_flows: plan.ipv6_flows(),
        stories: plan.story_counts(),
        lap_frames,
        expected,
        iface_tx,
        threads: results,
        pcap: None,
    })
}

/// Thread `t`'s share of `total` (a rate or a frame budget) over `threads` threads: the
/// shares add up to `total` exactly (the first `total % threads` threads take one more), so
/// the frames sent, and with them the expectations, are what was asked.
pub fn thread_share(total: u64, threads: u32, t: usize) -> u64 {
    let n = u64::from(threads.max(1));
    total / n + u64::from((t as u64) < total % n)
}

/// Reads the frames of `path` to send: Ethernet, 14..=[`GEN_PCAP_SLOT`] bytes, at most
/// `max` (and at most [`PCAP_MAX_FRAMES`]).
pub fn read_pcap(path: &std::path::Path, max: Option<u64>) -> Result<(Vec<Vec<u8>>, PcapSent), GenError> {
    use crate::packet::LinkType;
    let name = path.display().to_string();
    let bad = |e: crate::replay::CaptureError| GenError::Config(format!("--pcap {name}: {e}"));
    let mut r = crate::replay::CaptureReader::open(path).map_err(bad)?;
    let mut sent = PcapSent { file: name.clone(), ..PcapSent::default() };
    let mut frames = Vec::new();
    let limit = max.unwrap_or(u64::MAX);
    while let Some(f) = r.next_frame().map_err(bad)? {
        if frames.len() as u64 >= limit {
            sent.cut = true;
            break;
        }
        sent.records += 1;
        if f.link != LinkType::Ethernet {
            sent.not_ethernet += 1;
        } else if f.data.len() < 14 {
            sent.too_short += 1;
        } else if f.data.len() > GEN_PCAP_SLOT {
            sent.too_long += 1;
        } else {
            if frames.len() as u64 >= PCAP_MAX_FRAMES {
                return Err(GenError::Config(format!(
                    "--pcap {name}: more than {PCAP_MAX_FRAMES} frames to send; send a part with --frames N or split the capture (editcap -c {PCAP_MAX_FRAMES})"
                )));
            }
            frames.push(f.data.to_vec());
        }
    }
    if frames.is_empty() {
        return Err(GenError::Config(format!(
            "--pcap {name}: no frame to send ({} read: {} not Ethernet, {} shorter than 14 bytes, {} longer than {GEN_PCAP_SLOT} bytes)",
            sent.records, sent.not_ethernet, sent.too_short, sent.too_long
        )));
    }
    sent.loaded = frames.len() as u64;
    Ok((frames, sent))
}

/// [`run`] for a capture: one thread sends each loaded frame once, in order, at `cfg.rate`,
/// until all are sent, the duration ends or `stop` is set.
fn run_pcap(cfg: &GenConfig, path: &std::path::Path, stop: &AtomicBool) -> Result<GenReport, GenError> {
    let ifindex = ifindex_of(&cfg.iface)?;
    let (frames, sent) = read_pcap(path, cfg.max_frames)?;
    let inj = Injector::load_pcap(ifindex, cfg.queue, &frames, cfg.batch)?;
    let n = frames.len() as u64;
    drop(frames);
    let cpu = cfg.cpus.as_ref().and_then(|l| l.first().copied());
    if let Some(c) = cpu {
        core_affinity::set_for_current(core_affinity::CoreId { id: c });
    }
    let before = IfaceTx::read(&cfg.iface);
    let start = Instant::now();
    let mut r = send_loop(inj, cfg.rate, cfg.duration, Some(n), cfg.chunk, start, stop);
    let elapsed = start.elapsed();
    r.cpu = cpu;
    if r.frames == 0 {
        if let Some(e) = r.error.take() {
            return Err(GenError::Config(e));
        }
    }
    Ok(GenReport {
        iface: cfg.iface.clone(),
        frames: r.frames,
        errors: r.errors,
        elapsed,
        target_rate: cfg.rate,
        flows: 0,
        ipv6_flows: 0,
        stories: [0; STORIES],
        lap_frames: n,
        expected: Expected::default(),
        iface_tx: IfaceTx::read(&cfg.iface).since(before),
        threads: vec![r],
        pcap: Some(sent),
    })
}

fn send_loop(
    mut inj: Injector,
    rate: u64,
    duration: Option<Duration>,
    max_frames: Option<u64>,
    chunk: Option<u32>,
    start: Instant,
    stop: &AtomicBool,
) -> ThreadReport {
    let mut r = ThreadReport { lap_len: u64::from(inj.lap_len()), ..Default::default() };
    let cpu0 = thread_cpu_time();
    // Frames per call: as given, else ~100 ms worth at the target rate; unlimited: start at
    // 16 Ki and adapt to ~[`UNPACED_CALL`] per call from the measured speed, never past the
    // end of the run. Every call costs two RCU grace periods of off-CPU time (the kernel adds
    // the program to the XDP dispatcher before the runs and removes it after), so the longer
    // the calls, the closer the rate gets to what the CPU can send.
    let mut chunk_for_rate = match (chunk, rate) {
        (Some(c), _) => u64::from(c.max(1)),
        (None, 0) => 16_384,
        (None, r) => (r / 10).clamp(64, MAX_CHUNK),
    };
    let adapt = chunk.is_none() && rate == 0;
    // Measured frames per second of the last call (adaptive mode).
    let mut speed = 0.0f64;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let el = start.elapsed();
        if duration.is_some_and(|d| el >= d) {
            break;
        }
        let done = inj.cursor();
        if max_frames.is_some_and(|m| done >= m) {
            break;
        }
        let mut want = chunk_for_rate;
        if rate > 0 {
            let due = (rate as f64 * el.as_secs_f64()) as u64;
            if due < done + want {
                // Ahead of schedule: wait until the next chunk is due (bounded by the end).
                let next_at = Duration::from_secs_f64((done + want) as f64 / rate as f64);
                let mut wait = next_at.saturating_sub(el).max(Duration::from_micros(20));
                if let Some(d) = duration {
                    wait = wait.min(d.saturating_sub(el));
                }
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                continue;
            }
            // A full chunk is due (more if a slow call left us behind).
            want = (due - done).min(MAX_CHUNK);
        }
        if let Some(m) = max_frames {
            want = want.min(m - done);
        }
        if adapt && speed > 0.0 {
            if let Some(d) = duration {
                // What the measured speed sends in the time left (at least one small call).
                let left = (speed * d.saturating_sub(el).as_secs_f64()) as u64;
                want = want.min(left.max(1024));
            }
        }
        let t0 = Instant::now();
        let res = inj.send(want as u32);
        let took = t0.elapsed();
        r.busy += took;
        if adapt && took > Duration::ZERO {
            speed = want as f64 / took.as_secs_f64();
            chunk_for_rate = ((speed * UNPACED_CALL.as_secs_f64()) as u64).clamp(1024, MAX_CHUNK);
        }
        match res {
            Ok(()) => {}
            Err(GenError::Interrupted) => continue,
            Err(e) => {
                r.error = Some(e.to_string());
                break;
            }
        }
    }
    r.errors = inj.errors();
    r.frames = inj.cursor() - r.errors;
    r.path = (inj.cursor() > 0).then(|| inj.path());
    r.cpu_time = thread_cpu_time().saturating_sub(cpu0);
    r
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs no other
    // argument and cannot fail on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests;
