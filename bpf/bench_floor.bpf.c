// SPDX-License-Identifier: GPL-2.0-only
/*
 * Floors for the XDP cost bench (bench/xdp_cost.rs, bench/README.md): run
 * with BPF_PROG_RUN on the same frames as ackscope_xdp, in the same run.
 *
 *   bench_drop   returns XDP_DROP: the cost of running any XDP program.
 *   bench_parse  parses Ethernet → IPv4/IPv6 → TCP (bounds checks, the
 *                flags byte, the payload length) and drops: what a
 *                classifier cannot avoid. Nothing else (no maps, no clock).
 *   bench_fwd    forwards every frame through the DEVMAP_HASH bench_fwd_map
 *                [ingress ifindex] (XDP_PASS without an entry): the limit of
 *                inline mode on the same ports (bench/xdp_fwd.rs,
 *                bench/modes.sh inline).
 *
 * Not loaded by ackscope itself.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char _license[] SEC("license") = "GPL";

/* Ingress ifindex → egress ifindex (bench_fwd). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} bench_fwd_map SEC(".maps");

SEC("xdp")
int bench_fwd(struct xdp_md *ctx)
{
	return bpf_redirect_map(&bench_fwd_map, ctx->ingress_ifindex, XDP_PASS);
}

/* Written so the compiler cannot drop the parse. */
__u64 bench_sink;

SEC("xdp")
int bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int bench_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tcphdr *th;
	__u32 len;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
			return XDP_DROP;
		__u32 ihl = ((__u32)ip->ihl * 4) & 0x3c;
		len = bpf_ntohs(ip->tot_len) - ihl;
		th = (void *)ip + ihl;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_DROP;
		len = bpf_ntohs(ip6->payload_len);
		th = (void *)(ip6 + 1);
	} else {
		return XDP_DROP;
	}
	if ((void *)(th + 1) > data_end)
		return XDP_DROP;
	bench_sink += ((__u8 *)th)[13] + len - th->doff * 4;
	return XDP_DROP;
}
