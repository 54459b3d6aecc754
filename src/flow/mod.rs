//! Flow tables: canonical 4-tuple keys and the table one shard owns.
//!
//! A flow is keyed by its canonical 4-tuple: the two `(address, port)` endpoints in a fixed
//! order (the smaller first), plus its VLAN tags and, for a segment that came in a tunnel, the
//! tunnel's identity (type, id, and the outer endpoints in canonical order), so both directions
//! of a connection find the same entry and two mirror sessions carrying the same inner 4-tuple
//! stay apart. The table does not store the 40-byte IPv6 4-tuple; it stores a keyed 64-bit
//! fingerprint of it ([`FlowKey::fp`]). The events carry the real addresses from the segment
//! that triggered them. Two different 4-tuples merge only if their fingerprints collide: with
//! 1 M tracked flows that chance is about n²/2⁶⁵ ≈ 3·10⁻⁸ per table, and the per-process random
//! seed keeps an outsider from aiming for it. This is what keeps a tracked 4-tuple near 40 bytes
//! of table (see docs/ARCHITECTURE.md).

#![deny(unsafe_code)]

mod table;

pub use table::{Evictions, FlowTable, TableEntry};

use crate::packet::Segment;

/// Which endpoint of the canonical pair sent a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The smaller `(address, port)` endpoint.
    Lo = 0,
    /// The larger endpoint.
    Hi = 1,
}

impl Side {
    /// The other endpoint.
    #[inline]
    pub const fn peer(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }

    /// 0 for `Lo`, 1 for `Hi`.
    #[inline]
    pub const fn idx(self) -> usize {
        self as usize
    }
}

/// A segment's flow: the fingerprint of its canonical 4-tuple and which side sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Keyed 64-bit fingerprint of (lo endpoint, hi endpoint, vlan, svlan, tunnel identity).
    pub fp: u64,
    /// Sender of the segment.
    pub from: Side,
}

/// Seed of the fingerprint; one per process (or fixed, for reproducible benchmarks).
#[derive(Clone, Copy, Debug)]
pub struct KeySeed([u64; 4]);

impl KeySeed {
    /// A seed drawn from the standard library's per-process random keys.
    pub fn random() -> KeySeed {
        use std::hash::{BuildHasher, Hasher};
        let rs = std::collections::hash_map::RandomState::new();
        let mut k = [0u64; 4];
        for (i, v) in k.iter_mut().enumerate() {
            let mut h = rs.build_hasher();
            h.write_usize(i);
            *v = h.finish() | 1;
        }
        KeySeed(k)
    }

    /// A fixed seed (tests and benchmarks).
    pub const fn fixed(v: u64) -> KeySeed {
        KeySeed([v ^ 0x243F_6A88_85A3_08D3, v ^ 0x1319_8A2E_0370_7344, v ^ 0xA409_3822_299F_31D0, v ^ 0x082E_FA98_EC4E_6C89])
    }
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let v = u128::from_be_bytes(*a);
    ((v >> 64) as u64, v as u64)
}

impl FlowKey {
    /// Canonical key of a segment. Symmetric: both directions of a 4-tuple give the same `fp`.
    #[inline]
    pub fn of(seg: &Segment, seed: &KeySeed) -> FlowKey {
        let src = (u128::from_be_bytes(seg.src), seg.sport);
        let dst = (u128::from_be_bytes(seg.dst), seg.dport);
        let (lo, hi, from) = if src <= dst {
            ((&seg.src, seg.sport), (&seg.dst, seg.dport), Side::Lo)
        } else {
            ((&seg.dst, seg.dport), (&seg.src, seg.sport), Side::Hi)
        };
        let (l0, l1) = halves(lo.0);
        let (h0, h1) = halves(hi.0);
        let rest = (u64::from(lo.1) << 48) | (u64::from(hi.1) << 32) | (u64::from(seg.vlan) << 16) | u64::from(seg.svlan);
        let k = &seed.0;
        let a = fold(l0 ^ k[0], l1 ^ k[1]);
        let b = fold(h0 ^ k[2], h1 ^ k[3]);
        // 0 without a tunnel: plain frames keep the fingerprint they always had.
        let tun = match &seg.tunnel {
            None => 0,
            Some(t) => {
                let (x, y) = if t.outer_src <= t.outer_dst { (&t.outer_src, &t.outer_dst) } else { (&t.outer_dst, &t.outer_src) };
                let (x0, x1) = halves(x);
                let (y0, y1) = halves(y);
                // Kind, and the id with a presence bit (id 0 and no id differ).
                let id = ((t.kind as u64 + 1) << 40) | t.id.map_or(0, |v| (1 << 32) | u64::from(v));
                fold(fold(x0 ^ k[1], x1 ^ k[2]) ^ id, fold(y0 ^ k[3], y1 ^ k[0]) ^ k[1].rotate_left(29))
            }
        };
        let fp = fold(a ^ rest, b ^ k[0].rotate_left(17) ^ tun);
        FlowKey { fp, from }
    }

    /// Shard owning this flow among `n` shards. Depends only on the 4-tuple, never on the
    /// direction, so both directions meet in one shard.
    #[inline]
    pub fn shard(&self, n: usize) -> usize {
        // The high half: the table's bucket index uses the low bits.
        (((self.fp >> 32) as u32 as u64 * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::packet::build::{TcpSpec, F};
    use crate::packet::{parse_frame, LinkType, Parsed};

    fn seg(src: &str, dst: &str, vlans: Vec<u16>) -> Segment {
        let mut s = TcpSpec::new(src.parse().unwrap(), dst.parse().unwrap(), 1, 1, F::ACK);
        s.vlans = vlans;
        match parse_frame(LinkType::Ethernet, &s.ethernet(), 0, 1).unwrap() {
            Parsed::Tcp(s) => s,
            _ => unreachable!(),
        }
    }

    #[test]
    fn both_directions_share_a_key_and_a_shard() {
        let seed = KeySeed::fixed(1);
        for (a, b) in [("10.0.0.1:40000", "10.0.0.2:80"), ("[fd00::9]:1", "[fd00::1]:2")] {
            let x = FlowKey::of(&seg(a, b, vec![]), &seed);
            let y = FlowKey::of(&seg(b, a, vec![]), &seed);
            assert_eq!(x.fp, y.fp);
            assert_ne!(x.from, y.from);
            for n in 1..8 {
                assert_eq!(x.shard(n), y.shard(n));
                assert!(x.shard(n) < n);
            }
        }
    }

    #[test]
    fn vlan_and_ports_are_part_of_the_key() {
        let seed = KeySeed::fixed(1);
        let base = FlowKey::of(&seg("10.0.0.1:40000", "10.0.0.2:80", vec![]), &seed).fp;
        assert_ne!(base, FlowKey::of(&seg("10.0.0.1:40000", "10.0.0.2:80", vec![7]), &seed).fp);
        assert_ne!(
            FlowKey::of(&seg("10.0.0.1:40000", "10.0.0.2:80", vec![7]), &seed).fp,
            FlowKey::of(&seg("10.0.0.1:40000", "10.0.0.2:80", vec![1, 7]), &seed).fp
        );
        assert_ne!(base, FlowKey::of(&seg("10.0.0.1:40001", "10.0.0.2:80", vec![]), &seed).fp);
        assert_ne!(base, FlowKey::of(&seg("10.0.0.1:80", "10.0.0.2:40000", vec![]), &seed).fp);
    }

    fn tunnelled(src: &str, dst: &str, w: &crate::packet::build::Wrap) -> Segment {
        let f = TcpSpec::new(src.parse().unwrap(), dst.parse().unwrap(), 1, 1, F::ACK).ethernet();
        match parse_frame(LinkType::Ethernet, &crate::packet::build::wrap(w, &f, 0), 0, 1).unwrap() {
            Parsed::Tcp(s) => s,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_tunnel_is_part_of_the_key_and_its_endpoints_are_canonical() {
        use crate::packet::build::Wrap;
        let seed = KeySeed::fixed(1);
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let key = |s: &str, d: &str, w: &Wrap| FlowKey::of(&tunnelled(s, d, w), &seed);
        let (c, sv) = ("10.0.0.1:40000", "10.0.0.2:80");
        let v1 = Wrap::Vxlan { vni: 1, outer: (a, b) };
        let base = key(c, sv, &v1);
        // The other direction, through the swapped outer endpoints (a VTEP pair): same flow.
        let back = key(sv, c, &Wrap::Vxlan { vni: 1, outer: (b, a) });
        assert_eq!(base.fp, back.fp);
        assert_ne!(base.from, back.from);
        // Another VNI, other outer endpoints, another encapsulation, no tunnel: other flows.
        assert_ne!(base.fp, key(c, sv, &Wrap::Vxlan { vni: 2, outer: (a, b) }).fp);
        assert_ne!(base.fp, key(c, sv, &Wrap::Vxlan { vni: 1, outer: (a, "192.0.2.3".parse().unwrap()) }).fp);
        assert_ne!(base.fp, key(c, sv, &Wrap::Geneve { vni: 1, opts: 0, outer: (a, b) }).fp);
        assert_ne!(base.fp, FlowKey::of(&seg(c, sv, vec![]), &seed).fp);
        // GRE: key 0 and no key differ.
        let g0 = key(c, sv, &Wrap::Gre { csum: false, key: Some(0), seq: None, outer: (a, b) });
        let gn = key(c, sv, &Wrap::Gre { csum: false, key: None, seq: None, outer: (a, b) });
        assert_ne!(g0.fp, gn.fp);
    }
}
