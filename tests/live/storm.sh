#!/usr/bin/env bash
# Event storm (issue 17): `ackscope gen --stale-ack-rate 1 --stale-ack-repeats REPEATS` (every
# story a stale-ACK exchange whose stale ACK the server repeats REPEATS more times, default 8)
# at RATE frames/s (default 0: the generator's top rate) into mirror mode, with ackscope's
# event output (stdout, JSON lines) going into a pipe whose reader does not read (a blocked sink) for the whole storm.
# Usage: storm.sh ACKSCOPE_BIN OUTDIR SECS
# Then SIGINT; ackscope runs with --output-grace GRACE (default 1 s) and the reader starts
# draining once ackscope has exited (it gave up on the blocked output), or READ_AFTER seconds
# after the SIGINT when READ_AFTER is set (READ_AFTER < GRACE: the reader drains within the
# grace). The reader's start is tied to these moments, not to a clock started at set-up: a
# slow start on a loaded machine must not let it drain early. Leaves in OUTDIR: gen.json,
# ackscope.err, summary.json, events.jsonl (what the reader got), rc, stop_s (seconds from
# SIGINT to exit), load.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SECS="${3:-10}"
mkdir -p "$OUT"
live_setup "st" 1 net.ipv4.tcp_timestamps=0
FIFO="$OUT/events.fifo"
mkfifo "$FIFO"
# The reader: opens the FIFO, sleeps (the pipe fills, writes block), then drains it.
# (Bounded: it gives up waiting after SECS + 300 s.)
( exec 3<"$FIFO"; for _ in $(seq $(( (SECS + 300) * 10 ))); do [ -e "$OUT/drain" ] && break; sleep 0.1; done; cat <&3 >"$OUT/events.jsonl" ) &
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
[ -n "${READ_AFTER:-}" ] && { (sleep "$READ_AFTER"; touch "$OUT/drain") & }
rc=0; wait "$pid" || rc=$?
echo "$(date +%s.%N) - $t0" | bc >"$OUT/stop_s"
echo "$rc" >"$OUT/rc"
touch "$OUT/drain"
wait "${_PIDS[-1]}" 2>/dev/null || true
log "storm done rc=$rc stop $(cat "$OUT/stop_s") s"
