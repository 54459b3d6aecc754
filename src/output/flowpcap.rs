//! Flagged-flow captures (`--pcap-dir`): for each 4-tuple that raised an event, a pcap with the
//! frames of that 4-tuple around the event, which Wireshark and tshark open.
//!
//! A ring of the last frames (their first [`SNAP`] bytes) is kept; when a 4-tuple is flagged,
//! its frames still in the ring (the previous connection's teardown, if still held) are written
//! first, then the following frames of that 4-tuple are appended until the per-flow limit or
//! [`FOLLOW_NS`] have passed. Everything is bounded: frames per flow, open files, files in total.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::SocketAddr;
use std::path::PathBuf;

use hashbrown::HashMap;

use super::pcap::PcapWriter;
use crate::detect::{Event, EventSink};
use super::time::format_rfc3339;

/// Bytes kept of each frame (every header ackscope reads fits: Ethernet, two VLAN tags,
/// IPv6 with extension headers, TCP with options).
pub const SNAP: usize = 160;
/// How long after the flag the 4-tuple's frames keep being appended.
pub const FOLLOW_NS: u64 = 30_000_000_000;
/// Files open at once; the oldest is closed when a new one is needed.
const MAX_OPEN: usize = 64;

/// One remembered frame.
#[derive(Clone, Copy)]
pub struct FrameSnap {
    /// Captured bytes in `data`.
    pub len: u16,
    /// Length on the wire.
    pub orig_len: u32,
    /// First bytes.
    pub data: [u8; SNAP],
}

impl FrameSnap {
    /// An empty snap (nothing recorded).
    pub const EMPTY: FrameSnap = FrameSnap { len: 0, orig_len: 0, data: [0; SNAP] };

    /// Copy the first bytes of `frame`.
    #[inline]
    pub fn of(frame: &[u8]) -> FrameSnap {
        let n = frame.len().min(SNAP);
        let mut s = FrameSnap { len: n as u16, orig_len: frame.len() as u32, data: [0; SNAP] };
        s.data[..n].copy_from_slice(&frame[..n]);
        s
    }
}

#[derive(Clone, Copy)]
struct Slot {
    fp: u64,
    ts_ns: u64,
    linktype: u32,
    snap: FrameSnap,
}

struct OpenFlow {
    w: PcapWriter<BufWriter<File>>,
    linktype: u32,
    frames: u32,
    until_ns: u64,
    opened_seq: u64,
}

/// Limits of a [`FlowRecorder`].
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Directory for the files (created if missing).
    pub dir: PathBuf,
    /// Frames remembered before a flag.
    pub ring: usize,
    /// Frames per file at most.
    pub per_flow: u32,
    /// Files in total at most; later flags are counted, not written.
    pub max_files: u32,
    /// Added to frame timestamps (live stamps are monotonic).
    pub clock_offset_ns: i64,
}

impl RecorderConfig {
    /// Defaults for `dir`: 8192 remembered frames, 256 frames per flow, 1000 files.
    pub fn new(dir: PathBuf) -> RecorderConfig {
        RecorderConfig { dir, ring: 8192, per_flow: 256, max_files: 1000, clock_offset_ns: 0 }
    }
}

/// Writes flagged-flow pcaps. Owned by one thread (a shard's worker, or the replay loop).
pub struct FlowRecorder {
    cfg: RecorderConfig,
    ring: Vec<Slot>,
    head: usize,
    filled: bool,
    open: HashMap<u64, OpenFlow>,
    seq: u64,
    /// Files written.
    pub files: u32,
    /// Flags not written because `max_files` was reached.
    pub files_skipped: u32,
    /// Frames written in total.
    pub frames: u64,
    /// The first write error, if any (recording stops after it).
    pub error: Option<io::Error>,
    tag: String,
}

impl FlowRecorder {
    /// A recorder writing into `cfg.dir`; `tag` keeps file names of several recorders apart.
    pub fn new(cfg: RecorderConfig, tag: &str) -> io::Result<FlowRecorder> {
        std::fs::create_dir_all(&cfg.dir)?;
        let ring = vec![Slot { fp: 0, ts_ns: 0, linktype: 0, snap: FrameSnap::EMPTY }; cfg.ring.max(1)];
        Ok(FlowRecorder {
            cfg,
            ring,
            head: 0,
            filled: false,
            open: HashMap::new(),
            seq: 0,
            files: 0,
            files_skipped: 0,
            frames: 0,
            error: None,
            tag: tag.to_string(),
        })
    }

    /// Remember a frame of 4-tuple `fp`; append it if the 4-tuple is being recorded.
    #[inline]
    pub fn record(&mut self, fp: u64, ts_ns: u64, linktype: u32, snap: &FrameSnap) {
        if snap.len == 0 {
            return;
        }
        self.ring[self.head] = Slot { fp, ts_ns, linktype, snap: *snap };
        self.head += 1;
        if self.head == self.ring.len() {
            self.head = 0;
            self.filled = true;
        }
        if !self.open.is_empty() {
            self.append(fp, ts_ns, linktype, snap);
        }
    }

    fn append(&mut self, fp: u64, ts_ns: u64, linktype: u32, snap: &FrameSnap) {
        let Some(o) = self.open.get_mut(&fp) else { return };
        if ts_ns > o.until_ns || o.frames >= self.cfg.per_flow {
            self.open.remove(&fp);
            return;
        }
        if o.linktype != linktype {
            return;
        }
        let ts = (ts_ns as i64 + self.cfg.clock_offset_ns) as u64;
        match o.w.write_snap(ts, &snap.data[..snap.len as usize], snap.orig_len) {
            Ok(()) => {
                o.frames += 1;
                self.frames += 1;
            }
            Err(e) => {
                self.open.remove(&fp);
                self.error.get_or_insert(e);
            }
        }
    }

    /// Flag 4-tuple `fp` (client/server for the file name) at `ts_ns`: write its remembered
    /// frames to a new file and keep appending. A 4-tuple already being recorded just extends
    /// its follow time.
    pub fn flag(&mut self, fp: u64, ts_ns: u64, client: SocketAddr, server: SocketAddr) {
        if self.error.is_some() {
            return;
        }
        if let Some(o) = self.open.get_mut(&fp) {
            o.until_ns = ts_ns + FOLLOW_NS;
            return;
        }
        if self.files >= self.cfg.max_files {
            self.files_skipped += 1;
            return;
        }
        if self.open.len() >= MAX_OPEN {
            if let Some((&old, _)) = self.open.iter().min_by_key(|(_, o)| o.opened_seq) {
                self.open.remove(&old);
            }
        }
        // The frames of this 4-tuple still in the ring, oldest first.
        let (a, b) = self.ring.split_at(self.head);
        let older: &[Slot] = if self.filled { b } else { &[] };
        let frames: Vec<Slot> = older.iter().chain(a.iter()).filter(|s| s.fp == fp && s.snap.len > 0).copied().collect();
        let Some(first) = frames.last() else { return };
        let linktype = first.linktype;
        let mut stamp = String::new();
        format_rfc3339(ts_ns as i64 + self.cfg.clock_offset_ns, &mut stamp);
        let clean = |a: SocketAddr| a.to_string().replace(['[', ']'], "").replace(':', "_");
        let name = format!("{}-{}-{}-{}-{}.pcap", stamp.replace([':', '-'], ""), self.tag, clean(client), clean(server), self.files);
        let path = self.cfg.dir.join(name);
        let r = File::create(&path).and_then(|f| PcapWriter::new(BufWriter::new(f), linktype, true));
        let mut w = match r {
            Ok(w) => w,
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        let mut n = 0;
        for s in frames.iter().filter(|s| s.linktype == linktype).take(self.cfg.per_flow as usize) {
            let ts = (s.ts_ns as i64 + self.cfg.clock_offset_ns) as u64;
            if let Err(e) = w.write_snap(ts, &s.snap.data[..s.snap.len as usize], s.snap.orig_len) {
                self.error = Some(e);
                return;
            }
            n += 1;
        }
        self.files += 1;
        self.frames += n as u64;
        self.seq += 1;
        self.open.insert(fp, OpenFlow { w, linktype, frames: n, until_ns: ts_ns + FOLLOW_NS, opened_seq: self.seq });
    }

    /// Close every file (flushes them).
    pub fn close_all(&mut self) {
        for (_, o) in self.open.drain() {
            if let Err(e) = o.w.into_inner() {
                self.error.get_or_insert(e);
            }
        }
    }
}

impl Drop for FlowRecorder {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Passes events on and notes whether one of them flags its 4-tuple for a capture
/// ([`crate::detect::EventKind::opens_capture`]).
pub struct FlaggingSink<'a, S: EventSink> {
    inner: &'a mut S,
    /// (time, client, server) of the last flagging event.
    pub flag: Option<(u64, SocketAddr, SocketAddr)>,
}

impl<'a, S: EventSink> FlaggingSink<'a, S> {
    /// Wrap `inner`.
    pub fn new(inner: &'a mut S) -> Self {
        FlaggingSink { inner, flag: None }
    }
}

impl<S: EventSink> EventSink for FlaggingSink<'_, S> {
    fn event(&mut self, ev: &Event) {
        if ev.kind.opens_capture() {
            self.flag = Some((ev.ts_ns, ev.client, ev.server));
        }
        self.inner.event(ev);
    }
}
