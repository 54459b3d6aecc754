/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ackscope — shared packet classifier for every BPF program of the project
 * (the XDP steering program now, the tc clone program of `host` mode later).
 *
 * ackscope_classify() decapsulates what the Rust parser does (see the
 * function's comment) and then parses
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

/* Encapsulations followed in one frame (= MAX_ENCAP_DEPTH of the Rust parser,
 * src/packet/encap.rs); one more is a parse failure, as there. */
#define ACKSCOPE_MAX_ENCAP 4
/* MPLS label stack entries followed (= MAX_MPLS_LABELS). */
#define ACKSCOPE_MAX_MPLS 8
/* No header is read past this offset (the verifier needs a bound on the
 * packet offset; no NIC puts a header this deep). */
#define ACKSCOPE_MAX_OFF 0x3fff

/* Tunnel kinds: TunnelKind of src/packet/encap.rs + 1 (0 = no tunnel). */
enum ackscope_tunnel {
	ACKSCOPE_TUN_NONE = 0,
	ACKSCOPE_TUN_VXLAN = 1,
	ACKSCOPE_TUN_GENEVE = 2,
	ACKSCOPE_TUN_GRE = 3,
	ACKSCOPE_TUN_GRE_TEB = 4,
	ACKSCOPE_TUN_ERSPAN_I = 5,
	ACKSCOPE_TUN_ERSPAN_II = 6,
	ACKSCOPE_TUN_ERSPAN_III = 7,
	ACKSCOPE_TUN_IPIP = 8,
	ACKSCOPE_TUN_MPLS = 9,
	ACKSCOPE_TUN_PPPOE = 10,
};

/*
 * What the classifier extracts from one frame. The addresses, ports, VLAN
 * ids and the tunnel's outer endpoints are filled only for the classes a
 * program may select (SYN and above): a data segment costs no copy.
 * `src`/`dst` are the (inner) sender's and receiver's addresses, IPv4 stored
 * v4-mapped (::ffff:a.b.c.d), network byte order. The flow key of the
 * tracking (flowtrack.h) is derived from them there.
 *
 * The tunnel is the outermost encapsulation, as the Rust parser's
 * Segment::tunnel: kind, id (VNI, GRE key, ERSPAN/PPPoE session, MPLS
 * bottom label; tun_has_id 0 when the header has none) and the outer IP
 * endpoints (zero when it does not ride on IP: MPLS, PPPoE).
 */
struct ackscope_pkt {
	__u32 src[4];
	__u32 dst[4];
	__u32 tun_src[4];   /* outer IP source, v4-mapped; control classes only */
	__u32 tun_dst[4];
	__u32 tun_id;
	__u16 sport;        /* host byte order */
	__u16 dport;        /* host byte order */
	__u16 vlan_outer;   /* the tag just outside vlan_inner, 0 = none */
	__u16 vlan_inner;   /* 12-bit VID of the innermost tag, 0 = untagged */
	__u32 payload_len;  /* TCP payload bytes, from the IP length fields */
	__u8 tcp_flags;     /* byte 13 of the TCP header (CWR..FIN) */
	__u8 ip_version;    /* 4 or 6 (0 before L3 is parsed), of the inner IP */
	__u8 tun_kind;      /* enum ackscope_tunnel */
	__u8 tun_has_id;
	__u8 tun_depth;     /* encapsulations decoded */
	__u8 _pad[3];
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

/* The addresses of the IP header `l3` (version 4 or 6) as v4-mapped /
 * IPv6 16-byte values. */
static __always_inline void ackscope_addrs(void *l3, int v6, __u32 *src, __u32 *dst)
{
	if (v6) {
		const struct ipv6hdr *ip6 = l3;

		__builtin_memcpy(src, &ip6->saddr, 16);
		__builtin_memcpy(dst, &ip6->daddr, 16);
	} else {
		const struct iphdr *ip = l3;

		src[0] = 0;
		src[1] = 0;
		src[2] = bpf_htonl(0x0000ffff);
		src[3] = ip->saddr;
		dst[0] = 0;
		dst[1] = 0;
		dst[2] = bpf_htonl(0x0000ffff);
		dst[3] = ip->daddr;
	}
}

static __always_inline __u16 ackscope_be16(const __u8 *b)
{
	return ((__u16)b[0] << 8) | b[1];
}

static __always_inline __u32 ackscope_be32(const __u8 *b)
{
	return ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
}

/* Headers of the walk in ackscope_classify(). */
enum ackscope_hdr {
	ACKSCOPE_H_ETH,     /* an Ethernet header, then VLAN tags */
	ACKSCOPE_H_IP4,     /* an IPv4 header (the version is checked) */
	ACKSCOPE_H_IP6,     /* an IPv6 header */
	ACKSCOPE_H_IPVER,   /* IPv4 or IPv6 by the version nibble */
	ACKSCOPE_H_UDP,
	ACKSCOPE_H_GRE,
	ACKSCOPE_H_MPLS,
	ACKSCOPE_H_PPPOE,
	ACKSCOPE_H_IPIP,    /* IP-in-IP: enter, then the inner IP header */
};

/* Walk state: where the next header is and what it is. Kept in a struct so
 * the XDP program can resume a walk in its decapsulating subprogram
 * (ackscope_decap in ackscope.bpf.c, verified once on its own). */
struct ackscope_walk {
	__u32 off;          /* offset of the next header */
	__u32 l3_off;       /* offset of the last IP header */
	__u32 tun_l3_off;   /* offset of the IP header that carried the tunnel */
	__u32 l4_len;       /* transport bytes the last IP header claims */
	__u32 hdr;          /* enum ackscope_hdr */
	__u32 depth;        /* encapsulations entered */
	__u16 vlan_outer;   /* the innermost two tags of the current Ethernet */
	__u16 vlan_inner;
	__u8 v6;            /* the last IP header is IPv6 */
	__u8 tun_v6;
	__u8 tun_ip;        /* the tunnel rides on IP */
	__u8 l4proto;       /* protocol after the last IP header */
};

/* Internal: the frame is encapsulated; resume the walk in the decapsulating
 * subprogram (never a counted class). */
#define ACKSCOPE_CLASS_DECAP 8

/* Enter an encapsulation (the first one is the tunnel identity); 0, or -1
 * past ACKSCOPE_MAX_ENCAP (a parse failure, as the Rust parser's
 * too_many_encapsulations). `on_ip`: the header that carried it was IP. */
static __always_inline int ackscope_enter(struct ackscope_walk *w,
					  struct ackscope_pkt *p, __u8 kind,
					  __u8 has_id, __u32 id, int on_ip)
{
	w->depth++;
	if (w->depth > ACKSCOPE_MAX_ENCAP)
		return -1;
	if (w->depth == 1) {
		p->tun_kind = kind;
		p->tun_has_id = has_id;
		p->tun_id = has_id ? id : 0;
		w->tun_ip = on_ip;
		w->tun_v6 = w->v6;
		w->tun_l3_off = w->l3_off;
	}
	return 0;
}

/* Bytes [off, off + n) of the frame, or NULL (also past ACKSCOPE_MAX_OFF).
 * The empty asm keeps clang from folding the check into integer arithmetic on the packet pointers
 * (`off + n > data_end - data`), which the verifier refuses. */
#define ACKSCOPE_AT(data, data_end, off, n)                               \
	({                                                                \
		__u64 __o = (off);                                        \
		/* The mask, in asm so clang keeps it, is the bound the  \
		 * verifier sees on the register actually used; an off   \
		 * past the bound gives NULL below. */                    \
		asm volatile("%[o] &= 0x3fff" : [o] "+r"(__o));          \
		__u8 *__p = (__u8 *)(data) + __o;                         \
		asm volatile("" : "+r"(__p));                             \
		((off) > ACKSCOPE_MAX_OFF ||                              \
		 (void *)(__p + (n)) > (data_end)) ? (__u8 *)0 : __p;     \
	})

/*
 * Classify the frame [data, data_end). The class is always returned;
 * `p->payload_len`, `p->tcp_flags` and `p->ip_version` are set for every
 * TCP class, the addresses, ports, VLAN ids and the tunnel's endpoints only
 * for the classes a program may select (SYN and above), so a data segment
 * is classified without copying them (issue 18: the data path stays near the
 * XDP floor).
 *
 * The walk decapsulates what the Rust parser does (src/packet/encap.rs):
 * VXLAN (UDP 4789, 8472), GENEVE (6081, options walked), GRE version 0 with
 * checksum/key/sequence carrying IP, MPLS, Ethernet (GRE-TEB) or ERSPAN
 * type I/II/III, IP-in-IP (4in4, 6in4, 4in6, 6in6), MPLS label stacks (IP,
 * or an Ethernet pseudowire with or without control word, the same
 * ethertype heuristic), PPPoE session (PPP IPv4/IPv6, protocol-field
 * compression), VLAN stacks on every Ethernet header; at most
 * ACKSCOPE_MAX_ENCAP deep. One header per step of a bounded loop: the
 * plain walk (one_tunnel 0) stops at the first tunnel header with
 * ACKSCOPE_CLASS_DECAP; a one_tunnel walk decodes that header and the
 * headers up to TCP or the next tunnel header (the XDP program calls it once
 * per encapsulation: the verifier's paths add up instead of multiplying).
 */
static __always_inline int ackscope_walk_frame(void *data, void *data_end,
					      struct ackscope_pkt *p,
					      struct ackscope_walk *wp,
					      const int one_tunnel)
{
	struct ackscope_walk w = *wp;
	__u8 *b;

	/* Steps: [the tunnel header,] Ethernet or the ERSPAN III version
	 * nibble, IP, the IP after the nibble; TCP ends the walk. */
#pragma clang loop unroll(disable)
	for (int step = 0; step < 4 + one_tunnel; step++) {
		/* The walk stops at a tunnel header, but for the first one of
		 * a one_tunnel walk (ackscope_decap). */
		if (w.hdr >= ACKSCOPE_H_UDP && !(one_tunnel && step == 0)) {
			*wp = w;
			return ACKSCOPE_CLASS_DECAP;
		}
		if (w.off > ACKSCOPE_MAX_OFF)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		__u32 off = w.off;

		if (w.hdr == ACKSCOPE_H_ETH) {
			b = ACKSCOPE_AT(data, data_end, off, 14);
			if (!b)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u16 proto = ackscope_be16(b + 12);
			off += 14;
			/* The tags that count are those of the Ethernet header
			 * that carries the IP packet (the innermost two). */
			w.vlan_outer = 0;
			w.vlan_inner = 0;
			if (proto != ETH_P_IP) {
#pragma unroll
				for (int i = 0; i < ACKSCOPE_MAX_VLAN; i++) {
					if (proto != ETH_P_8021Q && proto != ETH_P_8021AD &&
					    proto != ETH_P_QINQ1)
						break;
					b = ACKSCOPE_AT(data, data_end, off, 4);
					if (!b)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					w.vlan_outer = w.vlan_inner;
					w.vlan_inner = ackscope_be16(b) & 0x0fff;
					proto = ackscope_be16(b + 2);
					off += 4;
				}
				/* A ninth tag: the parser's too_many_vlan_tags. */
				if (proto == ETH_P_8021Q || proto == ETH_P_8021AD ||
				    proto == ETH_P_QINQ1)
					return ACKSCOPE_CLASS_PARSE_FAIL;
			}
			w.off = off;
			if (proto == ETH_P_IP)
				w.hdr = ACKSCOPE_H_IP4;
			else if (proto == ETH_P_IPV6)
				w.hdr = ACKSCOPE_H_IP6;
			else if (proto == 0x8847 || proto == 0x8848)
				w.hdr = ACKSCOPE_H_MPLS;
			else if (proto == 0x8864)
				w.hdr = ACKSCOPE_H_PPPOE;
			else
				return ACKSCOPE_CLASS_NOT_TCP;
			continue;
		}

		if (w.hdr == ACKSCOPE_H_IPVER) {
			b = ACKSCOPE_AT(data, data_end, off, 1);
			if (!b)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			if ((b[0] >> 4) == 4)
				w.hdr = ACKSCOPE_H_IP4;
			else if ((b[0] >> 4) == 6)
				w.hdr = ACKSCOPE_H_IP6;
			else
				return ACKSCOPE_CLASS_PARSE_FAIL;
			continue;
		}

		if (w.hdr == ACKSCOPE_H_IP4) {
			struct iphdr *ip = (void *)ACKSCOPE_AT(data, data_end, off, sizeof(*ip));
			if (!ip)
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
			w.v6 = 0;
			w.l3_off = off;
			/* Fragment offset != 0: no TCP header in this frame. */
			if (ip->frag_off & bpf_htons(0x1fff))
				return ACKSCOPE_CLASS_NOT_TCP;
			w.l4proto = ip->protocol;
			w.l4_len = tot_len - ihl;
			w.off = off + (ihl & 0x3c);
		} else if (w.hdr == ACKSCOPE_H_IP6) {
			struct ipv6hdr *ip6 = (void *)ACKSCOPE_AT(data, data_end, off, sizeof(*ip6));
			if (!ip6)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			if (ip6->version != 6)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			p->ip_version = 6;
			w.v6 = 1;
			w.l3_off = off;
			__u32 l4_len = bpf_ntohs(ip6->payload_len);
			__u8 l4proto = ip6->nexthdr;
			off += sizeof(*ip6);

			if (l4proto != IPPROTO_TCP) {
#pragma unroll
			for (int i = 0; i < ACKSCOPE_MAX_V6_EXT; i++) {
				__u32 hlen;

				if (l4proto == IPPROTO_HOPOPTS ||
				    l4proto == IPPROTO_ROUTING ||
				    l4proto == IPPROTO_DSTOPTS || l4proto == IPPROTO_AH) {
					if (off > ACKSCOPE_MAX_OFF)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					b = ACKSCOPE_AT(data, data_end, off, 8);
					if (!b)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					hlen = l4proto == IPPROTO_AH ? ((__u32)b[1] + 2) * 4
								     : ((__u32)b[1] + 1) * 8;
					l4proto = b[0];
				} else if (l4proto == IPPROTO_FRAGMENT) {
					if (off > ACKSCOPE_MAX_OFF)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					b = ACKSCOPE_AT(data, data_end, off, 8);
					if (!b)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					/* Offset field (upper 13 bits) != 0: non-first. */
					if (ackscope_be16(b + 2) & 0xfff8)
						return ACKSCOPE_CLASS_NOT_TCP;
					hlen = 8;
					l4proto = b[0];
				} else {
					break;
				}
				if (l4_len < hlen)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				l4_len -= hlen;
				/* hlen <= 2048: keeps the packet offset bounded. */
				off += hlen & 0xfff;
			}
			if (l4proto == IPPROTO_HOPOPTS || l4proto == IPPROTO_ROUTING ||
			    l4proto == IPPROTO_DSTOPTS || l4proto == IPPROTO_AH ||
			    l4proto == IPPROTO_FRAGMENT)
				return ACKSCOPE_CLASS_PARSE_FAIL; /* chain too long */
			}
			w.l4_len = l4_len;
			w.l4proto = l4proto;
			w.off = off;
		} else if (w.hdr == ACKSCOPE_H_IPIP) {
			if (ackscope_enter(&w, p, ACKSCOPE_TUN_IPIP, 0, 0, 1))
				return ACKSCOPE_CLASS_PARSE_FAIL;
			w.hdr = w.l4proto == 4 ? ACKSCOPE_H_IP4 : ACKSCOPE_H_IP6;
			continue;
		} else if (w.hdr == ACKSCOPE_H_UDP) {
			b = ACKSCOPE_AT(data, data_end, off, 16);
			if (!b) {
				/* A UDP header alone is a valid non-tunnel frame. */
				b = ACKSCOPE_AT(data, data_end, off, 8);
				if (!b)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				__u16 dp = ackscope_be16(b + 2);
				return (dp == 4789 || dp == 8472 || dp == 6081) ? ACKSCOPE_CLASS_PARSE_FAIL
										 : ACKSCOPE_CLASS_NOT_TCP;
			}
			__u16 dport = ackscope_be16(b + 2);
			if (dport == 4789 || dport == 8472) {
				/* RFC 7348 §5: I flag, VNI. */
				if (!(b[8] & 0x08))
					return ACKSCOPE_CLASS_NOT_TCP;
				if (ackscope_enter(&w, p, ACKSCOPE_TUN_VXLAN, 1,
						   ((__u32)b[12] << 16) | ((__u32)b[13] << 8) | b[14], 1))
					return ACKSCOPE_CLASS_PARSE_FAIL;
				w.off = off + 16;
				w.hdr = ACKSCOPE_H_ETH;
			} else if (dport == 6081) {
				/* RFC 8926 §3.4: version 0, not a control packet. */
				if ((b[8] >> 6) != 0 || (b[9] & 0x80))
					return ACKSCOPE_CLASS_NOT_TCP;
				__u32 opt_len = ((__u32)b[8] & 0x3f) * 4;
				__u32 end = off + 16 + opt_len;
				if (!ACKSCOPE_AT(data, data_end, end, 0))
					return ACKSCOPE_CLASS_PARSE_FAIL;
				/* The option TLVs are not walked (the parser checks
				 * that they fill the header exactly): a bounded walk of
				 * up to 63 options multiplies the verifier's states.
				 * A frame with malformed options is steered here and
				 * refused by the parser in user space. */
				__u16 gp = ackscope_be16(b + 10);
				if (gp == 0x6558)
					w.hdr = ACKSCOPE_H_ETH;
				else if (gp == ETH_P_IP)
					w.hdr = ACKSCOPE_H_IP4;
				else if (gp == ETH_P_IPV6)
					w.hdr = ACKSCOPE_H_IP6;
				else
					return ACKSCOPE_CLASS_NOT_TCP;
				if (ackscope_enter(&w, p, ACKSCOPE_TUN_GENEVE, 1,
						   ((__u32)b[12] << 16) | ((__u32)b[13] << 8) | b[14], 1))
					return ACKSCOPE_CLASS_PARSE_FAIL;
				w.off = end;
			} else {
				return ACKSCOPE_CLASS_NOT_TCP;
			}
			continue;
		} else if (w.hdr == ACKSCOPE_H_GRE) {
			b = ACKSCOPE_AT(data, data_end, off, 4);
			if (!b)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u16 flags = ackscope_be16(b);
			__u16 gp = ackscope_be16(b + 2);
			/* Version 1 (PPTP) or RFC 1701 source routing. */
			if ((flags & 0x0007) || (flags & 0x4000))
				return ACKSCOPE_CLASS_NOT_TCP;
			__u32 c = !!(flags & 0x8000), k = !!(flags & 0x2000), s = !!(flags & 0x1000);
			__u32 hlen = 4 + 4 * (c + k + s);
			if (!ACKSCOPE_AT(data, data_end, off, hlen))
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u32 key = 0;
			if (k) {
				__u8 *kb = ACKSCOPE_AT(data, data_end, off + 4 + 4 * c, 4);
				if (!kb)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				key = ackscope_be32(kb);
			}
			__u32 body = off + hlen;
			__u8 kind = ACKSCOPE_TUN_GRE, has_id = k;
			if (gp == ETH_P_IP) {
				w.hdr = ACKSCOPE_H_IP4;
			} else if (gp == ETH_P_IPV6) {
				w.hdr = ACKSCOPE_H_IP6;
			} else if (gp == 0x8847 || gp == 0x8848) {
				w.hdr = ACKSCOPE_H_MPLS;
			} else if (gp == 0x6558) {
				kind = ACKSCOPE_TUN_GRE_TEB;
				w.hdr = ACKSCOPE_H_ETH;
			} else if (gp == 0x88be && !s) {
				/* Type I: no sequence number, no ERSPAN header. */
				kind = ACKSCOPE_TUN_ERSPAN_I;
				has_id = 0;
				w.hdr = ACKSCOPE_H_ETH;
			} else if (gp == 0x88be || gp == 0x22eb) {
				if (body > ACKSCOPE_MAX_OFF)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				__u8 *e = ACKSCOPE_AT(data, data_end, body, 8);
				if (!e)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				has_id = 1;
				key = ackscope_be16(e + 2) & 0x03ff;
				if ((e[0] >> 4) == 1) {
					kind = ACKSCOPE_TUN_ERSPAN_II;
					body += 8;
					w.hdr = ACKSCOPE_H_ETH;
				} else if ((e[0] >> 4) == 2) {
					e = ACKSCOPE_AT(data, data_end, body, 12);
					if (!e)
						return ACKSCOPE_CLASS_PARSE_FAIL;
					__u8 ft = (e[10] >> 2) & 0x1f;
					__u32 eh = (e[11] & 0x01) ? 20 : 12;
					if (!ACKSCOPE_AT(data, data_end, body, eh))
						return ACKSCOPE_CLASS_PARSE_FAIL;
					kind = ACKSCOPE_TUN_ERSPAN_III;
					body += eh;
					if (ft == 0)
						w.hdr = ACKSCOPE_H_ETH;
					else if (ft == 2)
						w.hdr = ACKSCOPE_H_IPVER;
					else
						return ACKSCOPE_CLASS_NOT_TCP;
				} else {
					return ACKSCOPE_CLASS_NOT_TCP;
				}
			} else {
				return ACKSCOPE_CLASS_NOT_TCP;
			}
			if (ackscope_enter(&w, p, kind, has_id, key, 1))
				return ACKSCOPE_CLASS_PARSE_FAIL;
			w.off = body;
			continue;
		} else if (w.hdr == ACKSCOPE_H_MPLS) {
			__u32 label = 0;
			int bos = 0;
#pragma unroll
			for (int i = 0; i < ACKSCOPE_MAX_MPLS; i++) {
				b = ACKSCOPE_AT(data, data_end, off, 4);
				if (!b)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				__u32 e = ackscope_be32(b);
				off += 4;
				if (e & 0x100) {
					label = e >> 12;
					bos = 1;
					break;
				}
			}
			if (!bos)
				return ACKSCOPE_CLASS_PARSE_FAIL; /* too many labels */
			b = ACKSCOPE_AT(data, data_end, off, 1);
			if (!b)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u8 nib = b[0] >> 4;
			if (nib == 4) {
				w.hdr = ACKSCOPE_H_IP4;
			} else if (nib == 6) {
				w.hdr = ACKSCOPE_H_IP6;
			} else {
				/* RFC 4385: a control word (nibble 0), then Ethernet;
				 * otherwise Ethernet without control word. Accepted
				 * only with an ethertype we decode (the parser's
				 * heuristic, src/packet/encap.rs). */
				if (nib == 0) {
					if (!ACKSCOPE_AT(data, data_end, off, 4))
						return ACKSCOPE_CLASS_PARSE_FAIL;
					off += 4;
				}
				b = ACKSCOPE_AT(data, data_end, off, 14);
				if (!b)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				__u16 et = ackscope_be16(b + 12);
				if (et != ETH_P_IP && et != ETH_P_IPV6 && et != ETH_P_8021Q &&
				    et != ETH_P_8021AD && et != ETH_P_QINQ1 && et != 0x8847 &&
				    et != 0x8848 && et != 0x8864)
					return ACKSCOPE_CLASS_NOT_TCP;
				w.hdr = ACKSCOPE_H_ETH;
			}
			if (ackscope_enter(&w, p, ACKSCOPE_TUN_MPLS, 1, label, 0))
				return ACKSCOPE_CLASS_PARSE_FAIL;
			w.off = off;
			continue;
		} else if (w.hdr == ACKSCOPE_H_PPPOE) {
			b = ACKSCOPE_AT(data, data_end, off, 7);
			if (!b)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			if (b[0] != 0x11 || b[1] != 0)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			__u32 session = ackscope_be16(b + 2);
			__u16 proto;
			/* Protocol-field compression (RFC 1661 §6.5). */
			if (b[6] & 1) {
				proto = b[6];
				off += 7;
			} else {
				b = ACKSCOPE_AT(data, data_end, off, 8);
				if (!b)
					return ACKSCOPE_CLASS_PARSE_FAIL;
				proto = ackscope_be16(b + 6);
				off += 8;
			}
			if (proto == 0x0021)
				w.hdr = ACKSCOPE_H_IP4;
			else if (proto == 0x0057)
				w.hdr = ACKSCOPE_H_IP6;
			else
				return ACKSCOPE_CLASS_NOT_TCP;
			if (ackscope_enter(&w, p, ACKSCOPE_TUN_PPPOE, 1, session, 0))
				return ACKSCOPE_CLASS_PARSE_FAIL;
			w.off = off;
			continue;
		} else {
			return ACKSCOPE_CLASS_PARSE_FAIL;
		}

		/* After an IP header: TCP ends the walk, a tunnel goes on. */
		if (w.l4proto == IPPROTO_TCP)
			goto tcp;
		if (w.l4proto == 4 || w.l4proto == 41) {
			w.hdr = ACKSCOPE_H_IPIP;
		} else if (w.l4proto == IPPROTO_GRE) {
			w.hdr = ACKSCOPE_H_GRE;
		} else if (w.l4proto == IPPROTO_UDP) {
			w.hdr = ACKSCOPE_H_UDP;
		} else {
			return ACKSCOPE_CLASS_NOT_TCP;
		}
	}
	return ACKSCOPE_CLASS_PARSE_FAIL;

tcp:
	if (w.off > ACKSCOPE_MAX_OFF)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	struct tcphdr *th = (void *)ACKSCOPE_AT(data, data_end, w.off, sizeof(*th));
	if (!th)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	__u32 doff = ((__u32)th->doff) * 4;
	if (doff < sizeof(*th) || w.l4_len < doff)
		return ACKSCOPE_CLASS_PARSE_FAIL;

	p->payload_len = w.l4_len - doff;
	p->tcp_flags = ((__u8 *)th)[13];
	p->tun_depth = w.depth;
	int cls = ackscope_tcp_class(p->tcp_flags, p->payload_len);
	if (cls < ACKSCOPE_CLASS_SYN)
		return cls;

	/* A control class: what the tracking key needs. */
	p->vlan_outer = w.vlan_outer;
	p->vlan_inner = w.vlan_inner;
	p->sport = bpf_ntohs(th->source);
	p->dport = bpf_ntohs(th->dest);
	if (w.l3_off > ACKSCOPE_MAX_OFF)
		return ACKSCOPE_CLASS_PARSE_FAIL;
	void *l3 = ACKSCOPE_AT(data, data_end, w.l3_off, 40);
	if (w.v6) {
		if (!l3)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		ackscope_addrs(l3, 1, p->src, p->dst);
	} else {
		l3 = ACKSCOPE_AT(data, data_end, w.l3_off, 20);
		if (!l3)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		ackscope_addrs(l3, 0, p->src, p->dst);
	}
	__builtin_memset(p->tun_src, 0, sizeof(p->tun_src));
	__builtin_memset(p->tun_dst, 0, sizeof(p->tun_dst));
	if (p->tun_kind != ACKSCOPE_TUN_NONE && w.tun_ip) {
		if (w.tun_l3_off > ACKSCOPE_MAX_OFF)
			return ACKSCOPE_CLASS_PARSE_FAIL;
		void *o;
		if (w.tun_v6) {
			o = ACKSCOPE_AT(data, data_end, w.tun_l3_off, 40);
			if (!o)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			ackscope_addrs(o, 1, p->tun_src, p->tun_dst);
		} else {
			o = ACKSCOPE_AT(data, data_end, w.tun_l3_off, 20);
			if (!o)
				return ACKSCOPE_CLASS_PARSE_FAIL;
			ackscope_addrs(o, 0, p->tun_src, p->tun_dst);
		}
	}
	return cls;
}

/* Start a walk at the frame's Ethernet header. */
static __always_inline void ackscope_walk_init(struct ackscope_walk *w,
					       struct ackscope_pkt *p)
{
	__builtin_memset(w, 0, sizeof(*w));
	w->hdr = ACKSCOPE_H_ETH;
	p->ip_version = 0;
	p->tun_kind = ACKSCOPE_TUN_NONE;
	p->tun_depth = 0;
}

/*
 * The plain part of the walk: Ethernet, VLAN tags, IP and TCP, inline (the
 * common case pays no call). ACKSCOPE_CLASS_DECAP when the frame is
 * encapsulated: `w` is then where the walk goes on (ackscope_decap of the
 * XDP program).
 */
static __always_inline int ackscope_classify_plain(void *data, void *data_end,
						   struct ackscope_pkt *p,
						   struct ackscope_walk *w)
{
	ackscope_walk_init(w, p);
	return ackscope_walk_frame(data, data_end, p, w, 0);
}

/*
 * The common frame in straight-line code (issue 18): untagged Ethernet →
 * IPv4 (not a non-first fragment) or IPv6 without extension headers → TCP,
 * every length sane. Returns the class ackscope_walk_frame gives such a
 * frame, with `p` filled as it fills it (the tunnel endpoints are left
 * unset: they are read only when `tun_kind` is not NONE); anything else
 * (VLAN tags, extension headers, tunnels, other protocols, any bad length)
 * returns ACKSCOPE_CLASS_DECAP: take the walk, which decides it. The walk's
 * loop keeps its state in a struct the compiler spills to the stack; this
 * costs a data segment about what parsing alone does.
 */
static __always_inline int ackscope_classify_fast(void *data, void *data_end,
						  struct ackscope_pkt *p)
{
	struct ethhdr *eth = data;
	struct tcphdr *th;
	void *l3;
	__u32 l4_len;
	int v6;

	if ((void *)(eth + 1) > data_end)
		return ACKSCOPE_CLASS_DECAP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return ACKSCOPE_CLASS_DECAP;
		if (ip->version != 4 || ip->protocol != IPPROTO_TCP ||
		    (ip->frag_off & bpf_htons(0x1fff)))
			return ACKSCOPE_CLASS_DECAP;
		__u32 ihl = ((__u32)ip->ihl * 4) & 0x3c;
		__u32 tot_len = bpf_ntohs(ip->tot_len);
		if (ihl < sizeof(*ip) || tot_len < ihl)
			return ACKSCOPE_CLASS_DECAP;
		l4_len = tot_len - ihl;
		th = (void *)ip + ihl;
		l3 = ip;
		v6 = 0;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return ACKSCOPE_CLASS_DECAP;
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_TCP)
			return ACKSCOPE_CLASS_DECAP;
		l4_len = bpf_ntohs(ip6->payload_len);
		th = (void *)(ip6 + 1);
		l3 = ip6;
		v6 = 1;
	} else {
		return ACKSCOPE_CLASS_DECAP;
	}
	if ((void *)(th + 1) > data_end)
		return ACKSCOPE_CLASS_DECAP;
	__u32 doff = ((__u32)th->doff) * 4;
	if (doff < sizeof(*th) || l4_len < doff)
		return ACKSCOPE_CLASS_DECAP;

	p->payload_len = l4_len - doff;
	p->tcp_flags = ((__u8 *)th)[13];
	p->ip_version = v6 ? 6 : 4;
	p->tun_kind = ACKSCOPE_TUN_NONE;
	p->tun_depth = 0;
	int cls = ackscope_tcp_class(p->tcp_flags, p->payload_len);
	if (cls < ACKSCOPE_CLASS_SYN)
		return cls;
	p->vlan_outer = 0;
	p->vlan_inner = 0;
	p->sport = bpf_ntohs(th->source);
	p->dport = bpf_ntohs(th->dest);
	ackscope_addrs(l3, v6, p->src, p->dst);
	return cls;
}

/* The classifier of a program that does not decapsulate (the tc program of
 * host mode: local traffic): an encapsulated frame is "not TCP". */
static __always_inline int ackscope_classify(void *data, void *data_end,
					     struct ackscope_pkt *p)
{
	struct ackscope_walk w;
	int cls = ackscope_classify_plain(data, data_end, p, &w);

	return cls == ACKSCOPE_CLASS_DECAP ? ACKSCOPE_CLASS_NOT_TCP : cls;
}

#endif /* ACKSCOPE_CLASSIFY_H */
