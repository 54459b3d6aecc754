#!/usr/bin/env bash
# Are the ackscope@ unit's capabilities exactly what ackscope needs? ackscope runs as an
# unprivileged user (setpriv) with the unit's AmbientCapabilities: host mode with them all
# (a TIME_WAIT stale ACK must be reported), then mirror mode with each one removed in turn
# (set-up must fail). Usage: unit_caps.sh ACKSCOPE_BIN OUTDIR
# Leaves in OUTDIR: host.jsonl, host.err, without-CAP.err, result.txt (CAP=started|failed lines).
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2"
UNIT="$LIVE_DIR/../../packaging/ackscope@.service"
mkdir -p "$OUT"
chmod 0777 "$OUT"
read -r -a CAPS <<<"$(sed -n 's/^AmbientCapabilities=//p' "$UNIT")"
[ "${#CAPS[@]}" -gt 0 ] || die "no AmbientCapabilities in $UNIT"
live_setup caps 1 net.ipv4.tcp_timestamps=0
live_start_server

setpriv_list() { printf '%s\n' "$@" | tr 'A-Z' 'a-z' | sed 's/^cap_/+/' | paste -sd, -; }

# start_as NAME CAPLIST args...: ackscope run as nobody; returns 0 once it inspects, 1 if it exits.
start_as() {
    local name="$1" caps="$2"; shift 2
    ip netns exec "$NS_S" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        --inh-caps="-all${caps:+,$caps}" --ambient-caps="-all${caps:+,$caps}" --bounding-set="-all${caps:+,$caps}" \
        "$BIN" run --format json "$@" 2>"$OUT/$name.err" &
    ACK_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q "inspecting" "$OUT/$name.err" 2>/dev/null && return 0
        if ! kill -0 "$ACK_PID" 2>/dev/null; then wait "$ACK_PID" 2>/dev/null || true; ACK_PID=""; return 1; fi
        sleep 0.1
    done
    die "$name: neither started nor failed in 10 s"
}

all="$(setpriv_list "${CAPS[@]}")"
if start_as host "$all" --mode host --iface s0 --events "$OUT/host.jsonl"; then
    client reuse --sport 41001 --nbytes 5000 --isn below --isn-offset 1000
    sleep 1
    live_stop_ackscope || die "host mode exited with $?"
    echo "all=started" >>"$OUT/result.txt"
else
    cat "$OUT/host.err" >&2
    die "host mode did not start with the unit's capabilities"
fi
for drop in "${CAPS[@]}"; do
    rest=()
    for c in "${CAPS[@]}"; do [ "$c" = "$drop" ] || rest+=("$c"); done
    if start_as "without-$drop" "$(setpriv_list "${rest[@]}")" --mode mirror --iface tapb --events "$OUT/mirror.jsonl"; then
        live_stop_ackscope || true
        echo "$drop=started" >>"$OUT/result.txt"
    else
        echo "$drop=failed" >>"$OUT/result.txt"
    fi
done
log "done"
