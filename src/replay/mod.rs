//! Replay: capture files through the same parser and engine as live traffic.
//!
//! Files are read in the order given, as if concatenated; frame numbers restart at 1 in each
//! file (as Wireshark numbers them) and events carry the number of the frame that triggered
//! them. One shard runs on the calling thread, so a replay is deterministic.

#![deny(unsafe_code)]

mod capture;

pub use capture::{CaptureError, CaptureReader, Frame, MAX_RECORD};

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::detect::{Config, EventSink, Shard};
use crate::flow::{FlowKey, KeySeed, Side};
use crate::output::{FlaggingSink, FlowRecorder, FrameSnap, ParseProblems};
use crate::packet::{parse_frame_into, Segment, SkipReason};

/// What a replay did.
pub struct ReplayReport {
    /// Frames read (all files).
    pub frames: u64,
    /// TCP segments given to the engine.
    pub segments: u64,
    /// Skips and parse errors.
    pub problems: ParseProblems,
    /// Files that could not be read to the end: the error for each (frames before the damage
    /// were processed).
    pub damaged: Vec<CaptureError>,
    /// The engine, for its counters and table statistics.
    pub shard: Shard,
    /// Wall time.
    pub elapsed: Duration,
}

/// Replay `files` through one shard, sending events to `sink`.
///
/// A file that is not a capture or cannot be opened stops the replay with that error (nothing
/// sensible can be said about the rest). A file damaged part-way (truncated, corrupt record) is
/// processed up to the damage, reported in [`ReplayReport::damaged`], and the next file follows.
///
/// With `recorder`, flagged-flow captures are written too.
pub fn replay_with<S: EventSink>(
    files: &[PathBuf],
    cfg: Config,
    sink: &mut S,
    mut recorder: Option<&mut FlowRecorder>,
) -> Result<ReplayReport, CaptureError> {
    let start = Instant::now();
    let mut shard = Shard::new(cfg, KeySeed::random());
    let mut problems = ParseProblems::default();
    let mut damaged = Vec::new();
    let (mut frames, mut segments) = (0u64, 0u64);
    // Open every file first: a wrong path should fail before minutes of work.
    let mut readers = Vec::with_capacity(files.len());
    for f in files {
        readers.push(CaptureReader::open(f)?);
    }
    // Segments parsed but not yet given to the engine, their flow's bucket already being
    // fetched: the engine takes the oldest once `ahead` newer ones are queued, so each lookup's
    // cache miss overlaps the parsing and processing of the segments before it (the live worker
    // prefetches a receive batch the same way). A fixed ring, allocated once: each frame is
    // parsed straight into its slot (`parse_frame_into`) and the engine reads it there, so a
    // segment is written once and never copied.
    let ahead = lookahead();
    let mut ring = Ring::new(ahead + 1);
    for (fi, mut r) in readers.into_iter().enumerate() {
        loop {
            match r.next_frame() {
                Ok(Some(frame)) => {
                    frames += 1;
                    let slot = ring.free_slot();
                    match parse_frame_into(frame.link, frame.data, frame.orig_len as usize, frame.ts_ns, frame.number, &mut slot.0) {
                        Ok(None) => {
                            segments += 1;
                            problems.tunnel(slot.0.tunnel.as_ref());
                            match recorder.as_deref_mut() {
                                None => {
                                    // Two stages (src/flow/table.rs): the fingerprint line
                                    // `ahead` segments before the engine needs it, the entry's
                                    // line(s) half-way, once that fingerprint line is in.
                                    slot.1 = shard.key(&slot.0);
                                    shard.prefetch_fps(&slot.1);
                                    ring.commit();
                                    if let Some((_, k)) = ring.len().checked_sub(ahead / 2 + 1).map(|i| ring.get(i)) {
                                        shard.prefetch_entry(k);
                                    }
                                    if ring.len() > ahead {
                                        let (s, k) = ring.get(0);
                                        shard.process_keyed(s, *k, sink);
                                        ring.pop();
                                    }
                                }
                                Some(rec) => {
                                    // The frame's bytes are recorded with its segment, so this
                                    // path runs one frame at a time (the ring stays empty).
                                    let (seg, key) = (&slot.0, shard.key(&slot.0));
                                    rec.record(key.fp, frame.ts_ns, frame.link.to_linktype(), &FrameSnap::of(frame.data));
                                    let mut fs = FlaggingSink::new(sink);
                                    shard.process_keyed(seg, key, &mut fs);
                                    if let Some((ts, c, s)) = fs.flag {
                                        rec.flag(key.fp, ts, c, s);
                                    }
                                }
                            }
                        }
                        Ok(Some(SkipReason::UnsupportedLinkType)) => problems.unsupported_link(frame.link.to_linktype()),
                        Ok(Some(reason)) => problems.skip(reason),
                        Err(e) => problems.error(&e, fi, frame.number),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    damaged.push(e);
                    break;
                }
            }
        }
        problems.timestamps_normalised += r.timestamps_normalised;
    }
    // Files are replayed as if concatenated: the ring carries over from one to the next and
    // is emptied only here.
    while ring.len() > 0 {
        let (s, k) = ring.get(0);
        shard.process_keyed(s, *k, sink);
        ring.pop();
    }
    shard.finish(sink);
    if let Some(rec) = recorder {
        rec.close_all();
    }
    Ok(ReplayReport { frames, segments, problems, damaged, shard, elapsed: start.elapsed() })
}

/// Segments parsed ahead of the engine (their buckets prefetched); `ACKSCOPE_REPLAY_AHEAD`
/// overrides it for benchmarks (bench/replay.sh; 0 turns the look-ahead off).
fn lookahead() -> usize {
    std::env::var("ACKSCOPE_REPLAY_AHEAD").ok().and_then(|v| v.parse().ok()).unwrap_or(LOOKAHEAD).min(1024)
}

/// Default look-ahead (bench/README.md §2: measured 8, 16, 32).
const LOOKAHEAD: usize = 8;

/// The look-ahead ring: `cap` slots of (segment, key); `len` of them, from `head` on, are
/// queued for the engine, and the slot after them is where the next frame is parsed.
struct Ring {
    slots: Vec<(Segment, FlowKey)>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring { slots: vec![(Segment::EMPTY, FlowKey { fp: 0, from: Side::Lo }); cap.max(1)], head: 0, len: 0 }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn at(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.slots.len() {
            j - self.slots.len()
        } else {
            j
        }
    }

    /// The slot after the queued ones (the ring is never full between calls: the caller pops
    /// once `len` exceeds `cap - 1`).
    fn free_slot(&mut self) -> &mut (Segment, FlowKey) {
        let i = self.at(self.len);
        &mut self.slots[i]
    }

    /// Queue the free slot.
    fn commit(&mut self) {
        debug_assert!(self.len < self.slots.len());
        self.len += 1;
    }

    /// The `i`th queued slot (0: the oldest).
    fn get(&self, i: usize) -> &(Segment, FlowKey) {
        &self.slots[self.at(i)]
    }

    fn pop(&mut self) {
        debug_assert!(self.len > 0);
        self.head = self.at(1);
        self.len -= 1;
    }
}
