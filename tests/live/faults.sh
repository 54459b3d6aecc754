#!/usr/bin/env bash
# Live fault scenarios. Usage: faults.sh ACKSCOPE_BIN OUTDIR SCENARIO
#   down      the tap goes down during the run      → ackscope exits 4, nothing attached
#   gone      the tap pair is deleted during the run → ackscope exits 4
#   pipe      events go to a pipe that closes at once; traffic with events; SIGTERM → exit 0,
#             the summary counts the events not written
#   hup       the events file is renamed, SIGHUP, more events → they land in a new file
# Leaves OUTDIR/rc (ackscope's exit code), OUTDIR/ackscope.err, OUTDIR/summary.json, OUTDIR/after.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SCEN="$3"
mkdir -p "$OUT"
live_setup "f$SCEN" 1 net.ipv4.tcp_timestamps=0
live_start_server
case "$SCEN" in
down|gone)
    live_start_ackscope "$BIN" "$OUT"
    client reuse --sport 41001 --nbytes 1000 --isn below
    if [ "$SCEN" = down ]; then ip -n "$NS_S" link set tapb down; else ip -n "$NS_S" link del tapa; fi
    pid="$ACK_PID"; ACK_PID=""
    rc=0; timeout 20 tail --pid="$pid" -f /dev/null || true
    wait "$pid" || rc=$?
    echo "$rc" >"$OUT/rc"
    ;;
pipe)
    # stdout into a pipe whose reader exits at once: every write fails with EPIPE.
    ip netns exec "$NS_S" "$BIN" run --mode mirror --iface tapb --format json --summary-json "$OUT/summary.json" 2>"$OUT/ackscope.err" > >(true) &
    ACK_PID=$!
    for i in $(seq 1 100); do grep -q inspecting "$OUT/ackscope.err" && break; sleep 0.1; done
    live_span_mark "$OUT"
    for p in 41001 41002; do client reuse --sport "$p" --nbytes 1000 --isn below; done
    sleep 0.3
    pid="$ACK_PID"; ACK_PID=""
    kill -TERM "$pid"
    rc=0; wait "$pid" || rc=$?
    live_span_account
    echo "$rc" >"$OUT/rc"
    ;;
hup)
    live_start_ackscope "$BIN" "$OUT"
    client reuse --sport 41001 --nbytes 1000 --isn below
    sleep 0.3
    mv "$OUT/events.jsonl" "$OUT/events.jsonl.1"
    kill -HUP "$ACK_PID"
    sleep 1.5
    client reuse --sport 41002 --nbytes 1000 --isn below
    sleep 0.3
    rc=0; live_stop_ackscope || rc=$?
    echo "$rc" >"$OUT/rc"
    ;;
esac
echo "xdp_on_tapb=$(ip -n "$NS_S" link show tapb 2>/dev/null | grep -c 'prog/xdp' || true)" >"$OUT/after.txt"
