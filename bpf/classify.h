/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — shared packet classifier for every BPF program of the project
 * (the XDP steering program now, the tc clone program of `host` mode later).
 *
 * ackscope_classify() parses
 *
 *   Ethernet → up to eight VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, the
 *              pre-standard QinQ 0x9100), as the Rust parser
 *              (src/packet/link.rs MAX_VLAN_TAGS); a ninth is a parse failure
 *            → IPv4 (IHL options; non-first fragments are "not TCP")
 *              | IPv6 (bounded extension header walk: hop-by-hop 0, routing 43,
 *                destination options 60, fragment 44, AH 51; a non-first
 *                fragment is "not TCP")
 *            → TCP (fixed 20-byte header; options are skipped by data offset)
 *
 * and returns a class plus a canonical flow key. Everything is bounded and
 * written for the verifier: every header access is preceded by an explicit
 * `ptr + size > data_end` check, loops have constant trip counts and are
 * unrolled.
 *
 * Hardware VLAN stripping: NICs with rx VLAN offload remove the tag before
 * XDP sees the frame, so the key then carries VLAN 0. Disable the offload
 * (`ethtool -K IFACE rxvlan off`) on a capture port if VLANs matter.
 */
#ifndef ACKSCOPE_CLASSIFY_H
#define ACKSCOPE_CLASSIFY_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Classes, in the order they are decided (RST beats SYN beats FIN). */
enum ackscope_class {
	/* Truncated or malformed headers (bad IHL/doff/lengths, too many
	 * IPv6 extension headers). */
	ACKSCOPE_CLASS_PARSE_FAIL = 0,
	/* Not TCP: other ethertypes, other L4 protocols, non-first fragments,
	 * ESP, "no next header". */
	ACKSCOPE_CLASS_NOT_TCP = 1,
	/* TCP, but none of the control classes below (data segments, ACKs
	 * carrying payload, URG/PSH-only oddities without ACK...). */
	ACKSCOPE_CLASS_OTHER_TCP = 2,
	/* SYN without ACK (a connection attempt). */
	ACKSCOPE_CLASS_SYN = 3,
	/* SYN with ACK. */
	ACKSCOPE_CLASS_SYNACK = 4,
	/* FIN (SYN and RST clear), with or without payload. */
	ACKSCOPE_CLASS_FIN = 5,
	/* RST (whatever else is set). */
	ACKSCOPE_CLASS_RST = 6,
	/* ACK set, SYN/FIN/RST clear, zero payload (PSH/URG/ECE/CWR ignored). */
	ACKSCOPE_CLASS_BARE_ACK = 7,
};

#define ACKSCOPE_TCP_FIN 0x01
#define ACKSCOPE_TCP_SYN 0x02
#define ACKSCOPE_TCP_RST 0x04
#define ACKSCOPE_TCP_PSH 0x08
#define ACKSCOPE_TCP_ACK 0x10

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Maximum number of VLAN tags parsed (= MAX_VLAN_TAGS of the Rust parser). */
#define ACKSCOPE_MAX_VLAN 8
#ifndef ETH_P_QINQ1
#define ETH_P_QINQ1 0x9100
#endif

static __always_inline int ackscope_is_vlan(__u16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD) ||
	       proto == bpf_htons(ETH_P_QINQ1);
}
/* Maximum number of IPv6 extension headers walked before giving up. */
#define ACKSCOPE_MAX_V6_EXT 6

/*
 * What the classifier extracts from one frame. The addresses, ports and VLAN
 * ids are filled only for the classes a program may select (SYN and above):
 * a data segment costs no copy. `src`/`dst` are the sender's and receiver's
 * addresses, IPv4 stored v4-mapped (::ffff:a.b.c.d), network byte order.
 * The flow key of the tracking (flowtrack.h) is derived from them there.
 */
struct ackscope_pkt {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;        /* host byte order */
	__u16 dport;        /* host byte order */
	__u16 vlan_outer;   /* 12-bit VID of the first tag, 0 = untagged */
	__u16 vlan_inner;   /* 12-bit VID of the second tag, 0 = none */
	__u32 payload_len;  /* TCP payload bytes, from the IP length fields */
	__u8 tcp_flags;     /* byte 13 of the TCP header (CWR..FIN) */
	__u8 ip_version;    /* 4 or 6 (0 before L3 is parsed) */
	__u8 _pad[2];
};

struct ackscope_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct ackscope_v6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 _rest[6];
};

struct ackscope_v6_frag_hdr {
	__u8 nexthdr;
	__u8 _reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Class of a parsed TCP header given its payload length. */
static __always_inline int ackscope_tcp_class(__u8 flags, __u32 payload_len)
{
	if (flags & ACKSCOPE_TCP_RST)
		return ACKSCOPE_CLASS_RST;
	if (flags & ACKSCOPE_TCP_SYN)
		return (flags & ACKSCOPE_TCP_ACK) ? ACKSCOPE_CLASS_SYNACK
						  : ACKSCOPE_CLASS_SYN;
	if (flags & ACKSCOPE_TCP_FIN)
		return ACKSCOPE_CLASS_FIN;
	if ((flags & ACKSCOPE_TCP_ACK) && payload_len == 0)
		return ACKSCOPE_CLASS_BARE_ACK;
	return ACKSCOPE_CLASS_OTHER_TCP;
}

/* Fill the addresses and ports of `p` (the control classes only). */
static __always_inline void ackscope_fill_v4(struct ackscope_pkt *p,
					     const struct iphdr *ip,
					     const struct tcphdr *th)
{
	p->src[0] = 0;
	p->src[1] = 0;
	p->src[2] = bpf_htonl(0x0000ffff);
	p->src[3] = ip->saddr;
	p->dst[0] = 0;
	p->dst[1] = 0;
	p->dst[2] = bpf_htonl(0x0000ffff);
	p->dst[3] = ip->daddr;
	p->sport = bpf_ntohs(th->source);
	p->dport = bpf_ntohs(th->dest);
}

static __always_inline void ackscope_fill_v6(struct ackscope_pkt *p,
					     const struct ipv6hdr *ip6,
					     const struct tcphdr *th)
{
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);
	p->sport = bpf_ntohs(th->source);
	p->dport = bpf_ntohs(th->dest);
}

/*
 * Classify the frame [data, data_end). The class is always returned;
 * `p->payload_len`, `p->tcp_flags` and `p->ip_version` are set for every
 * TCP class, the addresses, ports and VLAN ids only for the classes a
 * program may select (SYN and above), so a data segment is classified
 * without copying them (issue 18: the data path stays near the XDP floor).
 */
static __always_inline int ackscope_classify(void *data, void *data_end,
					     struct ackscope_pkt *p)
{
	struct iphdr *ip;
	struct ipv6hdr *ip6;
	void *l3;           /* the IP header (a packet pointer on every path) */
	int v6 = 0;
	__u16 vlan_outer = 0, vlan_inner = 0;
	__u32 l4_len;
	void *cur = data;
	__u16 proto;
	__u8 l4proto;

	p->ip_version = 0;

	struct ethhdr *eth = cur;
	if ((void *)(eth + 1) > data_end)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	proto = eth->h_proto;
	cur = eth + 1;

	/* Fast path: untagged IPv4 (the common case) falls through the tag loop
	 * after one comparison. */
	if (proto != bpf_htons(ETH_P_IP)) {
#pragma unroll
		for (int i = 0; i < ACKSCOPE_MAX_VLAN; i++) {
			if (!ackscope_is_vlan(proto))
				break;
			struct ackscope_vlan_hdr *vh = cur;
			if ((void *)(vh + 1) > data_end)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u16 vid = bpf_ntohs(vh->tci) & 0x0fff;
			/* The key keeps the first two tags. */
			if (i == 0)
				vlan_outer = vid;
			else if (i == 1)
				vlan_inner = vid;
			proto = vh->encap_proto;
			cur = vh + 1;
		}
		/* A ninth tag: the parser's too_many_vlan_tags. */
		if (ackscope_is_vlan(proto))
			return ACKSCOPE_CLASS_PARSE_FAIL;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		ip = cur;
		l3 = cur;
		if ((void *)(ip + 1) > data_end)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		if (ip->version != 4)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		__u32 ihl = ((__u32)ip->ihl) * 4;
		if (ihl < sizeof(*ip))
			return ACKSCOPE_CLASS_PARSE_FAIL;
		__u32 tot_len = bpf_ntohs(ip->tot_len);
		if (tot_len < ihl)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		p->ip_version = 4;
		/* Fragment offset != 0: no TCP header in this frame. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return ACKSCOPE_CLASS_NOT_TCP;
		if (ip->protocol != IPPROTO_TCP)
			return ACKSCOPE_CLASS_NOT_TCP;
		l4_len = tot_len - ihl;
		cur = (void *)ip + (ihl & 0x3c);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = cur;
		l3 = cur;
		v6 = 1;
		if ((void *)(ip6 + 1) > data_end)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		if (ip6->version != 6)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		p->ip_version = 6;
		l4_len = bpf_ntohs(ip6->payload_len);
		l4proto = ip6->nexthdr;
		cur = ip6 + 1;

		if (l4proto != IPPROTO_TCP) {
#pragma unroll
		for (int i = 0; i < ACKSCOPE_MAX_V6_EXT; i++) {
			__u32 hlen;

			if (l4proto == IPPROTO_HOPOPTS ||
			    l4proto == IPPROTO_ROUTING ||
			    l4proto == IPPROTO_DSTOPTS) {
				struct ackscope_v6_opt_hdr *oh = cur;
				if ((void *)(oh + 1) > data_end)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				hlen = ((__u32)oh->hdrlen + 1) * 8;
				l4proto = oh->nexthdr;
			} else if (l4proto == IPPROTO_AH) {
				struct ackscope_v6_opt_hdr *oh = cur;
				if ((void *)(oh + 1) > data_end)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				hlen = ((__u32)oh->hdrlen + 2) * 4;
				l4proto = oh->nexthdr;
			} else if (l4proto == IPPROTO_FRAGMENT) {
				struct ackscope_v6_frag_hdr *fh = cur;
				if ((void *)(fh + 1) > data_end)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				/* Offset field (upper 13 bits) != 0: non-first. */
				if (fh->frag_off & bpf_htons(0xfff8))
					return ACKSCOPE_CLASS_NOT_TCP;
				hlen = sizeof(*fh);
				l4proto = fh->nexthdr;
			} else {
				break;
			}
			if (l4_len < hlen)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			l4_len -= hlen;
			/* hlen <= 2048: keeps the packet offset bounded. */
			cur += hlen & 0xfff;
		}
		if (l4proto == IPPROTO_HOPOPTS || l4proto == IPPROTO_ROUTING ||
		    l4proto == IPPROTO_DSTOPTS || l4proto == IPPROTO_AH ||
		    l4proto == IPPROTO_FRAGMENT)
			return ACKSCOPE_CLASS_PARSE_FAIL; /* chain too long */
		if (l4proto != IPPROTO_TCP)
			return ACKSCOPE_CLASS_NOT_TCP;
		}
	} else {
		return ACKSCOPE_CLASS_NOT_TCP;
	}

	struct tcphdr *th = cur;
	if ((void *)(th + 1) > data_end)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	__u32 doff = ((__u32)th->doff) * 4;
	if (doff < sizeof(*th) || l4_len < doff)
		return ACKSCOPE_CLASS_PARSE_FAIL;

	p->payload_len = l4_len - doff;
	p->tcp_flags = ((__u8 *)th)[13];
	int cls = ackscope_tcp_class(p->tcp_flags, p->payload_len);
	if (cls < ACKSCOPE_CLASS_SYN)
		return cls;

	/* A control class: what the tracking key needs. */
	p->vlan_outer = vlan_outer;
	p->vlan_inner = vlan_inner;
	if (v6)
		ackscope_fill_v6(p, l3, th);
	else
		ackscope_fill_v4(p, l3, th);
	return cls;
}

#endif /* ACKSCOPE_CLASSIFY_H */
