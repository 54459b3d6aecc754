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
NS="ackscope-mf-$$"
cleanup() {
    local rc=$?
    trap - EXIT
    [ -n "$ACK_PID" ] && _kill "$ACK_PID" INT
    ip netns del "$NS" 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ip netns add "$NS"
ip -n "$NS" link add va type veth peer name vb
ip netns exec "$NS" sysctl -qw net.ipv6.conf.va.disable_ipv6=1 net.ipv6.conf.vb.disable_ipv6=1
ip -n "$NS" link set va up; ip -n "$NS" link set vb up
ip netns exec "$NS" "$BIN" run --mode mirror --iface vb --format json --events "$OUT/events.jsonl" \
    --summary-json "$OUT/summary.json" --duration 25 2>"$OUT/ackscope.err" &
ACK_PID=$!
for i in $(seq 1 100); do
    grep -q inspecting "$OUT/ackscope.err" 2>/dev/null && break
    kill -0 "$ACK_PID" 2>/dev/null || { cat "$OUT/ackscope.err" >&2; die "ackscope exited"; }
    sleep 0.1
done
grep -q inspecting "$OUT/ackscope.err" || die "ackscope did not start"
ip netns exec "$NS" "$BIN" gen --iface va --pcap "$PCAP" --rate "$RATE" --duration 10 --json >"$OUT/gen.json"
sleep 1
echo "$(kill -0 "$ACK_PID" 2>/dev/null && echo 1 || echo 0)" >"$OUT/alive"
pid="$ACK_PID"; ACK_PID=""
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
echo "$rc" >"$OUT/rc"
log "malformed live done rc=$rc: $(cat "$OUT/gen.json")"
