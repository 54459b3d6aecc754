// SPDX-License-Identifier: GPL-2.0-only
/*
 * ackscope tc clone program (host mode).
 *
 * Attached with cls_bpf (direct action) to the clsact ingress *and* egress
 * hooks of a production interface. It never touches the packet it runs on:
 * it classifies it with the shared classifier (classify.h), tracks
 * handshake/teardown 4-tuples exactly like the XDP steering program
 * (flowtrack.h), and for every control segment (SYN, SYN-ACK, FIN, RST, bare
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
#include "flowtrack.h"

char _license[] SEC("license") = "GPL";

/* --- configuration (rodata, set by the loader before load) --------------- */

/* Where clones go: egress of this interface (ackscope's private veth end). */
const volatile __u32 ackscope_clone_ifindex = 0;
/* Handshake/teardown entries older than this are treated as absent. */
const volatile __u64 ackscope_flow_age_ns = 10ULL * 1000 * 1000 * 1000;


struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized by the loader */
	__type(key, struct ackscope_flow_key);
	__type(value, struct ackscope_flow_state);
} ackscope_tc_flows SEC(".maps");

/* Presence filter of ackscope_tc_flows (flowtrack.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ACKSCOPE_PRESENCE_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} ackscope_tc_presence SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ackscope_tc_counters);
} ackscope_tc_cnt SEC(".maps");


/* Longest header chain worth pulling into the linear area. */
#define ACKSCOPE_PULL_LEN 128

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

	int verdict = ackscope_track(&ackscope_tc_flows, &ackscope_tc_presence, &p, cls, &now,
				     ackscope_flow_age_ns);
	if (verdict != ACKSCOPE_TRACK_SELECT) {
		if (verdict == ACKSCOPE_TRACK_EXPIRED)
			CNT(c, flows_expired);
		CNT(c, not_cloned_tcp);
		return TC_ACT_UNSPEC;
	}

	CNT_SELECTED(c, cls, cloned);
	if (bpf_clone_redirect(skb, ackscope_clone_ifindex, 0) != 0)
		CNT(c, clone_fail);
	return TC_ACT_UNSPEC;
}
