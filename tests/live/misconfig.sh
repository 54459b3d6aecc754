#!/usr/bin/env bash
# Misconfiguration, live (issue 17): each case runs ackscope on a veth in a namespace of its
# own and records the exit code, stderr, and what is attached afterwards.
# Usage: misconfig.sh ACKSCOPE_BIN OUTDIR. Leaves OUTDIR/CASE.{rc,err,after} for the cases
#   umem      --umem-frames 8192 (32 MiB) under an 8 MiB memlock limit without CAP_IPC_LOCK
#   ring      --ring-size 1000 (not a power of two)
#   queues    --queues 4 on a one-queue veth
#   busy      a second ackscope on the interface and queue a first one is using
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2"
mkdir -p "$OUT"
live_single_ns mc
NS="$NS_S"
after() {  # what of ackscope is left on vb
    echo "xdp=$(ip -n "$NS" link show vb | grep -c 'prog/xdp' || true) clsact=$(tc -n "$NS" qdisc show dev vb | grep -c clsact || true)"
}
one() {  # CASE cmd...
    local c="$1" rc=0; shift
    timeout 30 "$@" >/dev/null 2>"$OUT/$c.err" || rc=$?
    echo "$rc" >"$OUT/$c.rc"
    after >"$OUT/$c.after"
    log "$c: rc=$rc $(tail -1 "$OUT/$c.err")"
}
RUN=(run --mode mirror --iface vb --duration 2)
one umem ip netns exec "$NS" prlimit --memlock=8388608 capsh --drop=cap_ipc_lock -- -c "exec $BIN ${RUN[*]} --umem-frames 8192"
one ring ip netns exec "$NS" "$BIN" "${RUN[@]}" --ring-size 1000
one queues ip netns exec "$NS" "$BIN" "${RUN[@]}" --queues 4
ip netns exec "$NS" "$BIN" run --mode mirror --iface vb --duration 20 2>"$OUT/first.err" >/dev/null &
FIRST=$!
_PIDS+=("$FIRST")
live_wait_started "$FIRST" "$OUT/first.err"
one busy ip netns exec "$NS" "$BIN" "${RUN[@]}"
echo "first_alive=$(kill -0 "$FIRST" 2>/dev/null && echo 1 || echo 0) first_xdp=$(after)" >"$OUT/busy.first"
_kill "$FIRST" INT; _PIDS=()
after >"$OUT/busy.after"
