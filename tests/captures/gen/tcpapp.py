#!/usr/bin/env python3
"""ackscope capture generator: small TCP client/server tool (standard library only).

Run inside the namespaces created by lib.sh (ip netns exec ...). Subcommands:

  server      accept loop; each connection starts with a 9-byte header (mode, nbytes)
              telling the server what to do (see Server modes below)
  reuse       connection 1 from a fixed source port, closed by the server first, then a
              reconnect from the same port with an ISN chosen by TCP_REPAIR (or the kernel's)
  lingering   connection 1 aborted by the client (SO_LINGER 0) while nftables in the client
              namespace drops the client's RST (and FIN), then a reconnect from the same port
  many        N ordinary short connections from distinct ports
  once        one ordinary connection (or a connect to a closed port)
  tfo         N connections with TCP Fast Open (MSG_FASTOPEN): data on the SYN once a cookie is cached
  simopen     one side of a simultaneous open: bind LOCAL, connect to REMOTE at a given time
  late        one connection while nftables in the client namespace drops incoming SYN-ACKs
              for the first S seconds (the client retries its SYN; the handshake completes late)
  midstream   N connections opened and partly used, then (after a "go" file appears) the rest
              of their data and their close: a capture started in between sees them mid-stream
  dump        packet list with absolute seq/ack (--key: only the lines that matter)
  check       reference reading of a pcap: prints the events ackscope should report, in
              the .expect format (used to verify that a capture reproduced its scenario)

Client subcommands print key=value lines (isn1=..., old_rcv_point=..., isn2=...) on stdout.

Server modes (first header byte):
  S  read nbytes, then close() first (server FIN first -> server TIME_WAIT)
  C  read nbytes, then wait for the client's FIN, then close (client closes first)
  H  read nbytes, then hold the connection open until the peer resets/closes it
"""

import argparse
import errno
import os
import socket
import struct
import subprocess
import sys
import threading
import time

TCP_REPAIR = 19
TCP_REPAIR_QUEUE = 20
TCP_QUEUE_SEQ = 21
TCP_SEND_QUEUE = 2
TCP_REPAIR_ON = 1
TCP_REPAIR_OFF_NO_WP = -1  # leave repair mode without sending a window probe

HDR = struct.Struct("!cQ")
TCP_FASTOPEN = 23
MSG_FASTOPEN = 0x20000000
MASK32 = 0xFFFFFFFF


def out(**kw):
    print(" ".join("%s=%s" % (k, v) for k, v in kw.items()), flush=True)


def err(msg):
    print("tcpapp: %s" % msg, file=sys.stderr, flush=True)


def fam_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def sockaddr(addr, port):
    return (addr, port, 0, 0) if ":" in addr else (addr, port)


# ---------------------------------------------------------------------------- server

def recv_exact(conn, n, buf):
    view = memoryview(buf)
    got = 0
    while got < n:
        k = conn.recv_into(view, min(len(buf), n - got))
        if k == 0:
            return got
        got += k
    return got


def handle(conn, peer, hold_max):
    buf = bytearray(1 << 20)
    try:
        hdr = b""
        while len(hdr) < HDR.size:
            chunk = conn.recv(HDR.size - len(hdr))
            if not chunk:
                conn.close()
                return
            hdr += chunk
        mode, nbytes = HDR.unpack(hdr)
        got = recv_exact(conn, nbytes, buf)
        err("server: %s mode=%s nbytes=%d got=%d" % (peer, mode.decode(), nbytes, got))
        if mode == b"S":
            conn.close()
            return
        if mode == b"H":
            conn.settimeout(hold_max)
        while True:  # C and H: wait for EOF or reset
            if conn.recv_into(buf) == 0:
                break
        conn.close()
    except OSError as e:
        err("server: %s %s" % (peer, e))
        conn.close()


def cmd_server(a):
    ls = socket.socket(fam_of(a.addr), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(sockaddr(a.addr, a.port))
    if a.fastopen:
        ls.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 64)
    ls.listen(512)
    ls.settimeout(1.0)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        try:
            conn, peer = ls.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        threading.Thread(target=handle, args=(conn, peer[:2], a.max_seconds), daemon=True).start()
    return 0


# ---------------------------------------------------------------------------- client helpers

def get_write_seq(s):
    """Read tp->write_seq of a socket through TCP_REPAIR (read only, no packet sent)."""
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)
    try:
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        v = s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ)
    finally:
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)
    return v & MASK32


def new_client_socket(src, sport, isn=None):
    s = socket.socket(fam_of(src), socket.SOCK_STREAM)
    if isn is not None:
        # Linux keeps a nonzero preset write_seq as the ISN of the next connect()
        # (tcp_v4_connect / tcp_v6_connect only pick a secure ISN when write_seq == 0).
        if isn & MASK32 == 0:
            isn = 1
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        # TCP_QUEUE_SEQ takes a u32 value; setsockopt with an int passes a C int
        s.setsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, struct.pack("I", isn & MASK32))
        # leaving repair mode resets sk_reuse, so SO_REUSEADDR comes afterwards
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(sockaddr(src, sport))
    return s


def connect(s, dst, dport, timeout):
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect(sockaddr(dst, dport))
        res = "connected"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
    return res, int((time.monotonic() - t0) * 1000)


def send_payload(s, mode, nbytes):
    s.sendall(HDR.pack(mode, nbytes))
    chunk = bytes(min(nbytes, 4 << 20) or 1)
    left = nbytes
    mv = memoryview(chunk)
    while left > 0:
        k = min(left, len(chunk))
        s.sendall(mv[:k])
        left -= k


def wait_eof(s, timeout):
    s.settimeout(timeout)
    while True:
        if not s.recv(65536):
            return


def client_first_close(s, timeout=5.0):
    """Graceful close, client FIN first; waits for the server's FIN."""
    s.shutdown(socket.SHUT_WR)
    try:
        wait_eof(s, timeout)
    except OSError:
        pass
    s.close()


def short_conversation(s, nbytes=100):
    send_payload(s, b"C", nbytes)
    client_first_close(s)


NFT_TABLE = "ackscope_cap"


def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)


def nft_drop(flags, hook="output"):
    cond = {"rst": "tcp flags & rst == rst", "rst_fin": "tcp flags & (rst | fin) != 0",
            "synack": "tcp flags & (syn | ack) == syn | ack",
            "syn": "tcp flags & (syn | ack) == syn"}[flags]
    nft("table inet %s {\n chain c_%s {\n  type filter hook %s priority 0; policy accept;\n"
        "  meta l4proto tcp %s counter drop\n }\n}\n" % (NFT_TABLE, hook, hook, cond))


def nft_clear():
    r = subprocess.run(["nft", "list", "tables"], check=True, capture_output=True, text=True)
    if ("table inet %s" % NFT_TABLE) in r.stdout:
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=True)


# ---------------------------------------------------------------------------- client commands

def cmd_reuse(a):
    """Connection 1 closed by the server first, then reconnect from the same port."""
    s = new_client_socket(a.src, a.sport)
    res, ms = connect(s, a.dst, a.dport, 10)
    if res != "connected":
        err("connection 1 failed: %s" % res)
        return 1
    isn1 = (get_write_seq(s) - 1) & MASK32
    send_payload(s, b"S", a.nbytes)
    wait_eof(s, 60)            # server FIN
    s.close()                  # client FIN (server: FIN_WAIT2 -> TIME_WAIT)
    sent = HDR.size + a.nbytes
    fin_seq = (isn1 + 1 + sent) & MASK32
    old_rcv = (fin_seq + 1) & MASK32
    out(isn1=isn1, bytes1=sent, client_fin_seq=fin_seq, old_rcv_point=old_rcv)
    time.sleep(a.delay)
    if a.isn == "kernel":
        isn2 = None
    elif a.isn == "below":
        isn2 = (old_rcv - a.isn_offset) & MASK32
    else:
        isn2 = (old_rcv + a.isn_offset) & MASK32
    if a.drop_rst:
        # The client's RSTs answering the stale ACKs are lost for that long: the server's
        # TIME-WAIT socket lives on until one gets through (a later SYN retry's).
        nft_clear()
        nft_drop("rst")
        threading.Timer(a.drop_rst, nft_clear).start()
    s2 = new_client_socket(a.src, a.sport, isn2)
    out(isn2_requested="kernel" if isn2 is None else isn2)
    res, ms = connect(s2, a.dst, a.dport, a.connect_timeout)
    out(connect2=res, connect2_ms=ms)
    if res == "connected":
        out(isn2=(get_write_seq(s2) - 1) & MASK32)
        short_conversation(s2)
    else:
        s2.close()
    if a.after is not None:
        time.sleep(a.after)
        s3 = new_client_socket(a.src, a.after_sport)
        res3, ms3 = connect(s3, a.dst, a.dport, 10)
        out(connect3=res3, connect3_sport=a.after_sport)
        if res3 == "connected":
            short_conversation(s3)
        else:
            s3.close()
    return 0


def cmd_tfo(a):
    """N connections with TCP Fast Open: the first asks for a cookie, the next carry data."""
    ok = 0
    for i in range(a.count):
        s = new_client_socket(a.src, a.sport + i)
        s.settimeout(None)     # blocking: sendto(MSG_FASTOPEN) waits for the handshake
        data = HDR.pack(b"C", a.nbytes) + bytes(a.nbytes)
        try:
            n = s.sendto(data, MSG_FASTOPEN, sockaddr(a.dst, a.dport))
            if n < len(data):
                s.sendall(data[n:])
            client_first_close(s)
            ok += 1
        except OSError as e:
            err("tfo conn %d: %s" % (i, e))
            s.close()
        time.sleep(0.05)
    out(connections=ok, first_sport=a.sport, last_sport=a.sport + a.count - 1)
    return 0 if ok == a.count else 1


def cmd_simopen(a):
    """One side of a simultaneous open (run one in each namespace, same --at)."""
    lip, lport = a.local.rsplit(":", 1)
    rip, rport = a.remote.rsplit(":", 1)
    s = new_client_socket(lip, int(lport))
    time.sleep(max(0.0, a.at - time.time()))
    res, ms = connect(s, rip, int(rport), a.connect_timeout)
    out(side=a.local, connect=res, connect_ms=ms)
    if res != "connected":
        return 1
    s.sendall(b"x" * 10)
    s.settimeout(5)
    got = s.recv(100)
    time.sleep(0.3)
    s.close()
    out(side=a.local, received=len(got))
    return 0


def cmd_late(a):
    """One connection while incoming SYN-ACKs are dropped for the first --drop seconds."""
    nft_clear()
    s = new_client_socket(a.src, a.sport)
    result = {}

    def run():
        result["r"] = connect(s, a.dst, a.dport, a.connect_timeout)

    t = threading.Thread(target=run)
    try:
        nft_drop("synack", hook="input")
        t.start()
        time.sleep(a.drop)
    finally:
        nft_clear()
    t.join()
    res, ms = result["r"]
    out(connect=res, connect_ms=ms)
    if res == "connected":
        short_conversation(s)
    else:
        s.close()
    return 0 if res == "connected" else 1


def cmd_midstream(a):
    """N connections, half their data before --go-file appears, the rest and the close after."""
    socks = []
    for i in range(a.count):
        s = new_client_socket(a.src, a.sport + i)
        res, ms = connect(s, a.dst, a.dport, 5)
        if res != "connected":
            err("conn %d: %s" % (i, res))
            return 1
        mode = b"S" if i % 2 == 0 else b"C"
        s.sendall(HDR.pack(mode, 2 * a.nbytes) + bytes(a.nbytes))
        socks.append((s, mode))
    with open(a.ready_file, "w") as f:
        f.write("ready\n")
    deadline = time.monotonic() + 30
    while not os.path.exists(a.go_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s, mode in socks:
        s.sendall(bytes(a.nbytes))
        if mode == b"S":
            try:
                wait_eof(s, 5)
            except OSError:
                pass
            s.close()
        else:
            client_first_close(s)
    out(connections=len(socks), first_sport=a.sport, last_sport=a.sport + a.count - 1)
    return 0


def cmd_lingering(a):
    """Connection 1 aborted by the client while its RST (and FIN) are dropped."""
    nft_clear()
    s = new_client_socket(a.src, a.sport)
    res, ms = connect(s, a.dst, a.dport, 10)
    if res != "connected":
        err("connection 1 failed: %s" % res)
        return 1
    isn1 = (get_write_seq(s) - 1) & MASK32
    if a.server_closes:
        send_payload(s, b"S", a.nbytes)
        wait_eof(s, 10)        # server FIN, our kernel ACKs it (maybe delayed)
        time.sleep(0.3)        # let the (delayed) ACK of the FIN go out
        drop = "rst_fin"
    else:
        send_payload(s, b"H", a.nbytes)
        time.sleep(0.3)        # server has read everything and ACKed
        drop = "rst"
    sent = HDR.size + a.nbytes
    out(isn1=isn1, bytes1=sent, old_rcv_point=(isn1 + 1 + sent) & MASK32)
    try:
        nft_drop(drop)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()              # abortive close: RST, dropped by nft
        time.sleep(0.3)
    finally:
        if not a.keep_dropping:
            nft_clear()
    if a.keep_dropping:
        # Keep dropping the client's RSTs during the reconnect too, for that long: the
        # server's challenge ACKs go unanswered and the handshake completes late.
        threading.Timer(a.keep_dropping, nft_clear).start()
    time.sleep(a.delay)
    s2 = new_client_socket(a.src, a.sport)
    res, ms = connect(s2, a.dst, a.dport, a.connect_timeout)
    out(connect2=res, connect2_ms=ms)
    if res == "connected":
        out(isn2=(get_write_seq(s2) - 1) & MASK32)
        short_conversation(s2)
    else:
        s2.close()
    return 0


def cmd_many(a):
    ok = 0
    for i in range(a.count):
        sport = a.sport + i
        s = new_client_socket(a.src, sport)
        res, ms = connect(s, a.dst, a.dport, 5)
        if res != "connected":
            err("conn %d from %d: %s" % (i, sport, res))
            s.close()
            continue
        nbytes = 50 + (i * 37) % 3000
        if i % 3 == 0:          # server closes first
            send_payload(s, b"S", nbytes)
            try:
                wait_eof(s, 5)
            except OSError:
                pass
            s.close()
        else:                   # client closes first
            send_payload(s, b"C", nbytes)
            client_first_close(s)
        ok += 1
        if a.gap:
            time.sleep(a.gap)
    out(connections=ok, first_sport=a.sport, last_sport=a.sport + a.count - 1)
    return 0 if ok == a.count else 1


def cmd_once(a):
    s = new_client_socket(a.src, a.sport)
    res, ms = connect(s, a.dst, a.dport, a.connect_timeout)
    out(connect=res, connect_ms=ms)
    if res == "connected":
        short_conversation(s)
    else:
        s.close()
    return 0


# ---------------------------------------------------------------------------- check (reference reading)

def after(a, b):
    """a is after b in 32-bit modular sequence space."""
    return ((b - a) & MASK32) > 0x7FFFFFFF if a != b else False


def read_pcap(path):
    if path.endswith(".gz"):
        import gzip
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit("%s: not a classic pcap" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit("%s: linktype %d, want Ethernet" % (path, linktype))
    off = 24
    n = 0
    while off + 16 <= len(data):
        ts, frac, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        n += 1
        yield n, ts + frac / (1e9 if nano else 1e6), data[off:off + incl]
        off += incl


def parse_tcp(frame):
    et = struct.unpack("!H", frame[12:14])[0]
    p = 14
    while et in (0x8100, 0x88A8):
        et = struct.unpack("!H", frame[p + 2:p + 4])[0]
        p += 4
    if et == 0x0800:
        ihl = (frame[p] & 0xF) * 4
        tot = struct.unpack("!H", frame[p + 2:p + 4])[0]
        if frame[p + 9] != 6:
            return None
        src = socket.inet_ntop(socket.AF_INET, frame[p + 12:p + 16])
        dst = socket.inet_ntop(socket.AF_INET, frame[p + 16:p + 20])
        t = p + ihl
        iplen = tot - ihl
    elif et == 0x86DD:
        if frame[p + 6] != 6:
            return None
        plen = struct.unpack("!H", frame[p + 4:p + 6])[0]
        src = socket.inet_ntop(socket.AF_INET6, frame[p + 8:p + 24])
        dst = socket.inet_ntop(socket.AF_INET6, frame[p + 24:p + 40])
        t = p + 40
        iplen = plen
    else:
        return None
    sport, dport, seq, ack, offflags, win = struct.unpack("!HHIIHH", frame[t:t + 16])
    doff = (offflags >> 12) * 4
    flags = offflags & 0x3F
    tsval = None
    o = t + 20
    end = min(t + doff, len(frame))
    while o < end:
        kind = frame[o]
        if kind == 0:
            break
        if kind == 1:
            o += 1
            continue
        if o + 1 >= end:
            break
        ln = frame[o + 1]
        if ln < 2:
            break
        if kind == 8 and ln == 10 and o + 10 <= end:
            tsval = struct.unpack("!I", frame[o + 2:o + 6])[0]
        o += ln
    return dict(src=(src, sport), dst=(dst, dport), seq=seq, ack=ack, flags=flags,
                paylen=iplen - doff, tsval=tsval)


FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


class Conn:
    """One connection (or connection attempt) on a 4-tuple; client = SYN sender."""

    def __init__(self, t, isn, tsval):
        self.t_syn = t
        self.isn = isn
        self.syn_tsval = tsval
        self.srv_isn = None
        self.established = False
        self.stale = False         # a stale ACK answered this attempt
        self.t_stale_syn = None    # time of the SYN that got the (last) stale ACK
        self.t_last_syn = t
        self.outcome_done = False
        self.fin_first = None      # "client" / "server"
        self.cli_fin_end = None    # client's FIN seq + 1 (the server's receive point)
        self.srv_fin = False
        self.cli_fin = False
        self.t_closed = None       # time of the second FIN
        self.reset = False
        self.cli_tsval = tsval     # newest client TSval seen


def cmd_check(a):
    tw_len = a.time_wait
    events = []
    last = {}          # tuple (client, server) -> latest Conn
    prev = {}          # tuple -> previous Conn (before the current attempt)
    now = 0.0

    def emit(*words):
        events.append(" ".join(words))

    def expire(t):
        for key, c in last.items():
            if c.stale and not c.established and not c.outcome_done \
                    and t - c.t_stale_syn >= a.fail_after:
                c.outcome_done = True
                emit("stale_ack_outcome", "failed")

    for n, t, frame in read_pcap(a.pcap):
        now = t
        p = parse_tcp(frame)
        if p is None:
            continue
        expire(t)
        f = p["flags"]
        if f & SYN and not f & ACK:
            key = (p["src"], p["dst"])
            c = last.get(key)
            if c is not None and c.isn == p["seq"] and not c.established:
                c.t_last_syn = t     # retransmission of the same attempt
                continue
            old = c
            c = Conn(t, p["seq"], p["tsval"])
            last[key] = c
            prev[key] = old
            if old is not None and old.fin_first == "server" and old.cli_fin \
                    and t - old.t_closed < tw_len and not old.reset:
                newer_ts = (p["tsval"] is not None and old.cli_tsval is not None
                            and after(p["tsval"], old.cli_tsval))
                if not after(p["seq"], old.cli_fin_end) and not newer_ts:
                    emit("reuse_in_time_wait")
            continue
        # find the connection: from client or from server
        key = (p["src"], p["dst"])
        from_client = key in last
        if not from_client:
            key = (p["dst"], p["src"])
            if key not in last:
                continue
        c = last[key]
        if from_client:
            if p["tsval"] is not None and c.cli_tsval is not None:
                if after(p["tsval"], c.cli_tsval):
                    c.cli_tsval = p["tsval"]
            elif p["tsval"] is not None:
                c.cli_tsval = p["tsval"]
            if not c.established:
                if c.srv_isn is not None and f & ACK and not f & RST \
                        and p["ack"] == (c.srv_isn + 1) & MASK32:
                    c.established = True
                    if c.stale and not c.outcome_done:
                        c.outcome_done = True
                        emit("stale_ack_outcome", "recovered")
                continue
            if f & RST:
                c.reset = True
            if f & FIN and not c.cli_fin:
                c.cli_fin = True
                c.cli_fin_end = (p["seq"] + p["paylen"] + 1) & MASK32
                if c.fin_first is None:
                    c.fin_first = "client"
                else:
                    c.t_closed = t
            continue
        # from the server
        if not c.established:
            if f & SYN and f & ACK:
                if p["ack"] == (c.isn + 1) & MASK32:
                    c.srv_isn = p["seq"]
                continue
            if f & RST:
                if not c.stale:
                    emit("connection_refused")
                    c.outcome_done = True
                continue
            if f & ACK and p["ack"] != (c.isn + 1) & MASK32:
                c.t_stale_syn = c.t_last_syn
                if not c.stale:
                    c.stale = True
                    old = prev.get(key)
                    if old is None:
                        cause = "unknown"
                    elif old.fin_first == "server" and old.cli_fin and not old.reset \
                            and now - old.t_closed < tw_len:
                        cause = "time_wait"
                    elif old.srv_fin or old.cli_fin or old.reset:
                        cause = "lingering_close"
                    else:
                        cause = "lingering_established"
                    emit("stale_ack", cause)
            continue
        if f & RST:
            c.reset = True
        if f & FIN and not c.srv_fin:
            c.srv_fin = True
            if c.fin_first is None:
                c.fin_first = "server"
            else:
                c.t_closed = t
    expire(now)
    for e in events:
        print(e)
    return 0



def fmt_flags(f):
    s = "".join(ch for bit, ch in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P")) if f & bit)
    return s + ("." if f & ACK else "")


def cmd_dump(a):
    """Packet list with absolute seq/ack always shown. --key: SYN/FIN/RST segments and
    bare ACKs that answer a SYN (the stale ACKs); dt = ms since the previous listed
    packet of the same 4-tuple."""
    syn_open = {}      # tuple -> ISN of a SYN not yet answered by SYN-ACK
    lastt = {}
    shown = 0
    for n, t, frame in read_pcap(a.pcap):
        p = parse_tcp(frame)
        if p is None:
            continue
        f = p["flags"]
        k = tuple(sorted([p["src"], p["dst"]]))
        key = False
        note = ""
        if f & SYN and not f & ACK:
            syn_open[k] = p["seq"]
            key = True
        elif f & (SYN | FIN | RST):
            if f & SYN:
                syn_open.pop(k, None)
            key = True
        elif k in syn_open and f & ACK and p["paylen"] == 0:
            isn = syn_open[k]
            d = (p["ack"] - isn - 1) & MASK32
            d = d - (1 << 32) if d > 0x7FFFFFFF else d
            note = "  <- answers SYN %d: ack - (isn+1) = %+d" % (isn, d)
            key = True
        if a.key and not key:
            continue
        dt = "" if k not in lastt else "dt=%+.1fms" % ((t - lastt[k]) * 1000)
        lastt[k] = t
        ts = "" if p["tsval"] is None else " TSval %d" % p["tsval"]
        print("#%-4d %s.%06d %s.%d > %s.%d [%s] seq %d ack %d len %d%s %s%s" % (
            n, time.strftime("%H:%M:%S", time.gmtime(t)), int(round((t % 1) * 1e6)) % 1000000,
            p["src"][0], p["src"][1], p["dst"][0], p["dst"][1], fmt_flags(f), p["seq"],
            p["ack"] if f & ACK else 0, p["paylen"], ts, dt, note))
        shown += 1
        if a.max and shown >= a.max:
            print("... (truncated)")
            break
    return 0


# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("server")
    p.add_argument("--addr", default="10.77.0.2")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--ready-file")
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--fastopen", action="store_true", help="TCP_FASTOPEN on the listener")
    p.set_defaults(fn=cmd_server)

    def client_args(p):
        p.add_argument("--src", default="10.77.0.1")
        p.add_argument("--dst", default="10.77.0.2")
        p.add_argument("--dport", type=int, default=5000)
        p.add_argument("--sport", type=int, required=True)
        p.add_argument("--connect-timeout", type=float, default=30)

    p = sub.add_parser("reuse")
    client_args(p)
    p.add_argument("--nbytes", type=int, default=10000, help="payload of connection 1")
    p.add_argument("--isn", choices=["below", "above", "kernel"], default="below")
    p.add_argument("--isn-offset", type=int, default=1000)
    p.add_argument("--delay", type=float, default=0.2, help="seconds before reconnecting")
    p.add_argument("--after", type=float, help="then wait this long and make one ordinary connection")
    p.add_argument("--after-sport", type=int, default=40999)
    p.add_argument("--drop-rst", type=float, default=0.0,
                   help="drop the client's RSTs this many seconds from the reconnect on")
    p.set_defaults(fn=cmd_reuse)

    p = sub.add_parser("lingering")
    client_args(p)
    p.add_argument("--nbytes", type=int, default=1000)
    p.add_argument("--server-closes", action="store_true",
                   help="server closes first (FIN_WAIT2 case); otherwise the server holds")
    p.add_argument("--delay", type=float, default=0.2)
    p.add_argument("--keep-dropping", type=float, default=0.0,
                   help="go on dropping the client's RSTs this many seconds into the reconnect")
    p.set_defaults(fn=cmd_lingering)

    p = sub.add_parser("tfo")
    client_args(p)
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--nbytes", type=int, default=200)
    p.set_defaults(fn=cmd_tfo)

    p = sub.add_parser("simopen")
    p.add_argument("--local", required=True)
    p.add_argument("--remote", required=True)
    p.add_argument("--at", type=float, required=True, help="wall-clock time to connect at")
    p.add_argument("--connect-timeout", type=float, default=10)
    p.set_defaults(fn=cmd_simopen)

    p = sub.add_parser("late")
    client_args(p)
    p.add_argument("--drop", type=float, default=13.5, help="seconds to drop SYN-ACKs")
    p.set_defaults(fn=cmd_late)

    p = sub.add_parser("midstream")
    client_args(p)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--nbytes", type=int, default=3000)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--go-file", required=True)
    p.set_defaults(fn=cmd_midstream)

    p = sub.add_parser("many")
    client_args(p)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--gap", type=float, default=0.0)
    p.set_defaults(fn=cmd_many)

    p = sub.add_parser("once")
    client_args(p)
    p.set_defaults(fn=cmd_once)

    p = sub.add_parser("check")
    p.add_argument("pcap")
    p.add_argument("--time-wait", type=float, default=60.0)
    p.add_argument("--fail-after", type=float, default=10.0)
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("dump")
    p.add_argument("pcap")
    p.add_argument("--key", action="store_true")
    p.add_argument("--max", type=int, default=0)
    p.set_defaults(fn=cmd_dump)

    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
