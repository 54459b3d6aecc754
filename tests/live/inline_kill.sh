#!/usr/bin/env bash
# Inline mode under load, killed and restarted: a client namespace and a server namespace
# connected only through `ackscope run --mode inline` (fail-open, the default) in a middle
# namespace (ports ia and ib).
# Usage: inline_kill.sh ACKSCOPE_BIN OUTDIR [BULK_MB] [CONNS] [MBIT]
#
# Phase B  ackscope k1 runs; a paced BULK_MB transfer and a CONNS connection loop: the baseline.
# Phase K  ackscope k1 still runs; a paced BULK_MB byte-exact transfer and a loop of CONNS
#          connect/transfer/close rounds start; in the middle ackscope is killed with SIGKILL.
#          Both must finish: every connection succeeded, the transfer is byte-exact.
# Phase R  a second paced transfer and connection loop start with no ackscope running (the
#          left program forwards); in the middle ackscope k2 starts and replaces the program
#          on both ports in place (XDP_FLAGS_REPLACE); k2 then stops with SIGINT.
# For each phase: the frames each end host sent that the other did not receive (veth packet
# counters, both directions) and those of them the receiving end host's veth ring refused,
# TCP retransmissions of the client and the server namespace (/proc/net/snmp RetransSegs, and
# TcpExt TCPLostRetransmit/TCPTimeouts), the veth drop counters, the XDP program ids on the ports.
# Leaves in OUTDIR, per phase P in B K R: bulk-P.txt loop-P.txt (+ .err), times-P.txt
# (start/event/end, seconds), frames-P.txt, tcp-P.txt (deltas); k1.err k2.err
# k2.summary.json, progs.txt, ns-tag.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2" BULK_MB="${3:-200}" CONNS="${4:-400}" MBIT="${5:-250}"
mkdir -p "$OUT"

now() { date +%s.%N; }

tcp_counters() {  # tcp_counters NS: retrans=N timeouts=N syn_retrans=N ... (cumulative)
    ip netns exec "$1" awk '
        $1 == "Tcp:" && !t { for (i = 2; i <= NF; i++) h[i] = $i; t = 1; next }
        $1 == "Tcp:" && t  { for (i = 2; i <= NF; i++) if (h[i] == "RetransSegs") r = $i }
        END { printf "retrans=%d ", r }' /proc/net/snmp
    ip netns exec "$1" awk '
        $1 == "TcpExt:" && !t { for (i = 2; i <= NF; i++) h[i] = $i; t = 1; next }
        $1 == "TcpExt:" && t  { for (i = 2; i <= NF; i++) v[h[i]] = $i }
        END { printf "timeouts=%d syn_retrans=%d loss_probes=%d fast_retrans=%d lost_retrans=%d\n",
              v["TCPTimeouts"], v["TCPSynRetrans"], v["TCPLossProbes"], v["TCPFastRetrans"], v["TCPLostRetransmit"] }' /proc/net/netstat
}

drops() {  # packet and drop counters of the four veth ends (cumulative)
    local nd ns dev c
    for nd in "$NS_C:c0" "$NS_M:ia" "$NS_M:ib" "$NS_S:s0"; do
        ns="${nd%%:*}" dev="${nd##*:}"
        printf '%s' "$dev"
        for c in tx_packets rx_packets rx_dropped tx_dropped; do
            printf ' %s=%s' "$c" "$(ip netns exec "$ns" cat "/sys/class/net/$dev/statistics/$c")"
        done
        echo
    done
}

prog_ids() {  # ia=ID ib=ID (0 = none)
    local d id
    for d in ia ib; do
        id="$(ip -n "$NS_M" -d link show "$d" | grep -o 'prog/xdp id [0-9]*' | grep -o '[0-9]*$' || true)"
        printf '%s=%s ' "$d" "${id:-0}"
    done
    echo
}

snapshot() {  # snapshot PHASE WHEN
    {
        echo "client $(tcp_counters "$NS_C")"
        echo "server $(tcp_counters "$NS_S")"
    } >"$OUT/tcp-$1-$2.txt"
    drops >"$OUT/drops-$1-$2.txt"
}

ctr() {  # ctr FILE DEV NAME
    grep "^$2 " "$1" | grep -o " $3=[0-9]*" | cut -d= -f2
}

account() {  # account PHASE: frames sent by one end host and not received by the other
    local b="$OUT/drops-$1-before.txt" a="$OUT/drops-$1-after.txt" d
    d() { echo $(( $(ctr "$a" "$1" "$2") - $(ctr "$b" "$1" "$2") )); }
    local c2s=$(( $(d c0 tx_packets) - $(d s0 rx_packets) )) s2c=$(( $(d s0 tx_packets) - $(d c0 rx_packets) ))
    local dev vd=0
    local where=""
    for dev in c0 ia ib s0; do
        vd=$(( vd + $(d "$dev" rx_dropped) + $(d "$dev" tx_dropped) ))
        where+=" ${dev}_rx_dropped=$(d "$dev" rx_dropped) ${dev}_tx_dropped=$(d "$dev" tx_dropped)"
    done
    # An end host's rx_dropped: frames ackscope had forwarded (XDP_REDIRECT into ib or ia) that
    # the end host's veth ring (256 entries) refused because its NAPI had not run yet; the
    # forwarding port counts the same frames as tx_dropped (docs/MODES.md "What inline cannot
    # do on a veth").
    echo "c0_tx=$(d c0 tx_packets) s0_rx=$(d s0 rx_packets) s0_tx=$(d s0 tx_packets) c0_rx=$(d c0 rx_packets) lost_c2s=$c2s lost_s2c=$s2c overflow_c2s=$(d s0 rx_dropped) overflow_s2c=$(d c0 rx_dropped) veth_drops=$vd$where" \
        >"$OUT/frames-$1.txt"
    {
        echo "client $(tcp_delta client)"
        echo "server $(tcp_delta server)"
    } >"$OUT/tcp-$1.txt"
    log "phase $1 frames: $(cat "$OUT/frames-$1.txt"); tcp: $(tr '\n' ' ' <"$OUT/tcp-$1.txt")"
}

tcp_delta() {  # tcp_delta client|server: counter deltas; called by account (its $b and $a)
    local before after k out=""
    before="$(grep "^$1 " "${b/drops-/tcp-}")" after="$(grep "^$1 " "${a/drops-/tcp-}")"
    for k in retrans timeouts syn_retrans loss_probes fast_retrans lost_retrans; do
        out+="$k=$(( $(echo "$after" | grep -o " $k=[0-9]*" | cut -d= -f2) - $(echo "$before" | grep -o " $k=[0-9]*" | cut -d= -f2) )) "
    done
    echo "$out"
}

BULK_PID="" LOOP_PID=""
start_traffic() {  # start_traffic PHASE FIRST_SPORT BULK_PORT
    local ready; ready="$(mktemp -u /tmp/ackscope-modes-$$-bulk.XXXXXX)"
    ip netns exec "$NS_S" "$PY" "$BULK" server --addr "$SRV_IP" --port "$3" --ready-file "$ready" --once \
        2>"$OUT/bulk-server-$1.err" &
    _PIDS+=("$!")
    local i; for i in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.05; done
    [ -e "$ready" ] || die "bulk server did not start"
    rm -f "$ready"
    echo "start=$(now)" >"$OUT/times-$1.txt"
    nsc timeout 120 "$PY" "$BULK" client --dst "$SRV_IP" --port "$3" --mbytes "$BULK_MB" --mbit "$MBIT" \
        >"$OUT/bulk-$1.txt" 2>"$OUT/bulk-$1.err" &
    BULK_PID=$!; _PIDS+=("$BULK_PID")
    nsc timeout 120 "$PY" "$TCPAPP" many --sport "$2" --count "$CONNS" --gap 0.01 --src "$CLI_IP" --dst "$SRV_IP" \
        >"$OUT/loop-$1.txt" 2>"$OUT/loop-$1.err" &
    LOOP_PID=$!; _PIDS+=("$LOOP_PID")
}

wait_traffic() {  # wait_traffic PHASE
    local rc
    rc=0; wait "$BULK_PID" || rc=$?
    echo "bulk_end=$(now) bulk_rc=$rc" >>"$OUT/times-$1.txt"
    rc=0; wait "$LOOP_PID" || rc=$?
    echo "loop_end=$(now) loop_rc=$rc" >>"$OUT/times-$1.txt"
    log "phase $1: $(cat "$OUT/bulk-$1.txt") | $(cat "$OUT/loop-$1.txt")"
}

# No IPv6 on the end hosts: no stray router/neighbour solicitations in the frame accounting.
modes_setup_inline kill net.ipv6.conf.all.disable_ipv6=1 -- net.ipv6.conf.all.disable_ipv6=1
live_start_server

log "phase B: inline k1, traffic (the baseline)"
modes_start_ackscope "$NS_M" "$OUT" k1 --mode inline --iface ia --peer ib
echo "k1-running $(prog_ids)" >"$OUT/progs.txt"
snapshot B before
start_traffic B 10000 5101
wait_traffic B
snapshot B after
account B

log "phase K: traffic through k1, SIGKILL in the middle"
snapshot K before
start_traffic K 20000 5102
sleep 3
echo "event=$(now)" >>"$OUT/times-K.txt"
modes_kill9_ackscope
log "k1 killed"
echo "k1-killed $(prog_ids)" >>"$OUT/progs.txt"
wait_traffic K
snapshot K after
account K

log "phase R: traffic through the left program, ackscope k2 starts in the middle"
snapshot R before
start_traffic R 30000 5103
sleep 2
echo "event=$(now)" >>"$OUT/times-R.txt"
modes_start_ackscope "$NS_M" "$OUT" k2 --mode inline --iface ia --peer ib
echo "inspecting=$(now)" >>"$OUT/times-R.txt"
echo "k2-running $(prog_ids)" >>"$OUT/progs.txt"
wait_traffic R
snapshot R after
account R
sleep 0.3
live_stop_ackscope || log "ackscope exited with $?"
echo "k2-stopped $(prog_ids)" >>"$OUT/progs.txt"
log "done"
