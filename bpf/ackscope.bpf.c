// SPDX-License-Identifier: GPL-2.0-only
/*
 * ackscope XDP steering program.
 *
 * Steers TCP control segments into the AF_XDP socket of the receive queue
 * (XSKMAP[ctx->rx_queue_index]):
 *
 *   - every SYN, SYN-ACK, FIN and RST;
 *   - bare ACKs (ACK only, no payload) of 4-tuples that are in handshake or
 *     teardown, tracked in the LRU hash `ackscope_flows` keyed by the
 *     canonical flow key (see classify.h):
 *
 *       SYN          insert {SYN, client = sender}
 *       SYN-ACK      insert/overwrite {SYNACK, client = receiver}
 *       bare ACK     SYN/SYNACK state: steered; removes the entry when it
 *                    comes from the client (handshake complete). A bare ACK
 *                    from the server in SYN state (the stale ACK ackscope
 *                    hunts) is steered and keeps the entry.
 *                    FIN state: steered; removes the entry once both sides
 *                    have sent a FIN (the last ACK).
 *                    No entry: not steered.
 *       FIN          insert, or mark the sender's FIN bit in an existing FIN
 *                    entry (per side, so a retransmitted FIN is not counted
 *                    twice)
 *       RST          remove
 *
 *     Entries older than `ackscope_flow_age_ns` are treated as absent (and
 *     deleted when met). The age is measured from the entry's last SYN,
 *     SYN-ACK or FIN, not refreshed by ACKs, so a half-closed connection
 *     streaming data leaks its ACKs to user space for at most that long.
 *
 * Everything else gets the "not steered" verdict of the mode:
 * mirror → XDP_DROP, pass → XDP_PASS, forward → DEVMAP_HASH
 * `ackscope_fwd`[ingress ifindex] (XDP_PASS when no peer is configured).
 * A steered frame whose XSKMAP redirect fails (no socket on that queue)
 * gets the same verdict and is counted in `redirect_fail`.
 *
 * Steered frames carry a 16-byte XDP metadata block (struct ackscope_meta)
 * right before the packet data with the bpf_ktime_get_ns() receive stamp
 * (CLOCK_MONOTONIC), a magic value and the class.
 */
#include "classify.h"

char _license[] SEC("license") = "GPL";

/* --- configuration (rodata, set by the loader before load) --------------- */

#define ACKSCOPE_MODE_MIRROR 0
#define ACKSCOPE_MODE_PASS 1
#define ACKSCOPE_MODE_FORWARD 2

/* Verdict for frames that are not steered (ACKSCOPE_MODE_*). */
const volatile __u32 ackscope_mode = ACKSCOPE_MODE_MIRROR;
/* Handshake/teardown entries older than this are treated as absent. */
const volatile __u64 ackscope_flow_age_ns = 10ULL * 1000 * 1000 * 1000;

/* --- shared layouts (mirrored in src/datapath/bpf.rs and xsk.rs) ---------- */

/* "ACKS" little-endian: marks a metadata block written by this program. */
#define ACKSCOPE_META_MAGIC 0x534b4341u

/* XDP metadata, immediately before the packet data. 16 bytes. */
struct ackscope_meta {
	__u64 rx_ts_ns;  /* bpf_ktime_get_ns() at program entry */
	__u32 magic;     /* ACKSCOPE_META_MAGIC */
	__u32 class_;    /* enum ackscope_class */
};

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

/* Per-CPU counters; field order is ABI with src/datapath/bpf.rs. */
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
	__u64 meta_fail;        /* bpf_xdp_adjust_meta refused */
};

/* --- maps ------------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64); /* resized by the loader to the queue count */
	__type(key, __u32);
	__type(value, __u32);
} ackscope_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by the loader */
	__type(key, struct ackscope_flow_key);
	__type(value, struct ackscope_flow_state);
} ackscope_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ackscope_counters);
} ackscope_cnt SEC(".maps");

/* Inline mode: ingress ifindex → egress ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} ackscope_fwd SEC(".maps");

/* --- helpers --------------------------------------------------------------- */

#define CNT(c, field)                   \
	do {                            \
		if (c)                  \
			(c)->field++;   \
	} while (0)

static __always_inline int not_steered(struct xdp_md *ctx)
{
	if (ackscope_mode == ACKSCOPE_MODE_PASS)
		return XDP_PASS;
	if (ackscope_mode == ACKSCOPE_MODE_FORWARD)
		return bpf_redirect_map(&ackscope_fwd, ctx->ingress_ifindex,
					XDP_PASS);
	return XDP_DROP;
}

static __always_inline int flow_fresh(const struct ackscope_flow_state *st,
				      __u64 now)
{
	/* Signed: a stamp taken a hair later on another CPU is fresh. */
	return (__s64)(now - st->ts_ns) <= (__s64)ackscope_flow_age_ns;
}

static __always_inline int steer(struct xdp_md *ctx, __u32 cls, __u64 now,
				 struct ackscope_counters *c)
{
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct ackscope_meta)) == 0) {
		void *data = (void *)(long)ctx->data;
		struct ackscope_meta *m = (void *)(long)ctx->data_meta;

		if ((void *)(m + 1) <= data) {
			m->rx_ts_ns = now;
			m->magic = ACKSCOPE_META_MAGIC;
			m->class_ = cls;
		}
	} else {
		CNT(c, meta_fail);
	}

	long ret = bpf_redirect_map(&ackscope_xsks, ctx->rx_queue_index, 0);
	if (ret == XDP_REDIRECT)
		return XDP_REDIRECT;
	CNT(c, redirect_fail);
	return not_steered(ctx);
}

/* --- program --------------------------------------------------------------- */

SEC("xdp")
int ackscope_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 now = bpf_ktime_get_ns();
	struct ackscope_flow_state *e;
	struct ackscope_flow_state st;
	struct ackscope_pkt p;
	__u32 zero = 0;

	struct ackscope_counters *c = bpf_map_lookup_elem(&ackscope_cnt, &zero);
	CNT(c, frames);

	int cls = ackscope_classify(data, data_end, &p);

	switch (cls) {
	case ACKSCOPE_CLASS_PARSE_FAIL:
		CNT(c, parse_fail);
		return not_steered(ctx);
	case ACKSCOPE_CLASS_NOT_TCP:
		CNT(c, not_tcp);
		return not_steered(ctx);
	case ACKSCOPE_CLASS_OTHER_TCP:
		CNT(c, not_steered_tcp);
		return not_steered(ctx);

	case ACKSCOPE_CLASS_SYN:
		__builtin_memset(&st, 0, sizeof(st));
		st.ts_ns = now;
		st.phase = ACKSCOPE_FLOW_SYN;
		st.client_hi = p.src_is_hi;
		bpf_map_update_elem(&ackscope_flows, &p.key, &st, BPF_ANY);
		CNT(c, steered_syn);
		return steer(ctx, cls, now, c);

	case ACKSCOPE_CLASS_SYNACK:
		__builtin_memset(&st, 0, sizeof(st));
		st.ts_ns = now;
		st.phase = ACKSCOPE_FLOW_SYNACK;
		st.client_hi = !p.src_is_hi;
		bpf_map_update_elem(&ackscope_flows, &p.key, &st, BPF_ANY);
		CNT(c, steered_synack);
		return steer(ctx, cls, now, c);

	case ACKSCOPE_CLASS_RST:
		bpf_map_delete_elem(&ackscope_flows, &p.key);
		CNT(c, steered_rst);
		return steer(ctx, cls, now, c);

	case ACKSCOPE_CLASS_FIN: {
		__u8 bit = p.src_is_hi ? ACKSCOPE_FIN_HI : ACKSCOPE_FIN_LO;

		e = bpf_map_lookup_elem(&ackscope_flows, &p.key);
		if (e && flow_fresh(e, now) && e->phase == ACKSCOPE_FLOW_FIN) {
			e->fin_mask |= bit;
			e->ts_ns = now;
		} else {
			__builtin_memset(&st, 0, sizeof(st));
			st.ts_ns = now;
			st.phase = ACKSCOPE_FLOW_FIN;
			st.fin_mask = bit;
			st.client_hi = e ? e->client_hi : 0;
			bpf_map_update_elem(&ackscope_flows, &p.key, &st,
					    BPF_ANY);
		}
		CNT(c, steered_fin);
		return steer(ctx, cls, now, c);
	}

	case ACKSCOPE_CLASS_BARE_ACK:
		e = bpf_map_lookup_elem(&ackscope_flows, &p.key);
		if (!e) {
			CNT(c, not_steered_tcp);
			return not_steered(ctx);
		}
		if (!flow_fresh(e, now)) {
			bpf_map_delete_elem(&ackscope_flows, &p.key);
			CNT(c, flows_expired);
			CNT(c, not_steered_tcp);
			return not_steered(ctx);
		}
		if (e->phase == ACKSCOPE_FLOW_FIN) {
			if (e->fin_mask == (ACKSCOPE_FIN_LO | ACKSCOPE_FIN_HI))
				bpf_map_delete_elem(&ackscope_flows, &p.key);
		} else if (p.src_is_hi == e->client_hi) {
			/* From the client in SYN/SYNACK: handshake complete. */
			bpf_map_delete_elem(&ackscope_flows, &p.key);
		}
		/* else: from the server in handshake — the stale-ACK case;
		 * keep the entry for the client's RST and retried SYN. */
		CNT(c, steered_ack);
		return steer(ctx, cls, now, c);

	default:
		CNT(c, not_steered_tcp);
		return not_steered(ctx);
	}
}
