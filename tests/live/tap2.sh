#!/usr/bin/env bash
# Live two-port TAP run: real Linux client and server, the two directions of s0 mirrored to
# two different tap veths as a passive TAP's two outputs do (tc mirred: s0 ingress, the
# client's frames, to tapa -> port A = tapb; s0 egress, the server's, to tapc -> port B =
# tapd), and one `ackscope run --mode mirror --iface tapb --iface tapd` over both.
# Usage: tap2.sh ACKSCOPE_BIN OUTDIR ORDINARY
# Leaves in OUTDIR: events.jsonl, summary.json, ackscope.err, metrics.txt, after.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" ORDINARY="${3:-300}"
mkdir -p "$OUT"
live_setup "tap2" 1 net.ipv4.tcp_timestamps=0
# The second output: its own tap pair; the egress mirror moves there.
ip -n "$NS_S" link add tapc type veth peer name tapd
nss sysctl -qw net.ipv6.conf.tapc.disable_ipv6=1 net.ipv6.conf.tapd.disable_ipv6=1
ip -n "$NS_S" link set tapc up; ip -n "$NS_S" link set tapd up
live_span_del egress
live_span_filter egress tapc
live_start_server
# A 20 ms reorder window, not the 2 ms default: on a 2-core CI machine a worker can lose its
# core for longer than 2 ms, and a segment handed over from the other port then arrives after
# the window (counted as late; the test asserts none, for exact detections).
live_start_ackscope "$BIN" "$OUT" --iface tapd --metrics "127.0.0.1:${METRICS_PORT:-9465}" --reorder-window-us 20000
live_stale_exchanges
# Ordinary traffic: must not produce a single stale_ack.
client many --sport 42000 --count "$ORDINARY"
sleep 2
nss "$PY" -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:${METRICS_PORT:-9465}/metrics', timeout=5).read().decode())" >"$OUT/metrics.txt"
live_stop_ackscope || log "ackscope exited with $?"
{
    echo "xdp_on_tapb=$(ip -n "$NS_S" link show tapb | grep -c 'prog/xdp' || true)"
    echo "xdp_on_tapd=$(ip -n "$NS_S" link show tapd | grep -c 'prog/xdp' || true)"
} >"$OUT/after.txt"
log "done"
