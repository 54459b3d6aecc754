#!/usr/bin/env bash
# Issue 14: port pressure, live (host mode on the server's own interface s0) and in replay of a
# tcpdump of s0. Real Linux clients in the client namespace, whose ip_local_port_range is
# narrowed to PORTS ports, connect CONNS times to the server, which closes first: TIME_WAIT
# builds up on the server and every later connect reuses a 4-tuple it still holds. With
# tcp_timestamps=0 the kernels' ISN clock (RFC 6528) keeps each reuse above the old receive
# point, so the server accepts them: no stale ACK, but the port_pressure warning must come.
# Then one reuse with an ISN below the old receive point (tcpapp reuse --isn below) gets a
# time_wait stale ACK, after the warning.
# Usage: pressure.sh ACKSCOPE_BIN OUTDIR [CONNS] [PORTS]
# Leaves in OUTDIR: pr.jsonl, pr.err, pr.summary.json (ackscope on s0), prc.* (ackscope on the
# clients' c0), metrics.txt (a scrape after
# the warning), s0.pcap, tcpdump.err, clients.txt.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2" CONNS="${3:-40}" PORTS="${4:-8}"
mkdir -p "$OUT"
# _unlist PID: a process we stopped ourselves leaves the cleanup's list (its PID may be reused).
_unlist() { local keep=() p; for p in "${_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; _PIDS=("${keep[@]}"); }
LO=45000 HI=$((45000 + PORTS - 1))
modes_setup_host pressure net.ipv4.tcp_timestamps=0 "net.ipv4.ip_local_port_range=$LO $HI" -- net.ipv4.tcp_timestamps=0
live_start_server
nss tcpdump -Z root --immediate-mode -B 65536 -i s0 -s 128 -U -n -w "$OUT/s0.pcap" tcp 2>"$OUT/tcpdump.err" &
TD_PID=$!
_PIDS+=("$TD_PID")
for i in $(seq 1 100); do grep -q listening "$OUT/tcpdump.err" && break; sleep 0.05; done
grep -q listening "$OUT/tcpdump.err" || die "tcpdump did not start"
MPORT=$((20000 + $$ % 20000))
modes_start_ackscope "$NS_S" "$OUT" pr --mode host --iface s0 --metrics "127.0.0.1:$MPORT"
ACK_S="$ACK_PID"; _PIDS+=("$ACK_S")
# The same traffic seen from the clients' host (the local-client case: their ephemeral range,
# the SYN-SENT socket and its process behind the stale ACK).
modes_start_ackscope "$NS_C" "$OUT" prc --mode host --iface c0
ACK_C="$ACK_PID"; _PIDS+=("$ACK_C")
log "clients: $CONNS connections from ports $LO-$HI (kernel-chosen), the server closes first"
nsc "$PY" - "$SRV_IP" "$CONNS" >"$OUT/clients.txt" <<'PYEOF'
import socket, struct, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
ports = []
for i in range(n):
    s = socket.create_connection((dst, 5000), timeout=5)   # no bind: the kernel picks the port
    ports.append(s.getsockname()[1])
    s.sendall(struct.pack("!cQ", b"S", 100) + b"x" * 100)  # server mode S: it closes first
    while s.recv(4096):
        pass
    s.close()
    time.sleep(0.05)
print("connections=%d ports=%s" % (n, ",".join(map(str, ports))))
PYEOF
sleep 1.5   # the shards publish their snapshots about once a second
nss curl -sf "http://127.0.0.1:$MPORT/metrics" >"$OUT/metrics.txt" || die "metrics scrape failed"
log "one reuse below the old receive point (a time_wait stale ACK)"
client reuse --sport $((LO + 3)) --nbytes 5000 --isn below --isn-offset 1000
sleep 0.5
_unlist "$ACK_S"; ACK_PID="$ACK_S"; live_stop_ackscope || log "ackscope (server side) exited with $?"
_unlist "$ACK_C"; ACK_PID="$ACK_C"; live_stop_ackscope || log "ackscope (client side) exited with $?"
sleep 0.3
_unlist "$TD_PID"; _kill "$TD_PID" INT
log "done"
