#!/usr/bin/env bash
# Port scan and half-open flood from the real Linux client, ackscope in mirror mode (issue 17).
# Usage: scan.sh ACKSCOPE_BIN OUTDIR SCAN_PORTS HALF_OPEN
#   scan       SCAN_PORTS non-blocking connect()s to closed ports of the server (20000 and up):
#              each SYN answered by the server's RST-ACK
#   half-open  HALF_OPEN connect()s to the listening port 5000 while nftables in the client
#              namespace drops every SYN-ACK: the handshakes never complete (SYN and SYN-ACK
#              retransmissions), then the client gives up
# Leaves in OUTDIR: events.jsonl, summary.json, ackscope.err, result.txt, rss-idle.txt, rss-end.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SCAN="${3:-2000}" HALF="${4:-500}"
mkdir -p "$OUT"
live_setup "sc" 1 net.ipv4.tcp_timestamps=0 net.ipv4.tcp_syn_retries=2 -- net.ipv4.tcp_synack_retries=2
live_start_server
live_start_ackscope "$BIN" "$OUT" --max-flows 100000
grep VmRSS "/proc/$ACK_PID/status" >"$OUT/rss-idle.txt"
nsc "$PY" - "$SRV_IP" "$SCAN" "$HALF" >"$OUT/result.txt" <<'PY'
import errno, select, socket, sys, time
dst, scan, half = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def burst(ports, wait):
    """Non-blocking connect()s to (dst, port) for each port, 200 at a time; outcome counts."""
    res = {"refused": 0, "connected": 0, "pending": 0}
    for i in range(0, len(ports), 200):
        socks = []
        for p in ports[i:i + 200]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((dst, p))
            socks.append(s)
        deadline = time.time() + wait
        left = list(socks)
        while left and time.time() < deadline:
            _, w, _ = select.select([], left, [], 0.1)
            for s in w:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                res["refused" if e == errno.ECONNREFUSED else "connected" if e == 0 else "pending"] += 1
                left.remove(s)
        res["pending"] += len(left)
        for s in socks:
            s.close()
    return res

r = burst([20000 + (i % 40000) for i in range(scan)], 2.0)
print("scan", r["refused"], r["connected"], r["pending"])
PY
printf 'table inet ackscope_scan {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp flags & (syn | ack) == (syn | ack) counter drop\n }\n}\n' | nsc nft -f -
nsc "$PY" - "$SRV_IP" "$HALF" >>"$OUT/result.txt" <<'PY'
import socket, sys, time
dst, half = sys.argv[1], int(sys.argv[2])
socks = []
for i in range(half):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((dst, 5000))
    socks.append(s)
time.sleep(4)  # SYN retransmissions (tcp_syn_retries=2: at 1 s and 3 s), SYN-ACKs dropped
print("half_open", len(socks))
for s in socks:
    s.close()
PY
echo "synack_dropped=$(nsc nft list table inet ackscope_scan | grep -o 'packets [0-9]*' | awk '{print $2}')" >>"$OUT/result.txt"
sleep 4  # the server's SYN-ACK retransmissions end
grep -E '^(VmRSS|VmHWM)' "/proc/$ACK_PID/status" >"$OUT/rss-end.txt"
rc=0; live_stop_ackscope || rc=$?
echo "$rc" >"$OUT/rc"
log "scan done rc=$rc: $(tr '\n' ' ' <"$OUT/result.txt")"
