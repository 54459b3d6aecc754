/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — the handshake/teardown table of the XDP steering program and
 * of host mode's tc program: a set-associative BPF array (it replaced an LRU
 * hash: the first SYN of a 4-tuple paid ~600 ns for the LRU insert — node
 * pop, jhash, copy, LRU lists, issue 18 — and LRU evictions could not be
 * counted, issue 17). The decisions are flowtrack.h's (its header comment is
 * the table of them). Each including program declares its own map of
 * struct ackscope_bucket values and passes its own eviction counter.
 *
 * Layout: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE: page-aligned values, so each
 * bucket is one 64-byte cache line) of 2^n buckets of ACKSCOPE_WAYS 8-byte
 * ways. A 4-tuple's 64-bit keyed fingerprint (flowtrack.h's, or the cheaper
 * one below for plain IPv4) picks the bucket by its low bits
 * (`& ackscope_bucket_mask`) and is stored as a 40-bit tag from its high
 * bits (bit 63 forced to 1, so an empty way, 0, never matches). One way:
 *
 *   63..24 tag   23..5 stamp (19 bits, units of 2^26 ns = 67.1 ms, wraps
 *   after 9.8 h; compared as a signed 19-bit difference)   4 client_hi
 *   3..2 fin_mask   1..0 phase (enum ackscope_flow_phase, never 0)
 *
 * A lookup reads the bucket's line and compares 8 tags: no hash-table
 * walk, no lock. Two 4-tuples share a way only if bucket and tag agree
 * (40 + n bits; with 8192 buckets a given bare ACK matches a foreign entry
 * with probability <= 8 / 2^40): as before, a collision can only steer a
 * bare ACK user space did not need or end another entry early.
 *
 * Replacement: a new entry takes the bucket's first empty way, else the
 * way with the oldest stamp (ties, common within one 67 ms stamp under a
 * flood, broken by a scan start taken from the key: random replacement). Overwriting a way whose entry was still fresh
 * (younger than the flow age) is an eviction, counted exactly in the
 * caller's counter (`flows_evicted` of struct ackscope_counters or of
 * struct ackscope_tc_counters); an aged-out entry overwritten
 * is not (it was already treated as absent).
 *
 * Concurrency (the array is shared by every CPU, and by the programs of
 * several mirror ports: the SYN may be seen on one queue and the SYN-ACK or
 * the server's stale ACK on another). Every write is one 8-byte
 * compare-and-swap of a way against the value read from it, so an update
 * never lands on a way another CPU changed meanwhile:
 *  - two inserts of different 4-tuples into the same bucket never overwrite
 *    each other: the loser's CAS fails and it rescans (up to
 *    ACKSCOPE_PUT_TRIES times; a put that loses every time is counted as an
 *    eviction of the new entry — with two CPUs it needs two other writes to
 *    that one bucket within the few ns of its scan);
 *  - the SYN on one CPU and the SYN-ACK of the same 4-tuple on another: the
 *    second CAS fails, the rescan finds the first's entry and updates it in
 *    place (it stays one entry, in the later phase, as the LRU's last write);
 *  - two CPUs that scanned different snapshots may put the same new
 *    4-tuple into two ways: lookups then use the first; the duplicate is
 *    found after the first is deleted (a bare ACK steered that user space
 *    did not need) or is replaced as the oldest;
 *  - a delete (CAS to 0) that loses to a concurrent update leaves the
 *    entry: a later bare ACK is steered and deletes it, or it ages out.
 * So a race costs at most a mis-steer (an extra bare ACK user space drops
 * as of no tracked flow) or a counted eviction; a control segment (SYN,
 * SYN-ACK, FIN, RST) is steered whatever the table holds, and a bare ACK of
 * a tracked 4-tuple is missed only when its entry was evicted (counted).
 * The stamp wraps after 9.8 h: an entry left untouched that long (a lone
 * SYN in a quiet bucket) looks fresh again for one flow age, which can only
 * steer a bare ACK of that very 4-tuple (a mis-steer).
 */
#ifndef ACKSCOPE_FLOWTABLE_H
#define ACKSCOPE_FLOWTABLE_H

#include "counters.h"
#include "flowtrack.h"

#define ACKSCOPE_WAYS 8

struct ackscope_bucket {
	__u64 way[ACKSCOPE_WAYS];
};

#define ACKSCOPE_WAY_TAG_MASK 0xffffffffff000000ULL
#define ACKSCOPE_WAY_TS_SHIFT 5
#define ACKSCOPE_WAY_TS_MASK 0x7ffffu /* 19 bits */
#define ACKSCOPE_WAY_UNIT_SHIFT 26   /* stamp unit: 2^26 ns */
#define ACKSCOPE_PUT_TRIES 3

/* Buckets - 1 (a power of two minus one), set by the loader with the map's
 * size; the default matches the map's default (8192 buckets), for tools that
 * load the object as it is (bench/xdp_cost.rs). */
const volatile __u32 ackscope_bucket_mask = 8191;

static __always_inline __u64 ackscope_way_tag(__u64 fp)
{
	return (fp | (1ULL << 63)) & ACKSCOPE_WAY_TAG_MASK;
}

static __always_inline __u32 ackscope_way_clock(__u64 now)
{
	return (__u32)(now >> ACKSCOPE_WAY_UNIT_SHIFT) & ACKSCOPE_WAY_TS_MASK;
}

static __always_inline __u64 ackscope_way_make(__u64 tag, __u32 t, __u8 phase,
					       __u8 fin_mask, __u8 client_hi)
{
	return tag | ((__u64)(t & ACKSCOPE_WAY_TS_MASK) << ACKSCOPE_WAY_TS_SHIFT) |
	       ((__u64)(client_hi & 1) << 4) | ((__u64)(fin_mask & 3) << 2) | (phase & 3);
}

#define ACKSCOPE_WAY_PHASE(v) ((__u8)((v) & 3))
#define ACKSCOPE_WAY_FIN(v) ((__u8)(((v) >> 2) & 3))
#define ACKSCOPE_WAY_CLIENT_HI(v) ((__u8)(((v) >> 4) & 1))

/* Age of way `v` at clock `t` in stamp units; 0 for a stamp a hair in the
 * future (taken on another CPU). */
static __always_inline __u32 ackscope_way_age(__u64 v, __u32 t)
{
	__u32 d = (t - (__u32)(v >> ACKSCOPE_WAY_TS_SHIFT)) & ACKSCOPE_WAY_TS_MASK;

	return d > (ACKSCOPE_WAY_TS_MASK >> 1) ? 0 : d;
}

static __always_inline int ackscope_way_fresh(__u64 v, __u32 t, __u64 age_ns)
{
	return ackscope_way_age(v, t) <= (age_ns >> ACKSCOPE_WAY_UNIT_SHIFT);
}

/* Index of the first way holding `tag` (its value in *v), or -1. */
static __always_inline int ackscope_way_find(struct ackscope_bucket *b, __u64 tag, __u64 *v)
{
#pragma unroll
	for (int i = 0; i < ACKSCOPE_WAYS; i++) {
		__u64 w = *(volatile __u64 *)&b->way[i];

		if ((w & ACKSCOPE_WAY_TAG_MASK) == tag) {
			*v = w;
			return i;
		}
	}
	return -1;
}

/* What ackscope_way_put writes: passed by pointer (a BPF call takes at
 * most 5 arguments). */
struct ackscope_put {
	__u64 v;      /* the way's value as read, when i >= 0 */
	__u64 tag;
	__u64 nv;     /* the new value */
	__u64 age_ns;
	__u32 t;      /* clock, stamp units */
	__s32 i;      /* way holding the 4-tuple, -1 if none was found */
};

/* Put `a->nv` (tag `a->tag`) into bucket `b`: in place when the 4-tuple is
 * there (way `a->i` holding `a->v` as read by the caller, or found by a
 * rescan), else into the first empty or the oldest way. See the header on
 * races. A call (not inlined): only SYN, SYN-ACK and FIN pay it, and
 * inline its registers spill into the program's 512-byte stack. */
static __noinline void ackscope_way_put(struct ackscope_bucket *b, struct ackscope_put *a,
					__u64 *evicted)
{
	if (!b || !a)
		return;
	int i = a->i;
	__u64 v = a->v, tag = a->tag, nv = a->nv, age_ns = a->age_ns;
	__u32 t = a->t;

#pragma clang loop unroll(disable)
	for (int n = 0; n < ACKSCOPE_PUT_TRIES; n++) {
		if (n > 0)
			i = ackscope_way_find(b, tag, &v);
		if (i >= 0) {
			if (__sync_val_compare_and_swap(&b->way[i & (ACKSCOPE_WAYS - 1)], v, nv) == v)
				return;
			continue;
		}
		/* The first empty way, else the oldest; the scan starts at a
		 * way chosen by the key, so that entries of one stamp (67 ms)
		 * are replaced at random rather than always in way 0. */
		int r = (int)(tag >> 24), vi = -1;
		__u64 vv = 0;
		__u32 oldest = 0;
#pragma clang loop unroll(disable)
		for (int j = 0; j < ACKSCOPE_WAYS; j++) {
			int w_i = (r + j) & (ACKSCOPE_WAYS - 1);
			__u64 w = *(volatile __u64 *)&b->way[w_i];

			if (!w) {
				vi = w_i;
				vv = 0;
				break;
			}
			__u32 age = ackscope_way_age(w, t);
			if (vi < 0 || age > oldest) {
				oldest = age;
				vi = w_i;
				vv = w;
			}
		}
		if (__sync_val_compare_and_swap(&b->way[vi & (ACKSCOPE_WAYS - 1)], vv, nv) == vv) {
			if (vv && ackscope_way_fresh(vv, t, age_ns) && evicted)
				(*evicted)++;
			return;
		}
	}
	if (evicted)
		(*evicted)++; /* lost every race: the new entry is not kept */
}

static __always_inline void ackscope_way_del(struct ackscope_bucket *b, int i, __u64 v)
{
	__sync_val_compare_and_swap(&b->way[i & (ACKSCOPE_WAYS - 1)], v, 0);
}

/* The fingerprint of a plain IPv4 4-tuple (no tunnel): the canonical order
 * on the raw (network order) address and port words — any order both
 * directions agree on will do — and two mixing rounds instead of the five
 * of ackscope_key_of (whose key every other frame uses; a 4-tuple always
 * takes the same of the two in both directions). */
static __always_inline __u64 ackscope_fp_v4(const struct ackscope_pkt *p, __u8 *src_is_hi)
{
	__u32 s = p->src[3], d = p->dst[3];
	__u16 sp = p->sport, dp = p->dport;
	int hi = s > d || (s == d && sp > dp);
	__u64 a, x;

	if (hi) {
		a = ((__u64)d << 32) | s;
		x = ((__u64)dp << 48) | ((__u64)sp << 32);
	} else {
		a = ((__u64)s << 32) | d;
		x = ((__u64)sp << 48) | ((__u64)dp << 32);
	}
	x |= ((__u64)p->vlan_outer << 16) | p->vlan_inner;
	__u64 h = ackscope_mix(ackscope_key_seed ^ 0x5bd1e995ULL, a);
	h = ackscope_mix(h, x);
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	*src_is_hi = hi;
	return h ^ (h >> 32);
}

/*
 * flowtrack.h's decisions on the set-associative table `table` (struct
 * ackscope_bucket values); evictions are counted in *evicted (NULL: not
 * counted).
 */
static __always_inline int ackscope_table_track(void *table, const struct ackscope_pkt *p,
						int cls, __u64 *now, __u64 age_ns,
						__u64 *evicted)
{
	struct ackscope_flow_key k;
	__u8 src_is_hi;
	__u64 v = 0;

	if (cls < ACKSCOPE_CLASS_SYN)
		return ACKSCOPE_TRACK_SKIP;
	if (p->ip_version == 4 && p->tun_kind == ACKSCOPE_TUN_NONE)
		k.fp = ackscope_fp_v4(p, &src_is_hi);
	else
		ackscope_key_of(p, &k, &src_is_hi);

	__u32 idx = (__u32)k.fp & ackscope_bucket_mask;
	struct ackscope_bucket *b = bpf_map_lookup_elem(table, &idx);
	if (!b)
		return cls == ACKSCOPE_CLASS_BARE_ACK ? ACKSCOPE_TRACK_SKIP : ACKSCOPE_TRACK_SELECT;
	__u64 tag = ackscope_way_tag(k.fp);
	int i = ackscope_way_find(b, tag, &v);

	/* The common case (a bare ACK of an established flow): no entry, no
	 * clock. */
	if (cls == ACKSCOPE_CLASS_BARE_ACK && i < 0)
		return ACKSCOPE_TRACK_SKIP;

	switch (cls) {
	case ACKSCOPE_CLASS_SYN:
	case ACKSCOPE_CLASS_SYNACK: {
		__u32 t = ackscope_way_clock(ackscope_now(now));
		__u8 client_hi = cls == ACKSCOPE_CLASS_SYN ? src_is_hi : !src_is_hi;
		__u8 phase = cls == ACKSCOPE_CLASS_SYN ? ACKSCOPE_FLOW_SYN : ACKSCOPE_FLOW_SYNACK;

		struct ackscope_put a = { .v = v, .tag = tag, .age_ns = age_ns, .t = t, .i = i,
			.nv = ackscope_way_make(tag, t, phase, 0, client_hi) };

		/* A retransmission within one stamp changes nothing: no write
		 * (and no cache line taken from the other CPUs). */
		if (i < 0 || a.nv != v)
			ackscope_way_put(b, &a, evicted);
		return ACKSCOPE_TRACK_SELECT;
	}

	case ACKSCOPE_CLASS_RST:
		/* flowtrack.h: a RST from the client while its SYN is
		 * outstanding keeps the entry. */
		if (i >= 0 && ACKSCOPE_WAY_PHASE(v) == ACKSCOPE_FLOW_SYN &&
		    src_is_hi == ACKSCOPE_WAY_CLIENT_HI(v))
			return ACKSCOPE_TRACK_SELECT;
		if (i >= 0)
			ackscope_way_del(b, i, v);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_FIN: {
		__u8 bit = src_is_hi ? ACKSCOPE_FIN_HI : ACKSCOPE_FIN_LO;
		__u32 t = ackscope_way_clock(ackscope_now(now));
		struct ackscope_put a = { .v = v, .tag = tag, .age_ns = age_ns, .t = t, .i = i };

		if (i >= 0 && ackscope_way_fresh(v, t, age_ns) &&
		    ACKSCOPE_WAY_PHASE(v) == ACKSCOPE_FLOW_FIN)
			a.nv = ackscope_way_make(tag, t, ACKSCOPE_FLOW_FIN, ACKSCOPE_WAY_FIN(v) | bit,
					       ACKSCOPE_WAY_CLIENT_HI(v));
		else
			a.nv = ackscope_way_make(tag, t, ACKSCOPE_FLOW_FIN, bit,
					       i >= 0 ? ACKSCOPE_WAY_CLIENT_HI(v) : 0);
		if (i < 0 || a.nv != v)
			ackscope_way_put(b, &a, evicted);
		return ACKSCOPE_TRACK_SELECT;
	}

	case ACKSCOPE_CLASS_BARE_ACK: {
		__u32 t = ackscope_way_clock(ackscope_now(now));

		if (!ackscope_way_fresh(v, t, age_ns)) {
			ackscope_way_del(b, i, v);
			return ACKSCOPE_TRACK_EXPIRED;
		}
		if (ACKSCOPE_WAY_PHASE(v) == ACKSCOPE_FLOW_FIN) {
			if (ACKSCOPE_WAY_FIN(v) == (ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI))
				ackscope_way_del(b, i, v);
		} else if (src_is_hi == ACKSCOPE_WAY_CLIENT_HI(v)) {
			/* From the client in SYN/SYNACK: handshake complete. */
			ackscope_way_del(b, i, v);
		}
		/* else: from the server in handshake — the stale-ACK case. */
		return ACKSCOPE_TRACK_SELECT;
	}

	default:
		return ACKSCOPE_TRACK_SKIP;
	}
}

#endif /* ACKSCOPE_FLOWTABLE_H */
