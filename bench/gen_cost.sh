#!/usr/bin/env bash
# The generator's speed and CPU per frame, old build vs new, into two receivers on a veth:
#   gro   the peer with `gro on` and nothing attached (NAPI only: GRO, then the IP stack drops
#         the frames, which are not addressed to it);
#   xsk   the peer with ackscope's XDP program and an AF_XDP socket (bench/xsk_bare).
# For each receiver and each --cpus list, each round runs the generators one after the other
# (order reversed every other round) for SECONDS at full speed; prints frames/s sent, frames
# delivered to the peer (its rx_packets, or the socket's count), the veth's tx drops, and the
# generator's CPU per frame sent (user + system time of the whole process, from bash's `time`:
# on a veth the peer's NAPI runs on the sender's core, in its context, and is in that figure).
#
#   GEN_ALT=/tmp/ackscope-base bash bench/gen_cost.sh [ROUNDS] [SECONDS] [CPUS-LISTS]
#
# CPUS-LISTS: space-separated --cpus values (default "1 0,1"). Namespaces ackscope-bench-$$-*.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-4}
LISTS=${3:-1 0,1}
RECV=${RECV:-gro xsk}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh
[ "$(id -u)" = 0 ] || { blog "needs root"; exit 2; }
WORK=$(mktemp -d /tmp/ackscope-bench-gen.XXXXXX)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
if [ -z "${NOBUILD:-}" ]; then
    nice cargo build --release --bin ackscope --example xsk_bare >&2 || exit 1
fi
NEW=${ACK:-$CARGO_TARGET_DIR/release/ackscope}
BARE=${BARE:-$CARGO_TARGET_DIR/release/examples/xsk_bare}
GENS="new${GEN_ALT:+ old}"
topology 2 || { blog "topology failed"; exit 1; }
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }
rxp() { ip netns exec "$NS_M" cat /sys/class/net/mon0/statistics/rx_packets; }

run_one() { # RECV GEN CPUS ROUND
    local recv=$1 g=$2 cpus=$3 out="$WORK/$1.$2.$3.$4" bin=$NEW pid= t0 delivered
    [ "$g" = old ] && bin=$GEN_ALT
    if [ "$recv" = xsk ]; then
        ip netns exec "$NS_M" "$BARE" mon0 --queues 2 --cores 0,1 --seconds 600 >"$out.rx" 2>&1 &
        pid=$!; BENCH_PIDS+=("$pid")
        wait_for "$out.rx" "^socket:" 100 || { blog "xsk_bare did not start"; cat "$out.rx" >&2; return 1; }
    fi
    t0=$(rxp)
    local TIMEFORMAT='%U %S'
    { time ip netns exec "$NS_G" "$bin" gen --iface gen0 --duration "$SECS" --cpus "$cpus" --json >"$out" 2>"$out.err"; } 2>"$out.time" \
        || { blog "gen failed"; cat "$out.err" >&2; return 1; }
    sleep 0.3
    delivered=$(($(rxp) - t0))
    if [ -n "$pid" ]; then
        kill -INT "$pid"; wait "$pid" 2>/dev/null
        delivered=$(grep -o 'bare: received=[0-9]*' "$out.rx" | cut -d= -f2)
    fi
    local sent el drops cpu
    sent=$(jnum "$out" frames); el=$(jnum "$out" elapsed_s); drops=$(jnum "$out" iface_tx_dropped)
    cpu=$(awk '{print $1 + $2}' "$out.time")
    echo "$recv $g $cpus $sent $el ${delivered:-0} $drops $cpu" >>"$WORK/results"
    blog "round $4 $recv $g --cpus $cpus: sent $(awk -v s="$sent" -v e="$el" 'BEGIN {printf "%.0f", s / e}')/s, delivered $(awk -v s="${delivered:-0}" -v e="$el" 'BEGIN {printf "%.0f", s / e}')/s, tx dropped $drops, CPU $(awk -v c="$cpu" -v s="$sent" 'BEGIN {printf "%.0f", c * 1e9 / s}') ns per frame sent; load $(cut -d' ' -f1 /proc/loadavg)"
}

: >"$WORK/results"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
    order=$GENS
    [ $((round % 2)) = 0 ] && order=$(echo "$GENS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for recv in $RECV; do
        for cpus in $LISTS; do
            for g in $order; do run_one "$recv" "$g" "$cpus" "$round" || exit 1; done
        done
    done
done

echo
echo "machine: $(machine); load average at the start: $LOAD0, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ackscope gen --iface gen0 --duration $SECS --cpus LIST (mix defaults: 10 000 4-tuples); $ROUNDS rounds; medians (min-max)"
echo
echo "| receiver | generator | --cpus | sent frames/s | delivered frames/s | CPU ns per frame sent |"
echo "|---|---|---|---:|---:|---:|"
col() { awk -v a="$1" -v b="$2" -v c="$3" "\$1 == a && \$2 == b && \$3 == c {print $4}" "$WORK/results" | sort -g >"$WORK/col"; printf '%.0f (%.0f-%.0f)' "$(median <"$WORK/col")" "$(head -1 "$WORK/col")" "$(tail -1 "$WORK/col")"; }
for recv in $RECV; do
    for cpus in $LISTS; do
        for g in $GENS; do
            printf '| %s | %s | %s | %s | %s | %s |\n' "$recv" "$g" "$cpus" "$(col "$recv" "$g" "$cpus" '$4 / $5')" \
                "$(col "$recv" "$g" "$cpus" '$6 / $5')" "$(col "$recv" "$g" "$cpus" '$8 * 1e9 / $4')"
        done
    done
done
