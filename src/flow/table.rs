//! The flow table one shard owns: no locks, no sharing.

/// What the table needs to know about an entry to expire and evict it.
pub trait TableEntry {
    /// Engine time (ms) of the entry's last activity; for a closed connection, its close time.
    fn last_ms(&self) -> u32;
    /// True for the tombstone of a closed connection (evicted before live flows).
    fn is_tombstone(&self) -> bool;
}

/// Entries removed to stay under the cap, and by age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Tombstones removed because the table was full.
    pub tombstones: u64,
    /// Live flows removed because the table was full (only after every older tombstone).
    pub live: u64,
    /// Entries removed because they aged out (tombstone TTL or idle timeout).
    pub expired: u64,
}

/// Slots per bucket: the fingerprints of one bucket fill one 64-byte cache line.
const WAYS: usize = 8;
/// Fingerprint of a free slot.
const EMPTY: u64 = 0;
/// Fingerprint of a slot whose entry was removed (the probe goes on past it).
const GONE: u64 = 1;
/// Grow (or rebuild) when live + removed slots exceed this share of the slots (per mille).
const MAX_LOAD: usize = 920;
/// After growing, the load is this share (per mille): the table stays between 76 % and 92 %
/// full. A slot is its entry plus its 8-byte fingerprint, so a tracked 4-tuple costs
/// (entry + 8) / load: 43–53 bytes for 32-byte entries, 52–64 for 40, 61–74 for 48.
const GROWN_LOAD: usize = 760;

/// The fingerprints of one bucket: one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Fps([u64; WAYS]);

/// The entries of one bucket, in their own array. A slot's entry means something only while
/// its fingerprint is above [`GONE`]; a free slot holds a stale copy of some entry (no
/// `Option`: an entry costs exactly its size).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Vals<V: Copy>([V; WAYS]);

/// A shard's flow table: fingerprint → entry, capped at `cap` entries.
///
/// Open addressing over buckets of eight slots, probed linearly bucket by bucket from the
/// fingerprint's home bucket (chosen from its low 32 bits, by multiply-shift, so any bucket
/// count works; the high bits pick the shard). The fingerprints of all buckets form one array
/// of cache lines and the entries another: a lookup reads one line of fingerprints (a probe
/// past the home bucket reads the *next* line, which the hardware streams) and, on a hit, the
/// line(s) holding the entry. The fingerprint array is 8 bytes a slot, so at 10⁶ 4-tuples it
/// is ~10 MiB and mostly stays in the last-level cache; a hit then costs one memory access,
/// the entry's. A bucket with a free slot ends the probe. The table grows by 1.21× at 92 %
/// load instead of doubling (see [`GROWN_LOAD`] for the bytes per 4-tuple). Lookups can be
/// pipelined in two stages so that only the lines a hit needs are fetched:
/// [`FlowTable::prefetch_fps`] pulls a key's fingerprint line, and a few keys later
/// [`FlowTable::prefetch_entry`] reads that (now cached) line and pulls the line(s) of the
/// key's entry, or of the slot an insert will fill; [`FlowTable::prefetch`] does both in one
/// step (every entry line of the bucket) for callers that cannot look ahead twice. Large
/// tables ask the kernel for transparent huge pages: the lookups are random, and a TLB miss
/// (a nested page walk in a VM) costs as much as the cache miss itself. Fingerprints 0 and 1
/// mark free and removed slots; the entries of the keys 0 and 1 themselves live in two side
/// slots.
pub struct FlowTable<V: Copy> {
    fps: Vec<Fps>,
    vals: Vec<Vals<V>>,
    /// Entries of the keys 0 and 1.
    special: [Option<V>; 2],
    len: usize,
    gone: usize,
    cap: usize,
    /// What was removed and why.
    pub evictions: Evictions,
}

/// Age buckets for eviction: bucket `i` holds ages in `[2^(i-1), 2^i)` ms.
const AGE_BUCKETS: usize = 33;

#[inline]
fn age_bucket(age_ms: u32) -> usize {
    (32 - age_ms.leading_zeros()) as usize
}

#[inline]
fn home(fp: u64, buckets: usize) -> usize {
    ((u64::from(fp as u32) * buckets as u64) >> 32) as usize
}

impl<V: TableEntry + Copy> FlowTable<V> {
    /// An empty table that will hold at most `cap` entries (minimum 16).
    pub fn new(cap: usize) -> FlowTable<V> {
        FlowTable { fps: Vec::new(), vals: Vec::new(), special: [None; 2], len: 0, gone: 0, cap: cap.max(16), evictions: Evictions::default() }
    }

    /// Number of entries (live flows and tombstones).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cap given at creation.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes the table's storage occupies now.
    pub fn memory_bytes(&self) -> usize {
        self.fps.capacity() * core::mem::size_of::<Fps>() + self.vals.capacity() * core::mem::size_of::<Vals<V>>()
    }

    /// Start loading `fp`'s home bucket into the cache, fingerprints and every entry line (no
    /// effect on the table). Call it a few keys ahead of their lookups so the cache misses
    /// overlap. With two look-aheads, [`FlowTable::prefetch_fps`] then
    /// [`FlowTable::prefetch_entry`] fetch only the lines the lookup needs.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        if self.fps.is_empty() {
            return;
        }
        let b = home(fp, self.fps.len());
        prefetch_line((&self.fps[b] as *const Fps).cast::<u8>());
        let base = (&self.vals[b] as *const Vals<V>).cast::<u8>();
        for i in 0..core::mem::size_of::<Vals<V>>().div_ceil(64) {
            prefetch_line(base.wrapping_add(i * 64));
        }
    }

    /// First stage of a pipelined lookup: start loading the line of `fp`'s home fingerprints.
    #[inline]
    pub fn prefetch_fps(&self, fp: u64) {
        if self.fps.is_empty() {
            return;
        }
        prefetch_line((&self.fps[home(fp, self.fps.len())] as *const Fps).cast::<u8>());
    }

    /// Second stage, a few keys after [`FlowTable::prefetch_fps`] for the same key: read the
    /// home fingerprints and start loading the line(s) of `fp`'s entry on a hit, or of the
    /// slot an insert would fill. When the home bucket is full and holds no match (the key, if
    /// present, lies further on), it starts loading the next bucket's fingerprints instead.
    #[inline]
    pub fn prefetch_entry(&self, fp: u64) {
        let n = self.fps.len();
        if n == 0 {
            return;
        }
        let b = home(fp, n);
        // One pass: the key's slot, else the first free one (where an insert would go).
        let mut slot = WAYS;
        for (j, &f) in self.fps[b].0.iter().enumerate() {
            if f == fp {
                slot = j;
                break;
            }
            if slot == WAYS && f <= GONE {
                slot = j;
            }
        }
        if slot == WAYS {
            prefetch_line((&self.fps[if b + 1 == n { 0 } else { b + 1 }] as *const Fps).cast::<u8>());
            return;
        }
        let p = (&self.vals[b].0[slot] as *const V).cast::<u8>();
        prefetch_line(p);
        let last = p.wrapping_add(core::mem::size_of::<V>().max(1) - 1);
        if (last as usize) / 64 != (p as usize) / 64 {
            prefetch_line(last);
        }
    }

    /// Where `fp` is stored, if it is.
    #[inline(always)]
    fn find(&self, fp: u64) -> Option<(usize, usize)> {
        let n = self.fps.len();
        if n == 0 {
            return None;
        }
        let mut b = home(fp, n);
        for _ in 0..n {
            let fps = &self.fps[b].0;
            let mut free = false;
            for (j, &f) in fps.iter().enumerate() {
                if f == fp {
                    return Some((b, j));
                }
                free |= f == EMPTY;
            }
            if free {
                return None;
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
        None
    }

    /// The entry for `fp`, if any.
    #[inline(always)]
    pub fn get_mut(&mut self, fp: u64) -> Option<&mut V> {
        if fp <= GONE {
            return self.special[fp as usize].as_mut();
        }
        let (b, j) = self.find(fp)?;
        Some(&mut self.vals[b].0[j])
    }

    /// Remove `fp`.
    #[inline]
    pub fn remove(&mut self, fp: u64) -> Option<V> {
        if fp <= GONE {
            let v = self.special[fp as usize].take();
            self.len -= usize::from(v.is_some());
            return v;
        }
        let (b, j) = self.find(fp)?;
        self.fps[b].0[j] = GONE;
        self.len -= 1;
        self.gone += 1;
        Some(self.vals[b].0[j])
    }

    /// Insert a new entry, evicting first if the table is full. `now_ms` is engine time.
    #[inline]
    pub fn insert(&mut self, fp: u64, v: V, now_ms: u32) -> &mut V {
        if fp <= GONE {
            if self.special[fp as usize].is_none() {
                if self.len >= self.cap {
                    self.make_room(now_ms);
                }
                self.len += 1;
            }
            return self.special[fp as usize].insert(v);
        }
        if let Some((b, j)) = self.find(fp) {
            let slot = &mut self.vals[b].0[j];
            *slot = v;
            return slot;
        }
        if self.len >= self.cap {
            self.make_room(now_ms);
        }
        if (self.len + self.gone + 1) * 1000 > self.fps.len() * WAYS * MAX_LOAD {
            self.rebuild(self.len + 1, v);
        }
        let (b, j) = self.free_slot(fp);
        if self.fps[b].0[j] == GONE {
            self.gone -= 1;
        }
        self.fps[b].0[j] = fp;
        self.len += 1;
        let slot = &mut self.vals[b].0[j];
        *slot = v;
        slot
    }

    /// The first free (empty or removed) slot on `fp`'s probe path; there is one (load < 1).
    fn free_slot(&self, fp: u64) -> (usize, usize) {
        let n = self.fps.len();
        let mut b = home(fp, n);
        loop {
            if let Some(j) = self.fps[b].0.iter().position(|&f| f == EMPTY || f == GONE) {
                return (b, j);
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
    }

    /// Re-place every entry into fresh arrays sized for `want` entries at the post-growth
    /// load (drops the removed slots; grows or shrinks). `fill` is any entry, copied into the
    /// free slots.
    fn rebuild(&mut self, want: usize, fill: V) {
        let slots = (want.max(WAYS) * 1000).div_ceil(GROWN_LOAD);
        let n = slots.div_ceil(WAYS).max(2);
        let old_fps = std::mem::replace(&mut self.fps, alloc(n, Fps([EMPTY; WAYS])));
        let old_vals = std::mem::replace(&mut self.vals, alloc(n, Vals([fill; WAYS])));
        self.gone = 0;
        for (fps, vals) in old_fps.iter().zip(&old_vals) {
            for j in 0..WAYS {
                let f = fps.0[j];
                if f > GONE {
                    let (b, k) = self.free_slot(f);
                    self.fps[b].0[k] = f;
                    self.vals[b].0[k] = vals.0[j];
                }
            }
        }
        release(old_fps);
        release(old_vals);
    }

    /// Remove every entry for which `keep` is false; returns how many went.
    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let mut special = 0;
        for s in &mut self.special {
            if s.as_ref().is_some_and(|v| !keep(v)) {
                *s = None;
                special += 1;
            }
        }
        self.len -= special;
        let mut removed = 0;
        for (fps, vals) in self.fps.iter_mut().zip(&self.vals) {
            for j in 0..WAYS {
                if fps.0[j] > GONE && !keep(&vals.0[j]) {
                    fps.0[j] = GONE;
                    removed += 1;
                }
            }
        }
        self.len -= removed;
        self.gone += removed;
        // Removed slots lengthen probes: rebuild (and shrink) once they are a tenth of the slots.
        if self.gone * 10 > self.fps.len() * WAYS {
            // `gone > 0`: there are buckets, and every slot holds some entry to fill with.
            let fill = self.vals[0].0[0];
            self.rebuild(self.len, fill);
        }
        removed + special
    }

    /// Remove tombstones idle for `tombstone_ttl_ms` and live flows idle for `idle_ms`.
    pub fn expire(&mut self, now_ms: u32, tombstone_ttl_ms: u32, idle_ms: u32) {
        let removed = self.retain(|v| {
            let age = now_ms.wrapping_sub(v.last_ms());
            if v.is_tombstone() {
                age < tombstone_ttl_ms
            } else {
                age < idle_ms
            }
        });
        self.evictions.expired += removed as u64;
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        let slots = self.fps.iter().zip(&self.vals).flat_map(|(f, v)| f.0.iter().zip(v.0.iter()));
        self.special.iter().flatten().chain(slots.filter(|(f, _)| **f > GONE).map(|(_, v)| v))
    }

    /// Free an eighth of the cap: oldest tombstones first, then the oldest live flows.
    ///
    /// One pass builds a log₂ age histogram per kind, a second removes everything at or above
    /// the chosen cut-off ages. O(n), but it runs once per `cap/8` insertions at most.
    fn make_room(&mut self, now_ms: u32) {
        let target = (self.cap / 8).max(1);
        let mut tomb = [0usize; AGE_BUCKETS];
        let mut live = [0usize; AGE_BUCKETS];
        for v in self.values() {
            let b = age_bucket(now_ms.wrapping_sub(v.last_ms()));
            if v.is_tombstone() {
                tomb[b] += 1;
            } else {
                live[b] += 1;
            }
        }
        // Choose cut-off buckets: every tombstone at/above tomb_cut goes; live flows only if
        // all tombstones together are not enough.
        let (mut freed, mut tomb_cut, mut live_cut) = (0usize, AGE_BUCKETS, AGE_BUCKETS);
        for b in (0..AGE_BUCKETS).rev() {
            if freed >= target {
                break;
            }
            freed += tomb[b];
            tomb_cut = b;
        }
        for b in (0..AGE_BUCKETS).rev() {
            if freed >= target {
                break;
            }
            freed += live[b];
            live_cut = b;
        }
        let (mut t, mut l) = (0u64, 0u64);
        self.retain(|v| {
            let b = age_bucket(now_ms.wrapping_sub(v.last_ms()));
            if v.is_tombstone() && b >= tomb_cut {
                t += 1;
                false
            } else if !v.is_tombstone() && b >= live_cut {
                l += 1;
                false
            } else {
                true
            }
        });
        self.evictions.tombstones += t;
        self.evictions.live += l;
    }
}

/// `n` copies of `fill`. Above 4 MiB the allocation is advised for transparent huge pages
/// before it is first touched, so the kernel backs it with 2 MiB pages where it can.
fn alloc<T: Copy>(n: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    let bytes = n * core::mem::size_of::<T>();
    if bytes >= 4 << 20 {
        advise_huge(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    v.resize(n, fill);
    v
}

/// Free an old array, first handing its pages back to the kernel when it is 256 KiB or more: glibc
/// serves a freed block below its (self-raising, up to 32 MiB) mmap threshold from the heap
/// and keeps its pages resident, so without this every earlier growth step of the table
/// would stay in RSS (docs/ARCHITECTURE.md, "Flow key and memory").
fn release<T: Copy>(mut v: Vec<T>) {
    let bytes = v.capacity() * core::mem::size_of::<T>();
    if bytes >= 256 << 10 {
        advise_free(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    drop(v);
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_free(ptr: *mut u8, bytes: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).div_ceil(PAGE) * PAGE;
    let end = (ptr as usize + bytes) / PAGE * PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside the allocation of `bytes` bytes at `ptr` (rounded
        // inwards to page boundaries, so the allocator's headers around it are untouched),
        // which this process owns and frees right after without reading it: `release` takes
        // the Vec by value and its elements are `Copy` (no drop code reads them). On private
        // anonymous memory MADV_DONTNEED only discards the contents (a later touch, e.g. by
        // the allocator reusing the block, gets zero pages); an error is harmless and ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_free(_ptr: *mut u8, _bytes: usize) {}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_huge(ptr: *mut u8, bytes: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).div_ceil(PAGE) * PAGE;
    let end = (ptr as usize + bytes) / PAGE * PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside the allocation just made for `bytes` bytes at
        // `ptr` (rounded inwards to page boundaries), which this process owns. MADV_HUGEPAGE is
        // advisory: it changes neither the contents nor the validity of the memory, only how
        // the kernel backs it; an error (e.g. THP disabled) is harmless and ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _bytes: usize) {}

#[inline(always)]
#[allow(unsafe_code, unused_unsafe)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and has no visible effect, whatever the
    // address (here always inside the bucket array).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod test {
    use super::*;

    #[derive(Clone, Copy)]
    struct E {
        last: u32,
        tomb: bool,
    }
    impl TableEntry for E {
        fn last_ms(&self) -> u32 {
            self.last
        }
        fn is_tombstone(&self) -> bool {
            self.tomb
        }
    }

    #[test]
    fn cap_evicts_old_tombstones_before_live_flows() {
        let mut t = FlowTable::new(64);
        // Ages are compared at power-of-two granularity: 100 ms old vs 10 ms old.
        for i in 0..32u64 {
            t.insert(i, E { last: if i < 16 { 0 } else { 90 }, tomb: true }, 100);
        }
        for i in 32..64u64 {
            t.insert(i, E { last: 0, tomb: false }, 100);
        }
        assert_eq!(t.len(), 64);
        t.insert(1000, E { last: 100, tomb: false }, 100);
        assert!(t.len() <= 64);
        assert_eq!(t.evictions.live, 0, "live flows must survive while tombstones remain");
        assert!(t.evictions.tombstones >= 8);
        // The oldest tombstones went first.
        assert!(t.get_mut(0).is_none());
        assert!(t.get_mut(31).is_some());
        assert!(t.get_mut(1000).is_some());
    }

    #[test]
    fn cap_holds_under_a_flood_of_live_flows() {
        let mut t = FlowTable::new(1000);
        for i in 0..100_000u64 {
            t.insert(i, E { last: (i / 10) as u32, tomb: false }, (i / 10) as u32);
            assert!(t.len() <= 1000);
        }
        assert!(t.evictions.live >= 99_000);
        assert!(t.get_mut(99_999).is_some(), "the newest flow is kept");
    }

    /// Same answers as a `HashMap` through inserts, removals, expiry and rebuilds.
    #[test]
    fn behaves_like_a_map() {
        let mut t: FlowTable<E> = FlowTable::new(1 << 20);
        let mut m = std::collections::HashMap::new();
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..200_000u32 {
            // Small key space so that hits, overwrites and removals are frequent; 0 and 1 too.
            let k = rnd() % 5000;
            match rnd() % 10 {
                0..=5 => {
                    let e = E { last: step, tomb: k % 3 == 0 };
                    t.insert(k, e, step);
                    m.insert(k, e);
                }
                6 => assert_eq!(t.remove(k).map(|e| e.last), m.remove(&k).map(|e| e.last)),
                _ => assert_eq!(t.get_mut(k).map(|e| e.last), m.get(&k).map(|e| e.last)),
            }
            if step % 50_000 == 49_999 {
                t.expire(step, 20_000, 1_000_000);
                m.retain(|_, e| !e.tomb || step.wrapping_sub(e.last) < 20_000);
            }
            assert_eq!(t.len(), m.len());
        }
        for (k, e) in &m {
            assert_eq!(t.get_mut(*k).map(|v| v.last), Some(e.last));
        }
    }

    /// Fill a table with `n` entries of `V`, checking the bytes per entry along the way.
    fn max_bytes_per_entry<V: TableEntry + Copy>(v: V, n: u64) -> f64 {
        let mut t = FlowTable::new(usize::MAX);
        let mut worst = 0f64;
        for i in 0..n {
            t.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), v, 0);
            if i >= 1000 && i % 997 == 0 {
                worst = worst.max(t.memory_bytes() as f64 / t.len() as f64);
            }
        }
        for i in 0..n {
            assert!(t.get_mut(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).is_some());
        }
        worst
    }

    /// A slot is its entry plus 8 bytes and the load stays at or above 76 %: a 32-byte entry
    /// costs at most 54 bytes of table at any size, a 40-byte one 64, a 48-byte one 74.
    #[test]
    fn bytes_per_entry_follow_the_load_band() {
        #[derive(Clone, Copy)]
        struct F<const W: usize> {
            last: u32,
            _pad: [u32; W],
            tomb: bool,
        }
        impl<const W: usize> TableEntry for F<W> {
            fn last_ms(&self) -> u32 {
                self.last
            }
            fn is_tombstone(&self) -> bool {
                self.tomb
            }
        }
        assert_eq!(core::mem::size_of::<F<6>>(), 32);
        assert_eq!(core::mem::size_of::<F<8>>(), 40);
        assert_eq!(core::mem::size_of::<F<10>>(), 48);
        let w32 = max_bytes_per_entry(F::<6> { last: 0, _pad: [0; 6], tomb: false }, 300_000);
        assert!(w32 <= 54.0, "{w32} bytes per 32-byte entry");
        let w40 = max_bytes_per_entry(F::<8> { last: 0, _pad: [0; 8], tomb: false }, 300_000);
        assert!(w40 <= 64.0, "{w40} bytes per 40-byte entry");
        let w48 = max_bytes_per_entry(F::<10> { last: 0, _pad: [0; 10], tomb: false }, 300_000);
        assert!(w48 <= 74.0, "{w48} bytes per 48-byte entry");
    }

    /// Prefetching never changes what the table holds (every stage, hits, misses, empty table).
    #[test]
    fn prefetch_is_harmless() {
        let mut t: FlowTable<E> = FlowTable::new(1000);
        t.prefetch(5);
        t.prefetch_fps(5);
        t.prefetch_entry(5);
        for k in 2..500u64 {
            t.prefetch(k);
            t.prefetch_fps(k);
            t.prefetch_entry(k);
            t.insert(k, E { last: k as u32, tomb: false }, 0);
        }
        for k in 2..600u64 {
            t.prefetch(k);
            t.prefetch_fps(k);
            t.prefetch_entry(k);
            assert_eq!(t.get_mut(k).map(|e| e.last), (k < 500).then_some(k as u32));
        }
    }

    #[test]
    fn expire_by_age() {
        let mut t = FlowTable::new(100);
        t.insert(1, E { last: 0, tomb: true }, 0);
        t.insert(2, E { last: 0, tomb: false }, 0);
        t.insert(3, E { last: 900, tomb: true }, 900);
        t.expire(1000, 500, 5000);
        assert!(t.get_mut(1).is_none());
        assert!(t.get_mut(2).is_some());
        assert!(t.get_mut(3).is_some());
        assert_eq!(t.evictions.expired, 1);
    }
}
