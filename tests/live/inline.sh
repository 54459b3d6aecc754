#!/usr/bin/env bash
# Live inline-mode end-to-end run: a client namespace and a server namespace connected only
# through `ackscope run --mode inline` in a middle namespace (ports ia and ib).
# Usage: inline.sh ACKSCOPE_BIN OUTDIR [CONNS] [BULK_MB]
#
# Phase 1  ackscope starts (default: fail-open); stale-ACK scenarios (TIME_WAIT, lingering
#          ESTABLISHED), CONNS real connections, a BULK_MB byte-exact transfer; SIGINT.
#          Fail-open: the XDP program stays and the ports stay connected.
# Phase 2  restart: the fail-open program is replaced in place; a TIME_WAIT scenario; kill -9:
#          traffic still flows (the program forwards in the kernel).
# Phase 3  restart with --on-exit disconnect, one connection, SIGINT: nothing is left on the
#          ports, and they are disconnected.
# Leaves in OUTDIR: p1.jsonl/p1.err, p2.jsonl/p2.err, p3.err, workload.txt, p1-txdrop.txt (the
# ports' tx_dropped over phase 1), state-*.txt,
# conn-*.txt (a probe connection's result at each step).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2" CONNS="${3:-2000}" BULK_MB="${4:-128}"
mkdir -p "$OUT"

state() {  # XDP programs on the two ports
    {
        echo "xdp_ia=$(ip -n "$NS_M" link show ia | grep -c 'prog/xdp' || true)"
        echo "xdp_ib=$(ip -n "$NS_M" link show ib | grep -c 'prog/xdp' || true)"
    } >"$OUT/state-$1.txt"
    log "state $1: $(tr '\n' ' ' <"$OUT/state-$1.txt")"
}

txdrop() {  # the two ports' tx_dropped counters, summed (what ackscope's summary reports over a run)
    echo $(( $(ip netns exec "$NS_M" cat /sys/class/net/ia/statistics/tx_dropped) + $(ip netns exec "$NS_M" cat /sys/class/net/ib/statistics/tx_dropped) ))
}

probe() {  # probe NAME SPORT: can the client reach the server right now?
    nsc "$PY" "$TCPAPP" once --sport "$2" --connect-timeout 2 --src "$CLI_IP" --dst "$SRV_IP" \
        >"$OUT/conn-$1.txt" 2>&1 || true
    log "probe $1: $(grep -o 'connect=[A-Za-z]*' "$OUT/conn-$1.txt" || echo none)"
}

modes_setup_inline inline net.ipv4.tcp_timestamps=0
live_start_server
probe before 40100   # nothing forwards yet: must fail
# That failed probe left FAILED neighbour entries; start afresh.
ip -n "$NS_C" neigh flush dev c0; ip -n "$NS_S" neigh flush dev s0

log "phase 1: inline (fail-open default)"
txd0="$(txdrop)"
modes_start_ackscope "$NS_M" "$OUT" p1 --mode inline --iface ia --peer ib
state p1-running
probe p1-start 40101
live_stale_exchanges
{
    nsc "$PY" "$TCPAPP" many --sport 20000 --count "$CONNS" --src "$CLI_IP" --dst "$SRV_IP"
    bulk "$BULK_MB"
} >"$OUT/workload.txt" 2>"$OUT/workload.err" || true
# 100 frames that port ib cannot send: its peer s0 down, sent past the qdisc (a packet socket
# with PACKET_QDISC_BYPASS, so the veth itself drops them and counts them as tx_dropped).
ip -n "$NS_S" link set s0 down
ip netns exec "$NS_M" "$PY" -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS
s.bind(("ib", 0))
for _ in range(100):
    try:
        s.send(b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00" + bytes(50))
    except OSError:  # ENOBUFS: the veth dropped it, as intended
        pass
'
ip -n "$NS_S" link set s0 up
for i in $(seq 1 50); do nsc ping -c1 -W1 "$SRV_IP" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
live_stop_ackscope || log "ackscope exited with $?"
echo "egress_dropped=$(( $(txdrop) - txd0 ))" >"$OUT/p1-txdrop.txt"
state p1-after
probe p1-after 40102

log "phase 2: restart (replaces the fail-open program), then kill -9"
modes_start_ackscope "$NS_M" "$OUT" p2 --mode inline --iface ia --peer ib
client reuse --sport 41021 --nbytes 5000 --isn below --isn-offset 1000
sleep 0.5
modes_kill9_ackscope
state p2-killed
probe p2-killed 40103

log "phase 3: --on-exit disconnect"
modes_start_ackscope "$NS_M" "$OUT" p3 --mode inline --iface ia --peer ib --on-exit disconnect
probe p3-running 40104
sleep 0.3
live_stop_ackscope || log "ackscope exited with $?"
state p3-after
probe p3-after 40105
log "done"
