//! The worker pool: one pinned thread per receive queue, each owning one shard.
//!
//! ```text
//!  queue q ──► worker q: recv batch → parse → key → owner shard s = key.shard(n)
//!                 s == q: into q's reorder buffer
//!                 s != q: SPSC ring q→s (lock-free, bounded; full → counted, never blocks)
//!              worker q also drains rings *→q into its reorder buffer, and releases segments
//!              to its shard in timestamp order once they are older than the reorder window.
//! ```
//!
//! Both directions of a flow always meet in one shard, whatever queue RSS put them on. The
//! reorder window (kernel receive stamps, `CLOCK_MONOTONIC`, comparable across CPUs) makes sure
//! a SYN handed over from another queue is judged before the answer that arrived locally.
//! Nothing on this path allocates per frame: the buffers are sized at start.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender, TrySendError};
use crossbeam::queue::ArrayQueue;

use crate::detect::{Config, Counters, Event, EventSink, ServerRtt, Shard};
use crate::output::{FlaggingSink, FlowRecorder, FrameSnap, RecorderConfig};
use crate::flow::{Evictions, FlowKey, KeySeed};
use crate::packet::{parse_frame_into, LinkType, Segment, PARSE_REASONS, SKIP_REASONS};

use super::error::Result;
use super::sys::{monotonic_ns, wall_clock_offset_ns};
use super::xsk::{XskQueue, XskStats};

/// Where a worker gets frames from: an AF_XDP socket live, a vector in tests.
pub trait FrameSource: Send {
    /// Receive up to `max` frames, waiting at most `timeout_ms` when none is ready; call `f`
    /// with each frame's `CLOCK_MONOTONIC` receive stamp and bytes.
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize>;

    /// As [`FrameSource::recv`], with each frame's length on the wire as well: more than the
    /// bytes given when the source holds only the first bytes of a frame (host mode's ring
    /// path), which flagged-flow captures record as the frame's original length.
    #[inline]
    fn recv_wire<F: FnMut(u64, &[u8], u32)>(&mut self, max: usize, timeout_ms: i32, mut f: F) -> Result<usize> {
        self.recv(max, timeout_ms, |ts, data| f(ts, data, data.len() as u32))
    }

    /// The kernel's loss counters for this source, when it has any.
    fn xsk_stats(&self) -> Option<XskStats> {
        None
    }

    /// How long (ms) a worker with nothing to do may wait in one receive for a frame: a frame
    /// wakes it at once; the timeout only bounds how late it notices the stop flag and runs
    /// its periodic work. 1 ms by default (sources with work of their own, such as inline
    /// mode's transmit completions); an AF_XDP receive socket takes [`IDLE_WAIT_MS`].
    fn idle_wait_ms(&self) -> i32 {
        1
    }

    /// True when frames come in the order of their stamps (an AF_XDP queue: one NAPI context
    /// stamps and fills it). Otherwise (host mode's ring, which every CPU's tc program fills:
    /// a record stamped first on one CPU may be reserved after another CPU's) a single
    /// worker sorts each receive batch by stamp before its shard sees it.
    fn in_stamp_order(&self) -> bool {
        true
    }
}

/// [`FrameSource::idle_wait_ms`] of an AF_XDP receive socket: an idle worker wakes up 100
/// times a second instead of 1000 (each wake-up of an idle worker cost ~10–25 µs of CPU here,
/// more than a frame: bench/README.md, "Live worker: CPU per frame").
pub const IDLE_WAIT_MS: i32 = 10;

/// Longest idle wait of a worker of several (see `worker`): others' hand-offs do not wake it.
pub const MULTI_IDLE_WAIT_MS: i32 = 4;

impl FrameSource for XskQueue {
    #[inline]
    fn recv<F: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, f: F) -> Result<usize> {
        self.recv_batch(max, timeout_ms, f)
    }

    fn xsk_stats(&self) -> Option<XskStats> {
        self.stats().ok()
    }

    fn idle_wait_ms(&self) -> i32 {
        IDLE_WAIT_MS
    }
}

/// Pool settings.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Engine settings for every shard.
    pub engine: Config,
    /// How long a segment waits for earlier segments from other queues (ns).
    pub reorder_window_ns: u64,
    /// Frames per receive batch.
    pub batch: usize,
    /// Capacity of each worker→worker ring (segments).
    pub handoff_capacity: usize,
    /// Capacity of the event channel to the output thread.
    pub event_capacity: usize,
    /// Core for each worker (`None`: not pinned).
    pub cores: Vec<Option<usize>>,
    /// Flagged-flow captures (`--pcap-dir`): each worker records its own shard's 4-tuples.
    pub recorder: Option<RecorderConfig>,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            engine: Config::default(),
            reorder_window_ns: 2_000_000,
            batch: 64,
            handoff_capacity: 16_384,
            event_capacity: 65_536,
            cores: Vec::new(),
            recorder: None,
        }
    }
}

/// Live counters of one worker, readable from any thread (relaxed atomics, one cache line
/// group per worker so workers never share a line).
#[repr(align(128))]
#[derive(Default, Debug)]
pub struct WorkerStats {
    /// Frames received from the queue.
    pub rx_frames: AtomicU64,
    /// Frames that carried no TCP segment (ARP, UDP, fragments).
    pub skipped: AtomicU64,
    /// Frames that could not be parsed.
    pub parse_errors: AtomicU64,
    /// Segments handed to another worker's shard.
    pub handed_off: AtomicU64,
    /// Segments NOT handed off because the target ring was full (lost to the engine).
    pub handoff_full: AtomicU64,
    /// Segments received from other workers.
    pub received_handoff: AtomicU64,
    /// Segments processed by this worker's shard.
    pub processed: AtomicU64,
    /// Segments released after a later one of the same shard (older than the window allowed).
    pub reorder_late: AtomicU64,
    /// Events not delivered because the event channel was full.
    pub events_dropped: AtomicU64,
    /// Events emitted.
    pub events: AtomicU64,
    /// Tracked 4-tuples in this worker's shard.
    pub flows: AtomicU64,
    /// XDP_STATISTICS of the queue's socket, refreshed about once a second.
    pub xsk_rx_dropped: AtomicU64,
    /// XDP_STATISTICS rx_ring_full.
    pub xsk_rx_ring_full: AtomicU64,
    /// XDP_STATISTICS rx_fill_ring_empty_descs.
    pub xsk_fill_ring_empty: AtomicU64,
    /// XDP_STATISTICS rx_invalid_descs.
    pub xsk_rx_invalid: AtomicU64,
}

impl WorkerStats {
    fn store_xsk(&self, s: &XskStats) {
        self.xsk_rx_dropped.store(s.rx_dropped, Ordering::Relaxed);
        self.xsk_rx_ring_full.store(s.rx_ring_full, Ordering::Relaxed);
        self.xsk_fill_ring_empty.store(s.rx_fill_ring_empty_descs, Ordering::Relaxed);
        self.xsk_rx_invalid.store(s.rx_invalid_descs, Ordering::Relaxed);
    }
}

/// What a worker leaves when it stops.
#[derive(Debug, Default, Clone)]
pub struct WorkerResult {
    /// Engine counters of its shard.
    pub counters: Counters,
    /// Flow-table evictions of its shard.
    pub evictions: Evictions,
    /// Tracked 4-tuples at the end.
    pub flows: usize,
    /// Skipped frames by reason.
    pub skipped: [u64; SKIP_REASONS],
    /// Parse errors by reason.
    pub parse_errors: [u64; PARSE_REASONS],
    /// The error that stopped the worker early, if any.
    pub error: Option<String>,
    /// The socket's kernel statistics when the worker stopped.
    pub xsk: Option<XskStats>,
    /// Flagged-flow files written.
    pub pcap_files: u32,
}

/// A copy of a shard's counters, published by its worker about once a second (and at the
/// end) for metrics and the status line.
#[derive(Debug, Default, Clone)]
pub struct ShardSnapshot {
    /// Engine counters.
    pub counters: Counters,
    /// Tracked 4-tuples.
    pub flows: usize,
    /// Table evictions.
    pub evictions: Evictions,
    /// Handshake RTT per server.
    pub servers: Vec<(SocketAddr, ServerRtt)>,
    /// Handshake RTT of servers beyond the per-shard limit.
    pub other_servers: ServerRtt,
    /// Attempts waiting for an outcome.
    pub pending_outcomes: usize,
    /// Port pressure per (client IP, server) pair (detect/pressure.rs).
    pub pressure: Vec<(crate::detect::pressure::PairKey, crate::detect::pressure::PairStats)>,
}

impl ShardSnapshot {
    fn take(shard: &Shard) -> ShardSnapshot {
        let (servers, other) = shard.server_rtts();
        ShardSnapshot {
            counters: shard.counters.clone(),
            flows: shard.flows(),
            evictions: shard.evictions(),
            servers: servers.map(|(a, r)| (*a, *r)).collect(),
            other_servers: *other,
            pending_outcomes: shard.pending_outcomes(),
            pressure: shard.pressure().pairs().collect(),
        }
    }
}

/// What travels with a segment through the hand-off rings and the reorder buffer: nothing
/// (`()`), or the first bytes of its frame when flagged-flow captures are on (`FrameSnap`,
/// 168 bytes), so a run without `--pcap-dir` does not move them through every slot.
trait Carry: Send + Sized + 'static {
    /// Taken from the frame at receive.
    fn of(data: &[u8], wire_len: u32) -> Self;
    /// Remember the frame in the recorder (at release, before the shard sees the segment).
    fn record(&self, rec: &mut FlowRecorder, fp: u64, ts: u64);
}

impl Carry for () {
    #[inline]
    fn of(_: &[u8], _: u32) {}
    #[inline]
    fn record(&self, _: &mut FlowRecorder, _: u64, _: u64) {}
}

impl Carry for FrameSnap {
    #[inline]
    fn of(data: &[u8], wire_len: u32) -> FrameSnap {
        let mut s = FrameSnap::of(data);
        s.orig_len = s.orig_len.max(wire_len);
        s
    }
    #[inline]
    fn record(&self, rec: &mut FlowRecorder, fp: u64, ts: u64) {
        rec.record(fp, ts, 1, self);
    }
}

/// A worker's reorder buffer (several queues): the segments waiting for their time, released
/// oldest first. A binary heap of small keys — (stamp, arrival order, slot) — over a slab of
/// the waiting segments, so a push or a pop moves 24 bytes per heap level instead of the
/// ~200-byte segment with its key and carry (issue 18: those moves, memmove and
/// `BinaryHeap::pop`, were ~17 % of a worker with 2 queues). Ties keep arrival order, as
/// before. Allocated once: `cap` slots; only the final drain at stop may push past it.
struct Reorder<C> {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    slab: Vec<(Segment, FlowKey, C)>,
    free: Vec<u32>,
    cap: usize,
    order: u64,
}

impl<C> Reorder<C> {
    fn new(cap: usize) -> Reorder<C> {
        let heap = BinaryHeap::with_capacity(cap);
        let cap = heap.capacity();
        Reorder { heap, slab: Vec::with_capacity(cap), free: Vec::with_capacity(cap), cap, order: 0 }
    }

    fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Room for another segment without growing.
    fn has_room(&self) -> bool {
        self.heap.len() < self.cap
    }

    fn push(&mut self, seg: Segment, key: FlowKey, carry: C) {
        self.order += 1;
        let ts = seg.ts_ns;
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = (seg, key, carry);
                i
            }
            None => {
                self.slab.push((seg, key, carry));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((ts, self.order, i)));
    }

    /// The oldest waiting segment stamped at or before `upto`, as (stamp, slot); give the slot
    /// back with [`Reorder::free`] once done with it.
    fn pop_upto(&mut self, upto: u64) -> Option<(u64, u32)> {
        if self.heap.peek().is_some_and(|r| r.0 .0 <= upto) {
            self.heap.pop().map(|Reverse((ts, _, i))| (ts, i))
        } else {
            None
        }
    }

    fn get(&self, i: u32) -> &(Segment, FlowKey, C) {
        &self.slab[i as usize]
    }

    fn free(&mut self, i: u32) {
        self.free.push(i);
    }
}

/// Sends events to the output thread; never blocks.
struct ChannelSink<'a> {
    tx: &'a Sender<Event>,
    stats: &'a WorkerStats,
}

impl EventSink for ChannelSink<'_> {
    fn event(&mut self, ev: &Event) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(*ev) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A running pool.
pub struct Pool {
    handles: Vec<JoinHandle<WorkerResult>>,
    stop: Arc<AtomicBool>,
    /// Per-worker live counters.
    pub stats: Arc<Vec<WorkerStats>>,
    /// Per-shard counter snapshots (refreshed about once a second).
    pub snapshots: Arc<Vec<Mutex<ShardSnapshot>>>,
    /// Events from every shard.
    pub events: Receiver<Event>,
}

type Rings<C> = Arc<Vec<Vec<Option<ArrayQueue<(Segment, FlowKey, C)>>>>>;

impl Pool {
    /// Start one worker per source. Worker `i` owns shard `i`.
    pub fn spawn<S: FrameSource + 'static>(sources: Vec<S>, cfg: PoolConfig) -> Pool {
        if cfg.recorder.is_some() {
            Self::spawn_carrying::<S, FrameSnap>(sources, cfg)
        } else {
            Self::spawn_carrying::<S, ()>(sources, cfg)
        }
    }

    fn spawn_carrying<S: FrameSource + 'static, C: Carry>(sources: Vec<S>, cfg: PoolConfig) -> Pool {
        let n = sources.len();
        let stop = Arc::new(AtomicBool::new(false));
        let stats: Arc<Vec<WorkerStats>> = Arc::new((0..n).map(|_| WorkerStats::default()).collect());
        let (tx, rx) = crossbeam::channel::bounded(cfg.event_capacity);
        // rings[from][to]
        let rings: Rings<C> = Arc::new(
            (0..n)
                .map(|from| (0..n).map(|to| (from != to).then(|| ArrayQueue::new(cfg.handoff_capacity))).collect())
                .collect(),
        );
        let seed = KeySeed::random();
        let snapshots: Arc<Vec<Mutex<ShardSnapshot>>> = Arc::new((0..n).map(|_| Mutex::new(ShardSnapshot::default())).collect());
        let mut handles = Vec::with_capacity(n);
        for (me, src) in sources.into_iter().enumerate() {
            let (stop, stats, rings, tx, cfg, snaps) = (stop.clone(), stats.clone(), rings.clone(), tx.clone(), cfg.clone(), snapshots.clone());
            let h = std::thread::Builder::new()
                .name(format!("ackscope-q{me}"))
                .spawn(move || worker::<S, C>(me, n, src, cfg, seed, stop, stats, rings, tx, snaps))
                .expect("spawn a worker thread");
            handles.push(h);
        }
        Pool { handles, stop, stats, snapshots, events: rx }
    }

    /// Ask every worker to stop (they drain and finish their shards).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// True once every worker has ended.
    pub fn finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Stop and wait for the workers.
    pub fn join(self) -> Vec<WorkerResult> {
        self.stop();
        self.handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| WorkerResult { error: Some("worker panicked".into()), ..Default::default() }))
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn worker<S: FrameSource, C: Carry>(
    me: usize,
    n: usize,
    mut src: S,
    cfg: PoolConfig,
    seed: KeySeed,
    stop: Arc<AtomicBool>,
    stats: Arc<Vec<WorkerStats>>,
    rings: Rings<C>,
    tx: Sender<Event>,
    snapshots: Arc<Vec<Mutex<ShardSnapshot>>>,
) -> WorkerResult {
    if let Some(Some(core)) = cfg.cores.get(me) {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: *core }) {
            tracing::warn!(worker = me, core, "could not pin the worker to its core; running unpinned");
        }
    }
    let st = &stats[me];
    let mut shard = Shard::new(cfg.engine, seed);
    let mut heap: Reorder<C> = Reorder::new(cfg.handoff_capacity * n.max(1) + cfg.batch);
    let mut last_released = 0u64;
    let mut result = WorkerResult::default();
    let mut idle = false;
    let window = cfg.reorder_window_ns;
    let mut next_stats = 0u64;

    let recording = cfg.recorder.is_some();
    // One queue: nothing to wait for; segments go straight to the shard, a receive batch at a
    // time, their table buckets prefetched first so the cache misses of the batch overlap. A
    // source whose frames may be out of stamp order (host mode's ring:
    // `FrameSource::in_stamp_order`) has each batch sorted by stamp first; a reorder window
    // would fix swaps across batches too, but its delay makes the kernel view look the
    // server's socket up after it changed (tests/live_host.rs), so it is not used there.
    let direct = n == 1 && !recording;
    let sort_batch = !src.in_stamp_order();
    // An idle worker waits up to this long for a frame (a frame wakes it at once). With
    // several queues, segments handed over by other workers do not wake it: it waits at most
    // [`MULTI_IDLE_WAIT_MS`] (the hand-off ring holds `handoff_capacity` segments over that
    // time: 4 M segments/s at the default), and 1 ms while its reorder buffer holds segments.
    let idle_wait = src.idle_wait_ms();
    // The receive batch: slots allocated once, each frame parsed straight into the next free
    // one (`parse_frame_into`: the segment is written once, where the engine reads it). With
    // several queues the slot is only the parse's scratch space; the segment then moves on.
    let mut batch: Vec<(Segment, FlowKey)> = vec![(Segment::EMPTY, FlowKey { fp: 0, from: crate::flow::Side::Lo }); cfg.batch.max(1)];
    let mut nb = 0usize;
    let mut recorder = match &cfg.recorder {
        Some(rc) => {
            let mut rc = rc.clone();
            // Live stamps are CLOCK_MONOTONIC; the files carry wall-clock time.
            rc.clock_offset_ns = wall_clock_offset_ns();
            match FlowRecorder::new(rc, &format!("q{me}")) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::error!(worker = me, error = %e, "cannot create the flagged-flow directory; recording off");
                    None
                }
            }
        }
        None => None,
    };
    let release = |heap: &mut Reorder<C>, upto: u64, shard: &mut Shard, last: &mut u64, recorder: &mut Option<FlowRecorder>| {
        let mut sink = ChannelSink { tx: &tx, stats: st };
        let mut done = 0u64;
        while let Some((ts, i)) = heap.pop_upto(upto) {
            if ts < *last {
                st.reorder_late.fetch_add(1, Ordering::Relaxed);
            } else {
                *last = ts;
            }
            let (seg, key, carry) = heap.get(i);
            match recorder.as_mut() {
                None => shard.process_keyed(seg, *key, &mut sink),
                Some(rec) => {
                    carry.record(rec, key.fp, ts);
                    let mut fs = FlaggingSink::new(&mut sink);
                    shard.process_keyed(seg, *key, &mut fs);
                    if let Some((ts, c, s)) = fs.flag {
                        rec.flag(key.fp, ts, c, s);
                    }
                }
            }
            heap.free(i);
            done += 1;
        }
        if done > 0 {
            st.processed.fetch_add(done, Ordering::Relaxed);
        }
        shard.tick(upto, &mut sink);
    };

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut got = 0usize;
        if !stopping {
            // Counted here and published once per batch (one atomic add, not one per frame).
            let mut handed = 0u64;
            let wait = match (idle, direct) {
                (false, _) => 0,
                (true, true) => idle_wait,
                (true, false) if heap.is_empty() => idle_wait.min(MULTI_IDLE_WAIT_MS),
                (true, false) => 1,
            };
            let r = src.recv_wire(cfg.batch, wait, |ts, data, wire_len| {
                if nb == batch.len() {
                    // Never: a receive call delivers at most `cfg.batch` frames.
                    batch.push(batch[0]);
                }
                let slot = &mut batch[nb];
                match parse_frame_into(LinkType::Ethernet, data, usize::MAX, ts, 0, &mut slot.0) {
                    Ok(None) => {
                        let key = FlowKey::of(&slot.0, &seed);
                        let owner = key.shard(n);
                        if direct {
                            slot.1 = key;
                            nb += 1;
                            return;
                        }
                        let seg = &slot.0;
                        if owner == me {
                            if heap.has_room() {
                                heap.push(*seg, key, C::of(data, wire_len));
                            } else {
                                st.handoff_full.fetch_add(1, Ordering::Relaxed);
                            }
                        } else if rings[me][owner].as_ref().expect("ring to another worker").push((*seg, key, C::of(data, wire_len))).is_ok() {
                            handed += 1;
                        } else {
                            st.handoff_full.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Some(r)) => {
                        st.skipped.fetch_add(1, Ordering::Relaxed);
                        result.skipped[r as usize] += 1;
                    }
                    Err(e) => {
                        st.parse_errors.fetch_add(1, Ordering::Relaxed);
                        result.parse_errors[e.reason_index()] += 1;
                    }
                }
            });
            if handed > 0 {
                st.handed_off.fetch_add(handed, Ordering::Relaxed);
            }
            match r {
                Ok(k) => {
                    got = k;
                    if k > 0 {
                        st.rx_frames.fetch_add(k as u64, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    result.error = Some(e.to_string());
                    tracing::error!(worker = me, error = %e, "receive failed; this worker stops");
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if nb > 0 {
            if sort_batch {
                // Nearly always sorted already: pdqsort sees the run in one pass; no allocation.
                batch[..nb].sort_unstable_by_key(|(s, _)| s.ts_ns);
            }
            let filled = &batch[..nb];
            // Two stages (src/flow/table.rs): every key's fingerprint line, then every key's
            // entry line(s), so each lookup below touches lines already on their way.
            for (_, key) in filled {
                shard.prefetch_fps(key);
            }
            for (_, key) in filled {
                shard.prefetch_entry(key);
            }
            let mut sink = ChannelSink { tx: &tx, stats: st };
            let done = nb as u64;
            // By reference: no copy of each segment out of the batch.
            for (seg, key) in filled {
                shard.process_keyed(seg, *key, &mut sink);
            }
            nb = 0;
            st.processed.fetch_add(done, Ordering::Relaxed);
        }
        // Segments other workers handed us.
        let mut inbound = 0u64;
        for from in 0..n {
            if let Some(ring) = &rings[from][me] {
                while heap.has_room() {
                    let Some((seg, key, carry)) = ring.pop() else { break };
                    heap.push(seg, key, carry);
                    inbound += 1;
                }
            }
        }
        if inbound > 0 {
            st.received_handoff.fetch_add(inbound, Ordering::Relaxed);
        }
        let now = monotonic_ns();
        if stopping {
            // Let the other workers' last hand-offs arrive, then release everything.
            release(&mut heap, now.saturating_sub(window), &mut shard, &mut last_released, &mut recorder);
            std::thread::sleep(Duration::from_micros(window / 1000 + 1000));
            for from in 0..n {
                if let Some(ring) = &rings[from][me] {
                    while let Some((seg, key, carry)) = ring.pop() {
                        heap.push(seg, key, carry);
                        st.received_handoff.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            release(&mut heap, u64::MAX, &mut shard, &mut last_released, &mut recorder);
            break;
        }
        release(&mut heap, now.saturating_sub(window), &mut shard, &mut last_released, &mut recorder);
        if now >= next_stats {
            next_stats = now + 1_000_000_000;
            st.flows.store(shard.flows() as u64, Ordering::Relaxed);
            if let Some(x) = src.xsk_stats() {
                st.store_xsk(&x);
            }
            if let Ok(mut slot) = snapshots[me].lock() {
                *slot = ShardSnapshot::take(&shard);
            }
        }
        idle = got == 0 && inbound == 0;
    }
    // Every live attempt still waiting is `unresolved` (or `failed` past its deadline).
    let mut sink = ChannelSink { tx: &tx, stats: st };
    shard.finish(&mut sink);
    st.flows.store(shard.flows() as u64, Ordering::Relaxed);
    result.xsk = src.xsk_stats();
    if let Some(mut r) = recorder {
        r.close_all();
        result.pcap_files = r.files;
        if let Some(e) = &r.error {
            tracing::error!(worker = me, error = %e, "flagged-flow pcaps stopped after an error");
        }
    }
    if let Some(x) = &result.xsk {
        st.store_xsk(x);
    }
    if let Ok(mut slot) = snapshots[me].lock() {
        *slot = ShardSnapshot::take(&shard);
    }
    result.counters = shard.counters.clone();
    result.evictions = shard.evictions();
    result.flows = shard.flows();
    result
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::packet::build::{TcpSpec, F};

    #[test]
    fn reorder_releases_by_stamp_then_arrival_and_reuses_slots() {
        let mut r: Reorder<u32> = Reorder::new(4);
        let key = FlowKey { fp: 0, from: crate::flow::Side::Lo };
        let seg = |ts: u64| Segment { ts_ns: ts, ..Segment::EMPTY };
        // Stamps 30, 10, 20, 10 carried as 0..4: released 10 (1), 10 (3), 20 (2), 30 (0).
        for (i, ts) in [30u64, 10, 20, 10].into_iter().enumerate() {
            assert!(r.has_room());
            r.push(seg(ts), key, i as u32);
        }
        assert!(!r.has_room() || r.cap > 4);
        let mut out = Vec::new();
        while let Some((ts, i)) = r.pop_upto(25) {
            out.push((ts, r.get(i).2));
            r.free(i);
        }
        assert_eq!(out, vec![(10, 1), (10, 3), (20, 2)]);
        // Freed slots are taken again before the slab grows.
        r.push(seg(5), key, 9);
        assert_eq!(r.slab.len(), 4);
        let (ts, i) = r.pop_upto(u64::MAX).unwrap();
        assert_eq!((ts, r.get(i).2, r.get(i).0.ts_ns), (5, 9, 5));
        r.free(i);
        let (ts, i) = r.pop_upto(u64::MAX).unwrap();
        assert_eq!((ts, r.get(i).2), (30, 0));
        r.free(i);
        assert!(r.is_empty() && r.pop_upto(u64::MAX).is_none());
    }

    /// Frames handed out in batches, then nothing.
    struct VecSource {
        frames: Vec<Vec<u8>>,
        ts: Vec<u64>,
        at: usize,
    }

    impl FrameSource for VecSource {
        fn recv<G: FnMut(u64, &[u8])>(&mut self, max: usize, timeout_ms: i32, mut f: G) -> Result<usize> {
            let end = (self.at + max).min(self.frames.len());
            for i in self.at..end {
                f(self.ts[i], &self.frames[i]);
            }
            let k = end - self.at;
            self.at = end;
            if k == 0 && timeout_ms > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(k)
        }
    }

    fn frame(src: &str, dst: &str, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
        TcpSpec::new(src.parse().unwrap(), dst.parse().unwrap(), seq, ack, flags).ethernet()
    }

    /// The two directions of every flow arrive on different queues (as with asymmetric RSS);
    /// the answer's queue even delivers first. Every stale ACK is still found, with its cause.
    #[test]
    fn directions_split_across_queues_still_meet() {
        let base = monotonic_ns();
        let (mut q0, mut q1) = (Vec::new(), Vec::new());
        let flows = 200u16;
        for i in 0..flows {
            let c = format!("10.0.{}.{}:{}", i / 200, i % 200 + 1, 30000 + i);
            let s = "10.9.0.1:80";
            let t = base + u64::from(i) * 10_000;
            // SYN on queue 0 at t, the stale ACK on queue 1 at t+1µs.
            q0.push((t, frame(&c, s, 1000, 0, F::SYN)));
            q1.push((t + 1000, frame(s, &c, 5, 77, F::ACK)));
        }
        let mk = |v: Vec<(u64, Vec<u8>)>| VecSource { ts: v.iter().map(|x| x.0).collect(), frames: v.into_iter().map(|x| x.1).collect(), at: 0 };
        // Queue 1 (the answers) is read first by construction of the test: give it a head start.
        // A 1 s window: on a loaded machine one worker may start long after the other, and a
        // frame released before its partner from the other queue arrived would be out of order.
        let cfg = PoolConfig { reorder_window_ns: 1_000_000_000, ..PoolConfig::default() };
        let pool = Pool::spawn(vec![mk(q1), mk(q0)], cfg);
        // Until every frame went through the engine (bounded: 20 s).
        let t0 = std::time::Instant::now();
        while pool.stats.iter().map(|s| s.processed.load(Ordering::Relaxed)).sum::<u64>() < 2 * u64::from(flows) && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let events = pool.events.clone();
        let stats = pool.stats.clone();
        let results = pool.join();
        let evs: Vec<Event> = events.try_iter().collect();
        let stale = evs.iter().filter(|e| e.kind == crate::detect::EventKind::StaleAck).count();
        assert_eq!(stale, flows as usize, "every flow's stale ACK found: {evs:?}");
        let processed: u64 = stats.iter().map(|s| s.processed.load(Ordering::Relaxed)).sum();
        let rx: u64 = stats.iter().map(|s| s.rx_frames.load(Ordering::Relaxed)).sum();
        assert_eq!(rx, 2 * u64::from(flows));
        assert_eq!(processed, rx, "every frame processed exactly once");
        let handed: u64 = stats.iter().map(|s| s.handed_off.load(Ordering::Relaxed)).sum();
        let received: u64 = stats.iter().map(|s| s.received_handoff.load(Ordering::Relaxed)).sum();
        assert_eq!(handed, received);
        assert!(handed > 0, "some flows belong to the other shard");
        assert!(results.iter().all(|r| r.error.is_none()));
        let outcomes: u64 = results.iter().map(|r| r.counters.outcomes.iter().sum::<u64>()).sum();
        assert_eq!(outcomes, u64::from(flows), "each attempt gets an outcome at stop");
    }
}
