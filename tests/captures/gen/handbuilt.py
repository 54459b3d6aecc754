#!/usr/bin/env python3
"""Hand-built captures for field patterns no kernel here produces (standard library only).

  handbuilt_synack_data       a SYN-ACK carrying 120 bytes of payload (some stacks and
                              middleboxes do this; Linux never does), acknowledged by the client
  handbuilt_competing_synack  two SYN-ACKs with different ISNs for one SYN (an anycast or
                              load-balancer race), the client taking the first, and the second
                              retransmitted after data flowed

Usage: handbuilt.py OUTDIR   (writes NAME.pcap next to NAME.expect/NAME.md kept in git)
"""
import socket
import struct
import sys

C = ("10.88.0.1", 41500)
S = ("10.88.0.2", 443)
MAC_C = b"\x02\x00\x00\x00\x00\x01"
MAC_S = b"\x02\x00\x00\x00\x00\x02"
FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, seq, ack, flags, payload=0):
    data = bytes((i * 7) & 0xFF for i in range(payload))
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 64240, 0, 0) + data
    sa, da = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    ph = sa + da + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, sa, da)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = (MAC_S + MAC_C if src == C else MAC_C + MAC_S) + b"\x08\x00"
    return eth + ip + tcp


def write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1_764_000_000.0
        for dt, fr in frames:
            t += dt
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)) % 1000000, len(fr), len(fr)))
            f.write(fr)


def c(seq, ack, flags, n=0, dt=0.0002):
    return (dt, frame(C, S, seq, ack, flags, n))


def s(seq, ack, flags, n=0, dt=0.0002):
    return (dt, frame(S, C, seq, ack, flags, n))


def synack_data():
    i, j = 1_000_000, 3_000_000_000
    return [
        c(i, 0, SYN),
        s(j, i + 1, SYN | ACK, 120),            # 120 bytes on the SYN-ACK
        c(i + 1, j + 121, ACK),                 # acks SYN + 120 bytes: not "unseen"
        c(i + 1, j + 121, PSH | ACK, 300),
        s(j + 121, i + 301, ACK),
        c(i + 301, j + 121, FIN | ACK),
        s(j + 121, i + 302, FIN | ACK),
        c(i + 302, j + 122, ACK),
    ]


def competing_synack():
    i, j1, j2 = 2_000_000, 500_000_000, 4_000_000_000
    return [
        c(i, 0, SYN),
        s(j1, i + 1, SYN | ACK),
        s(j2, i + 1, SYN | ACK),                # a competing SYN-ACK, another ISN
        c(i + 1, j1 + 1, ACK),                  # the client took the first one
        c(i + 1, j1 + 1, PSH | ACK, 200),
        s(j1 + 1, i + 201, PSH | ACK, 500),
        s(j2, i + 1, SYN | ACK, dt=1.0),        # the competitor retransmitted after data flowed
        c(i + 201, j1 + 501, ACK),
        c(i + 201, j1 + 501, FIN | ACK),
        s(j1 + 501, i + 202, FIN | ACK),
        c(i + 202, j1 + 502, ACK),
    ]


def main():
    out = sys.argv[1]
    write("%s/handbuilt_synack_data.pcap" % out, synack_data())
    write("%s/handbuilt_competing_synack.pcap" % out, competing_synack())
    return 0


if __name__ == "__main__":
    sys.exit(main())
