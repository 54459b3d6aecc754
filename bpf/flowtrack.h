/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — in-kernel handshake/teardown tracking, shared by the XDP
 * steering program (bpf/ackscope.bpf.c) and the tc clone program of host
 * mode (bpf/tc_clone.bpf.c).
 *
 * It decides which TCP segments are "control segments" that user space must
 * see. Every SYN, SYN-ACK, FIN and RST is; a bare ACK (ACK only, no payload)
 * is only when its 4-tuple is in handshake or teardown, tracked in an LRU
 * hash keyed by the canonical flow key (see classify.h):
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
 * The including program declares its own LRU map and passes it in.
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

struct ackscope_flow_state {
	__u64 ts_ns;      /* last SYN / SYN-ACK / FIN seen */
	__u8 phase;       /* enum ackscope_flow_phase */
	__u8 fin_mask;    /* ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI */
	__u8 client_hi;   /* 1 if the client (SYN sender) is the hi endpoint */
	__u8 _pad[5];
};

/* Verdicts of ackscope_track(). */
enum ackscope_track_verdict {
	/* Not a control segment (or a bare ACK of an untracked 4-tuple). */
	ACKSCOPE_TRACK_SKIP = 0,
	/* A control segment: user space must see it. */
	ACKSCOPE_TRACK_SELECT = 1,
	/* A bare ACK whose entry had aged out (entry deleted); not selected. */
	ACKSCOPE_TRACK_EXPIRED = 2,
};

static __always_inline int ackscope_flow_fresh(const struct ackscope_flow_state *st,
					       __u64 now, __u64 age_ns)
{
	/* Signed: a stamp taken a hair later on another CPU is fresh. */
	return (__s64)(now - st->ts_ns) <= (__s64)age_ns;
}

/*
 * Updates `flows` (an LRU hash of struct ackscope_flow_key → struct
 * ackscope_flow_state) for a segment of class `cls` and says whether it is
 * a control segment. Only the TCP classes (>= ACKSCOPE_CLASS_SYN) touch the
 * map.
 */
static __always_inline int ackscope_track(void *flows, const struct ackscope_pkt *p,
					  int cls, __u64 now, __u64 age_ns)
{
	struct ackscope_flow_state *e;
	struct ackscope_flow_state st;

	switch (cls) {
	case ACKSCOPE_CLASS_SYN:
		__builtin_memset(&st, 0, sizeof(st));
		st.ts_ns = now;
		st.phase = ACKSCOPE_FLOW_SYN;
		st.client_hi = p->src_is_hi;
		bpf_map_update_elem(flows, &p->key, &st, BPF_ANY);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_SYNACK:
		__builtin_memset(&st, 0, sizeof(st));
		st.ts_ns = now;
		st.phase = ACKSCOPE_FLOW_SYNACK;
		st.client_hi = !p->src_is_hi;
		bpf_map_update_elem(flows, &p->key, &st, BPF_ANY);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_RST:
		/* A RST from the client while its SYN is outstanding (its reply to
		 * a stale ACK, or the abort of the previous connection sent just
		 * after the new SYN) does not end the attempt: keep the entry, so
		 * the server's (stale) ACKs that follow are still selected. Seen
		 * on a load balancer (tests/live/lb.sh, issue 19). */
		e = bpf_map_lookup_elem(flows, &p->key);
		if (e && e->phase == ACKSCOPE_FLOW_SYN && p->src_is_hi == e->client_hi)
			return ACKSCOPE_TRACK_SELECT;
		bpf_map_delete_elem(flows, &p->key);
		return ACKSCOPE_TRACK_SELECT;

	case ACKSCOPE_CLASS_FIN: {
		__u8 bit = p->src_is_hi ? ACKSCOPE_FIN_HI : ACKSCOPE_FIN_LO;

		e = bpf_map_lookup_elem(flows, &p->key);
		if (e && ackscope_flow_fresh(e, now, age_ns) &&
		    e->phase == ACKSCOPE_FLOW_FIN) {
			e->fin_mask |= bit;
			e->ts_ns = now;
		} else {
			__builtin_memset(&st, 0, sizeof(st));
			st.ts_ns = now;
			st.phase = ACKSCOPE_FLOW_FIN;
			st.fin_mask = bit;
			st.client_hi = e ? e->client_hi : 0;
			bpf_map_update_elem(flows, &p->key, &st, BPF_ANY);
		}
		return ACKSCOPE_TRACK_SELECT;
	}

	case ACKSCOPE_CLASS_BARE_ACK:
		e = bpf_map_lookup_elem(flows, &p->key);
		if (!e)
			return ACKSCOPE_TRACK_SKIP;
		if (!ackscope_flow_fresh(e, now, age_ns)) {
			bpf_map_delete_elem(flows, &p->key);
			return ACKSCOPE_TRACK_EXPIRED;
		}
		if (e->phase == ACKSCOPE_FLOW_FIN) {
			if (e->fin_mask == (ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI))
				bpf_map_delete_elem(flows, &p->key);
		} else if (p->src_is_hi == e->client_hi) {
			/* From the client in SYN/SYNACK: handshake complete. */
			bpf_map_delete_elem(flows, &p->key);
		}
		/* else: from the server in handshake — the stale-ACK case;
		 * keep the entry for the client's RST and retried SYN. */
		return ACKSCOPE_TRACK_SELECT;

	default:
		return ACKSCOPE_TRACK_SKIP;
	}
}

#endif /* ACKSCOPE_FLOWTRACK_H */
