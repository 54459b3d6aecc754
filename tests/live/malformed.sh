#!/usr/bin/env bash
# Malformed frames, live (issue 17): `ackscope gen --pcap` sends every frame of a capture once,
# in order, out of va; ackscope runs in mirror mode on its veth peer vb (IPv6 off on both, no
# addresses: the generator's frames are the only ones vb sees).
# Usage: malformed.sh ACKSCOPE_BIN OUTDIR PCAP RATE
# Leaves in OUTDIR: gen.json, ackscope.err, summary.json, events.jsonl, rc, alive (1 when
# ackscope still ran after the last frame).
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" PCAP="$3" RATE="${4:-20000}"
mkdir -p "$OUT"
live_single_ns mf
nss "$BIN" run --mode mirror --iface vb --format json --events "$OUT/events.jsonl" \
    --summary-json "$OUT/summary.json" --duration 25 2>"$OUT/ackscope.err" &
ACK_PID=$!
live_wait_started "$ACK_PID" "$OUT/ackscope.err"
nss "$BIN" gen --iface va --pcap "$PCAP" --rate "$RATE" --duration 10 --json >"$OUT/gen.json"
sleep 1
echo "$(kill -0 "$ACK_PID" 2>/dev/null && echo 1 || echo 0)" >"$OUT/alive"
pid="$ACK_PID"; ACK_PID=""
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
echo "$rc" >"$OUT/rc"
log "malformed live done rc=$rc: $(cat "$OUT/gen.json")"
