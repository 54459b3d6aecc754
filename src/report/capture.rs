//! Captures into a report, in two passes over the files.
//!
//! 1. The engine: every frame through the same parser and [`Shard`] as `replay`, events into the
//!    [`Model`]. This says which 4-tuples get flagged and when.
//! 2. The trace: the frames again, parser only. It measures 4-tuple reuse (a SYN with a new ISN
//!    on a 4-tuple seen before: the time since that 4-tuple's previous segment) and, for the few
//!    4-tuples whose incidents are drawn, keeps a small ring of their recent segments, so a
//!    ladder gets the previous connection's last segments however long ago they were, without
//!    holding anything for the 4-tuples that never get flagged.
//!
//! Reading twice costs a second parse of the file (measured in bench/README.md); it keeps memory
//! bounded by the drawn incidents instead of by every 4-tuple's history.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use hashbrown::HashMap;

use super::model::{Model, SegRec};
use crate::detect::{Config, Event, Shard};
use crate::flow::{FlowKey, KeySeed};
use crate::packet::{parse_frame, Parsed, Segment, SeqNum, TcpFlags, TcpOptions};
use crate::replay::{CaptureError, CaptureReader};

/// Segments of a flagged 4-tuple kept before its stale ACK.
pub const RING: usize = 12;
/// Segments drawn from the stale ACK on (RST, retries, SYN-ACK).
pub const AFTER: usize = 16;
/// Bins of the time series.
pub const TIME_BINS: usize = 60;
/// Bins of the reuse-interval histogram: `< 1 ms`, 24 quarter-decades from 1 ms to 1000 s, `≥ 1000 s`.
pub const REUSE_BINS: usize = 26;

/// What pass 1 counted.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Frames read.
    pub frames: u64,
    /// TCP segments.
    pub segments: u64,
    /// First and last frame time.
    pub span: Option<(u64, u64)>,
    /// Port reuses the engine counted.
    pub port_reuses: u64,
    /// Files damaged part-way (their message).
    pub damaged: Vec<String>,
    /// Frames that were not TCP or could not be parsed.
    pub not_tcp: u64,
    /// Segments whose timestamp went backwards (the engine's count).
    pub time_backwards: u64,
}

/// Pass 1: the engine over `files`, events into `model`.
pub fn engine_pass(files: &[PathBuf], cfg: Config, model: &mut Model) -> Result<EngineStats, CaptureError> {
    let mut readers = Vec::with_capacity(files.len());
    for f in files {
        readers.push(CaptureReader::open(f)?);
    }
    let mut shard = Shard::new(cfg, KeySeed::random());
    let mut st = EngineStats::default();
    for (fi, mut r) in readers.into_iter().enumerate() {
        model.current_file = fi;
        loop {
            match r.next_frame() {
                Ok(Some(frame)) => {
                    st.frames += 1;
                    st.span = Some(match st.span {
                        None => (frame.ts_ns, frame.ts_ns),
                        Some((a, b)) => (a.min(frame.ts_ns), b.max(frame.ts_ns)),
                    });
                    match parse_frame(frame.link, frame.data, frame.ts_ns, frame.number) {
                        Ok(Parsed::Tcp(seg)) => {
                            st.segments += 1;
                            shard.process(&seg, model);
                        }
                        _ => st.not_tcp += 1,
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    st.damaged.push(e.to_string());
                    break;
                }
            }
        }
    }
    shard.finish(model);
    st.port_reuses = shard.counters.port_reuses;
    st.time_backwards = shard.counters.time_backwards;
    Ok(st)
}

/// What pass 2 measured.
#[derive(Debug, Clone)]
pub struct TraceStats {
    /// Distinct 4-tuples seen (up to the cap).
    pub tuples: u64,
    /// True when more 4-tuples existed than the cap allowed tracking.
    pub tuples_capped: bool,
    /// SYNs with a new ISN on a 4-tuple seen before.
    pub reuses: u64,
    /// Reuse intervals, see [`REUSE_BINS`].
    pub reuse_hist: [u64; REUSE_BINS],
    /// Reuses that came back within TIME_WAIT.
    pub reuses_within_tw: u64,
    /// Reuses per time bin, see [`TIME_BINS`].
    pub reuse_series: [u64; TIME_BINS],
}

impl Default for TraceStats {
    fn default() -> Self {
        TraceStats {
            tuples: 0,
            tuples_capped: false,
            reuses: 0,
            reuse_hist: [0; REUSE_BINS],
            reuses_within_tw: 0,
            reuse_series: [0; TIME_BINS],
        }
    }
}

/// The histogram bin of a reuse interval in ns.
pub fn reuse_bin(interval_ns: u64) -> usize {
    let ms = interval_ns as f64 / 1e6;
    if ms < 1.0 {
        return 0;
    }
    let k = (ms.log10() * 4.0).floor() as i64 + 1;
    k.clamp(1, REUSE_BINS as i64 - 1) as usize
}

/// The time-series bin of `ts` over `span`.
pub fn time_bin(ts: u64, span: (u64, u64)) -> usize {
    let w = span.1.saturating_sub(span.0).max(1);
    ((ts.saturating_sub(span.0) as u128 * TIME_BINS as u128 / (w as u128 + 1)) as usize).min(TIME_BINS - 1)
}

#[derive(Clone, Copy)]
struct TupleStat {
    last_ts: u64,
    isn: u32,
    syn_seen: bool,
}

struct Watch {
    ring: VecDeque<SegRec>,
    /// (cause index, position) of the incidents on this 4-tuple, in time order.
    incidents: Vec<(usize, usize)>,
    next: usize,
    following: Option<(usize, usize)>,
}

const SEED: KeySeed = KeySeed::fixed(0x5EED_AC15);

fn mapped(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), false),
        IpAddr::V6(a) => (a.octets(), true),
    }
}

/// The fingerprint the trace uses for an event's 4-tuple.
fn fp_of(ev: &Event) -> u64 {
    let (src, v6) = mapped(ev.client.ip());
    let (dst, _) = mapped(ev.server.ip());
    let seg = Segment {
        ts_ns: 0,
        frame: 0,
        src,
        dst,
        sport: ev.client.port(),
        dport: ev.server.port(),
        vlan: ev.vlan,
        svlan: ev.svlan,
        seq: SeqNum(0),
        ack: SeqNum(0),
        payload_len: 0,
        tsval: 0,
        flags: TcpFlags(0),
        v6,
        opts: TcpOptions::default(),
        tunnel: ev.tunnel,
    };
    FlowKey::of(&seg, &SEED).fp
}

/// How the trace finds an incident's stale ACK among the frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Same input as the events: the frame number and file must agree.
    Frame,
    /// Another capture of the flow (`--pcap-dir`): the ack number must agree and the time lie
    /// within this many ns.
    Near(u64),
}

/// How pass 2 runs.
#[derive(Clone, Copy)]
pub struct TraceConfig {
    /// How stale ACKs are found among the frames.
    pub how: Match,
    /// The input's time span (for the reuse time series), from pass 1.
    pub span: Option<(u64, u64)>,
    /// TIME_WAIT length, ms (reuses within it are counted apart).
    pub time_wait_ms: u32,
    /// Cap on 4-tuples tracked for reuse intervals.
    pub max_tuples: usize,
}

/// Pass 2 over `files`: reuse statistics (with [`Match::Frame`]), and the segments of the
/// incidents in `model` that `want` selects.
pub fn trace_pass(
    files: &[PathBuf],
    model: &mut Model,
    want: &dyn Fn(&super::model::Incident) -> bool,
    tc: TraceConfig,
) -> Result<TraceStats, CaptureError> {
    let TraceConfig { how, span, time_wait_ms, max_tuples } = tc;
    let mut st = TraceStats::default();
    let mut watch: HashMap<u64, Watch> = HashMap::new();
    for (c, list) in model.kept.iter().enumerate() {
        for (i, inc) in list.iter().enumerate() {
            if !want(inc) {
                continue;
            }
            let w = watch.entry(fp_of(&inc.stale)).or_insert_with(|| Watch { ring: VecDeque::with_capacity(RING), incidents: Vec::new(), next: 0, following: None });
            w.incidents.push((c, i));
        }
    }
    for w in watch.values_mut() {
        w.incidents.sort_by_key(|&(c, i)| model.kept[c][i].stale.ts_ns);
    }
    let track_reuse = how == Match::Frame;
    let mut tuples: HashMap<u64, TupleStat> = HashMap::new();
    let tw_ns = u64::from(time_wait_ms) * 1_000_000;
    for (fi, f) in files.iter().enumerate() {
        let mut r = CaptureReader::open(f)?;
        // Up to the end or the damage (pass 1 reported it).
        while let Ok(Some(frame)) = r.next_frame() {
            let Ok(Parsed::Tcp(seg)) = parse_frame(frame.link, frame.data, frame.ts_ns, frame.number) else { continue };
            let fp = FlowKey::of(&seg, &SEED).fp;
            let syn_only = seg.flags.has(TcpFlags::SYN) && !seg.flags.has(TcpFlags::ACK);
            if track_reuse {
                let n = tuples.len();
                match tuples.get_mut(&fp) {
                    Some(t) => {
                        if syn_only && (!t.syn_seen || t.isn != seg.seq.0) {
                            let gap = seg.ts_ns.saturating_sub(t.last_ts);
                            st.reuses += 1;
                            st.reuse_hist[reuse_bin(gap)] += 1;
                            if gap < tw_ns {
                                st.reuses_within_tw += 1;
                            }
                            if let Some(sp) = span {
                                st.reuse_series[time_bin(seg.ts_ns, sp)] += 1;
                            }
                        }
                        if syn_only {
                            t.isn = seg.seq.0;
                            t.syn_seen = true;
                        }
                        t.last_ts = seg.ts_ns;
                    }
                    None if n < max_tuples => {
                        tuples.insert(fp, TupleStat { last_ts: seg.ts_ns, isn: seg.seq.0, syn_seen: syn_only });
                    }
                    None => st.tuples_capped = true,
                }
            }
            if watch.is_empty() {
                continue;
            }
            let Some(w) = watch.get_mut(&fp) else { continue };
            let Some(&(c0, i0)) = w.incidents.first() else { continue };
            let client = model.kept[c0][i0].stale.client;
            let src = seg.src_addr();
            let from_client = src == client || (src.ip() == client.ip() && src.port() == client.port());
            let rec = SegRec {
                ts_ns: seg.ts_ns,
                frame: seg.frame,
                file: fi as u16,
                from_client,
                flags: seg.flags.0,
                seq: seg.seq.0,
                ack: seg.ack.0,
                len: seg.payload_len,
            };
            if let Some((c, i)) = w.following {
                let inc = &mut model.kept[c][i];
                // Another capture's clock may be off by up to the tolerance.
                let slack = match how {
                    Match::Frame => 0,
                    Match::Near(tol) => tol,
                };
                let past_outcome = inc.outcome.as_ref().is_some_and(|o| seg.ts_ns > o.ts_ns.saturating_add(slack));
                if past_outcome || inc.after.len() >= AFTER {
                    w.following = None;
                } else {
                    inc.after.push(rec);
                    // The attempt is decided by the outcome's frame, or (any capture) by the
                    // SYN-ACK that acknowledges the attempt's ISN.
                    let synack = !from_client
                        && seg.flags.has(TcpFlags::SYN | TcpFlags::ACK)
                        && inc.stale.syn_seq.is_some_and(|i| seg.ack == i.add(1));
                    let decided = synack
                        || inc.outcome.as_ref().is_some_and(|o| how == Match::Frame && o.frame != 0 && o.frame == seg.frame && inc.file == fi);
                    if decided {
                        w.following = None;
                    }
                    push_ring(&mut w.ring, rec);
                    continue;
                }
            }
            if let Some(&(c, i)) = w.incidents.get(w.next) {
                let inc = &mut model.kept[c][i];
                let ev = &inc.stale;
                let is_bare_ack = !from_client
                    && seg.flags.has(TcpFlags::ACK)
                    && !seg.flags.has(TcpFlags::SYN)
                    && !seg.flags.has(TcpFlags::RST)
                    && Some(seg.ack) == ev.ack;
                let hit = is_bare_ack
                    && match how {
                        Match::Frame => seg.frame == ev.frame && inc.file == fi,
                        Match::Near(tol) => seg.ts_ns.abs_diff(ev.ts_ns) <= tol,
                    };
                if hit {
                    inc.before = w.ring.iter().copied().collect();
                    inc.after = vec![rec];
                    if let Match::Near(_) = how {
                        inc.source = super::model::SegSource::PcapDir(f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                    } else {
                        inc.source = super::model::SegSource::Capture;
                    }
                    w.next += 1;
                    w.following = Some((c, i));
                }
            }
            push_ring(&mut w.ring, rec);
        }
    }
    st.tuples = tuples.len() as u64;
    Ok(st)
}

fn push_ring(ring: &mut VecDeque<SegRec>, rec: SegRec) {
    if ring.len() == RING {
        ring.pop_front();
    }
    ring.push_back(rec);
}

/// `a:b:c:d:port` as the flagged-flow pcap names write an address (`output/flowpcap.rs`).
pub fn clean_addr(a: SocketAddr) -> String {
    a.to_string().replace(['[', ']'], "").replace(':', "_")
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reuse_bins_are_quarter_decades() {
        assert_eq!(reuse_bin(500_000), 0);
        assert_eq!(reuse_bin(1_000_000), 1);
        assert_eq!(reuse_bin(1_700_000), 1);
        assert_eq!(reuse_bin(1_800_000), 2);
        assert_eq!(reuse_bin(60_000_000_000), 20);
        assert_eq!(reuse_bin(u64::MAX), REUSE_BINS - 1);
    }

    #[test]
    fn time_bins_cover_the_span() {
        let sp = (1000, 2000);
        assert_eq!(time_bin(1000, sp), 0);
        assert_eq!(time_bin(2000, sp), TIME_BINS - 1);
        assert_eq!(time_bin(5, sp), 0);
        assert_eq!(time_bin(1500, (1500, 1500)), 0);
    }
}
