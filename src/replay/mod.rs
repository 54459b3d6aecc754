//! Replay: capture files through the same parser and engine as live traffic.
//!
//! Files are read in the order given, as if concatenated; frame numbers restart at 1 in each
//! file (as Wireshark numbers them) and events carry the number of the frame that triggered
//! them. One shard runs on the calling thread, so a replay is deterministic.

#![deny(unsafe_code)]

mod capture;

pub use capture::{CaptureError, CaptureReader, Frame, MAX_RECORD};

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::detect::{Config, EventSink, Shard};
use crate::flow::{FlowKey, KeySeed};
use crate::output::{FlaggingSink, FlowRecorder, FrameSnap, ParseProblems};
use crate::packet::{parse_frame_wire, Parsed, Segment, SkipReason};

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
    // prefetches a receive batch the same way). Fixed capacity, allocated once.
    let ahead = lookahead();
    let mut queue: VecDeque<(Segment, FlowKey)> = VecDeque::with_capacity(ahead + 1);
    for (fi, mut r) in readers.into_iter().enumerate() {
        loop {
            match r.next_frame() {
                Ok(Some(frame)) => {
                    frames += 1;
                    match parse_frame_wire(frame.link, frame.data, frame.orig_len as usize, frame.ts_ns, frame.number) {
                        Ok(Parsed::Tcp(ref seg)) => {
                            segments += 1;
                            problems.tunnel(seg.tunnel.as_ref());
                            match recorder.as_deref_mut() {
                                None => {
                                    // Two stages (src/flow/table.rs): the fingerprint line
                                    // `ahead` segments before the engine needs it, the entry's
                                    // line(s) half-way, once that fingerprint line is in.
                                    let key = shard.key(seg);
                                    shard.prefetch_fps(&key);
                                    queue.push_back((*seg, key));
                                    if let Some((_, k)) = queue.len().checked_sub(ahead / 2 + 1).and_then(|i| queue.get(i)) {
                                        shard.prefetch_entry(k);
                                    }
                                    if queue.len() > ahead {
                                        // In place, then dropped: no copy of the segment out.
                                        if let Some((s, k)) = queue.front() {
                                            shard.process_keyed(s, *k, sink);
                                        }
                                        queue.pop_front();
                                    }
                                }
                                Some(rec) => {
                                    // The frame's bytes are recorded with its segment, so this
                                    // path runs one frame at a time.
                                    let key = shard.key(seg);
                                    rec.record(key.fp, frame.ts_ns, frame.link.to_linktype(), &FrameSnap::of(frame.data));
                                    let mut fs = FlaggingSink::new(sink);
                                    shard.process_keyed(seg, key, &mut fs);
                                    if let Some((ts, c, s)) = fs.flag {
                                        rec.flag(key.fp, ts, c, s);
                                    }
                                }
                            }
                        }
                        Ok(Parsed::Skip(SkipReason::UnsupportedLinkType)) => {
                            problems.unsupported_link(frame.link.to_linktype())
                        }
                        Ok(Parsed::Skip(reason)) => problems.skip(reason),
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
    // Files are replayed as if concatenated: the queue carries over from one to the next and
    // is emptied only here.
    for (s, k) in queue.drain(..) {
        shard.process_keyed(&s, k, sink);
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
