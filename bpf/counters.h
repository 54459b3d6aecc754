/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The per-CPU counters of the XDP steering program and the tc clone program,
 * and the counting both repeat: one classifier verdict selects, the other
 * counts why not. Rust reads the structs through the skeletons' generated
 * types (src/datapath/abi.rs).
 */
#ifndef ACKSCOPE_COUNTERS_H
#define ACKSCOPE_COUNTERS_H

#include "abi.h"
#include "classify.h"

/* ackscope.bpf.c: per-CPU counters (map ackscope_cnt). */
struct ackscope_counters {
	__u64 frames;           /* every frame the program saw */
	__u64 steered_syn;
	__u64 steered_synack;
	__u64 steered_fin;
	__u64 steered_rst;
	__u64 steered_ack;      /* bare ACKs of tracked 4-tuples */
	__u64 not_steered_tcp;  /* other TCP + bare ACKs of untracked 4-tuples */
	__u64 not_tcp;
	__u64 parse_fail;
	__u64 redirect_fail;    /* XSKMAP redirect != XDP_REDIRECT */
	__u64 flows_expired;    /* stale entries deleted on lookup */
	__u64 meta_fail;        /* bpf_xdp_adjust_meta refused at run time */
	__u64 tunnelled;        /* TCP frames that came in an encapsulation */
	__u64 flows_evicted;    /* fresh flow-table entries overwritten by another 4-tuple (flowtable.h) */
};

/* tc_clone.bpf.c: per-CPU counters (map ackscope_tc_cnt). cloned_* count the
 * selected segments on both paths (clone path: clones attempted; ring path:
 * records attempted, ring_full of them lost). */
struct ackscope_tc_counters {
	__u64 packets;          /* every packet the program saw */
	__u64 cloned_syn;
	__u64 cloned_synack;
	__u64 cloned_fin;
	__u64 cloned_rst;
	__u64 cloned_ack;       /* bare ACKs of tracked 4-tuples */
	__u64 not_cloned_tcp;   /* other TCP + bare ACKs of untracked 4-tuples */
	__u64 not_tcp;
	__u64 parse_fail;
	__u64 clone_fail;       /* bpf_clone_redirect() != 0 */
	__u64 flows_expired;
	__u64 pulled;           /* headers made linear with bpf_skb_pull_data */
	__u64 ring_full;        /* ring path: bpf_ringbuf_reserve failed (record lost) */
	__u64 ring_wakeups;     /* ring path: records submitted with a forced wake-up */
	__u64 flows_evicted;    /* fresh flow-table entries overwritten by another 4-tuple (flowtable.h) */
};

#define CNT(c, field)                   \
	do {                            \
		if (c)                  \
			(c)->field++;   \
	} while (0)

/* True for the classes a program may select (then subject to tracking). */
static __always_inline int ackscope_selectable(int cls)
{
	switch (cls) {
	case ACKSCOPE_CLASS_SYN:
	case ACKSCOPE_CLASS_SYNACK:
	case ACKSCOPE_CLASS_FIN:
	case ACKSCOPE_CLASS_RST:
	case ACKSCOPE_CLASS_BARE_ACK:
		return 1;
	default:
		return 0;
	}
}

/* Count a selected frame of class cls in c->PREFIX_{syn,synack,fin,rst,ack}. */
#define CNT_SELECTED(c, cls, prefix)                    \
	do {                                            \
		switch (cls) {                          \
		case ACKSCOPE_CLASS_SYN:                \
			CNT(c, prefix##_syn);           \
			break;                          \
		case ACKSCOPE_CLASS_SYNACK:             \
			CNT(c, prefix##_synack);        \
			break;                          \
		case ACKSCOPE_CLASS_FIN:                \
			CNT(c, prefix##_fin);           \
			break;                          \
		case ACKSCOPE_CLASS_RST:                \
			CNT(c, prefix##_rst);           \
			break;                          \
		default:                                \
			CNT(c, prefix##_ack);           \
			break;                          \
		}                                       \
	} while (0)

#endif /* ACKSCOPE_COUNTERS_H */
