// SPDX-License-Identifier: GPL-2.0-only
/*
 * ackscope traffic generator (`ackscope gen`).
 *
 * Never attached to an interface: user space runs it with BPF_PROG_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES, `repeat` times per call, with the ingress
 * ifindex of the sending interface in the context. Every invocation writes the
 * next frame of the mix, gen_frames[gen_cursor % gen_nframes], into the live
 * frame and returns XDP_TX: the kernel then transmits it out of that interface
 * (ndo_xdp_xmit; on a veth the peer needs NAPI: an XDP program or GRO).
 *
 * The mix is one "lap" of frames built by src/gen. On lap k (k = cursor /
 * nframes) the sequence numbers of every frame are moved by k * gen_lap_delta
 * (and the acknowledgment numbers of frames with ACK set), with an incremental
 * checksum update (RFC 1624), so each lap reuses the same 4-tuples with fresh
 * ISNs, as a real client population does.
 *
 * Live frames are recycled pages whose content may or may not have been reset
 * (Documentation/bpf/bpf_prog_run.rst), so the program never relies on what is
 * there: it sets the length and overwrites the whole frame.
 *
 * A frame with GEN_VARY_TUPLE in `shift` (a SYN-flood frame, IPv4 without options) also gets
 * a new 4-tuple every lap: the low 15 bits of its source address and its source port are
 * XORed with a hash of the lap number (both checksums updated incrementally), so a flood of
 * one lap of slots sends ever new random 4-tuples.
 *
 * ackscope_gen_pcap (`ackscope gen --pcap`) is the same without the mix: invocation c
 * writes frame c of a capture, gen_pcap_frames[c], exactly as it was captured (no lap, no
 * rewrite; c >= gen_nframes produces nothing), so each frame of the capture leaves once, in
 * order, malformed or not.
 *
 * gen_cursor counts invocations, gen_errors the ones that produced no frame;
 * user space reads both through the mmap()ed .bss.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"

char _license[] SEC("license") = "GPL";

#define TCP_FLAG_ACK 0x10
#define GEN_SHIFT_SEQ 1
#define GEN_VARY_TUPLE 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* resized by the loader to the mix length */
	__type(key, __u32);
	__type(value, struct gen_frame);
} gen_frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* resized by the loader to the capture's frame count */
	__type(key, __u32);
	__type(value, struct gen_pcap_frame);
} gen_pcap_frames SEC(".maps");

/* Frames in one lap (set by the loader). */
const volatile __u32 gen_nframes = 1;
/* Sequence-number offset added per lap (set by the loader). */
const volatile __u32 gen_lap_delta = 0x01000193;

/* Invocations so far: the index of the next frame. */
__u64 gen_cursor = 0;
/* Invocations that produced no frame (a helper failed). */
__u64 gen_errors = 0;

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* Make the frame `len` bytes (14..`max`) and copy `data` into it: 0, or -1 (the caller counts
 * it in gen_errors). Both programs send this way; only the slot map and its size differ. */
static __always_inline int gen_put(struct xdp_md *ctx, const __u8 *data, __u32 len, __u32 max)
{
	int cur;

	if (len < 14 || len > max)
		return -1;
	cur = (int)(ctx->data_end - ctx->data);
	if (cur != (int)len && bpf_xdp_adjust_tail(ctx, (int)len - cur))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, data, len) ? -1 : 0;
}

SEC("xdp")
int ackscope_gen(struct xdp_md *ctx)
{
	__u64 c = gen_cursor;
	__u64 n = gen_nframes ? gen_nframes : 1;
	__u32 idx = (__u32)(c % n);
	__u32 lap = (__u32)(c / n);
	struct gen_frame *f;
	__u32 len, off;

	gen_cursor = c + 1;
	f = bpf_map_lookup_elem(&gen_frames, &idx);
	if (!f)
		goto err;
	len = f->len;
	if (gen_put(ctx, f->data, len, GEN_SLOT))
		goto err;

	if (lap && (f->shift & GEN_VARY_TUPLE)) {
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		__u32 h = lap * 0x9E3779B1u;
		__be32 from[2], to[2];
		__u8 *t, *ip;
		__u16 *check;
		__s64 s;

		h ^= h >> 15;
		h *= 0x85EBCA6Bu;
		h ^= h >> 13;
		off = f->l4off & 0x7f;
		if (off < 34)
			goto err;
		ip = data + (off - 20);
		t = ip + 20;
		if ((void *)(t + 20) > data_end)
			goto err;
		__builtin_memcpy(&from[0], ip + 12, 4);
		__builtin_memcpy(&from[1], t, 4);
		to[0] = from[0] ^ bpf_htonl(h & 0x7fff);
		to[1] = from[1] ^ bpf_htonl(h & 0xffff0000u);
		/* IPv4 header checksum: the source address only (RFC 1624). */
		check = (__u16 *)(ip + 10);
		s = bpf_csum_diff(&from[0], 4, &to[0], 4, (__u16)~*check);
		if (s < 0)
			goto err;
		*check = (__u16)~csum_fold((__u64)s);
		/* TCP checksum: the pseudo-header's source address and the ports. */
		check = (__u16 *)(t + 16);
		s = bpf_csum_diff(from, sizeof(from), to, sizeof(to), (__u16)~*check);
		if (s < 0)
			goto err;
		*check = (__u16)~csum_fold((__u64)s);
		__builtin_memcpy(ip + 12, &to[0], 4);
		__builtin_memcpy(t, &to[1], 4);
	}
	if (lap && (f->shift & GEN_SHIFT_SEQ)) {
		void *data = (void *)(long)ctx->data;
		void *data_end = (void *)(long)ctx->data_end;
		__u32 d = lap * gen_lap_delta;
		__be32 from[2], to[2];
		__u8 *t;
		__u16 *check;
		__s64 s;

		off = f->l4off & 0x7f;
		t = data + off;
		if ((void *)(t + 20) > data_end)
			goto err;
		__builtin_memcpy(&from[0], t + 4, 4);
		__builtin_memcpy(&from[1], t + 8, 4);
		to[0] = bpf_htonl(bpf_ntohl(from[0]) + d);
		to[1] = (t[13] & TCP_FLAG_ACK) ? bpf_htonl(bpf_ntohl(from[1]) + d) : from[1];
		check = (__u16 *)(t + 16);
		/* RFC 1624: HC' = ~(~HC + ~m + m'); bpf_csum_diff sums ~from + to + seed. */
		s = bpf_csum_diff(from, sizeof(from), to, sizeof(to), (__u16)~*check);
		if (s < 0)
			goto err;
		__builtin_memcpy(t + 4, &to[0], 4);
		__builtin_memcpy(t + 8, &to[1], 4);
		*check = (__u16)~csum_fold((__u64)s);
	}
	return XDP_TX;
err:
	gen_errors++;
	return XDP_DROP;
}

SEC("xdp")
int ackscope_gen_pcap(struct xdp_md *ctx)
{
	__u64 c = gen_cursor;
	struct gen_pcap_frame *f;
	__u32 idx;

	gen_cursor = c + 1;
	if (c >= gen_nframes)
		goto err;
	idx = (__u32)c;
	f = bpf_map_lookup_elem(&gen_pcap_frames, &idx);
	if (!f)
		goto err;
	if (gen_put(ctx, f->data, f->len, GEN_PCAP_SLOT))
		goto err;
	return XDP_TX;
err:
	gen_errors++;
	return XDP_DROP;
}
