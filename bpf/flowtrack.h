/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — in-kernel handshake/teardown tracking, shared by the XDP
 * steering program (bpf/ackscope.bpf.c) and the tc clone program of host
 * mode (bpf/tc_clone.bpf.c).
 *
 * It decides which TCP segments are "control segments" that user space must
 * see. Every SYN, SYN-ACK, FIN and RST is; a bare ACK (ACK only, no payload)
 * is only when its 4-tuple is in handshake or teardown, tracked in an LRU
 * hash keyed by a fingerprint of the canonical 4-tuple (below):
 *
 *   SYN          insert {SYN, client = sender}
 *   SYN-ACK      insert/overwrite {SYNACK, client = receiver}
 *   bare ACK     SYN/SYNACK state: selected; removes the entry when it
 *                comes from the client (handshake complete). A bare ACK
 *                from the server in SYN state (the stale ACK ackscope
 *                hunts) is selected and keeps the entry.
 *                FIN state: selected; removes the entry once both sides
 *                have sent a FIN (the last ACK).
 *                No entry: not selected.
 *   FIN          insert, or mark the sender's FIN bit in an existing FIN
 *                entry (per side, so a retransmitted FIN is not counted
 *                twice)
 *   RST          remove, except a RST from the client in SYN state (the
 *                attempt goes on: the stale ACKs after it are selected)
 *
 * Entries older than the flow age are treated as absent (and deleted when
 * met). The age is measured from the entry's last SYN, SYN-ACK or FIN, not
 * refreshed by ACKs, so a half-closed connection streaming data leaks its
 * ACKs to user space for at most that long.
 *
 * Presence filter: a bare ACK of an established flow (the common case) must
 * not pay a hash lookup (issue 18). Beside the LRU map each program keeps an
 * array of ACKSCOPE_PRESENCE_SLOTS counters indexed by the key's top bits:
 * a slot is incremented when an entry is inserted and decremented when our
 * delete of an entry succeeds. A bare ACK whose slot is 0 has no entry and
 * is decided without the lookup. Entries the LRU evicts are never
 * decremented: their slot stays non-zero, which only costs later bare ACKs
 * of that slot the lookup (never a missed entry). Two CPUs inserting the
 * same new key both increment (same effect). A slot can therefore be
 * non-zero without an entry but never zero with one.
 *
 * The including program declares its own LRU map and presence array and
 * passes them in.
 */
#ifndef ACKSCOPE_FLOWTRACK_H
#define ACKSCOPE_FLOWTRACK_H

#include "classify.h"

enum ackscope_flow_phase {
	ACKSCOPE_FLOW_SYN = 1,
	ACKSCOPE_FLOW_SYNACK = 2,
	ACKSCOPE_FLOW_FIN = 3,
};

#define ACKSCOPE_FIN_LO 0x1
#define ACKSCOPE_FIN_HI 0x2

/*
 * Key of the tracking map: a keyed 64-bit fingerprint of the canonical
 * 4-tuple (the lower (address, port) endpoint first, so both directions
 * give one key), the VLAN ids and the tunnel identity (kind, id, outer
 * endpoints in canonical order). 8 bytes instead of the 40 of the
 * addresses themselves: the LRU hash's jhash, compare and copy are a fifth
 * as long (issue 18). Two 4-tuples share an entry only if their
 * fingerprints collide (about n^2 / 2^65 for n tracked 4-tuples, 10^-10 at
 * 65536); the seed (`ackscope_key_seed`, random per load) keeps an outsider
 * from aiming for it. A collision can only steer a bare ACK user space did
 * not need, or miss one: this map is a steering filter, the detection keys
 * its flows on the full 4-tuple in user space (src/flow).
 */
struct ackscope_flow_key {
	__u64 fp;
};

/* 8 bytes. The stamp is bpf_ktime_get_ns() >> ACKSCOPE_TS_SHIFT (units of
 * 1.048576 ms; a 32-bit stamp wraps after 52 days, compared with a signed
 * difference). */
struct ackscope_flow_state {
	__u32 ts;         /* last SYN / SYN-ACK / FIN seen */
	__u8 phase;       /* enum ackscope_flow_phase */
	__u8 fin_mask;    /* ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI */
	__u8 client_hi;   /* 1 if the client (SYN sender) is the hi endpoint */
	__u8 _pad;
};

#define ACKSCOPE_TS_SHIFT 20

/* Slots of the presence filter (a power of two; 256 KiB). */
#define ACKSCOPE_PRESENCE_SLOTS 65536

static __always_inline __u32 ackscope_presence_slot(const struct ackscope_flow_key *k)
{
	return (__u32)(k->fp >> 48) & (ACKSCOPE_PRESENCE_SLOTS - 1);
}

/* Verdicts of ackscope_track(). */
enum ackscope_track_verdict {
	/* Not a control segment (or a bare ACK of an untracked 4-tuple). */
	ACKSCOPE_TRACK_SKIP = 0,
	/* A control segment: user space must see it. */
	ACKSCOPE_TRACK_SELECT = 1,
	/* A bare ACK whose entry had aged out (entry deleted); not selected. */
	ACKSCOPE_TRACK_EXPIRED = 2,
};

/* Seed of the key fingerprint; the loaders set a random one. */
const volatile __u64 ackscope_key_seed = 0x243f6a8885a308d3ULL;

/* The clock, read once per frame and only when needed (0 = not read yet):
 * bpf_ktime_get_ns() is about half the cost of a data segment otherwise. */
static __always_inline __u64 ackscope_now(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_ns();
	return *now;
}

static __always_inline __u64 ackscope_mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

/* One endpoint as (high 64 bits, low 64 bits) of its address, host order. */
static __always_inline __u64 ackscope_addr_hi64(const __u32 *a)
{
	return ((__u64)bpf_ntohl(a[0]) << 32) | bpf_ntohl(a[1]);
}

static __always_inline __u64 ackscope_addr_lo64(const __u32 *a)
{
	return ((__u64)bpf_ntohl(a[2]) << 32) | bpf_ntohl(a[3]);
}

/* The key of `p`'s 4-tuple and whether its sender is the hi endpoint. */
static __always_inline void ackscope_key_of(const struct ackscope_pkt *p,
					    struct ackscope_flow_key *k,
					    __u8 *src_is_hi)
{
	__u64 s0 = ackscope_addr_hi64(p->src), s1 = ackscope_addr_lo64(p->src);
	__u64 d0 = ackscope_addr_hi64(p->dst), d1 = ackscope_addr_lo64(p->dst);
	__u16 sp = p->sport, dp = p->dport;
	int hi = s0 > d0 || (s0 == d0 && (s1 > d1 || (s1 == d1 && sp > dp)));
	__u64 h = ackscope_key_seed;

	if (hi) {
		h = ackscope_mix(h, d0);
		h = ackscope_mix(h, d1);
		h = ackscope_mix(h, s0);
		h = ackscope_mix(h, s1);
		h = ackscope_mix(h, ((__u64)dp << 48) | ((__u64)sp << 32) |
				     ((__u64)p->vlan_outer << 16) | p->vlan_inner);
	} else {
		h = ackscope_mix(h, s0);
		h = ackscope_mix(h, s1);
		h = ackscope_mix(h, d0);
		h = ackscope_mix(h, d1);
		h = ackscope_mix(h, ((__u64)sp << 48) | ((__u64)dp << 32) |
				     ((__u64)p->vlan_outer << 16) | p->vlan_inner);
	}
	/* The tunnel identity (issue 12): two mirror sessions can carry the
	 * same inner 4-tuple. Its outer endpoints in canonical order, as the
	 * user-space key (src/flow), so the two directions through a VTEP
	 * pair share the entry. Plain frames skip this. */
	if (p->tun_kind != ACKSCOPE_TUN_NONE) {
		__u64 x0 = ackscope_addr_hi64(p->tun_src), x1 = ackscope_addr_lo64(p->tun_src);
		__u64 y0 = ackscope_addr_hi64(p->tun_dst), y1 = ackscope_addr_lo64(p->tun_dst);

		if (x0 > y0 || (x0 == y0 && x1 > y1)) {
			__u64 t0 = x0, t1 = x1;

			x0 = y0;
			x1 = y1;
			y0 = t0;
			y1 = t1;
		}
		h = ackscope_mix(h, ((__u64)p->tun_kind << 40) |
				     ((__u64)p->tun_has_id << 32) | p->tun_id);
		h = ackscope_mix(h, x0);
		h = ackscope_mix(h, x1);
		h = ackscope_mix(h, y0);
		h = ackscope_mix(h, y1);
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	k->fp = h ^ (h >> 32);
	*src_is_hi = hi;
}

static __always_inline int ackscope_flow_fresh(const struct ackscope_flow_state *st,
					       __u64 now, __u64 age_ns)
{
	/* Signed: a stamp taken a hair later on another CPU is fresh. */
	__u32 t = (__u32)(now >> ACKSCOPE_TS_SHIFT);

	return (__s32)(t - st->ts) <= (__s64)(age_ns >> ACKSCOPE_TS_SHIFT);
}

/* Set an entry to `phase` in place (a lookup that found it suffices: no
 * LRU node is popped, no value copied through the update path). */
static __always_inline void ackscope_flow_set(struct ackscope_flow_state *e,
					      __u64 now, __u8 phase,
					      __u8 fin_mask, __u8 client_hi)
{
	e->ts = (__u32)(now >> ACKSCOPE_TS_SHIFT);
	e->phase = phase;
	e->fin_mask = fin_mask;
	e->client_hi = client_hi;
}

/* Insert or overwrite the entry of `k`: in place when it exists. */
static __always_inline void ackscope_flow_put(void *flows, void *presence,
					      const struct ackscope_flow_key *k,
					      struct ackscope_flow_state *e,
					      __u64 now, __u8 phase,
					      __u8 fin_mask, __u8 client_hi)
{
	struct ackscope_flow_state st;

	if (e) {
		ackscope_flow_set(e, now, phase, fin_mask, client_hi);
		return;
	}
	st._pad = 0;
	ackscope_flow_set(&st, now, phase, fin_mask, client_hi);
	/* Counted before the insert: a concurrent bare ACK that finds the
	 * entry has found its slot non-zero. */
	__u32 slot = ackscope_presence_slot(k);
	__u32 *n = bpf_map_lookup_elem(presence, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
	bpf_map_update_elem(flows, k, &st, BPF_ANY);
}

/* Delete the entry of `k`; its presence slot is decremented if the delete
 * was ours. */
static __always_inline void ackscope_flow_del(void *flows, void *presence,
					      const struct ackscope_flow_key *k)
{
	if (bpf_map_delete_elem(flows, k) == 0) {
		__u32 slot = ackscope_presence_slot(k);
		__u32 *n = bpf_map_lookup_elem(presence, &slot);
		if (n)
			__sync_fetch_and_add(n, (__u32)-1);
	}
}

/*
 * Updates `flows` (an LRU hash of struct ackscope_flow_key → struct
 * ackscope_flow_state) for a segment of class `cls` and says whether it is
 * a control segment. Only the TCP classes (>= ACKSCOPE_CLASS_SYN) touch the
 * map. `*now` is the clock (0: read it here when needed, see ackscope_now).
 */
static __always_inline int ackscope_track(void *flows, void *presence,
					  const struct ackscope_pkt *p,
					  int cls, __u64 *now, __u64 age_ns)
{
	struct ackscope_flow_state *e;
	struct ackscope_flow_key k;
	__u8 src_is_hi;

	if (cls < ACKSCOPE_CLASS_SYN)
		return ACKSCOPE_TRACK_SKIP;
	ackscope_key_of(p, &k, &src_is_hi);
	if (cls == ACKSCOPE_CLASS_BARE_ACK) {
		__u32 slot = ackscope_presence_slot(&k);
		__u32 *n = bpf_map_lookup_elem(presence, &slot);

		/* The common case (an established flow): no entry, no
		 * lookup, no clock. */
		if (n && *n == 0)
			return ACKSCOPE_TRACK_SKIP;
	}
	e = bpf_map_lookup_elem(flows, &k);

	switch (cls) {
	case ACKSCOPE_CLASS_SYN:
		ackscope_flow_put(flows, presence, &k, e, ackscope_now(now),
				  ACKSCOPE_FLOW_SYN, 0, src_is_hi);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_SYNACK:
		ackscope_flow_put(flows, presence, &k, e, ackscope_now(now),
				  ACKSCOPE_FLOW_SYNACK, 0, !src_is_hi);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_RST:
		/* A RST from the client while its SYN is outstanding (its reply to
		 * a stale ACK, or the abort of the previous connection sent just
		 * after the new SYN) does not end the attempt: keep the entry, so
		 * the server's (stale) ACKs that follow are still selected. Seen
		 * on a load balancer (tests/live/lb.sh, issue 19). */
		if (e && e->phase == ACKSCOPE_FLOW_SYN && src_is_hi == e->client_hi)
			return ACKSCOPE_TRACK_SELECT;
		if (e)
			ackscope_flow_del(flows, presence, &k);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_FIN: {
		__u8 bit = src_is_hi ? ACKSCOPE_FIN_HI : ACKSCOPE_FIN_LO;

		ackscope_now(now);
		if (e && ackscope_flow_fresh(e, *now, age_ns) &&
		    e->phase == ACKSCOPE_FLOW_FIN)
			ackscope_flow_set(e, *now, ACKSCOPE_FLOW_FIN,
					  e->fin_mask | bit, e->client_hi);
		else
			ackscope_flow_put(flows, presence, &k, e, *now, ACKSCOPE_FLOW_FIN,
					  bit, e ? e->client_hi : 0);
		return ACKSCOPE_TRACK_SELECT;
	}

	case ACKSCOPE_CLASS_BARE_ACK:
		if (!e)
			return ACKSCOPE_TRACK_SKIP;
		if (!ackscope_flow_fresh(e, ackscope_now(now), age_ns)) {
			ackscope_flow_del(flows, presence, &k);
			return ACKSCOPE_TRACK_EXPIRED;
		}
		if (e->phase == ACKSCOPE_FLOW_FIN) {
			if (e->fin_mask == (ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI))
				ackscope_flow_del(flows, presence, &k);
		} else if (src_is_hi == e->client_hi) {
			/* From the client in SYN/SYNACK: handshake complete. */
			ackscope_flow_del(flows, presence, &k);
		}
		/* else: from the server in handshake — the stale-ACK case;
		 * keep the entry for the client's RST and retried SYN. */
		return ACKSCOPE_TRACK_SELECT;

	default:
		return ACKSCOPE_TRACK_SKIP;
	}
}

#endif /* ACKSCOPE_FLOWTRACK_H */
