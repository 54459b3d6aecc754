#!/usr/bin/env bash
# Report benchmark: `ackscope report` of a multi-million-frame capture beside `ackscope replay`
# alone on the same capture, paired A B A B (A = replay, B = report), whole process, warm page
# cache; median and min-max wall time, peak RSS, report size, load average before each round.
#
#   bash bench/report.sh [ROUNDS] [FLOWS] [LAPS]        (defaults 5, 100000, 5: ~5.2 M frames)
#
# The capture comes from bench/mkcapture (as bench/replay.sh) and is kept in $BENCH_DATA
# (/tmp/ackscope-bench-data). Prints a markdown table. No root needed.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
FLOWS=${2:-100000}
LAPS=${3:-5}
DATA=${BENCH_DATA:-/tmp/ackscope-bench-data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh
cargo build --release --bin ackscope --example mkcapture >&2 || exit 1
ACK=$CARGO_TARGET_DIR/release/ackscope
MK=$CARGO_TARGET_DIR/release/examples/mkcapture
mkdir -p "$DATA"
CAP="$DATA/replay-$FLOWS-$LAPS.pcap"
NEEDLES="${CAP%.pcap}.needles"
[ -s "$CAP" ] && [ -s "$NEEDLES" ] || "$MK" "$CAP" --flows "$FLOWS" --laps "$LAPS" --stale 0.001 || exit 1
FRAMES=$(head -1 "$NEEDLES" | grep -o 'frames=[0-9]*' | cut -d= -f2)
WORK=$(mktemp -d /tmp/ackscope-bench-report.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat "$CAP" >/dev/null # warm the page cache

# run LABEL CMD...: wall seconds and peak RSS (KiB) of CMD appended to $WORK/LABEL
run() {
    local label=$1
    shift
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" || { blog "$label failed"; exit 1; }
    cat "$WORK/time" >>"$WORK/$label"
}
: >"$WORK/A"; : >"$WORK/B"; : >"$WORK/load"
for r in $(seq 1 "$ROUNDS"); do
    cut -d' ' -f1 /proc/loadavg >>"$WORK/load"
    rm -f "$WORK/ev.json"
    run A "$ACK" replay -q --format json --events "$WORK/ev.json" "$CAP"
    cut -d' ' -f1 /proc/loadavg >>"$WORK/load"
    run B "$ACK" report "$CAP" -o "$WORK/report.html"
done
"$MK" --check "$NEEDLES" "$WORK/ev.json" >&2 || { blog "replay missed needles"; exit 1; }
mm() { # FILE COLUMN: median (min–max)
    local m lo hi
    m=$(cut -d' ' -f"$2" "$1" | median)
    lo=$(cut -d' ' -f"$2" "$1" | sort -g | head -1)
    hi=$(cut -d' ' -f"$2" "$1" | sort -g | tail -1)
    echo "$m ($lo–$hi)"
}
ra=$(cut -d' ' -f1 "$WORK/A" | median)
rb=$(cut -d' ' -f1 "$WORK/B" | median)
size=$(stat -c %s "$WORK/report.html" 2>/dev/null || wc -c <"$WORK/report.html")
ladders=$(grep -o '<section class="ladder"' "$WORK/report.html" | wc -l)
echo "Machine: $(machine); capture $FRAMES frames ($CAP); $ROUNDS rounds A B A B; load average before each run: $(sort -g "$WORK/load" | head -1)–$(sort -g "$WORK/load" | tail -1)"
echo
echo "| run | median wall s (min–max) | peak RSS KiB median (min–max) |"
echo "|---|---:|---:|"
echo "| A: \`ackscope replay -q --format json --events E CAPTURE\` | $(mm "$WORK/A" 1) | $(mm "$WORK/A" 2) |"
echo "| B: \`ackscope report CAPTURE -o R.html\` | $(mm "$WORK/B" 1) | $(mm "$WORK/B" 2) |"
echo
paste -d' ' <(cut -d' ' -f1 "$WORK/A") <(cut -d' ' -f1 "$WORK/B") | awk '{printf "%.3f\n", $2 / $1}' >"$WORK/ratio"
echo "report / replay, paired per round: median $(median <"$WORK/ratio") (min–max $(sort -g "$WORK/ratio" | head -1)–$(sort -g "$WORK/ratio" | tail -1)); ratio of medians $(awk -v a="$ra" -v b="$rb" 'BEGIN {printf "%.2f", b / a}')"
awk -v s="$size" -v l="$ladders" 'BEGIN {printf "report file %.0f KiB, %d ladders drawn\n", s / 1024, l}'
