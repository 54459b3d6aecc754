#!/usr/bin/env python3
"""Prints how many of the BPF program ids given on the command line still exist in the kernel
(BPF_PROG_GET_FD_BY_ID through the bpf(2) syscall; needs root). No bpftool needed."""
import ctypes
import errno
import os
import struct
import sys

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_PROG_GET_FD_BY_ID = 13

libc = ctypes.CDLL(None, use_errno=True)


def alive(prog_id):
    attr = ctypes.create_string_buffer(struct.pack("=III", prog_id, 0, 0) + bytes(116))
    fd = libc.syscall(SYS_BPF, BPF_PROG_GET_FD_BY_ID, attr, len(attr))
    if fd >= 0:
        os.close(fd)
        return True
    e = ctypes.get_errno()
    if e != errno.ENOENT:
        print("bpf(BPF_PROG_GET_FD_BY_ID, %d): %s" % (prog_id, os.strerror(e)), file=sys.stderr)
    return False


ids = [int(x) for x in sys.argv[1:] if x.strip()]
print(sum(1 for i in ids if alive(i)))
