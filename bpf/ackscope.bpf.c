// SPDX-License-Identifier: GPL-2.0-only
/*
 * ackscope XDP steering program.
 *
 * Steers TCP control segments into the AF_XDP socket of the receive queue
 * (XSKMAP[ctx->rx_queue_index], plus a per-interface base slot in forward
 * mode, see `ackscope_xsk_base`): every SYN, SYN-ACK, FIN and RST, and bare
 * ACKs (ACK only, no payload) of 4-tuples in handshake or teardown, as
 * decided by the tracking of flowtrack.h on the set-associative table of
 * flowtable.h (map `ackscope_flows`).
 *
 * With `ackscope_presorted` set (host mode: the interface is ackscope's
 * private veth and receives only the clones the tc program chose), every
 * control class including every bare ACK is steered without tracking.
 *
 * Everything else gets the "not steered" verdict of the mode:
 * mirror → XDP_DROP, pass → XDP_PASS, forward → DEVMAP_HASH
 * `ackscope_fwd`[ingress ifindex] (XDP_PASS when no peer is configured).
 * A steered frame whose XSKMAP redirect fails (no socket on that queue)
 * gets the same verdict and is counted in `redirect_fail`.
 *
 * Steered frames carry a 16-byte XDP metadata block (struct ackscope_meta)
 * right before the packet data with the bpf_ktime_get_ns() receive stamp
 * (CLOCK_MONOTONIC), a magic value and the class, or, on kernels that
 * refuse bpf_xdp_adjust_meta to XDP programs, the same block in front of
 * the frame (`ackscope_stamp`). The clock is read only for
 * frames that need it (steered, or tracked with an entry): data segments and
 * bare ACKs of established flows are decided without it (issue 18).
 */
#include "counters.h"
#include "flowtable.h"

char _license[] SEC("license") = "GPL";

/* --- configuration (rodata, set by the loader before load) --------------- */

#define ACKSCOPE_MODE_MIRROR 0
#define ACKSCOPE_MODE_PASS 1
#define ACKSCOPE_MODE_FORWARD 2

/* Verdict for frames that are not steered (ACKSCOPE_MODE_*). */
const volatile __u32 ackscope_mode = ACKSCOPE_MODE_MIRROR;
/* Handshake/teardown entries older than this are treated as absent. */
const volatile __u64 ackscope_flow_age_ns = 10ULL * 1000 * 1000 * 1000;
/* 1: frames were already chosen by the tc clone program (host mode): steer
 * every control class, bare ACKs included, without tracking. */
const volatile __u32 ackscope_presorted = 0;
/* 1: every control-class frame's parse (struct ackscope_pkt) is written to
 * ackscope_last, for the C-vs-Rust differential test (classify_test_run in
 * src/datapath/xdp.rs). 0 on interfaces: the verifier removes the code. */
const volatile __u32 ackscope_record = 0;
/* Where a steered frame carries its stamp block (struct ackscope_meta):
 * ACKSCOPE_STAMP_META in the XDP metadata area (bpf_xdp_adjust_meta), or,
 * on kernel builds that refuse that helper to XDP programs at load time
 * ("program of this type cannot use helper bpf_xdp_adjust_meta#54"),
 * ACKSCOPE_STAMP_PREFIX as 16 bytes in front of the frame
 * (bpf_xdp_adjust_head: XDP guarantees 256 bytes of headroom, where a
 * trailer found no tailroom in one frame of five on a veth). User space
 * reads the prefix, checks `ackscope_prefix_magic` (random per run, so no
 * frame's own bytes can pass for it), and moves the frame back over it
 * before anything else sees the frame, inline's transmit included. The
 * loader probes the helper (src/datapath/xdp.rs). With ACKSCOPE_STAMP_NONE,
 * the default so that tools loading the object as it is load it everywhere,
 * the verifier prunes both calls and user space stamps each receive batch. */
#define ACKSCOPE_STAMP_NONE 0
#define ACKSCOPE_STAMP_META 1
#define ACKSCOPE_STAMP_PREFIX 2
const volatile __u32 ackscope_stamp = ACKSCOPE_STAMP_NONE;
const volatile __u32 ackscope_prefix_magic = ACKSCOPE_META_MAGIC;

/* Shared layouts (struct ackscope_meta, the counters): abi.h, counters.h. */



/* --- maps ------------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64); /* resized by the loader to the queue count */
	__type(key, __u32);
	__type(value, __u32);
} ackscope_xsks SEC(".maps");

/* The handshake/teardown table (flowtable.h): set-associative, 64-byte
 * buckets of 8 entries, shared by every CPU (and by the programs of several
 * mirror ports). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 8192); /* resized by the loader: buckets, a power of two */
	__type(key, __u32);
	__type(value, struct ackscope_bucket);
} ackscope_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ackscope_counters);
} ackscope_cnt SEC(".maps");

/* The last control-class frame's parse, with ackscope_record set. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ackscope_pkt);
} ackscope_last SEC(".maps");

/* Inline mode: ingress ifindex → egress ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} ackscope_fwd SEC(".maps");

/* Forward (inline) mode: XSKMAP slot of rx queue q of ingress ifindex i is
 * ackscope_xsk_base[i] + q (0 + q when i has no entry). Both ports of an
 * inline pair share one program and one XSKMAP, and an XSKMAP redirect only
 * reaches a socket bound to the receiving device and queue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} ackscope_xsk_base SEC(".maps");

/* --- helpers --------------------------------------------------------------- */


static __always_inline int not_steered(struct xdp_md *ctx)
{
	if (ackscope_mode == ACKSCOPE_MODE_PASS)
		return XDP_PASS;
	if (ackscope_mode == ACKSCOPE_MODE_FORWARD)
		return bpf_redirect_map(&ackscope_fwd, ctx->ingress_ifindex,
					XDP_PASS);
	return XDP_DROP;
}

static __always_inline void put_stamp(struct ackscope_meta *m, __u64 *now, __u32 magic,
				      __u32 cls)
{
	m->rx_ts_ns = ackscope_now(now);
	m->magic = magic;
	m->class_ = cls;
}

static __always_inline int steer(struct xdp_md *ctx, __u32 cls, __u64 *now,
				 struct ackscope_counters *c)
{
	int prefix = 0;

	if (ackscope_stamp == ACKSCOPE_STAMP_META) {
		if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct ackscope_meta)) == 0) {
			void *data = (void *)(long)ctx->data;
			struct ackscope_meta *m = (void *)(long)ctx->data_meta;

			if ((void *)(m + 1) <= data)
				put_stamp(m, now, ACKSCOPE_META_MAGIC, cls);
		} else {
			/* Refused at run time (a driver without metadata). */
			CNT(c, meta_fail);
		}
	} else if (ackscope_stamp == ACKSCOPE_STAMP_PREFIX) {
		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ackscope_meta)) == 0) {
			void *data = (void *)(long)ctx->data;
			void *data_end = (void *)(long)ctx->data_end;
			struct ackscope_meta *m = data;

			prefix = 1;
			if ((void *)(m + 1) <= data_end)
				put_stamp(m, now, ackscope_prefix_magic, cls);
		} else {
			/* No headroom (XDP guarantees it: not seen). */
			CNT(c, meta_fail);
		}
	}

	__u32 slot = ctx->rx_queue_index;
	if (ackscope_mode == ACKSCOPE_MODE_FORWARD) {
		__u32 ifindex = ctx->ingress_ifindex;
		__u32 *base = bpf_map_lookup_elem(&ackscope_xsk_base, &ifindex);

		if (base)
			slot += *base;
	}
	long ret = bpf_redirect_map(&ackscope_xsks, slot, 0);
	if (ret == XDP_REDIRECT)
		return XDP_REDIRECT;
	CNT(c, redirect_fail);
	/* Not for user space after all: the frame leaves as it came. */
	if (prefix)
		bpf_xdp_adjust_head(ctx, (int)sizeof(struct ackscope_meta));
	return not_steered(ctx);
}

/* --- program --------------------------------------------------------------- */

/*
 * One encapsulation of a frame: the tunnel header where the walk `w`
 * stopped, then the headers up to the inner TCP header (a class) or the next
 * tunnel header (ACKSCOPE_CLASS_DECAP again). A global function: the
 * verifier checks it once, with `w` unknown, instead of once per path of the
 * walk before it (inline, the walk's states multiply past the verifier's
 * limit). Only encapsulated (and UDP) frames pay the call.
 */
__noinline int ackscope_decap(struct xdp_md *ctx, struct ackscope_pkt *p,
			      struct ackscope_walk *w)
{
	if (!ctx || !p || !w)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return ackscope_walk_frame(data, data_end, p, w, 1);
}

SEC("xdp")
int ackscope_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 now = 0; /* read only for frames that need it */
	struct ackscope_pkt p;
	__u32 zero = 0;
	int verdict;

	struct ackscope_counters *c = bpf_map_lookup_elem(&ackscope_cnt, &zero);
	CNT(c, frames);

	/* The common frame first, in straight-line code: a data segment of a
	 * plain TCP/IP frame leaves here (issue 18). */
	int cls = ackscope_classify_fast(data, data_end, &p);
	if (cls == ACKSCOPE_CLASS_OTHER_TCP) {
		CNT(c, not_steered_tcp);
		return not_steered(ctx);
	}
	if (cls == ACKSCOPE_CLASS_DECAP) {
		struct ackscope_walk w;

		cls = ackscope_classify_plain(data, data_end, &p, &w);
		/* One call per encapsulation; the (MAX + 1)th fails in
		 * ackscope_enter (too many encapsulations, as the parser). */
#pragma unroll
		for (int i = 0; i <= ACKSCOPE_MAX_ENCAP; i++) {
			if (cls != ACKSCOPE_CLASS_DECAP)
				break;
			cls = ackscope_decap(ctx, &p, &w);
		}
		if (cls == ACKSCOPE_CLASS_DECAP)
			cls = ACKSCOPE_CLASS_PARSE_FAIL;
	}

	if (cls == ACKSCOPE_CLASS_PARSE_FAIL) {
		CNT(c, parse_fail);
		return not_steered(ctx);
	}
	if (cls == ACKSCOPE_CLASS_NOT_TCP) {
		CNT(c, not_tcp);
		return not_steered(ctx);
	}
	if (p.tun_depth)
		CNT(c, tunnelled);
	if (!ackscope_selectable(cls)) {
		CNT(c, not_steered_tcp);
		return not_steered(ctx);
	}
	if (ackscope_record) {
		struct ackscope_pkt *last = bpf_map_lookup_elem(&ackscope_last, &zero);

		if (last)
			__builtin_memcpy(last, &p, sizeof(p));
	}

	if (ackscope_presorted)
		verdict = ACKSCOPE_TRACK_SELECT;
	else
		verdict = ackscope_table_track(&ackscope_flows, &p, cls, &now,
					       ackscope_flow_age_ns,
					       c ? &c->flows_evicted : 0);
	if (verdict != ACKSCOPE_TRACK_SELECT) {
		if (verdict == ACKSCOPE_TRACK_EXPIRED)
			CNT(c, flows_expired);
		CNT(c, not_steered_tcp);
		return not_steered(ctx);
	}

	CNT_SELECTED(c, cls, steered);
	return steer(ctx, cls, &now, c);
}
