#!/usr/bin/env bash
# Replay benchmark: the same multi-million-frame capture through ackscope, its floor, optionally
# an older ackscope build, Suricata 7 and tshark, whole process (start to exit), side by side in
# each round; medians, min-max and ratios.
#
#   bash bench/replay.sh [ROUNDS] [FLOWS] [LAPS]        (defaults 3, 100000, 5: ~5.2 M frames)
#
# The capture comes from bench/mkcapture (the generator's mix with a request/response per
# connection, 0.1 % stale-ACK stories: the needles) and is kept in $BENCH_DATA
# (/tmp/ackscope-bench-data). Each round runs, one after the other on the same warm page cache:
#   mkcapture --walk CAPTURE        the floor: ackscope's capture reader walking the record
#                                   headers (no parsing, no engine)
#   ackscope replay -q --format json --events E CAPTURE
#   $ACKSCOPE_BASE replay ...       (when set: another build, e.g. the previous commit's, run
#                                   before ackscope in even rounds and after it in odd ones)
#   suricata -r CAPTURE -S /etc/suricata/rules/stream-events.rules -l DIR -k none   (default
#            suricata.yaml: autofp runmode, eve.json; the packaged stream-events rules only)
#   tshark -n -r CAPTURE -Y 'tcp.analysis.flags && !tcp.analysis.window_update' -T fields ...
# and checks that ackscope (and the base build) reported every needle with its cause and nothing
# else (mkcapture --check); it also counts the needle frames each peer flagged. Besides wall time
# it gives each tool's CPU time (user + system, from bash's `time`), which moves less than wall
# time on a shared machine. Suricata and tshark are compared only when installed;
# BENCH_INSTALL_PEERS=1 installs the missing ones (suricata from bookworm-backports);
# BENCH_PEERS lists the peers to run (default "suricata tshark"; "none" for ackscope, its floor
# and $ACKSCOPE_BASE only: tshark takes minutes per round).
# ACKSCOPE_REPLAY_AHEAD (ackscope's look-ahead, see src/replay/mod.rs) is passed through.
# Prints a markdown table.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
FLOWS=${2:-100000}
LAPS=${3:-5}
DATA=${BENCH_DATA:-/tmp/ackscope-bench-data}
BASE=${ACKSCOPE_BASE:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh

install_peers() {
    command -v tshark >/dev/null || {
        echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y tshark >/dev/null
    }
    if ! command -v suricata >/dev/null; then
        if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
            echo 'deb http://deb.debian.org/debian bookworm-backports main' >/etc/apt/sources.list.d/bookworm-backports.list
            apt-get update >/dev/null
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports suricata >/dev/null
    fi
}
if [ "${BENCH_INSTALL_PEERS:-0}" = 1 ]; then
    install_peers || { blog "cannot install suricata/tshark"; exit 1; }
fi
PEERS=${BENCH_PEERS:-suricata tshark}
HAVE_SURI=0; [[ " $PEERS " == *" suricata "* ]] && command -v suricata >/dev/null && HAVE_SURI=1
HAVE_TSHARK=0; [[ " $PEERS " == *" tshark "* ]] && command -v tshark >/dev/null && HAVE_TSHARK=1
[ "$HAVE_SURI" = 1 ] || [[ " $PEERS " != *" suricata "* ]] || blog "suricata not installed: not compared (BENCH_INSTALL_PEERS=1 installs it)"
[ "$HAVE_TSHARK" = 1 ] || [[ " $PEERS " != *" tshark "* ]] || blog "tshark not installed: not compared (BENCH_INSTALL_PEERS=1 installs it)"
[ -z "$BASE" ] || [ -x "$BASE" ] || { blog "ACKSCOPE_BASE=$BASE is not an executable"; exit 1; }
cargo build --release --bin ackscope --example mkcapture >&2 || exit 1
ACK=$CARGO_TARGET_DIR/release/ackscope
MK=$CARGO_TARGET_DIR/release/examples/mkcapture
mkdir -p "$DATA"
# -v2: needles name the stale ACK frame (older caches named the confirming RST for some)
CAP="$DATA/replay-$FLOWS-$LAPS-v2.pcap"
NEEDLES="${CAP%.pcap}.needles"
[ -s "$CAP" ] && [ -s "$NEEDLES" ] || "$MK" "$CAP" --flows "$FLOWS" --laps "$LAPS" --stale 0.001 || exit 1
FRAMES=$(head -1 "$NEEDLES" | grep -o 'frames=[0-9]*' | cut -d= -f2)
NNEEDLES=$(grep -vc '^#' "$NEEDLES")
WORK=$(mktemp -d /tmp/ackscope-bench-replay.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat "$CAP" >/dev/null # warm the page cache

# timed NAME CMD...: run CMD (stdout to $WORK/NAME.out), append "wall cpu" to $WORK/NAME
timed() {
    local name=$1 t
    shift
    t=$( { TIMEFORMAT='%R %U %S'; time "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; } 2>&1 ) || {
        blog "$name failed:"; tail "$WORK/$name.err" >&2; return 1; }
    awk '{printf "%.3f %.3f\n", $1, $2 + $3}' <<<"$t" >>"$WORK/$name"
}

# needle frames (one per line) that appear in file $1 (one frame number per line)
flagged() { sort -u "$1" | comm -12 <(grep -v '^#' "$NEEDLES" | cut -d' ' -f1 | sort -u) - | wc -l; }

replay() { # NAME BINARY
    rm -f "$WORK/ev-$1.json"
    timed "$1" "$2" replay -q --format json --events "$WORK/ev-$1.json" "$CAP" || exit 1
    "$MK" --check "$NEEDLES" "$WORK/ev-$1.json" >"$WORK/check-$1" || { blog "$1 missed needles: $(cat "$WORK/check-$1")"; exit 1; }
}

sf=-; tf=-
for r in $(seq 1 "$ROUNDS"); do
    timed floor "$MK" --walk "$CAP" || exit 1
    if [ -n "$BASE" ] && [ $((r % 2)) = 0 ]; then replay base "$BASE"; fi
    replay ackscope "$ACK"
    if [ -n "$BASE" ] && [ $((r % 2)) = 1 ]; then replay base "$BASE"; fi
    line="round $r: floor $(tail -1 "$WORK/floor") | ackscope $(tail -1 "$WORK/ackscope") ($(cat "$WORK/check-ackscope"))"
    [ -z "$BASE" ] || line="$line | base $(tail -1 "$WORK/base")"
    if [ "$HAVE_SURI" = 1 ]; then
        rm -rf "$WORK/suri"; mkdir "$WORK/suri"
        timed suricata suricata -r "$CAP" -S /etc/suricata/rules/stream-events.rules -l "$WORK/suri" -k none || exit 1
        grep -q "packets" "$WORK/suricata.out" || { blog "suricata failed:"; tail "$WORK/suricata.out" >&2; exit 1; }
        grep '"event_type":"alert"' "$WORK/suri/eve.json" | grep -o '"pcap_cnt":[0-9]*' | cut -d: -f2 >"$WORK/suri.frames"
        sf=$(flagged "$WORK/suri.frames")
        line="$line | suricata $(tail -1 "$WORK/suricata"), $(wc -l <"$WORK/suri.frames") alerts, $sf needles flagged"
    fi
    if [ "$HAVE_TSHARK" = 1 ]; then
        timed tshark tshark -n -r "$CAP" -Y 'tcp.analysis.flags && !tcp.analysis.window_update' -T fields -e frame.number -e _ws.expert.message || exit 1
        cut -f1 "$WORK/tshark.out" >"$WORK/tshark.frames"
        tf=$(flagged "$WORK/tshark.frames")
        line="$line | tshark $(tail -1 "$WORK/tshark"), $(wc -l <"$WORK/tshark.frames") frames flagged, $tf needles"
    fi
    blog "$line (wall s, CPU s)"
done
col() { cut -d' ' -f"$2" "$WORK/$1"; }
med() { col "$1" "$2" | median; }
range() { col "$1" "$2" | sort -g | awk 'NR==1 {a=$1} {b=$1} END {printf "%s–%s", a, b}'; }
fps() { awk -v f="$FRAMES" -v s="$1" 'BEGIN {printf "%.0f", f / s}'; }
ns() { awk -v f="$FRAMES" -v s="$1" 'BEGIN {printf "%.0f", s * 1e9 / f}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }
ma=$(med ackscope 1); ca=$(med ackscope 2)
row() { # NAME LABEL WHAT
    local w c
    w=$(med "$1" 1); c=$(med "$1" 2)
    echo "| $2 | $w ($(range "$1" 1)) | $(fps "$w") | $(ratio "$ma" "$w") | $c ($(range "$1" 2)) | $(ns "$c") | $(ratio "$ca" "$c") | $3 |"
}
echo
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture: $CAP, $FRAMES frames, $NNEEDLES needles; $ROUNDS rounds; medians (min–max)"
echo
echo "| tool | wall s | frames/s | wall ÷ ackscope's | CPU s (user+sys) | CPU ns/frame | CPU ÷ ackscope's | needles reported |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
row floor "floor: mkcapture --walk (record headers only)" "–"
row ackscope "ackscope $(git describe --always --dirty 2>/dev/null)" "$NNEEDLES / $NNEEDLES, causes right, no extra"
[ -z "$BASE" ] || row base "ackscope base ($BASE)" "$NNEEDLES / $NNEEDLES, causes right, no extra"
[ "$HAVE_SURI" = 0 ] || row suricata "Suricata $(suricata -V 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)" "$sf / $NNEEDLES flagged by a stream-event alert"
[ "$HAVE_TSHARK" = 0 ] || row tshark "tshark $(tshark -v 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*' | head -1)" "$tf / $NNEEDLES carry a TCP analysis flag"
echo
fl=$(med floor 1); cf=$(med floor 2)
echo "ackscope ÷ floor: wall $(ratio "$fl" "$ma")×, CPU $(ratio "$cf" "$ca")×"
[ -z "$BASE" ] || echo "base ÷ ackscope (speed-up): wall $(ratio "$ma" "$(med base 1)")×, CPU $(ratio "$ca" "$(med base 2)")×"
