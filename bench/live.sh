#!/usr/bin/env bash
# Live mirror benchmark on a veth pair: `ackscope gen` → veth → receiver, where the receiver is
#   bare      bench/xsk_bare: ackscope's XDP steering program and AF_XDP socket, a loop that
#             only takes frames and gives them back (the ceiling of this path);
#   ackscope  ackscope run --mode mirror;
#   ackscope-alt  the same with the binary $ACKSCOPE_ALT (to compare a build with changes);
#   suricata  Suricata 7 live on the same veth with the packaged stream-events rules
#             (af-packet: its af-xdp runmode cannot start on a veth, see bench/README.md).
# Each round runs the three on the same stream (same mix, same seed, same duration), one after
# the other; medians over the rounds, ratios per round.
#
#   bash bench/live.sh [ROUNDS] [SECONDS] [RATE] [QUEUES]
#
# RATE 0 (default) offers as much as the generator can send. The generator runs in its own
# namespace pinned to the last core(s); the receiver on core 0 (QUEUES=1) or on cores 0..Q-1.
# Everything lives in namespaces ackscope-bench-$$-*, removed on every exit path.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
RATE=${3:-0}
QUEUES=${4:-1}
RECEIVERS=${RECEIVERS:-bare ackscope suricata}
FLOWS=${FLOWS:-10000}
STALE=${STALE:-0.01}
RING=${RING:-2048}   # rx and fill ring entries per socket (ackscope's default), bare and ackscope alike
UMEM=${UMEM:-4096}   # UMEM frames per socket (ackscope's default)
CHUNK=${CHUNK:-}     # frames per BPF_PROG_RUN call of the generator (default ~100 ms worth)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh
[ "$(id -u)" = 0 ] || { blog "needs root"; exit 2; }
WORK=$(mktemp -d /tmp/ackscope-bench-live.XXXXXX)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
cargo build --release --bin ackscope --example xsk_bare >&2 || exit 1
ACK=$CARGO_TARGET_DIR/release/ackscope
BARE=$CARGO_TARGET_DIR/release/examples/xsk_bare
NCPU=$(nproc)
if [ "$QUEUES" -gt 1 ]; then
    RXCORES=$(seq -s, 0 $((QUEUES - 1)))
    GENCPUS=$(seq -s, 0 $((QUEUES - 1)))
    GENTHREADS=$QUEUES
else
    RXCORES=0
    GENCPUS=$((NCPU - 1))
    GENTHREADS=1
fi
topology "$QUEUES" || { blog "topology failed"; exit 1; }

num() { grep -o "$2[ =]*[0-9]*" "$1" | head -1 | grep -o '[0-9]*$'; }
jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }

gen() { # OUT
    ip netns exec "$NS_G" "$ACK" gen --iface gen0 --duration "$SECS" --rate "$RATE" --flows "$FLOWS" \
        --stale-ack-rate "$STALE" --threads "$GENTHREADS" --cpus "$GENCPUS" ${CHUNK:+--chunk "$CHUNK"} --json >"$1"
}

# run_one RECEIVER ROUND: start the receiver, generate, stop it; append a result line
# "recv sent delivered received kernel_drops other_losses unaccounted stale_injected stale_reported"
run_one() {
    local r=$1 round=$2 out="$WORK/$1.$2" pid
    case $r in
        bare)
            ip netns exec "$NS_M" "$BARE" mon0 --queues "$QUEUES" --cores "$RXCORES" --ring "$RING" --frames "$UMEM" --seconds $((SECS + 30)) >"$out" 2>&1 &
            pid=$!; BENCH_PIDS+=("$pid")
            wait_for "$out" "^socket:" 100 || { blog "bare did not start"; cat "$out" >&2; return 1; } ;;
        ackscope|ackscope-alt)
            rm -f "$out.events"
            local bin=$ACK
            [ "$r" = ackscope-alt ] && bin=${ACKSCOPE_ALT:?set ACKSCOPE_ALT to the other ackscope binary}
            ip netns exec "$NS_M" "$bin" run --mode mirror --iface mon0 --queues "$QUEUES" --cores "$RXCORES" --ring-size "$RING" --umem-frames "$UMEM" \
                --format json --events "$out.events" >/dev/null 2>"$out" &
            pid=$!; BENCH_PIDS+=("$pid")
            wait_for "$out" "inspecting" 100 || { blog "ackscope did not start"; cat "$out" >&2; return 1; } ;;
        suricata)
            rm -rf "$out.d"; mkdir -p "$out.d"
            ip netns exec "$NS_M" taskset -c "$RXCORES" suricata --af-packet=mon0 -S /etc/suricata/rules/stream-events.rules \
                -l "$out.d" -k none --set af-packet.0.interface=mon0 --set af-packet.0.threads="$QUEUES" \
                --set capture.disable-offloading=false >"$out" 2>&1 &
            pid=$!; BENCH_PIDS+=("$pid")
            wait_for "$out" "Engine started" 300 || { blog "suricata did not start"; cat "$out" >&2; return 1; }
            sleep 1 ;;
    esac
    local rx0
    rx0=$(ip netns exec "$NS_M" cat /sys/class/net/mon0/statistics/rx_packets)
    gen "$out.gen" || { blog "gen failed"; cat "$out.gen" >&2; return 1; }
    sleep 1
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null
    local sent el delivered received drops other unacc inj rep
    sent=$(jnum "$out.gen" frames); el=$(jnum "$out.gen" elapsed_s); inj=$(jnum "$out.gen" stale_acks)
    delivered=$(($(ip netns exec "$NS_M" cat /sys/class/net/mon0/statistics/rx_packets) - rx0))
    case $r in
        bare)
            received=$(grep -o 'bare: received=[0-9]*' "$out" | cut -d= -f2)
            drops=$(grep -o 'kernel_drops=[0-9]*' "$out" | cut -d= -f2)
            other=0
            unacc=$((sent - received - drops))
            rep=- ;;
        ackscope|ackscope-alt)
            received=$(grep -o '^ackscope: [0-9]* frames' "$out" | grep -o '[0-9]*' | head -1)
            drops=$(grep -o 'dropped by the kernel [0-9]*' "$out" | grep -o '[0-9]*$')
            other=$(grep -o 'hand-off full) [0-9]*' "$out" | grep -o '[0-9]*$')
            unacc=$((sent - received - drops))
            rep=$(grep -c '"kind":"stale_ack"' "$out.events") ;;
        suricata)
            received=$(grep -o 'decoder.pkts *| Total *| [0-9]*' "$out.d/stats.log" | tail -1 | grep -o '[0-9]*$')
            drops=$(grep -o 'capture.kernel_drops *| Total *| [0-9]*' "$out.d/stats.log" | tail -1 | grep -o '[0-9]*$')
            [ -n "$received" ] || { received=$(grep -o 'packets: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*$'); drops=$(grep -o 'drops: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*$'); received=$((received - drops)); }
            other=0
            unacc=$((sent - received - drops))
            rep=- ;;
    esac
    echo "$r $sent $el $delivered ${received:-0} ${drops:-0} ${other:-0} $unacc $inj $rep" >>"$WORK/results"
    blog "round $round $r: sent $sent in ${el}s, delivered to mon0 $delivered, received ${received:-?} ($(awk -v a="${received:-0}" -v s="$el" 'BEGIN {printf "%.0f", a / s}') frames/s), kernel drops ${drops:-?}, other losses ${other:-0}, unaccounted $unacc, stale ACKs injected $inj reported $rep"
}

: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for r in $RECEIVERS; do
        run_one "$r" "$round" || exit 1
    done
done

# Per-round ratios of received frames/s, then medians.
rate_of() { awk -v r="$1" '$1 == r {printf "%.0f\n", $5 / $3}' "$WORK/results"; }
for r in $RECEIVERS; do rate_of "$r" >"$WORK/rate.$r"; done
med() { median <"$1"; }
echo
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "stream: ackscope gen --flows $FLOWS --stale-ack-rate $STALE --rate $RATE ${CHUNK:+--chunk $CHUNK }--duration $SECS --threads $GENTHREADS --cpus $GENCPUS; receivers on cores $RXCORES, $QUEUES queue(s), rings $RING, UMEM $UMEM frames; $ROUNDS rounds; medians"
echo
echo "| receiver | sent frames/s | received frames/s | received / sent | kernel drops | other losses | unaccounted | stale ACKs reported / injected |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for r in $RECEIVERS; do
    awk -v r="$r" '$1 == r {print $2 / $3}' "$WORK/results" >"$WORK/s.$r"
    awk -v r="$r" '$1 == r {print $5 / $2}' "$WORK/results" >"$WORK/f.$r"
    awk -v r="$r" '$1 == r {print $6}' "$WORK/results" >"$WORK/d.$r"
    awk -v r="$r" '$1 == r {print $7}' "$WORK/results" >"$WORK/o.$r"
    awk -v r="$r" '$1 == r {print $8}' "$WORK/results" >"$WORK/u.$r"
    stale=$(awk -v r="$r" '$1 == r {printf "%s/%s ", $10, $9}' "$WORK/results")
    printf '| %s | %.0f | %.0f | %.3f | %s | %s | %s | %s |\n' "$r" "$(med "$WORK/s.$r")" "$(med "$WORK/rate.$r")" \
        "$(med "$WORK/f.$r")" "$(med "$WORK/d.$r")" "$(med "$WORK/o.$r")" "$(med "$WORK/u.$r")" "$stale"
done
if [[ " $RECEIVERS " == *" ackscope "* ]]; then
    echo
    for other in bare suricata ackscope-alt; do
        [[ " $RECEIVERS " == *" $other "* ]] || continue
        paste "$WORK/rate.ackscope" "$WORK/rate.$other" | awk '{print $1 / $2}' >"$WORK/ratio.$other"
        printf 'ackscope / %s received frames/s, median of per-round ratios: %.2f (rounds: %s)\n' "$other" \
            "$(med "$WORK/ratio.$other")" "$(tr '\n' ' ' <"$WORK/ratio.$other")"
    done
fi
