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
	__u64 rx_ts_ns;  /* bpf_ktime_get_ns() at program entry */
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
