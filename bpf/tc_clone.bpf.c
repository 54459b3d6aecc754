// SPDX-License-Identifier: GPL-2.0-only
/*
 * ackscope tc clone program (host mode).
 *
 * Attached with cls_bpf (direct action) to the clsact ingress *and* egress
 * hooks of a production interface. It never touches the packet it runs on:
 * it classifies it with the shared classifier (classify.h), tracks
 * handshake/teardown 4-tuples exactly like the XDP steering program
 * (flowtrack.h's rules on flowtable.h's table, evictions counted), and for every control segment (SYN, SYN-ACK, FIN, RST, bare
 * ACK of a tracked 4-tuple) sends a *clone* to the egress of ackscope's
 * private veth (`ackscope_clone_ifindex`) with bpf_clone_redirect(). The clone
 * arrives on the veth's peer, where the XDP steering program (mirror mode,
 * `ackscope_presorted`) hands it to AF_XDP.
 *
 * Verdict: always TC_ACT_UNSPEC ("no opinion"): the packet continues with
 * the next filter on the hook (an operator's own filters still run) and then
 * with the default action, exactly as if ackscope were not there.
 * (TC_ACT_OK would end the filter chain.)
 *
 * Headers outside the linear part of the skb (rare: drivers and the TCP
 * stack put them in the head) are made readable with bpf_skb_pull_data()
 * (up to 128 bytes); the packet's bytes are unchanged. An 802.1Q/802.1ad tag
 * held out of band (skb->vlan_tci, always the case at tc ingress) becomes the
 * outer VLAN of the tracking key, so both directions key alike.
 */
#include <linux/pkt_cls.h>

#include "counters.h"
#include "flowtable.h"

char _license[] SEC("license") = "GPL";

/* --- configuration (rodata, set by the loader before load) --------------- */

/* Where clones go: egress of this interface (ackscope's private veth end). */
const volatile __u32 ackscope_clone_ifindex = 0;
/* 1: ring path (records into ackscope_tc_ring, no clone); 0: clone path. */
const volatile __u32 ackscope_ring_mode = 1;
/* Ring path: the record that brings the ring to this many bytes is submitted
 * with a wake-up (all others with BPF_RB_NO_WAKEUP: the consumer polls with a
 * short timeout). */
const volatile __u64 ackscope_ring_wake_bytes = 256 * 1024;
/* Ring path: 1 copies the frame's first ACKSCOPE_REC_SNAP bytes whatever they hold
 * (--pcap-dir records them); 0 copies the headers only (the frame minus its TCP payload,
 * at most ACKSCOPE_REC_SNAP bytes), which is all the worker parses. */
const volatile __u32 ackscope_rec_whole = 0;
/* Handshake/teardown entries older than this are treated as absent. */
const volatile __u64 ackscope_flow_age_ns = 10ULL * 1000 * 1000 * 1000;


/* The handshake/teardown table (flowtable.h), shared by every CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 8192); /* resized by the loader: buckets, a power of two */
	__type(key, __u32);
	__type(value, struct ackscope_bucket);
} ackscope_tc_flows SEC(".maps");

/* Ring path: one shared ring for every CPU (resized by the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 * 1024 * 1024);
} ackscope_tc_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ackscope_tc_counters);
} ackscope_tc_cnt SEC(".maps");


/* Longest header chain worth pulling into the linear area. */
#define ACKSCOPE_PULL_LEN 128

/* What ackscope_record() did. */
enum { ACKSCOPE_REC_OK = 0, ACKSCOPE_REC_FULL = 1, ACKSCOPE_REC_WOKE = 2 };

/* Ring path: a record of the segment's first bytes (the packet is only read). An
 * out-of-band VLAN tag is put back into the copy, as the clone path's veth does. `want` is
 * how many of the frame's bytes are worth copying (at most ACKSCOPE_REC_SNAP are).
 *
 * A global function: the verifier checks it once, on its own, instead of once per path of
 * the classifier that reaches it (the program stays well inside the verifier's budget, and
 * a record costs one BPF-to-BPF call). */
__noinline int ackscope_record(struct __sk_buff *skb, __u64 now, __u32 cls, __u32 want)
{
	struct ackscope_tc_record *r;
	__u32 len = skb->len;
	__u32 cap;

	if (want > len)
		want = len;
	r = bpf_ringbuf_reserve(&ackscope_tc_ring, sizeof(*r), 0);
	if (!r)
		return ACKSCOPE_REC_FULL;
	r->ts_ns = now;
	r->ifindex = skb->ifindex;
	r->egress = skb->ingress_ifindex == 0 || skb->ingress_ifindex != skb->ifindex;
	r->class_ = cls;
	r->_pad = 0;
	if (skb->vlan_present && want >= 14) {
		__u32 rest = want - 12;
		int ok = bpf_skb_load_bytes(skb, 0, r->data, 12) == 0;
		__u16 tpid = bpf_htons(skb->vlan_proto);
		__u16 tci = bpf_htons(skb->vlan_tci);

		__builtin_memcpy(&r->data[12], &tpid, 2);
		__builtin_memcpy(&r->data[14], &tci, 2);
		if (rest > ACKSCOPE_REC_SNAP - 16)
			rest = ACKSCOPE_REC_SNAP - 16;
		/* rest is 2..112 here; the mask shows the verifier a non-zero length within
		 * data[] (which has 16 bytes of slack for it). */
		rest = ((rest - 1) & (ACKSCOPE_REC_SNAP - 1)) + 1;
		if (ok && bpf_skb_load_bytes(skb, 12, &r->data[16], rest) == 0)
			cap = rest + 16;
		else
			cap = 0;
		r->wire_len = len + 4;
	} else {
		cap = want < ACKSCOPE_REC_SNAP ? want : ACKSCOPE_REC_SNAP;
		cap = ((cap - 1) & (ACKSCOPE_REC_SNAP - 1)) + 1;
		if (want == 0 || bpf_skb_load_bytes(skb, 0, r->data, cap) != 0)
			cap = 0;
		r->wire_len = len;
	}
	r->cap_len = cap;
	/* A forced wake-up costs ~4 us on this CPU (irq_work), so only the record that
	 * crosses the fill mark wakes the consumer; below it, and above it while the
	 * consumer catches up, records are submitted silently (the consumer paces itself,
	 * src/datapath/ring.rs). The available data includes this record. */
	__u64 avail = bpf_ringbuf_query(&ackscope_tc_ring, BPF_RB_AVAIL_DATA);
	if (avail >= ackscope_ring_wake_bytes &&
	    avail < ackscope_ring_wake_bytes + sizeof(*r) + 8) {
		bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
		return ACKSCOPE_REC_WOKE;
	}
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return ACKSCOPE_REC_OK;
}

SEC("tc")
int ackscope_tc(struct __sk_buff *skb)
{
	__u64 now = 0; /* read by the tracking only when needed */
	struct ackscope_pkt p;
	__u32 zero = 0;

	struct ackscope_tc_counters *c = bpf_map_lookup_elem(&ackscope_tc_cnt, &zero);
	CNT(c, packets);

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	int cls = ackscope_classify(data, data_end, &p);

	if (cls == ACKSCOPE_CLASS_PARSE_FAIL &&
	    skb->len > (__u32)(data_end - data)) {
		__u32 want = skb->len < ACKSCOPE_PULL_LEN ? skb->len : ACKSCOPE_PULL_LEN;

		if (bpf_skb_pull_data(skb, want) == 0) {
			CNT(c, pulled);
			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			cls = ackscope_classify(data, data_end, &p);
		}
	}

	if (cls == ACKSCOPE_CLASS_PARSE_FAIL) {
		CNT(c, parse_fail);
		return TC_ACT_UNSPEC;
	}
	if (cls == ACKSCOPE_CLASS_NOT_TCP) {
		CNT(c, not_tcp);
		return TC_ACT_UNSPEC;
	}
	if (!ackscope_selectable(cls)) {
		CNT(c, not_cloned_tcp);
		return TC_ACT_UNSPEC;
	}

	if (skb->vlan_present) {
		p.vlan_inner = p.vlan_outer;
		p.vlan_outer = skb->vlan_tci & 0x0fff;
	}

	int verdict = ackscope_table_track(&ackscope_tc_flows, &p, cls, &now,
					   ackscope_flow_age_ns,
					   c ? &c->flows_evicted : 0);
	if (verdict != ACKSCOPE_TRACK_SELECT) {
		if (verdict == ACKSCOPE_TRACK_EXPIRED)
			CNT(c, flows_expired);
		CNT(c, not_cloned_tcp);
		return TC_ACT_UNSPEC;
	}

	CNT_SELECTED(c, cls, cloned);
	if (ackscope_ring_mode) {
		/* The headers only, unless captures want the frame's prefix. */
		__u32 want = skb->len;

		if (!ackscope_rec_whole && p.payload_len < want)
			want -= p.payload_len;
		/* The tracking reads the clock only where it needs it (not for a RST):
		 * every record carries its stamp (a RST's was 0 before). */
		int rc = ackscope_record(skb, ackscope_now(&now), cls, want);

		if (rc == ACKSCOPE_REC_FULL)
			CNT(c, ring_full);
		else if (rc == ACKSCOPE_REC_WOKE)
			CNT(c, ring_wakeups);
		return TC_ACT_UNSPEC;
	}
	if (bpf_clone_redirect(skb, ackscope_clone_ifindex, 0) != 0)
		CNT(c, clone_fail);
	return TC_ACT_UNSPEC;
}
