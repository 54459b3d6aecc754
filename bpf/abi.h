/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The layouts user space reads, in one place (ackscope.bpf.c and
 * tc_clone.bpf.c include it through counters.h).
 *
 * Map values (the counters in counters.h) reach Rust through the types the
 * libbpf-cargo skeleton generates from BTF (src/datapath/abi.rs): a field
 * added here is read by name. The XDP metadata block is not a map value and
 * has no generated type; src/datapath/abi.rs mirrors it (KernelMeta) and a
 * unit test checks the layout.
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

#endif /* ACKSCOPE_ABI_H */
