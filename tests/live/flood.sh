#!/usr/bin/env bash
# Random-4-tuple SYN flood (`ackscope gen --syn-flood`) at the generator's top rate, with the
# mix's real stale-ACK exchanges among it, into ackscope in mirror or host mode.
# Usage: flood.sh ACKSCOPE_BIN OUTDIR MODE SECS MAX_FLOWS KERNEL_FLOWS
#   mirror  gen on tapa (server namespace) → tapb, where ackscope runs in mirror mode; real
#           stale-ACK exchanges of the Linux stacks (c0 → s0, mirrored) during the flood
#   host    gen on c0 (client namespace) → s0, where ackscope runs in host mode; a connection
#           loop (real TCP, client → server) runs throughout the flood
# Leaves in OUTDIR: gen.json, ackscope.err, summary.json, events.jsonl, rss.txt (VmRSS/VmHWM
# every second, kB), rss-idle.txt (VmRSS before the flood), kmaps.txt (the kernel flow tables'
# fdinfo), loop.txt (host: connection rounds tried/ok), load.txt.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2" MODE="$3" SECS="${4:-15}" MAXF="${5:-50000}" KF="${6:-16384}"
mkdir -p "$OUT"
STALE=0.05 FLOWS=4000 FLOOD=0.95
LIMITS=(--max-flows "$MAXF" --kernel-flows "$KF")

sample_rss() {  # PID: VmRSS/VmHWM once a second while it lives (bounded)
    local pid="$1" i
    for i in $(seq 1 $((SECS + 60))); do
        grep -E '^(VmRSS|VmHWM)' "/proc/$pid/status" 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ' ' >>"$OUT/rss.txt" || break
        echo >>"$OUT/rss.txt"
        sleep 1
    done
}

table_fdinfo() {  # the kernel flow tables of PID (bpf/flowtable.h: arrays, map_type 2, of
    # 64-byte buckets; the XDP program's or host mode's tc program's): fdinfo
    local pid="$1" fd
    for fd in /proc/"$pid"/fdinfo/*; do
        if grep -q '^map_type:\s*2$' "$fd" 2>/dev/null && grep -q '^value_size:\s*64$' "$fd"; then
            cat "$fd"; echo
        fi
    done
    return 0
}

gen_flood() {  # NS IFACE: the flood, at the top rate (0), on one core
    ip netns exec "$1" "$BIN" gen --iface "$2" --rate 0 --duration "$SECS" --flows "$FLOWS" \
        --stale-ack-rate "$STALE" --syn-flood "$FLOOD" --ipv6 0.2 --json >"$OUT/gen.json"
}

case "$MODE" in
mirror)
    live_setup "fl-m" 1 net.ipv4.tcp_timestamps=0
    live_start_server
    live_start_ackscope "$BIN" "$OUT" "${LIMITS[@]}"
    ;;
host)
    modes_setup_host "fl-h" net.ipv4.tcp_timestamps=0
    # NAPI on s0 for the generator's XDP_TX frames from c0 (a real NIC has it).
    nss ethtool -K s0 gro on >/dev/null
    live_start_server
    modes_start_ackscope "$NS_S" "$OUT" ackscope --mode host --iface s0 "${LIMITS[@]}"
    ;;
*) die "mode $MODE?" ;;
esac
sleep 1
grep VmRSS "/proc/$ACK_PID/status" | tr -s ' \t' ' ' >"$OUT/rss-idle.txt"
sample_rss "$ACK_PID" & _PIDS+=($!)
cat /proc/loadavg >"$OUT/load.txt"
if [ "$MODE" = mirror ]; then
    gen_flood "$NS_S" tapa & GEN=$!
    # Real stacks' stale ACKs (TIME_WAIT reuse) while the flood runs.
    sleep 2
    for p in 41001 41002 41003 41004; do client reuse --sport "$p" --nbytes 2000 --isn below --isn-offset 1000; sleep 1; done
    wait "$GEN"
else
    gen_flood "$NS_C" c0 & GEN=$!
    tried=0 ok=0
    while kill -0 "$GEN" 2>/dev/null && [ "$tried" -lt 200 ]; do
        tried=$((tried + 1))
        if timeout 20 ip netns exec "$NS_C" "$PY" "$TCPAPP" many --sport $((43000 + tried * 20)) --count 20 --src "$CLI_IP" --dst "$SRV_IP" >/dev/null 2>>"$OUT/loop.err" </dev/null; then
            ok=$((ok + 1))
        fi
    done 2>/dev/null
    wait "$GEN"
    echo "rounds=$tried ok=$ok" >"$OUT/loop.txt"
fi
cat /proc/loadavg >>"$OUT/load.txt"
sleep 1
table_fdinfo "$ACK_PID" >"$OUT/kmaps.txt"
grep -E '^(VmRSS|VmHWM)' "/proc/$ACK_PID/status" >"$OUT/rss-end.txt"
rc=0; live_stop_ackscope || rc=$?
echo "$rc" >"$OUT/rc"
if [ "$MODE" = host ]; then mv "$OUT/ackscope.summary.json" "$OUT/summary.json"; mv "$OUT/ackscope.jsonl" "$OUT/events.jsonl"; fi
log "flood $MODE done rc=$rc"
