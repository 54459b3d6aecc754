#!/usr/bin/env bash
# Host- and inline-mode measurements for bench/README.md ("Host and inline modes").
#
#   bench/modes.sh host   ACKSCOPE CONNRATE [RUNS] [SECS]   connection rate on a real
#       client/server pair, without ackscope and with `--mode host` on the server's
#       interface, runs interleaved: without, ring path (ACKSCOPE_HOST_PATH=ring), without,
#       clone path (the default), ...; ratios paired with the run before
#   bench/modes.sh inline ACKSCOPE [RUNS] [MB]              bulk TCP throughput client ->
#       server through a Linux bridge and through `--mode inline` (native XDP, the default,
#       and --xdp-mode generic) on the same veths, interleaved
#
# ACKSCOPE is target/release/ackscope, CONNRATE target/release/examples/connrate
# (`cargo build --release --example connrate`). Runs as root in namespaces
# ackscope-modes-$$-* (tests/live/modes_lib.sh), removed on exit. Prints one line per run and
# the medians; exit 0.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../tests/live/lib.sh"
source "$HERE/../tests/live/modes_lib.sh"
PART="${1:?host|inline}"
BIN="${2:?ackscope binary}"
OUT="$(mktemp -d /tmp/ackscope-modes-bench.XXXXXX)"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

case "$PART" in
host)
    CONNRATE="${3:?connrate binary}" RUNS="${4:-5}" SECS="${5:-5}"
    modes_setup_host bench net.ipv4.tcp_tw_reuse=1 "net.ipv4.ip_local_port_range=1024 65000"
    ip netns exec "$NS_S" "$CONNRATE" server "$SRV_IP:7000" 4 &
    SPID=$!; _PIDS+=("$SPID")
    sleep 0.5
    nsc "$CONNRATE" client "$SRV_IP:7000" 1 4 >/dev/null   # warm-up
    # Per round: without ackscope, host mode's ring path (ACKSCOPE_HOST_PATH=ring), and the
    # clone path (ACKSCOPE_HOST_PATH=clone, the default), each run paired with the "without" run before it.
    # Beside each run: the load average, and ackscope's own CPU time (utime+stime from
    # /proc/PID/stat, read just before SIGINT) per frame it received (--summary-json).
    : >"$OUT/without"; : >"$OUT/ring"; : >"$OUT/clone"; : >"$OUT/ring_ns"; : >"$OUT/clone_ns"
    with_host() {  # with_host TAG PATH: one run with ackscope, appends rate and ns/frame
        local tag="$1" path="$2" r ticks frames
        ACKSCOPE_HOST_PATH="$path" modes_start_ackscope "$NS_S" "$OUT" "$tag" --mode host --iface s0 --quiet ${ACKSCOPE_ARGS:-}
        r="$(nsc "$CONNRATE" client "$SRV_IP:7000" "$SECS" 4)"
        ticks="$(awk '{print $14+$15}' "/proc/$ACK_PID/stat")"
        live_stop_ackscope || true
        frames="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["frames"])' "$OUT/$tag.summary.json")"
        echo "run $i with --mode host ($path path): $r ackscope_cpu_s=$(awk -v t="$ticks" 'BEGIN{print t/100}') frames=$frames load=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "$r" | sed 's/.*rate=//' >>"$OUT/$path"
        awk -v t="$ticks" -v f="$frames" 'BEGIN{ if (f>0) printf "%.0f\n", t*1e7/f; else print "nan" }' >>"$OUT/${path}_ns"
    }
    for i in $(seq 1 "$RUNS"); do
        for path in ring clone; do
            r="$(nsc "$CONNRATE" client "$SRV_IP:7000" "$SECS" 4)"
            echo "run $i without ackscope: $r load=$(cut -d' ' -f1-3 /proc/loadavg)"
            echo "$r" | sed 's/.*rate=//' >>"$OUT/without"
            with_host "host-$path$i" "$path"
        done
    done
    # "without" runs alternate: odd lines pair with ring, even lines with clone.
    awk 'NR%2==1' "$OUT/without" >"$OUT/without_ring"; awk 'NR%2==0' "$OUT/without" >"$OUT/without_clone"
    mm() { sort -n | awk '{a[NR]=$1} END {printf "%s..%s", a[1], a[NR]}'; }
    for path in ring clone; do
        paste "$OUT/without_$path" "$OUT/$path" | awk '{printf "%.3f\n", $2/$1}' >"$OUT/ratio_$path"
        echo "$path path: median of paired ratios $(median <"$OUT/ratio_$path") (min-max $(mm <"$OUT/ratio_$path")); \
median connections/s $(median <"$OUT/$path") vs without $(median <"$OUT/without_$path"); \
ackscope CPU per received frame $(median <"$OUT/${path}_ns") ns (min-max $(mm <"$OUT/${path}_ns"))"
    done
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    kill "$SPID" 2>/dev/null || true
    ;;
inline)
    RUNS="${3:-5}" MB="${4:-1000}"
    modes_setup_inline bench
    ip netns exec "$NS_S" "$PY" "$BULK" server --addr "$SRV_IP" --port 7001 --no-hash &
    SPID=$!; _PIDS+=("$SPID")
    sleep 0.5
    : >"$OUT/bridge"; : >"$OUT/inline"
    for i in $(seq 1 "$RUNS"); do
        nsm ip link add br0 type bridge
        nsm ip link set ia master br0; nsm ip link set ib master br0; nsm ip link set br0 up
        sleep 0.5
        r="$(nsc "$PY" "$BULK" client --dst "$SRV_IP" --port 7001 --mbytes "$MB" --no-hash)"
        echo "run $i linux bridge: $r"
        echo "$r" | sed 's/.*mbit_s=//' >>"$OUT/bridge"
        nsm ip link del br0
        modes_start_ackscope "$NS_M" "$OUT" "inline$i" --mode inline --iface ia --peer ib --on-exit disconnect --quiet ${ACKSCOPE_ARGS:-}
        r="$(nsc "$PY" "$BULK" client --dst "$SRV_IP" --port 7001 --mbytes "$MB" --no-hash)"
        live_stop_ackscope || true
        echo "run $i --mode inline: $r"
        echo "$r" | sed 's/.*mbit_s=//' >>"$OUT/inline"
        modes_start_ackscope "$NS_M" "$OUT" "generic$i" --mode inline --iface ia --peer ib --on-exit disconnect --quiet --xdp-mode generic ${ACKSCOPE_ARGS:-}
        r="$(nsc "$PY" "$BULK" client --dst "$SRV_IP" --port 7001 --mbytes "$MB" --no-hash)"
        live_stop_ackscope || true
        echo "run $i --mode inline --xdp-mode generic: $r"
        echo "$r" | sed 's/.*mbit_s=//' >>"$OUT/generic"
    done
    a="$(median <"$OUT/bridge")"; b="$(median <"$OUT/inline")"; g="$(median <"$OUT/generic")"
    pb="$(paste "$OUT/bridge" "$OUT/inline" | awk '{print $2/$1}' | median)"
    pg="$(paste "$OUT/bridge" "$OUT/generic" | awk '{print $2/$1}' | median)"
    echo "median of paired ratios: inline $(printf '%.3f' "$pb"), inline --xdp-mode generic $(printf '%.3f' "$pg")"
    echo "median Mbit/s: linux bridge $a, inline $b, ratio $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b/a}'); inline --xdp-mode generic $g, ratio $(awk -v a="$a" -v b="$g" 'BEGIN {printf "%.3f", b/a}')"
    kill "$SPID" 2>/dev/null || true
    ;;
*) die "part must be host or inline" ;;
esac
rm -rf "$OUT"
