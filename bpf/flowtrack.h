/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — in-kernel handshake/teardown tracking, shared by the XDP
 * steering program (bpf/ackscope.bpf.c) and the tc clone program of host
 * mode (bpf/tc_clone.bpf.c).
 *
 * It decides which TCP segments are "control segments" that user space must
 * see. Every SYN, SYN-ACK, FIN and RST is; a bare ACK (ACK only, no payload)
 * is only when its 4-tuple is in handshake or teardown, tracked in a table
 * (flowtable.h: set-associative, evictions counted) keyed by a fingerprint
 * of the canonical 4-tuple (below):
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
 * This file holds the rules, the key and the clock; flowtable.h the table
 * that applies them (each including program declares its own map).
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
 * endpoints in canonical order): 8 bytes instead of the 40 of the
 * addresses themselves (flowtable.h keeps a 40-bit tag of it and picks the
 * bucket with its low bits). Two 4-tuples share an entry only if their
 * fingerprints collide (about n^2 / 2^65 for n tracked 4-tuples, 10^-10 at
 * 65536); the seed (`ackscope_key_seed`, random per load) keeps an outsider
 * from aiming for it. A collision can only steer a bare ACK user space did
 * not need, or miss one: this map is a steering filter, the detection keys
 * its flows on the full 4-tuple in user space (src/flow).
 */
struct ackscope_flow_key {
	__u64 fp;
};

/* Verdicts of the tracking (ackscope_table_track, flowtable.h). */
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

#endif /* ACKSCOPE_FLOWTRACK_H */
