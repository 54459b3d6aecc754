#!/usr/bin/env bash
# Long run (issue 17): `ackscope gen` at a steady mixed rate into mirror mode for SECS, RSS
# sampled every 10 s. Usage: soak.sh ACKSCOPE_BIN OUTDIR SECS [RATE] [FLOWS]
# Leaves in OUTDIR: gen.json, events.jsonl, summary.json, ackscope.err, rss.txt ("SECONDS
# VmRSS_kB" every 10 s), load.txt (start and end), rc.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SECS="${3:-120}" RATE="${4:-10000}" FLOWS="${5:-20000}"
mkdir -p "$OUT"
live_setup "so" 1 net.ipv4.tcp_timestamps=0
live_start_ackscope "$BIN" "$OUT" --max-flows 200000 --kernel-flows 65536 --ring-size 8192 --umem-frames 16384
cat /proc/loadavg >"$OUT/load.txt"
( t=0; while [ "$t" -le $((SECS + 20)) ]; do
      echo "$t $(awk '/^VmRSS/ {print $2}' "/proc/$ACK_PID/status" 2>/dev/null || echo 0)" >>"$OUT/rss.txt"
      sleep 10; t=$((t + 10))
  done ) &
_PIDS+=($!)
nss "$BIN" gen --iface tapa --rate "$RATE" --duration "$SECS" --flows "$FLOWS" --stale-ack-rate 0.01 \
    --ipv6 0.2 --chunk 2048 --json >"$OUT/gen.json"
cat /proc/loadavg >>"$OUT/load.txt"
sleep 1
rc=0; live_stop_ackscope || rc=$?
echo "$rc" >"$OUT/rc"
log "soak done rc=$rc"
