//! Port pressure: the predictive half of stale ACKs (issue 14).
//!
//! Stale ACKs happen because a client reuses 4-tuples faster than the server forgets them. Per
//! (client IP, server ip:port) this module keeps, from the SYNs the engine sees:
//! - the reuse interval of 4-tuples: from the previous connection's close (both FINs or a RST;
//!   its last segment when it was never seen closing) to the SYN that reuses the 4-tuple, as a
//!   log-linear histogram ([`REUSE_BUCKETS`], four buckets per octave of ms);
//! - reuses inside TIME_WAIT: the previous connection was closed with the server's FIN first
//!   (the server did the active close, RFC 9293 §3.6, so it holds TIME-WAIT), no RST, and the
//!   reuse came less than the TIME_WAIT length ago (`Config::time_wait_ms`, 60 s as Linux's
//!   `TCP_TIMEWAIT_LEN`);
//! - the client ports it cycles through (lowest, highest, how many distinct);
//! - the stale ACKs it got, by cause.
//!
//! A `port_pressure` warning is raised for a pair when, over its recent reuses (a window that
//! halves both counts every [`WINDOW`] reuses), at least `Config::pressure_min_reuses` reuses
//! were seen and the share inside TIME_WAIT reached `Config::pressure_share_pct`. Reuses inside
//! TIME_WAIT are what a stale ACK needs (the kernel accepts most of them: a newer timestamp or
//! a higher ISN, RFC 6191), so the warning normally comes before the first stale ACK. It is
//! raised again only after the share fell below half the threshold.
//!
//! Memory is bounded: at most [`MAX_PAIRS`] pairs per shard (reserved once, on the first SYN,
//! so the hot path never allocates); SYNs of further pairs are summed in one `other` pair.

// hashbrown's default hasher (foldhash, seeded per process) instead of std's SipHash: one
// lookup per SYN on the hot path; the keys come from traffic, so the seed stays random, and the
// map is bounded by MAX_PAIRS whatever the keys (issue 18: SipHash was ~4 % of a worker).
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::event::{Cause, Event, EventKind, CAUSES};

/// Histogram buckets of the reuse interval: four per octave of milliseconds (see [`bucket`]).
pub const REUSE_BUCKETS: usize = 100;
/// Pairs tracked per shard; SYNs of further pairs count in the `other` pair.
pub const MAX_PAIRS: usize = 1024;
/// The warning's window: both counts halve when this many reuses were counted in it.
pub const WINDOW: u32 = 64;
/// Bits of the distinct-port set (port mod this): exact while the span of ports is below it.
const PORT_BITS: usize = 1024;

/// A (client IP, server ip:port) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey {
    /// The client's address.
    pub client: IpAddr,
    /// The server.
    pub server: SocketAddr,
}

/// What one pair's SYNs showed. `Copy`, fixed size.
#[derive(Clone, Copy, Debug)]
pub struct PairStats {
    /// SYNs that opened a connection (new 4-tuples and reuses; retransmissions not counted).
    pub connections: u64,
    /// SYNs reusing a 4-tuple with a tracked previous connection.
    pub reuses: u64,
    /// Of them, inside the server's TIME_WAIT (see the module's definition).
    pub in_time_wait: u64,
    /// Reuse intervals, see [`bucket`].
    pub interval: [u32; REUSE_BUCKETS],
    /// Sum of the reuse intervals, ms.
    pub interval_sum_ms: u64,
    /// stale_ack events by cause ([`Cause::ALL`] order).
    pub stale: [u64; CAUSES],
    /// Engine time of the first and the latest SYN, ns.
    pub first_ns: u64,
    /// See `first_ns`.
    pub last_ns: u64,
    /// Lowest and highest client port seen.
    pub port_min: u16,
    /// See `port_min`.
    pub port_max: u16,
    ports: [u64; PORT_BITS / 64],
    win_reuses: u32,
    win_tw: u32,
    warned: bool,
    /// port_pressure warnings raised.
    pub warnings: u32,
}

impl Default for PairStats {
    fn default() -> PairStats {
        PairStats {
            connections: 0,
            reuses: 0,
            in_time_wait: 0,
            interval: [0; REUSE_BUCKETS],
            interval_sum_ms: 0,
            stale: [0; CAUSES],
            first_ns: u64::MAX,
            last_ns: 0,
            port_min: u16::MAX,
            port_max: 0,
            ports: [0; PORT_BITS / 64],
            win_reuses: 0,
            win_tw: 0,
            warned: false,
            warnings: 0,
        }
    }
}

/// Histogram bucket of `ms`: 0..4 exact, then four buckets per octave (log-linear, a bucket
/// is at most 25 % wide); the last bucket takes everything from about 9 h on.
pub fn bucket(ms: u32) -> usize {
    if ms < 4 {
        return ms as usize;
    }
    let o = 31 - ms.leading_zeros(); // 2..=31
    let sub = (ms >> (o - 2)) & 3;
    ((o as usize - 1) * 4 + sub as usize).min(REUSE_BUCKETS - 1)
}

/// The lowest value of bucket `i` (its lower bound), ms.
pub fn bucket_low(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let o = i / 4 + 1;
    let sub = (i % 4) as u64;
    (4 + sub) << (o - 2)
}

impl PairStats {
    /// Share of reuses inside TIME_WAIT, 0..=1 (0 without reuses).
    pub fn share_in_time_wait(&self) -> f64 {
        if self.reuses == 0 {
            0.0
        } else {
            self.in_time_wait as f64 / self.reuses as f64
        }
    }

    /// Median reuse interval, ms: the middle of the bucket that holds the median (within
    /// 12.5 % of the true value); `None` without reuses.
    pub fn median_interval_ms(&self) -> Option<u64> {
        let n: u64 = self.interval.iter().map(|&c| u64::from(c)).sum();
        if n == 0 {
            return None;
        }
        let mut seen = 0u64;
        for (i, &c) in self.interval.iter().enumerate() {
            seen += u64::from(c);
            if seen * 2 >= n {
                let (lo, hi) = (bucket_low(i), if i + 1 < REUSE_BUCKETS { bucket_low(i + 1) } else { bucket_low(i) * 2 });
                return Some(if hi - lo <= 1 { lo } else { (lo + hi) / 2 });
            }
        }
        None
    }

    /// Distinct client ports seen: exact while `port_max - port_min` is below 1024, else an
    /// estimate (linear counting over the 1024-bit set, which saturates at a few thousand).
    pub fn ports_seen(&self) -> u32 {
        if self.port_min > self.port_max {
            return 0;
        }
        let set: u32 = self.ports.iter().map(|w| w.count_ones()).sum();
        if usize::from(self.port_max - self.port_min) < PORT_BITS {
            return set;
        }
        let zero = (PORT_BITS as u32 - set).max(1) as f64;
        (-(PORT_BITS as f64) * (zero / PORT_BITS as f64).ln()).round() as u32
    }

    /// Add `o` into `self` (the warning state is not merged).
    pub fn add(&mut self, o: &PairStats) {
        self.connections += o.connections;
        self.reuses += o.reuses;
        self.in_time_wait += o.in_time_wait;
        for (a, b) in self.interval.iter_mut().zip(o.interval) {
            *a = a.saturating_add(b);
        }
        self.interval_sum_ms += o.interval_sum_ms;
        for (a, b) in self.stale.iter_mut().zip(o.stale) {
            *a += b;
        }
        self.first_ns = self.first_ns.min(o.first_ns);
        self.last_ns = self.last_ns.max(o.last_ns);
        self.port_min = self.port_min.min(o.port_min);
        self.port_max = self.port_max.max(o.port_max);
        for (a, b) in self.ports.iter_mut().zip(o.ports) {
            *a |= b;
        }
        self.warnings += o.warnings;
    }

    /// Stale ACKs of all causes.
    pub fn stale_acks(&self) -> u64 {
        self.stale.iter().sum()
    }
}

/// What a `port_pressure` event carries (its pair's window at the warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PressureInfo {
    /// Reuses in the window.
    pub reuses: u32,
    /// Of them, inside TIME_WAIT.
    pub in_time_wait: u32,
    /// Median reuse interval of the pair so far, ms.
    pub median_reuse_ms: u64,
    /// The TIME_WAIT length it is compared with, ms.
    pub time_wait_ms: u32,
    /// Distinct client ports seen, lowest and highest.
    pub ports_seen: u32,
    /// See `ports_seen`.
    pub port_min: u16,
    /// See `ports_seen`.
    pub port_max: u16,
    /// Stale ACKs the pair got so far (0 when the warning came first).
    pub stale_acks: u64,
}

/// The per-shard port-pressure tracker.
#[derive(Debug, Default)]
pub struct Pressure {
    pairs: HashMap<PairKey, PairStats>,
    other: PairStats,
}

/// One reuse as the engine saw it.
#[derive(Clone, Copy, Debug)]
pub struct Reuse {
    /// From the previous connection's close (or last segment) to this SYN, ms.
    pub interval_ms: u32,
    /// Inside the server's TIME_WAIT.
    pub in_time_wait: bool,
}

/// The `other` pair's key in views (0.0.0.0 → 0.0.0.0:0).
pub const OTHER: PairKey = PairKey { client: IpAddr::V4(Ipv4Addr::UNSPECIFIED), server: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0) };

impl Pressure {
    /// Settings come with each call (the shard's `Config`).
    fn entry(&mut self, key: PairKey) -> &mut PairStats {
        if self.pairs.capacity() == 0 {
            // Once per shard, on its first SYN: never again on the hot path (len ≤ capacity).
            self.pairs.reserve(MAX_PAIRS);
        }
        // One hash per SYN: the pair's entry, or a new one while there is room.
        let room = self.pairs.len() < MAX_PAIRS;
        match self.pairs.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) if room => v.insert(PairStats::default()),
            Entry::Vacant(_) => &mut self.other,
        }
    }

    /// A SYN opening a connection from `client` to `server` at `now_ns`: `reuse` when it
    /// reuses a tracked 4-tuple. Returns the `port_pressure` warning when this SYN makes the
    /// pair cross the threshold.
    pub fn syn(&mut self, client: SocketAddr, server: SocketAddr, reuse: Option<Reuse>, now_ns: u64, cfg: &super::Config) -> Option<PressureInfo> {
        let p = self.entry(PairKey { client: client.ip(), server });
        p.connections += 1;
        p.first_ns = p.first_ns.min(now_ns);
        p.last_ns = p.last_ns.max(now_ns);
        let port = client.port();
        p.port_min = p.port_min.min(port);
        p.port_max = p.port_max.max(port);
        let b = usize::from(port) % PORT_BITS;
        p.ports[b / 64] |= 1 << (b % 64);
        let r = reuse?;
        p.reuses += 1;
        p.interval[bucket(r.interval_ms)] = p.interval[bucket(r.interval_ms)].saturating_add(1);
        p.interval_sum_ms += u64::from(r.interval_ms);
        p.win_reuses += 1;
        if r.in_time_wait {
            p.in_time_wait += 1;
            p.win_tw += 1;
        }
        if p.win_reuses >= WINDOW {
            p.win_reuses /= 2;
            p.win_tw /= 2;
        }
        let share = u64::from(cfg.pressure_share_pct);
        let (n, tw) = (u64::from(p.win_reuses), u64::from(p.win_tw));
        if p.warned {
            if tw * 100 * 2 < share * n {
                p.warned = false;
            }
            return None;
        }
        if n < u64::from(cfg.pressure_min_reuses.max(1)) || tw * 100 < share * n || share == 0 {
            return None;
        }
        p.warned = true;
        p.warnings += 1;
        Some(PressureInfo {
            reuses: p.win_reuses,
            in_time_wait: p.win_tw,
            median_reuse_ms: p.median_interval_ms().unwrap_or(0),
            time_wait_ms: cfg.time_wait_ms,
            ports_seen: p.ports_seen(),
            port_min: p.port_min,
            port_max: p.port_max,
            stale_acks: p.stale_acks(),
        })
    }

    /// A stale_ack event (counted by cause for its pair).
    pub fn stale(&mut self, ev: &Event) {
        if ev.kind != EventKind::StaleAck {
            return;
        }
        let c = ev.cause.unwrap_or(Cause::Unknown);
        let p = self.entry(PairKey { client: ev.client.ip(), server: ev.server });
        p.stale[c as usize] += 1;
        p.first_ns = p.first_ns.min(ev.ts_ns);
        p.last_ns = p.last_ns.max(ev.ts_ns);
    }

    /// The pairs, and [`OTHER`] with what did not fit (when anything).
    pub fn pairs(&self) -> impl Iterator<Item = (PairKey, PairStats)> + '_ {
        let other = (self.other.connections > 0 || self.other.stale_acks() > 0).then_some((OTHER, self.other));
        self.pairs.iter().map(|(k, v)| (*k, *v)).chain(other)
    }
}

/// One server's view, summed over its clients (pairs), for the summaries and the metrics.
#[derive(Clone, Debug, Default)]
pub struct ServerPressure {
    /// The server (`0.0.0.0:0` for the pairs beyond the limit).
    pub server: Option<SocketAddr>,
    /// Its pairs summed.
    pub total: PairStats,
    /// Its pairs, busiest first.
    pub clients: Vec<(IpAddr, PairStats)>,
}

impl ServerPressure {
    /// Sort key: reuses inside TIME_WAIT and stale ACKs first, then connections.
    fn rank(&self) -> (u64, u64) {
        (self.total.in_time_wait + self.total.stale_acks(), self.total.connections)
    }

    /// Stale ACKs per minute of `cause` over the span the server was seen (at least a minute).
    pub fn stale_per_minute(&self, cause: Cause) -> f64 {
        let span_ns = self.total.last_ns.saturating_sub(self.total.first_ns).max(60_000_000_000);
        self.total.stale[cause as usize] as f64 * 60e9 / span_ns as f64
    }
}

/// The per-server view of pairs from any number of shards: servers ranked (reuses inside
/// TIME_WAIT plus stale ACKs, then connections), busiest first.
pub fn by_server(pairs: impl IntoIterator<Item = (PairKey, PairStats)>) -> Vec<ServerPressure> {
    let mut merged: HashMap<PairKey, PairStats> = HashMap::new();
    for (k, v) in pairs {
        merged.entry(k).or_default().add(&v);
    }
    let mut servers: HashMap<SocketAddr, ServerPressure> = HashMap::new();
    for (k, v) in merged {
        let s = servers.entry(k.server).or_insert_with(|| ServerPressure { server: (k != OTHER).then_some(k.server), ..Default::default() });
        s.total.add(&v);
        s.clients.push((k.client, v));
    }
    let mut list: Vec<ServerPressure> = servers.into_values().collect();
    for s in &mut list {
        s.clients.sort_by(|a, b| (b.1.in_time_wait, b.1.connections).cmp(&(a.1.in_time_wait, a.1.connections)).then(a.0.cmp(&b.0)));
    }
    list.sort_by(|a, b| b.rank().cmp(&a.rank()).then(a.server.cmp(&b.server)));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log_linear_and_monotonic() {
        let mut last = 0;
        for ms in [0u32, 1, 2, 3, 4, 5, 7, 8, 15, 16, 100, 1000, 59_999, 60_000, 1 << 24, u32::MAX] {
            let b = bucket(ms);
            assert!(b >= last, "{ms}");
            assert!(bucket_low(b) <= u64::from(ms), "{ms} in {b} low {}", bucket_low(b));
            if b + 1 < REUSE_BUCKETS {
                assert!(u64::from(ms) < bucket_low(b + 1), "{ms} {b}");
            }
            last = b;
        }
    }

    fn cfg() -> crate::detect::Config {
        crate::detect::Config { pressure_min_reuses: 4, pressure_share_pct: 50, ..Default::default() }
    }

    #[test]
    fn warns_once_when_share_crosses_and_rearms_below_half() {
        let mut p = Pressure::default();
        let srv: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c = |port| SocketAddr::new("10.0.0.1".parse().unwrap(), port);
        let cfg = cfg();
        for port in 40000..40004 {
            assert!(p.syn(c(port), srv, None, 1, &cfg).is_none());
        }
        let tw = Reuse { interval_ms: 300, in_time_wait: true };
        let mut warned = vec![];
        for i in 0..20u16 {
            if let Some(w) = p.syn(c(40000 + i % 4), srv, Some(tw), 2 + u64::from(i), &cfg) {
                warned.push((i, w));
            }
        }
        assert_eq!(warned.len(), 1, "{warned:?}");
        let (i, w) = warned[0];
        assert_eq!(i, 3, "the 4th reuse inside TIME_WAIT crosses");
        assert_eq!((w.reuses, w.in_time_wait, w.ports_seen, w.port_min, w.port_max), (4, 4, 4, 40000, 40003));
        assert!((262..=337).contains(&w.median_reuse_ms), "{w:?}");
        // Reuses outside TIME_WAIT bring the share below 25 %: re-armed, then warns again.
        let out = Reuse { interval_ms: 70_000, in_time_wait: false };
        for _ in 0..80 {
            assert!(p.syn(c(40001), srv, Some(out), 100, &cfg).is_none());
        }
        let again = (0..80).filter_map(|_| p.syn(c(40001), srv, Some(tw), 200, &cfg)).count();
        assert_eq!(again, 1);
        let v = by_server(p.pairs());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].total.reuses, 180);
        assert_eq!(v[0].total.in_time_wait, 100);
        assert_eq!(v[0].total.warnings, 2);
    }

    #[test]
    fn pairs_beyond_the_limit_go_to_other_and_memory_stays_reserved() {
        let mut p = Pressure::default();
        let cfg = cfg();
        for i in 0..(MAX_PAIRS as u32 + 10) {
            let srv = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 80);
            p.syn("10.9.0.1:40000".parse().unwrap(), srv, None, 1, &cfg);
        }
        let cap = p.pairs.capacity();
        assert!(cap >= MAX_PAIRS);
        assert_eq!(p.pairs.len(), MAX_PAIRS);
        assert_eq!(p.other.connections, 10);
        assert_eq!(p.pairs().count(), MAX_PAIRS + 1);
        assert_eq!(p.pairs.capacity(), cap);
    }

    #[test]
    fn ports_seen_exact_in_a_narrow_range() {
        let mut s = PairStats::default();
        for port in [40000u16, 40001, 40015, 40001] {
            let b = usize::from(port) % PORT_BITS;
            s.ports[b / 64] |= 1 << (b % 64);
            s.port_min = s.port_min.min(port);
            s.port_max = s.port_max.max(port);
        }
        assert_eq!(s.ports_seen(), 3);
    }
}
