#!/usr/bin/env python3
"""Prints the number of entries of the BPF map with the id given (BPF_MAP_GET_FD_BY_ID, then
BPF_MAP_GET_NEXT_KEY until ENOENT, through the bpf(2) syscall; needs root). No bpftool needed."""
import ctypes
import os
import struct
import sys

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
BPF_MAP_GET_NEXT_KEY = 4
BPF_MAP_GET_FD_BY_ID = 14

libc = ctypes.CDLL(None, use_errno=True)
map_id, key_size = int(sys.argv[1]), int(sys.argv[2])
attr = ctypes.create_string_buffer(struct.pack("=III", map_id, 0, 0) + bytes(116))
fd = libc.syscall(SYS_BPF, BPF_MAP_GET_FD_BY_ID, attr, len(attr))
if fd < 0:
    sys.exit("bpf(BPF_MAP_GET_FD_BY_ID, %d): %s" % (map_id, os.strerror(ctypes.get_errno())))
cur = ctypes.create_string_buffer(key_size)
nxt = ctypes.create_string_buffer(key_size)
n, first = 0, True
while n < 1 << 24:
    a = ctypes.create_string_buffer(struct.pack("=IIQQ", fd, 0, 0 if first else ctypes.addressof(cur), ctypes.addressof(nxt)) + bytes(104))
    if libc.syscall(SYS_BPF, BPF_MAP_GET_NEXT_KEY, a, len(a)) != 0:
        break
    first = False
    ctypes.memmove(cur, nxt, key_size)
    n += 1
os.close(fd)
print(n)
