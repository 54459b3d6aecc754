#!/usr/bin/env bash
# Event storm (issue 17): `ackscope gen --stale-ack-rate 1 --stale-ack-repeats REPEATS` (every
# story a stale-ACK exchange whose stale ACK the server repeats REPEATS more times, default 8)
# at RATE frames/s (default 0: the generator's top rate) into mirror mode, with ackscope's
# event output (stdout, JSON lines) going into a pipe whose reader does not read (a blocked sink) for the whole storm.
# Usage: storm.sh ACKSCOPE_BIN OUTDIR SECS
# Then SIGINT; ackscope runs with --output-grace GRACE (default 1 s) and the reader starts
# draining READ_AFTER seconds after the storm (default 6: after ackscope gave up on the blocked
# output and exited; with READ_AFTER < GRACE the reader drains within the grace). Leaves in OUTDIR: gen.json,
# ackscope.err, summary.json, events.jsonl (what the reader got), rc, stop_s (seconds from
# SIGINT to exit), load.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SECS="${3:-10}"
mkdir -p "$OUT"
live_setup "st" 1 net.ipv4.tcp_timestamps=0
FIFO="$OUT/events.fifo"
mkfifo "$FIFO"
# The reader: opens the FIFO, sleeps (the pipe fills, writes block), then drains it.
( exec 3<"$FIFO"; sleep "$((SECS + ${READ_AFTER:-6}))"; cat <&3 >"$OUT/events.jsonl" ) &
_PIDS+=($!)
ip netns exec "$NS_S" "$BIN" run --mode mirror --iface tapb ${ACK_ARGS:-} --format json --summary-json "$OUT/summary.json" \
    --output-grace "${GRACE:-1}" 2>"$OUT/ackscope.err" >"$FIFO" &
ACK_PID=$!
live_wait_started "$ACK_PID" "$OUT/ackscope.err"
cat /proc/loadavg >"$OUT/load.txt"
nss "$BIN" gen --iface tapa --rate "${RATE:-0}" --duration "$SECS" --flows "${FLOWS:-20000}" --stale-ack-rate 1 --stale-ack-repeats "${REPEATS:-8}" ${CHUNK:+--chunk "$CHUNK"} --ipv6 0.2 --json >"$OUT/gen.json"
cat /proc/loadavg >>"$OUT/load.txt"
sleep 0.5
pid="$ACK_PID"; ACK_PID=""
t0=$(date +%s.%N)
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
echo "$rc" >"$OUT/rc"
echo "$(date +%s.%N) - $t0" | bc >"$OUT/stop_s"
wait "${_PIDS[-1]}" 2>/dev/null || true
log "storm done rc=$rc stop $(cat "$OUT/stop_s") s"
