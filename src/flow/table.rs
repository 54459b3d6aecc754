//! The flow table one shard owns: no locks, no sharing.

use core::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashMap;

/// What the table needs to know about an entry to expire and evict it.
pub trait TableEntry {
    /// Engine time (ms) of the entry's last activity; for a closed connection, its close time.
    fn last_ms(&self) -> u32;
    /// True for the tombstone of a closed connection (evicted before live flows).
    fn is_tombstone(&self) -> bool;
}

/// The keys are already well-mixed fingerprints: hash them as they are.
#[derive(Default, Clone, Copy)]
pub struct FpHasher(u64);

impl Hasher for FpHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
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

/// A shard's flow table: fingerprint → entry, capped at `cap` entries.
pub struct FlowTable<V> {
    map: HashMap<u64, V, BuildHasherDefault<FpHasher>>,
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

impl<V: TableEntry> FlowTable<V> {
    /// An empty table that will hold at most `cap` entries (minimum 16).
    pub fn new(cap: usize) -> FlowTable<V> {
        FlowTable { map: HashMap::default(), cap: cap.max(16), evictions: Evictions::default() }
    }

    /// Number of entries (live flows and tombstones).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cap given at creation.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes the table's storage occupies now (buckets × (entry + control byte)).
    pub fn memory_bytes(&self) -> usize {
        let buckets = if self.map.capacity() == 0 { 0 } else { (self.map.capacity() * 8 / 7).next_power_of_two() };
        buckets * (core::mem::size_of::<(u64, V)>() + 1)
    }

    /// The entry for `fp`, if any.
    #[inline]
    pub fn get_mut(&mut self, fp: u64) -> Option<&mut V> {
        self.map.get_mut(&fp)
    }

    /// Remove `fp`.
    #[inline]
    pub fn remove(&mut self, fp: u64) -> Option<V> {
        self.map.remove(&fp)
    }

    /// Insert a new entry, evicting first if the table is full. `now_ms` is engine time.
    #[inline]
    pub fn insert(&mut self, fp: u64, v: V, now_ms: u32) -> &mut V {
        if self.map.len() >= self.cap && !self.map.contains_key(&fp) {
            self.make_room(now_ms);
        }
        match self.map.entry(fp) {
            hashbrown::hash_map::Entry::Occupied(mut o) => {
                o.insert(v);
                o.into_mut()
            }
            hashbrown::hash_map::Entry::Vacant(e) => e.insert(v),
        }
    }

    /// Remove tombstones idle for `tombstone_ttl_ms` and live flows idle for `idle_ms`.
    pub fn expire(&mut self, now_ms: u32, tombstone_ttl_ms: u32, idle_ms: u32) {
        let before = self.map.len();
        self.map.retain(|_, v| {
            let age = now_ms.wrapping_sub(v.last_ms());
            if v.is_tombstone() {
                age < tombstone_ttl_ms
            } else {
                age < idle_ms
            }
        });
        self.evictions.expired += (before - self.map.len()) as u64;
    }

    /// Free an eighth of the cap: oldest tombstones first, then the oldest live flows.
    ///
    /// One pass builds a log₂ age histogram per kind, a second removes everything at or above
    /// the chosen cut-off ages. O(n), but it runs once per `cap/8` insertions at most.
    fn make_room(&mut self, now_ms: u32) {
        let target = (self.cap / 8).max(1);
        let mut tomb = [0usize; AGE_BUCKETS];
        let mut live = [0usize; AGE_BUCKETS];
        for v in self.map.values() {
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
        self.map.retain(|_, v| {
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
