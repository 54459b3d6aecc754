#!/usr/bin/env bash
# Host- and inline-mode measurements for bench/README.md ("Host and inline modes").
#
#   bench/modes.sh host   ACKSCOPE CONNRATE [RUNS] [SECS]   connection rate on a real
#       client/server pair, without ackscope and with `--mode host` on the server's
#       interface, runs interleaved: without, ring path (ACKSCOPE_HOST_PATH=ring), without,
#       clone path (ACKSCOPE_HOST_PATH=clone), ...; ratios paired with the run before, and the
#       CPU cost per observed control segment from the processes' own accounting.
#       HOST_VARIANTS="NAME=BINARY:PATH ..." replaces the two variants (old build vs new);
#       RATE=N paces the clients to N connections/s (CPU per segment at a fixed rate)
#   bench/modes.sh host-lookups ACKSCOPE CONNRATE [RUNS] [SECS]   the same ratio with the
#       kernel view (sock_diag lookups of stale ACKs) on and off, under a stale-ACK load from
#       `ackscope gen` (GEN_RATE frames/s, GEN_STALE share of stale-ACK stories)
#   bench/modes.sh inline ACKSCOPE [RUNS] [MB]              bulk TCP throughput client ->
#       server through a Linux bridge, a bare DEVMAP-forwarding XDP program (XDP_FWD, default
#       target/release/examples/xdp_fwd) and `--mode inline` (native XDP, the default, and
#       --xdp-mode generic) on the same veths, interleaved
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
    # Variants (HOST_VARIANTS, "NAME=BINARY:PATH ..."; default the ring and the clone path of
    # ACKSCOPE): e.g. HOST_VARIANTS="base=/tmp/ackscope-base:ring new=target/release/ackscope:ring"
    # pairs an old build with a new one. RATE=N paces the clients to N connections/s in total
    # (0: as fast as they can, the saturated host): at a fixed rate the CPU per control segment
    # compares like with like on a machine shared with other jobs.
    CONNRATE="${3:?connrate binary}" RUNS="${4:-5}" SECS="${5:-5}" RATE="${RATE:-0}"
    VARIANTS="${HOST_VARIANTS:-ring=$BIN:ring clone=$BIN:clone}"
    modes_setup_host bench net.ipv4.tcp_tw_reuse=1 "net.ipv4.ip_local_port_range=1024 65000"
    ip netns exec "$NS_S" "$CONNRATE" server "$SRV_IP:7000" 4 &
    SPID=$!; _PIDS+=("$SPID")
    sleep 0.5
    nsc "$CONNRATE" client "$SRV_IP:7000" 1 4 >/dev/null   # warm-up
    # Per round: without ackscope, variant 1, without, variant 2, ...; each "with" run is
    # paired with the "without" run just before it. Beside each run: the load average, and
    # CPU time from the processes' own accounting: the client's getrusage (utime+stime) plus
    # the server's and ackscope's threads' run time (/proc/PID/task/*/schedstat, ns). The
    # kernel here has tick accounting without IRQ time accounting, so a task is also charged
    # the softirq work done in its context, i.e. the tc program and, on the clone path, the
    # clones. "cost per control segment" = (ackscope's CPU + the workload's extra CPU per
    # connection x connections) / the control segments the tc program selected
    # (--summary-json host.cloned); the workload's part is noisy on a shared machine,
    # ackscope's own is not.
    runtime_s() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{t+=$1} END {printf "%.6f", t/1e9}'; }
    field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
    run_workload() {  # sets R (rate), WL (workload CPU s), N (connections)
        local s0 s1 out
        s0="$(runtime_s "$SPID")"
        out="$(nsc "$CONNRATE" client "$SRV_IP:7000" "$SECS" 4 "$RATE")"
        s1="$(runtime_s "$SPID")"
        R="$(field "$out" rate)"; N="$(field "$out" conns)"
        WL="$(awk -v c="$(field "$out" cpu_s)" -v a="$s0" -v b="$s1" 'BEGIN{printf "%.4f", c+b-a}')"
    }
    : >"$OUT/rows"
    echo "variants: $VARIANTS; rate ${RATE} conn/s (0 = unpaced); $RUNS rounds of ${SECS} s; load $(cut -d' ' -f1-3 /proc/loadavg)"
    for i in $(seq 1 "$RUNS"); do
        for v in $VARIANTS; do
            name="${v%%=*}" spec="${v#*=}"
            vbin="${spec%:*}" path="${spec##*:}"
            run_workload
            local_r0="$R" local_wl0="$WL" local_n0="$N"
            echo "run $i without ackscope: rate=$R conns=$N workload_cpu_s=$WL load=$(cut -d' ' -f1-3 /proc/loadavg)"
            BIN="$vbin" ACKSCOPE_HOST_PATH="$path" modes_start_ackscope "$NS_S" "$OUT" "host-$name$i" --mode host --iface s0 --quiet ${ACKSCOPE_ARGS:-}
            a0="$(runtime_s "$ACK_PID")"
            run_workload
            a1="$(runtime_s "$ACK_PID")"
            live_stop_ackscope || true
            read -r seg lost < <("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); h=s["host"]; t=h["tc"]; import re; rf=re.search(r"ring_full=(\d+)", t); print(h["cloned"], (int(rf.group(1)) if rf else 0) + h["lost_on_veth"] + h["clone_fail"])' "$OUT/host-$name$i.summary.json")
            ack_s="$(awk -v a="$a0" -v b="$a1" 'BEGIN{printf "%.4f", b-a}')"
            echo "run $i with --mode host ($name: $path path of $vbin): rate=$R conns=$N workload_cpu_s=$WL ackscope_cpu_s=$ack_s control_segments=$seg lost=$lost load=$(cut -d' ' -f1-3 /proc/loadavg)"
            awk -v p="$name" -v r0="$local_r0" -v w0="$local_wl0" -v n0="$local_n0" -v r="$R" -v w="$WL" -v n="$N" -v a="$ack_s" -v seg="$seg" \
                'BEGIN{ extra = (w/n - w0/n0) * n; printf "%s %.3f %.3f %.3f\n", p, r/r0, (seg>0 ? (a+extra)*1e6/seg : 0), (seg>0 ? a*1e6/seg : 0) }' >>"$OUT/rows"
        done
    done
    mm() { sort -n | awk '{a[NR]=$1} END {printf "%s..%s", a[1], a[NR]}'; }
    for v in $VARIANTS; do
        name="${v%%=*}"
        col() { awk -v p="$name" -v c="$1" '$1==p {print $c}' "$OUT/rows"; }
        echo "$name: connection rate ratio median $(col 2 | median) (min-max $(col 2 | mm)); \
cost per control segment median $(col 3 | median) us (min-max $(col 3 | mm)); \
of it ackscope's own CPU median $(col 4 | median) us (min-max $(col 4 | mm))"
    done
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    kill "$SPID" 2>/dev/null || true
    ;;
inline)
    # Per round, on the same veths, end hosts at `tx off` (full checksums: a veth leaves TCP
    # checksums partial, and a frame that XDP redirects never gets them filled in) and GRO on
    # (NAPI on their veth ends, which an XDP redirect into a veth needs): a Linux bridge, the
    # bare DEVMAP forwarder (XDP_FWD: target/release/examples/xdp_fwd, the limit), ackscope
    # inline (native XDP), ackscope inline with --xdp-mode generic. Beside each run: the load
    # average and the system's sys+softirq CPU ms per MiB from /proc/stat (the forwarding
    # work is kernel time; other jobs' kernel time is in it too on a shared machine).
    RUNS="${3:-5}" MB="${4:-1000}"
    XDP_FWD="${XDP_FWD:-$(dirname "$BIN")/examples/xdp_fwd}"
    [ -x "$XDP_FWD" ] || die "no $XDP_FWD: cargo build --release --example xdp_fwd"
    modes_setup_inline bench
    ip netns exec "$NS_S" "$PY" "$BULK" server --addr "$SRV_IP" --port 7001 --no-hash &
    SPID=$!; _PIDS+=("$SPID")
    sleep 0.5
    kcpu() { awk '/^cpu / {print $4 + $7 + $8}' /proc/stat; }   # system + irq + softirq, USER_HZ
    HZ="$(getconf CLK_TCK)"
    run_bulk() {  # run_bulk NAME: one transfer; appends Mbit/s to $OUT/NAME, prints the line
        local c0 r c1
        c0="$(kcpu)"
        r="$(nsc "$PY" "$BULK" client --dst "$SRV_IP" --port 7001 --mbytes "$MB" --no-hash)"
        c1="$(kcpu)"
        echo "run $i $1: $r; kernel CPU $(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v mb="$MB" 'BEGIN {printf "%.2f", (b - a) * 1000 / hz / mb}') ms/MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "$r" | sed 's/.*mbit_s=//' >>"$OUT/$1"
        awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v mb="$MB" 'BEGIN {print (b - a) * 1000 / hz / mb}' >>"$OUT/$1.cpu"
    }
    for i in $(seq 1 "$RUNS"); do
        nsm ip link add br0 type bridge
        nsm ip link set ia master br0; nsm ip link set ib master br0; nsm ip link set br0 up
        sleep 0.5
        run_bulk bridge
        nsm ip link del br0
        ip netns exec "$NS_M" "$XDP_FWD" ia ib 600 >"$OUT/fwd$i.out" 2>&1 &
        FPID=$!; _PIDS+=("$FPID")
        for _ in $(seq 1 50); do grep -q attached "$OUT/fwd$i.out" && break; sleep 0.1; done
        run_bulk devmap
        kill "$FPID"; wait "$FPID" 2>/dev/null || true
        modes_start_ackscope "$NS_M" "$OUT" "inline$i" --mode inline --iface ia --peer ib --on-exit disconnect --quiet ${ACKSCOPE_ARGS:-}
        run_bulk inline
        live_stop_ackscope || true
        modes_start_ackscope "$NS_M" "$OUT" "generic$i" --mode inline --iface ia --peer ib --on-exit disconnect --quiet --xdp-mode generic ${ACKSCOPE_ARGS:-}
        run_bulk generic
        live_stop_ackscope || true
    done
    for v in bridge devmap inline generic; do
        echo "$v: median $(median <"$OUT/$v") Mbit/s (min $(sort -n "$OUT/$v" | head -1), max $(sort -n "$OUT/$v" | tail -1)); kernel CPU median $(median <"$OUT/$v.cpu" | xargs printf '%.2f') ms/MiB"
    done
    for p in "inline bridge" "inline devmap" "generic bridge" "devmap bridge"; do
        set -- $p
        r="$(paste "$OUT/$1" "$OUT/$2" | awk '{print $1/$2}')"
        echo "$1 / $2, paired per round: median $(echo "$r" | median | xargs printf '%.3f'), min $(echo "$r" | sort -n | head -1 | xargs printf '%.3f'), max $(echo "$r" | sort -n | tail -1 | xargs printf '%.3f')"
    done
    kill "$SPID" 2>/dev/null || true
    ;;
host-lookups)
    # Issue 14: host mode's connection-rate ratio (with / without ackscope) with the kernel view
    # on and off, under a stale-ACK load that makes lookups happen: `ackscope gen` sends a mix
    # with GEN_STALE stale-ACK stories out of c0 at GEN_RATE frames/s during every run (its
    # frames carry a foreign MAC, so s0's stack drops them after tc has cloned them). Round i:
    # without, then on and off (order alternating by round: A B, B A). Prints each run, the
    # lookups made and their CPU time, /proc/loadavg, and per variant the median and min-max
    # of the paired ratios.
    CONNRATE="${3:?connrate binary}" RUNS="${4:-4}" SECS="${5:-5}"
    GEN_RATE="${GEN_RATE:-4000}" GEN_STALE="${GEN_STALE:-0.2}"
    modes_setup_host bench net.ipv4.tcp_tw_reuse=1 "net.ipv4.ip_local_port_range=1024 65000"
    nss ethtool -K s0 gro on >/dev/null   # NAPI for the generator's frames on the veth
    ip netns exec "$NS_S" "$CONNRATE" server "$SRV_IP:7000" 4 &
    SPID=$!; _PIDS+=("$SPID")
    sleep 0.5
    nsc "$CONNRATE" client "$SRV_IP:7000" 1 4 >/dev/null   # warm-up
    measure() {  # measure: one connrate run with the generator beside it; prints its rate
        nsc "$BIN" gen --iface c0 --rate "$GEN_RATE" --duration $((SECS + 2)) --flows 2000 --stale-ack-rate "$GEN_STALE" >/dev/null 2>&1 &
        local g=$!
        sleep 0.5
        nsc "$CONNRATE" client "$SRV_IP:7000" "$SECS" 4 | sed -n 's/.*rate=\([0-9.]*\).*/\1/p'
        wait "$g" || true
    }
    : >"$OUT/r_on"; : >"$OUT/r_off"
    for i in $(seq 1 "$RUNS"); do
        w="$(measure)"
        echo "round $i without ackscope: $w conn/s; load $(cut -d' ' -f1-3 /proc/loadavg)"
        if [ $((i % 2)) = 1 ]; then order="on off"; else order="off on"; fi
        for v in $order; do
            extra=""; [ "$v" = off ] && extra="--no-kernel-view"
            modes_start_ackscope "$NS_S" "$OUT" "kv$v$i" --mode host --iface s0 --quiet $extra
            r="$(measure)"
            live_stop_ackscope || true
            lk="$("$PY" -c 'import json,sys; k=json.load(open(sys.argv[1])).get("kernel",{}).get("lookups") or {}; d=k.get("done",0); print("lookups %d skipped_rate %d cpu %.1f us each" % (d, k.get("skipped_rate",0), k.get("cpu_ns",0)/max(d,1)/1e3))' "$OUT/kv$v$i.summary.json")"
            st="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"]["stale_ack"])' "$OUT/kv$v$i.summary.json" 2>/dev/null || echo '?')"
            echo "round $i kernel view $v: $r conn/s, ratio $(awk -v a="$w" -v b="$r" 'BEGIN {printf "%.3f", b/a}'); stale_acks $st; $lk; load $(cut -d' ' -f1-3 /proc/loadavg)"
            awk -v a="$w" -v b="$r" 'BEGIN {print b/a}' >>"$OUT/r_$v"
        done
    done
    for v in on off; do
        echo "kernel view $v: paired ratio median $(median <"$OUT/r_$v" | xargs printf '%.3f'), min $(sort -n "$OUT/r_$v" | head -1 | xargs printf '%.3f'), max $(sort -n "$OUT/r_$v" | tail -1 | xargs printf '%.3f')"
    done
    kill "$SPID" 2>/dev/null || true
    ;;
*) die "part must be host, host-lookups or inline" ;;
esac
if [ -n "${KEEP:-}" ]; then echo "kept $OUT"; else rm -rf "$OUT"; fi
