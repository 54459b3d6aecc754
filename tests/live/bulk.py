#!/usr/bin/env python3
"""Byte-exact bulk transfer for the live tests and benchmarks (standard library only).

  bulk.py server --addr A --port P [--ready-file F] [--once] [--no-hash]
  bulk.py client --dst A --port P --mbytes N [--no-hash] [--mbit R]

The client sends N MiB of a deterministic pattern (1 MiB blocks, each starting with its
block number, so a reordered or repeated block changes the digest), shuts its side down and
waits for the server's answer: the byte count and SHA-256 of everything the server received.
It prints `bulk ok bytes=... sha256=... secs=... mbit_s=...` and exits 0 when both match what
it sent, otherwise prints `bulk MISMATCH ...` and exits 1. --no-hash skips the digests (only
the byte count is compared), for throughput measurements. --mbit paces the sender to at
most R Mbit/s (so that a transfer spans a planned event, e.g. a kill).
"""
import argparse
import hashlib
import socket
import struct
import sys
import time

BLOCK = 1 << 20


def block(i):
    base = bytes(range(256)) * (BLOCK // 256)
    return struct.pack(">Q", i) + base[8:]


def serve_one(conn, no_hash):
    h = None if no_hash else hashlib.sha256()
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    total = 0
    while True:
        k = conn.recv_into(view)
        if k == 0:
            break
        total += k
        if h is not None:
            h.update(view[:k])
    digest = "-" if h is None else h.hexdigest()
    conn.sendall(("%d %s\n" % (total, digest)).encode())
    conn.close()
    print("server: bytes=%d sha256=%s" % (total, digest), file=sys.stderr, flush=True)


def cmd_server(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(8)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    while True:
        conn, _ = ls.accept()
        serve_one(conn, a.no_hash)
        if a.once:
            return 0


def cmd_client(a):
    s = socket.create_connection((a.dst, a.port), timeout=60)
    h = None if a.no_hash else hashlib.sha256()
    base = block(0)
    blk = bytearray(base)
    t0 = time.monotonic()
    for i in range(a.mbytes):
        blk[0:8] = struct.pack(">Q", i)
        if h is not None:
            h.update(blk)
        s.sendall(blk)
        if a.mbit > 0:
            ahead = (i + 1) * BLOCK * 8 / (a.mbit * 1e6) - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        answer += chunk
    secs = time.monotonic() - t0
    s.close()
    sent = a.mbytes * BLOCK
    digest = "-" if h is None else h.hexdigest()
    try:
        got, got_digest = answer.decode().split()
        got = int(got)
    except ValueError:
        got, got_digest = -1, "?"
    ok = got == sent and got_digest == digest
    print("bulk %s bytes=%d received=%d sha256=%s server_sha256=%s secs=%.3f mbit_s=%.1f"
          % ("ok" if ok else "MISMATCH", sent, got, digest, got_digest, secs, sent * 8 / secs / 1e6),
          flush=True)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, default=5001)
    s.add_argument("--ready-file")
    s.add_argument("--once", action="store_true")
    s.add_argument("--no-hash", action="store_true")
    c = sub.add_parser("client")
    c.add_argument("--dst", required=True)
    c.add_argument("--port", type=int, default=5001)
    c.add_argument("--mbytes", type=int, default=100)
    c.add_argument("--no-hash", action="store_true")
    c.add_argument("--mbit", type=float, default=0.0, help="pace to at most this many Mbit/s")
    a = p.parse_args()
    return cmd_server(a) if a.cmd == "server" else cmd_client(a)


if __name__ == "__main__":
    sys.exit(main())
