#!/usr/bin/env bash
# Live host-mode end-to-end run: a real Linux client and server, ackscope in host mode on the
# server's own interface (s0). Usage: host.sh ACKSCOPE_BIN OUTDIR [ORDINARY] [BULK_MB]
#
# Phase 1  no qdisc on s0 before; stale-ACK scenarios (TIME_WAIT, lingering ESTABLISHED), an
#          ordinary workload (ORDINARY connections + a BULK_MB byte-exact transfer); SIGINT.
# Phase 2  kill -9 while running (leftovers must exist), restart (removes them), one more
#          TIME_WAIT scenario, SIGINT.
# Phase 3  an operator's clsact qdisc with u32 filters on both hooks exists before; ackscope
#          must leave them alone and must not hide packets from them (they mirror every
#          packet into a veth of their own, whose packet count is checked).
# Leaves in OUTDIR: p1.jsonl/p1.err, p2a.err (killed run), p2.jsonl/p2.err, p3.jsonl/p3.err,
# workload.txt, state-*.txt (what was on s0 / in the namespace at each step).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2" ORDINARY="${3:-300}" BULK_MB="${4:-20}"
mkdir -p "$OUT"

# state NAME: what of ackscope (and of the operator) is on s0 and in the server namespace.
state() {
    local f="$OUT/state-$1.txt" ids
    {
        echo "clsact=$(tc -n "$NS_S" qdisc show dev s0 | grep -c '^qdisc clsact' || true)"
        echo "our_filters=$(for h in ingress egress; do tc -n "$NS_S" filter show dev s0 $h; done | grep -c 'ackscope_tc' || true)"
        echo "operator_filters=$(for h in ingress egress; do tc -n "$NS_S" filter show dev s0 $h; done | grep -c 'fh 800::800' || true)"
        echo "veth=$(ip -n "$NS_S" -br link show | grep -c '^acks' || true)"
        ids="$(sort -u "$OUT/prog-ids" 2>/dev/null | tr "\n" " " || true)"
        echo "progs_alive=$(nss "$PY" "$PROGS" $ids)"
        echo "prog_ids=$ids"
    } >"$f"
    log "state $1: $(tr '\n' ' ' <"$f")"
}

# record_prog_ids: ids of our tc and XDP programs while ackscope runs.
record_prog_ids() {
    { for h in ingress egress; do tc -n "$NS_S" filter show dev s0 $h; done | grep ackscope_tc | grep -o ' id [0-9]*' | awk '{print $2}'
      # The ring path attaches no XDP program (grep finds nothing: not an error).
      ip -n "$NS_S" -d link show | { grep -o 'prog/xdp id [0-9]*' || true; } | awk '{print $3}'
    } >>"$OUT/prog-ids"
}

operator_hits() {  # packets the operator's filters mirrored (they run after ackscope's)
    nss cat /sys/class/net/opb/statistics/rx_packets
}

modes_setup_host host net.ipv4.tcp_timestamps=0
live_start_server

log "phase 1: host mode on s0 (no qdisc before)"
state p1-before
modes_start_ackscope "$NS_S" "$OUT" p1 --mode host --iface s0
record_prog_ids
state p1-running
live_stale_exchanges
# The kernel view (issue 14): the client's RSTs are lost for a while, so the server's stale
# socket (TIME-WAIT, lingering ESTABLISHED) is still there when the stale ACK is confirmed by
# the client's SYN retry and ackscope looks it up.
client reuse --sport 41005 --nbytes 5000 --isn below --isn-offset 1000 --drop-rst 2
client lingering --sport 41013 --nbytes 1000 --keep-dropping 2
{
    nsc "$PY" "$TCPAPP" many --sport 42000 --count "$ORDINARY" --src "$CLI_IP" --dst "$SRV_IP"
    bulk "$BULK_MB"
} >"$OUT/workload.txt" 2>"$OUT/workload.err" || true
sleep 0.5
live_stop_ackscope || log "ackscope exited with $?"
state p1-after

log "phase 2: kill -9, then restart"
modes_start_ackscope "$NS_S" "$OUT" p2a --mode host --iface s0
record_prog_ids
sleep 0.3
modes_kill9_ackscope
state p2-killed
modes_start_ackscope "$NS_S" "$OUT" p2 --mode host --iface s0
record_prog_ids
client reuse --sport 41021 --nbytes 5000 --isn below --isn-offset 1000
sleep 0.5
live_stop_ackscope || log "ackscope exited with $?"
state p2-after

log "phase 3: an operator's clsact and filters"
# The operator's filters mirror every packet into a veth of their own (opa -> opb), so that
# their packet count shows they still see everything while ackscope's filter runs first.
ip -n "$NS_S" link add opa type veth peer name opb
nss sysctl -qw net.ipv6.conf.opa.disable_ipv6=1 net.ipv6.conf.opb.disable_ipv6=1
ip -n "$NS_S" link set opa up; ip -n "$NS_S" link set opb up
tc -n "$NS_S" qdisc add dev s0 clsact
tc -n "$NS_S" filter add dev s0 ingress prio 40000 u32 match u32 0 0 action mirred egress mirror dev opa
tc -n "$NS_S" filter add dev s0 egress prio 40000 u32 match u32 0 0 action mirred egress mirror dev opa
state p3-before
modes_start_ackscope "$NS_S" "$OUT" p3 --mode host --iface s0
record_prog_ids
state p3-running
h0="$(operator_hits)"
client many --sport 45000 --count 50
h1="$(operator_hits)"
live_stop_ackscope || log "ackscope exited with $?"
echo "operator_hits_during=$((h1 - h0))" >>"$OUT/state-p3-running.txt"
state p3-after
log "done"
