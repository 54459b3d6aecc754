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
const MAX_LOAD: usize = 900;
/// After growing, the load is this share (per mille): the table stays between 64 % and 90 %
/// full, i.e. 44 to 63 bytes per entry for 32-byte entries.
const GROWN_LOAD: usize = 640;

/// One bucket: eight fingerprints in one cache line, then their entries.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket<V: Copy> {
    fps: [u64; WAYS],
    vals: [Option<V>; WAYS],
}

/// A shard's flow table: fingerprint → entry, capped at `cap` entries.
///
/// Open addressing over buckets of eight slots, probed linearly bucket by bucket from the
/// fingerprint's home bucket (chosen from its low 32 bits, by multiply-shift, so any bucket
/// count works; the high bits pick the shard). A lookup reads one line of fingerprints and,
/// on a hit, the line holding the entry; a bucket with a free slot ends the probe. The table
/// grows by ~1.4× at 90 % load instead of doubling, so a tracked 4-tuple costs 44–63 bytes
/// (entry, fingerprint, free share), and [`FlowTable::prefetch`] can pull a key's bucket into
/// the cache ahead of its lookup. Large tables ask the kernel for transparent huge pages: the
/// lookups are random, and a TLB miss (a nested page walk in a VM) costs as much as the cache
/// miss itself. Fingerprints 0 and 1 mark free and removed slots; the entries of the keys 0
/// and 1 themselves live in two side slots.
pub struct FlowTable<V: Copy> {
    buckets: Vec<Bucket<V>>,
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
        FlowTable { buckets: Vec::new(), special: [None; 2], len: 0, gone: 0, cap: cap.max(16), evictions: Evictions::default() }
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
        self.buckets.capacity() * core::mem::size_of::<Bucket<V>>()
    }

    /// Start loading `fp`'s home bucket into the cache (no effect on the table). Call it a few
    /// keys ahead of their lookups so the cache misses overlap.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        if self.buckets.is_empty() {
            return;
        }
        let b = &self.buckets[home(fp, self.buckets.len())];
        let base = (b as *const Bucket<V>).cast::<u8>();
        let lines = core::mem::size_of::<Bucket<V>>().div_ceil(64);
        for i in 0..lines {
            prefetch_line(base.wrapping_add(i * 64));
        }
    }

    /// Where `fp` is stored, if it is.
    #[inline]
    fn find(&self, fp: u64) -> Option<(usize, usize)> {
        let n = self.buckets.len();
        if n == 0 {
            return None;
        }
        let mut b = home(fp, n);
        for _ in 0..n {
            let fps = &self.buckets[b].fps;
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
    #[inline]
    pub fn get_mut(&mut self, fp: u64) -> Option<&mut V> {
        if fp <= GONE {
            return self.special[fp as usize].as_mut();
        }
        let (b, j) = self.find(fp)?;
        self.buckets[b].vals[j].as_mut()
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
        let bk = &mut self.buckets[b];
        bk.fps[j] = GONE;
        self.len -= 1;
        self.gone += 1;
        bk.vals[j].take()
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
            let slot = &mut self.buckets[b].vals[j];
            *slot = Some(v);
            return slot.as_mut().expect("just stored");
        }
        if self.len >= self.cap {
            self.make_room(now_ms);
        }
        if (self.len + self.gone + 1) * 1000 > self.buckets.len() * WAYS * MAX_LOAD {
            self.rebuild(self.len + 1);
        }
        let (b, j) = self.free_slot(fp);
        let bk = &mut self.buckets[b];
        if bk.fps[j] == GONE {
            self.gone -= 1;
        }
        bk.fps[j] = fp;
        self.len += 1;
        bk.vals[j] = Some(v);
        bk.vals[j].as_mut().expect("just stored")
    }

    /// The first free (empty or removed) slot on `fp`'s probe path; there is one (load < 1).
    fn free_slot(&self, fp: u64) -> (usize, usize) {
        let n = self.buckets.len();
        let mut b = home(fp, n);
        loop {
            if let Some(j) = self.buckets[b].fps.iter().position(|&f| f == EMPTY || f == GONE) {
                return (b, j);
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
    }

    /// Re-place every entry into a fresh array sized for `want` entries at the post-growth
    /// load (drops the removed slots; grows or shrinks).
    fn rebuild(&mut self, want: usize) {
        let slots = (want.max(WAYS) * 1000).div_ceil(GROWN_LOAD);
        let n = slots.div_ceil(WAYS).max(2);
        let old = std::mem::replace(&mut self.buckets, alloc_buckets(n));
        self.gone = 0;
        for bk in &old {
            for j in 0..WAYS {
                let f = bk.fps[j];
                if f > GONE {
                    if let Some(v) = bk.vals[j] {
                        let (b, k) = self.free_slot(f);
                        self.buckets[b].fps[k] = f;
                        self.buckets[b].vals[k] = Some(v);
                    }
                }
            }
        }
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
        for bk in &mut self.buckets {
            for j in 0..WAYS {
                if bk.fps[j] > GONE {
                    if let Some(v) = &bk.vals[j] {
                        if !keep(v) {
                            bk.fps[j] = GONE;
                            bk.vals[j] = None;
                            removed += 1;
                        }
                    }
                }
            }
        }
        self.len -= removed;
        self.gone += removed;
        // Removed slots lengthen probes: rebuild (and shrink) once they are a tenth of the slots.
        if self.gone * 10 > self.buckets.len() * WAYS {
            self.rebuild(self.len);
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
        self.special.iter().flatten().chain(self.buckets.iter().flat_map(|b| b.fps.iter().zip(b.vals.iter())).filter(|(f, _)| **f > GONE).filter_map(|(_, v)| v.as_ref()))
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

/// `n` empty buckets. Above 4 MiB the allocation is advised for transparent huge pages
/// before it is first touched, so the kernel backs it with 2 MiB pages where it can.
fn alloc_buckets<V: Copy>(n: usize) -> Vec<Bucket<V>> {
    let empty = Bucket { fps: [EMPTY; WAYS], vals: [None; WAYS] };
    let mut v: Vec<Bucket<V>> = Vec::with_capacity(n);
    let bytes = n * core::mem::size_of::<Bucket<V>>();
    if bytes >= 4 << 20 {
        advise_huge(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    v.resize(n, empty);
    v
}

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

    /// A 32-byte entry (a flow) costs at most 64 bytes of table at any size.
    #[test]
    fn at_most_64_bytes_per_flow_sized_entry() {
        #[derive(Clone, Copy)]
        struct F32 {
            last: u32,
            _pad: [u32; 6],
            tomb: bool,
        }
        impl TableEntry for F32 {
            fn last_ms(&self) -> u32 {
                self.last
            }
            fn is_tombstone(&self) -> bool {
                self.tomb
            }
        }
        assert_eq!(core::mem::size_of::<Option<F32>>(), 32);
        let mut t = FlowTable::new(usize::MAX);
        for i in 0..300_000u64 {
            t.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), F32 { last: 0, _pad: [0; 6], tomb: false }, 0);
            if i >= 1000 && i % 997 == 0 {
                let per = t.memory_bytes() as f64 / t.len() as f64;
                assert!(per <= 64.0, "{per} bytes per entry at {}", t.len());
            }
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
