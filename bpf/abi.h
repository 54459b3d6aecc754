/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The layouts user space reads, in one place (ackscope.bpf.c and
 * tc_clone.bpf.c include it through counters.h).
 *
 * Map values (the counters in counters.h) reach Rust through the types the
 * libbpf-cargo skeleton generates from BTF (src/datapath/abi.rs): a field
 * added here is read by name. The XDP metadata block is not a map value and
 * has no generated type; src/datapath/abi.rs mirrors it (KernelMeta) and a
 * unit test checks the layout. The generator's frame slot (gen.bpf.c) is
 * written through its generated type in src/gen/inject.rs.
 */
#ifndef ACKSCOPE_ABI_H
#define ACKSCOPE_ABI_H

#include <linux/types.h>

/* "ACKS" little-endian: marks a metadata block written by our XDP program. */
#define ACKSCOPE_META_MAGIC 0x534b4341u

/* XDP metadata, immediately before the packet data. 16 bytes. */
struct ackscope_meta {
	__u64 rx_ts_ns;  /* bpf_ktime_get_ns() when the frame was steered */
	__u32 magic;     /* ACKSCOPE_META_MAGIC */
	__u32 class_;    /* enum ackscope_class */
};

/* Largest frame the generator's mix may hold. */
#define GEN_SLOT 128

/* gen.bpf.c: one frame of the mix (map gen_frames). No implicit padding. */
struct gen_frame {
	__u16 len;    /* frame length, 14..GEN_SLOT */
	__u16 l4off;  /* offset of the TCP header */
	__u8 shift;   /* bit 0: move seq/ack by the lap offset; bit 1: new IPv4 4-tuple per lap */
	__u8 _pad[3];
	__u8 data[GEN_SLOT];
};

/* Bytes of the frame a host-mode ring record carries (L2 .. TCP options, and the
 * --pcap-dir snap). A multiple of 8. */
#define ACKSCOPE_REC_SNAP 128

/* Host mode (ring path): one record per selected control segment, written by
 * tc_clone.bpf.c into the BPF ring buffer ackscope_tc_ring. 168 bytes;
 * src/datapath/ring.rs mirrors it (a unit test checks the layout). */
struct ackscope_tc_record {
	__u64 ts_ns;     /* bpf_ktime_get_ns() at program entry */
	__u32 wire_len;  /* skb->len (+4 when an out-of-band VLAN tag was put back) */
	__u32 ifindex;   /* skb->ifindex */
	__u16 cap_len;   /* bytes valid in data[] */
	__u8 egress;     /* 1: clsact egress, 0: ingress */
	__u8 class_;     /* enum ackscope_class */
	__u32 _pad;
	__u8 data[ACKSCOPE_REC_SNAP + 16]; /* 16 bytes of slack for the verifier */
};

/* Largest frame `ackscope gen --pcap` sends: a 1500-byte-MTU Ethernet frame with up to
 * five VLAN tags (1514 + 20), rounded up to 8 bytes. */
#define GEN_PCAP_SLOT 1536

/* gen.bpf.c: one frame of a capture (map gen_pcap_frames), sent as it is. */
struct gen_pcap_frame {
	__u16 len;    /* frame length, 14..GEN_PCAP_SLOT */
	__u8 _pad[6];
	__u8 data[GEN_PCAP_SLOT];
};

#endif /* ACKSCOPE_ABI_H */
