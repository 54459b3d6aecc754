#!/usr/bin/env bash
# Live mirror-mode end-to-end run: real Linux client and server, a software SPAN port, and
# `ackscope run --mode mirror` on it. Usage: mirror.sh ACKSCOPE_BIN OUTDIR QUEUES ORDINARY
# Leaves in OUTDIR: events.jsonl, ackscope.err, after.txt (XDP/namespace state afterwards).
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" QUEUES="${3:-1}" ORDINARY="${4:-300}"
mkdir -p "$OUT"
live_setup "q$QUEUES" "$QUEUES" net.ipv4.tcp_timestamps=0
live_start_server
EXTRA=()
[ -n "${METRICS_PORT:-}" ] && EXTRA+=(--metrics "127.0.0.1:$METRICS_PORT")
live_start_ackscope "$BIN" "$OUT" --queues "$QUEUES" --pcap-dir "$OUT/pcaps" "${EXTRA[@]}"
live_stale_exchanges
# Ordinary traffic: must not produce a single stale_ack.
client many --sport 42000 --count "$ORDINARY"
grep -E "^(CapEff|CapBnd|NoNewPrivs)" "/proc/$ACK_PID/status" >"$OUT/privs.txt" || true
sleep 0.5
if [ -n "${METRICS_PORT:-}" ]; then
    # Scrape during the run (snapshots refresh every second), inside the server namespace.
    sleep 1.5
    nss "$PY" -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$METRICS_PORT/metrics', timeout=5).read().decode())" >"$OUT/metrics.txt"
fi
live_stop_ackscope || log "ackscope exited with $?"
{
    echo "xdp_on_tapb=$(ip -n "$NS_S" link show tapb | grep -c 'prog/xdp' || true)"
} >"$OUT/after.txt"
log "done"
