#!/usr/bin/env bash
# Old build vs new build, side by side in one run, paired A B A B: the engine benchmark, the
# replay of one large capture (whole process), and the live mirror benchmark (bench/live.sh with
# the old binary as `ackscope-alt`). For refactors that must not cost speed (bench/README.md).
#
#   bash bench/ab.sh OLD_ACKSCOPE NEW_ACKSCOPE OLD_ENGINE NEW_ENGINE [ROUNDS]
#
# OLD_ENGINE/NEW_ENGINE are the `engine` bench executables of the two trees
# (`cargo bench --bench engine --no-run` prints their path). Prints per-round figures with the
# load average, then the medians, min-max and the new/old ratio of each.
set -u -o pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 OLD_ENG=$3 NEW_ENG=$4 ROUNDS=${5:-3}
FLOWS=${FLOWS:-1000000}
DATA=${BENCH_DATA:-/tmp/ackscope-bench-data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh
WORK=$(mktemp -d /tmp/ackscope-bench-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
stats() {  # stats FILE: median min max
    sort -g "$1" | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.4g %.4g %.4g", m, v[1], v[NR]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b / a}'; }

# --- engine: segments/s over FLOWS 4-tuples, one round per run ---
for r in $(seq 1 "$ROUNDS"); do
    for side in old new; do
        eng=$OLD_ENG; [ $side = new ] && eng=$NEW_ENG
        l=$(load)
        v=$("$eng" --flows "$FLOWS" --rounds 3 | awk -F'|' '/^\| [0-9]/ {gsub(/[ M]/, "", $4); print $4 * 1e6}')
        echo "$v" >>"$WORK/engine.$side"
        blog "engine round $r $side: $v segments/s (load $l)"
    done
done

# --- replay: whole process over one capture ---
MK=$CARGO_TARGET_DIR/release/examples/mkcapture
mkdir -p "$DATA"
CAP="$DATA/replay-100000-5.pcap"
[ -s "$CAP" ] || "$MK" "$CAP" --flows 100000 --laps 5 --stale 0.001 >/dev/null || exit 1
cat "$CAP" >/dev/null
for r in $(seq 1 "$ROUNDS"); do
    for side in old new; do
        bin=$OLD; [ $side = new ] && bin=$NEW
        l=$(load); rm -f "$WORK/ev.$side"
        t0=$(now); "$bin" replay -q --format json --events "$WORK/ev.$side" "$CAP"; t1=$(now)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
        echo "$s" >>"$WORK/replay.$side"
        blog "replay round $r $side: ${s}s (load $l)"
    done
    cmp -s "$WORK/ev.old" "$WORK/ev.new" || { blog "replay: the two builds wrote different events"; exit 1; }
done

# --- live mirror: bench/live.sh, new as `ackscope`, old as `ackscope-alt`, each round both ---
# (bench/live.sh builds and runs $CARGO_TARGET_DIR/release/ackscope: the new tree's binary.)
RECEIVERS="ackscope ackscope-alt" ACKSCOPE_ALT=$OLD bash bench/live.sh "$ROUNDS" 5 >"$WORK/live.out" 2>"$WORK/live.err" || { cat "$WORK/live.err" >&2; exit 1; }
grep '^\[bench\] round' "$WORK/live.err" | sed 's/^\[bench\] /live /' >&2

echo
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "old $OLD, new $NEW; $ROUNDS paired rounds (old, new, old, new, ...)"
echo
echo "| benchmark | old median (min-max) | new median (min-max) | new / old |"
echo "|---|---:|---:|---:|"
read -r eo eomin eomax <<<"$(stats "$WORK/engine.old")"; read -r en enmin enmax <<<"$(stats "$WORK/engine.new")"
echo "| engine, $FLOWS 4-tuples, segments/s | $eo ($eomin-$eomax) | $en ($enmin-$enmax) | $(ratio "$eo" "$en") |"
read -r ro romin romax <<<"$(stats "$WORK/replay.old")"; read -r rn rnmin rnmax <<<"$(stats "$WORK/replay.new")"
echo "| replay $(basename "$CAP"), wall s (lower is better) | $ro ($romin-$romax) | $rn ($rnmin-$rnmax) | $(ratio "$ro" "$rn") |"
grep -E '^\| ackscope' "$WORK/live.out" | sed 's/^/live: /'
grep -E 'median of per-round ratios' "$WORK/live.out" | sed 's/^/live: /'
