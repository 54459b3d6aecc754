#!/usr/bin/env bash
# CPU per received frame of the live receivers at a fixed offered rate, from each process's own
# accounting (the sum of its threads' run time in /proc/PID/task/*/schedstat, nanoseconds):
#   bare          bench/xsk_bare: ackscope's XDP steering program and AF_XDP sockets, a loop
#                 that only takes frames and gives them back (the floor of the live path);
#   bare-paced    the same loop waiting like ackscope's single-queue worker: 200 µs after a
#                 small batch, up to 10 ms in poll() when idle (xsk_bare --pace-us 200
#                 --idle-ms 10), for a like-for-like comparison;
#   ackscope      ackscope run --mode mirror (this tree's build);
#   ackscope-alt  the same with the binary $ACKSCOPE_ALT (e.g. /tmp/ackscope-base, the old build).
# The generator runs in its own namespace pinned to the last core and offers the same frames
# (same mix, same seed, --frames N) at --rate RATE to each receiver in turn; the receivers run
# pinned to core 0 (QUEUES=1) or cores 0..Q-1. Rounds alternate the order (A B C, C B A, ...),
# so old and new builds are paired in time. Since the generator and the peer's NAPI (the XDP
# program and the copy into the socket) run on the generator's core, the receiver process's
# CPU is what its user-space loop costs: the figure to compare, whatever the co-tenants do to
# the maximum rate. Prints per-run lines, then medians and min-max, with the load average.
#
#   bash bench/worker_cost.sh [ROUNDS] [FRAMES] [RATE] [QUEUES]
#
# Defaults: 5 rounds, 1 000 000 frames at 100 000 frames/s (chunks of 4096), 1 queue.
# PERF_DIR=DIR: also `perf record -g` the worker thread(s) of each run into DIR/RECEIVER.ROUND.data
# (perf adds its own cost to the figures of that run: profile, do not measure, with it).
# Everything lives in namespaces ackscope-bench-$$-*, removed on every exit path.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
FRAMES=${2:-1000000}
RATE=${3:-100000}
QUEUES=${4:-1}
RECEIVERS=${RECEIVERS:-bare bare-paced ackscope${ACKSCOPE_ALT:+ ackscope-alt}}
FLOWS=${FLOWS:-10000}
STALE=${STALE:-0.01}
RING=${RING:-8192}
UMEM=${UMEM:-16384}
CHUNK=${CHUNK:-4096}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh
[ "$(id -u)" = 0 ] || { blog "needs root"; exit 2; }
WORK=$(mktemp -d /tmp/ackscope-bench-cost.XXXXXX)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
if [ -z "${NOBUILD:-}" ]; then
    nice cargo build --release --bin ackscope --example xsk_bare >&2 || exit 1
fi
ACK=${ACK:-$CARGO_TARGET_DIR/release/ackscope}
BARE=${BARE:-$CARGO_TARGET_DIR/release/examples/xsk_bare}
NCPU=$(nproc)
if [ "$QUEUES" -gt 1 ]; then
    RXCORES=$(seq -s, 0 $((QUEUES - 1)))
    GENCPUS=$(seq -s, 0 $((QUEUES - 1)))
else
    RXCORES=0
    GENCPUS=$((NCPU - 1))
fi
topology "$QUEUES" || { blog "topology failed"; exit 1; }

jnum() { grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2; }

# tasks PID [COMM-PREFIX]: the /proc task directories of the process's threads (those whose
# name starts with COMM-PREFIX if given), one per line.
tasks() {
    local t c
    for t in /proc/"$1"/task/*; do
        if [ -n "${2:-}" ]; then
            c=$(cat "$t/comm" 2>/dev/null) || continue
            [[ $c == "$2"* ]] || continue
        fi
        echo "$t"
    done
}

# cpu_ns PID [COMM-PREFIX]: run time of the process's threads (those whose name starts with
# COMM-PREFIX if given), nanoseconds.
cpu_ns() {
    local t sum=0 c
    for t in $(tasks "$@"); do
        read -r c _ <"$t/schedstat" 2>/dev/null || continue
        sum=$((sum + c))
    done
    echo "$sum"
}

# child PID: the receiver itself (ip netns exec execs it, so it is PID).
run_one() { # RECEIVER ROUND
    local r=$1 round=$2 out="$WORK/$1.$2" pid bin=$ACK wcomm
    case $r in
        bare|bare-paced)
            local extra=()
            [ "$r" = bare-paced ] && extra=(--pace-us 200 --idle-ms 10)
            ip netns exec "$NS_M" "$BARE" mon0 --queues "$QUEUES" --cores "$RXCORES" --ring "$RING" --frames "$UMEM" --seconds 600 "${extra[@]}" >"$out" 2>&1 &
            pid=$!; BENCH_PIDS+=("$pid")
            wait_for "$out" "^socket:" 100 || { blog "bare did not start"; cat "$out" >&2; return 1; }
            wcomm=xsk_bare-q ;;
        ackscope|ackscope-alt)
            [ "$r" = ackscope-alt ] && bin=${ACKSCOPE_ALT:?set ACKSCOPE_ALT to the other ackscope binary}
            ip netns exec "$NS_M" "$bin" run --mode mirror --iface mon0 --queues "$QUEUES" --cores "$RXCORES" --ring-size "$RING" --umem-frames "$UMEM" \
                --format json --events "$out.events" >/dev/null 2>"$out" &
            pid=$!; BENCH_PIDS+=("$pid")
            wait_for "$out" "inspecting" 100 || { blog "ackscope did not start"; cat "$out" >&2; return 1; }
            wcomm=ackscope-q ;;
    esac
    sleep 0.5
    local c0 w0 c1 w1
    c0=$(cpu_ns "$pid"); w0=$(cpu_ns "$pid" "$wcomm")
    local perf_pid=""
    if [ -n "${PERF_DIR:-}" ]; then
        # Where the worker thread's CPU goes: perf record of its thread(s) for the run.
        local tids
        tids=$(tasks "$pid" "$wcomm" | sed 's|.*/||' | paste -sd,)
        mkdir -p "$PERF_DIR"
        perf record -q -g -t "$tids" -o "$PERF_DIR/$r.$round.data" >/dev/null 2>&1 &
        perf_pid=$!; BENCH_PIDS+=("$perf_pid")
        sleep 0.3
    fi
    ip netns exec "$NS_G" "$ACK" gen --iface gen0 --frames "$FRAMES" --duration 600 --rate "$RATE" --chunk "$CHUNK" --flows "$FLOWS" \
        --stale-ack-rate "$STALE" --cpus "$GENCPUS" --json >"$out.gen" || { blog "gen failed"; cat "$out.gen" >&2; return 1; }
    sleep 0.3
    c1=$(cpu_ns "$pid"); w1=$(cpu_ns "$pid" "$wcomm")
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; fi
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null
    local sent el received inj rep
    sent=$(jnum "$out.gen" frames); el=$(jnum "$out.gen" elapsed_s); inj=$(jnum "$out.gen" stale_acks)
    case $r in
        bare|bare-paced) received=$(grep -o 'bare: received=[0-9]*' "$out" | cut -d= -f2); rep=- ;;
        *) received=$(grep -o '^ackscope: [0-9]* frames' "$out" | grep -o '[0-9]*' | head -1)
           rep=$(grep -c '"kind":"stale_ack"' "$out.events") ;;
    esac
    received=${received:-0}
    local pf wf
    pf=$(awk -v c=$((c1 - c0)) -v n="$received" 'BEGIN {printf "%.1f", n ? c / n : 0}')
    wf=$(awk -v c=$((w1 - w0)) -v n="$received" 'BEGIN {printf "%.1f", n ? c / n : 0}')
    echo "$r $sent $el $received $pf $wf $inj $rep" >>"$WORK/results"
    blog "round $round $r: sent $sent at $(awk -v s="$sent" -v e="$el" 'BEGIN {printf "%.0f", s / e}')/s, received $received, CPU per frame: process $pf ns, worker thread(s) $wf ns; stale ACKs injected $inj reported $rep; load $(cut -d' ' -f1 /proc/loadavg)"
}

: >"$WORK/results"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
order=($RECEIVERS)
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 0 ]; then
        seq_=(); for ((i = ${#order[@]} - 1; i >= 0; i--)); do seq_+=("${order[i]}"); done
    else
        seq_=("${order[@]}")
    fi
    for r in "${seq_[@]}"; do run_one "$r" "$round" || exit 1; done
done

stat_of() { # RECEIVER COLUMN: "median (min-max)"
    awk -v r="$1" -v c="$2" '$1 == r {print $c}' "$WORK/results" | sort -g >"$WORK/col"
    printf '%s (%s-%s)' "$(median <"$WORK/col")" "$(head -1 "$WORK/col")" "$(tail -1 "$WORK/col")"
}
echo
echo "machine: $(machine); load average at the start: $LOAD0, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "stream: ackscope gen --frames $FRAMES --rate $RATE --chunk $CHUNK --flows $FLOWS --stale-ack-rate $STALE --cpus $GENCPUS; receivers on cores $RXCORES, $QUEUES queue(s), rings $RING, UMEM $UMEM frames; $ROUNDS rounds (order reversed every other round); medians (min-max)"
echo
echo "| receiver | received / sent | CPU ns per frame, process | CPU ns per frame, worker thread(s) | stale ACKs reported / injected |"
echo "|---|---:|---:|---:|---|"
for r in $RECEIVERS; do
    awk -v r="$r" '$1 == r {print $4 / $2}' "$WORK/results" | sort -g >"$WORK/f"
    stale=$(awk -v r="$r" '$1 == r {printf "%s/%s ", $8, $7}' "$WORK/results")
    printf '| %s | %s | %s | %s | %s |\n' "$r" "$(median <"$WORK/f")" "$(stat_of "$r" 5)" "$(stat_of "$r" 6)" "$stale"
done
echo
for floor in bare bare-paced; do
    [[ " $RECEIVERS " == *" $floor "* ]] || continue
    for r in $RECEIVERS; do
        [[ $r == bare* ]] && continue
        for col in 5 6; do
            awk -v r="$r" -v c=$col '$1 == r {print $c}' "$WORK/results" >"$WORK/a"
            awk -v r="$floor" -v c=$col '$1 == r {print $c}' "$WORK/results" >"$WORK/b"
            paste "$WORK/a" "$WORK/b" | awk '{print $1 / $2}' | sort -g >"$WORK/ratio"
            printf '%s / %s, CPU per frame (%s), per-round ratios: median %s (%s-%s)\n' "$r" "$floor" \
                "$([ $col = 5 ] && echo process || echo worker thread)" "$(median <"$WORK/ratio")" "$(head -1 "$WORK/ratio")" "$(tail -1 "$WORK/ratio")"
        done
    done
done
