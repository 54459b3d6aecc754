#!/usr/bin/env bash
# Replay benchmark: the same multi-million-frame capture through ackscope, Suricata 7 and
# tshark, whole process (start to exit), side by side in each round; medians and ratios.
#
#   bash bench/replay.sh [ROUNDS] [FLOWS] [LAPS]        (defaults 3, 100000, 5: ~5.2 M frames)
#
# The capture comes from bench/mkcapture (the generator's mix with a request/response per
# connection, 0.1 % stale-ACK stories: the needles) and is kept in $BENCH_DATA
# (/tmp/ackscope-bench-data). Each round runs, one after the other on the same warm page cache:
#   ackscope replay --format json --events E CAPTURE
#   suricata -r CAPTURE -S /etc/suricata/rules/stream-events.rules -l DIR -k none   (default
#            suricata.yaml: autofp runmode, eve.json; the packaged stream-events rules only)
#   tshark -n -r CAPTURE -Y 'tcp.analysis.flags && !tcp.analysis.window_update' -T fields ...
# and checks that ackscope reported every needle with its cause and nothing else
# (mkcapture --check); it also counts the needle frames each peer flagged.
# Installs suricata (bookworm-backports) and tshark when missing. Prints a markdown table.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
FLOWS=${2:-100000}
LAPS=${3:-5}
DATA=${BENCH_DATA:-/tmp/ackscope-bench-data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
source bench/lib.sh

need_peers() {
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
need_peers || { blog "cannot install suricata/tshark"; exit 1; }
cargo build --release --bin ackscope --example mkcapture >&2 || exit 1
ACK=$CARGO_TARGET_DIR/release/ackscope
MK=$CARGO_TARGET_DIR/release/examples/mkcapture
mkdir -p "$DATA"
CAP="$DATA/replay-$FLOWS-$LAPS.pcap"
NEEDLES="${CAP%.pcap}.needles"
[ -s "$CAP" ] && [ -s "$NEEDLES" ] || "$MK" "$CAP" --flows "$FLOWS" --laps "$LAPS" --stale 0.001 || exit 1
FRAMES=$(head -1 "$NEEDLES" | grep -o 'frames=[0-9]*' | cut -d= -f2)
NNEEDLES=$(grep -vc '^#' "$NEEDLES")
WORK=$(mktemp -d /tmp/ackscope-bench-replay.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat "$CAP" >/dev/null # warm the page cache

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# needle frames (one per line) that appear in file $1 (one frame number per line)
flagged() { sort -u "$1" | comm -12 <(grep -v '^#' "$NEEDLES" | cut -d' ' -f1 | sort -u) - | wc -l; }

: >"$WORK/a" ; : >"$WORK/s" ; : >"$WORK/t"
for r in $(seq 1 "$ROUNDS"); do
    rm -f "$WORK/ev.json"
    t0=$(now); "$ACK" replay -q --format json --events "$WORK/ev.json" "$CAP"; t1=$(now)
    check=$("$MK" --check "$NEEDLES" "$WORK/ev.json") || { blog "ackscope missed needles: $check"; exit 1; }
    rm -rf "$WORK/suri"; mkdir "$WORK/suri"
    t2=$(now); suricata -r "$CAP" -S /etc/suricata/rules/stream-events.rules -l "$WORK/suri" -k none >"$WORK/suri.out" 2>&1; t3=$(now)
    grep -q "packets" "$WORK/suri.out" || { blog "suricata failed:"; tail "$WORK/suri.out" >&2; exit 1; }
    t4=$(now); tshark -n -r "$CAP" -Y 'tcp.analysis.flags && !tcp.analysis.window_update' -T fields -e frame.number -e _ws.expert.message >"$WORK/tshark.out" 2>/dev/null; t5=$(now)
    a=$(secs "$t0" "$t1"); s=$(secs "$t2" "$t3"); t=$(secs "$t4" "$t5")
    echo "$a" >>"$WORK/a"; echo "$s" >>"$WORK/s"; echo "$t" >>"$WORK/t"
    grep '"event_type":"alert"' "$WORK/suri/eve.json" | grep -o '"pcap_cnt":[0-9]*' | cut -d: -f2 >"$WORK/suri.frames"
    cut -f1 "$WORK/tshark.out" >"$WORK/tshark.frames"
    sf=$(flagged "$WORK/suri.frames"); tf=$(flagged "$WORK/tshark.frames")
    blog "round $r: ackscope ${a}s ($check) | suricata ${s}s, $(wc -l <"$WORK/suri.frames") alerts, $sf needles flagged | tshark ${t}s, $(wc -l <"$WORK/tshark.frames") frames flagged, $tf needles"
done
ma=$(median <"$WORK/a"); ms=$(median <"$WORK/s"); mt=$(median <"$WORK/t")
fps() { awk -v f="$FRAMES" -v s="$1" 'BEGIN {printf "%.0f", f / s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b / a}'; }
echo
echo "machine: $(machine); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture: $CAP, $FRAMES frames, $NNEEDLES needles; $ROUNDS rounds; medians"
echo
echo "| tool | median wall s | frames/s | ackscope is × faster | needles reported |"
echo "|---|---:|---:|---:|---:|"
echo "| ackscope $(git describe --always --dirty 2>/dev/null) | $ma | $(fps "$ma") | 1 | $NNEEDLES / $NNEEDLES, causes right, no extra |"
echo "| Suricata $(suricata -V 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1) | $ms | $(fps "$ms") | $(ratio "$ma" "$ms") | $sf / $NNEEDLES flagged by a stream-event alert |"
echo "| tshark $(tshark -v 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*' | head -1) | $mt | $(fps "$mt") | $(ratio "$ma" "$mt") | $tf / $NNEEDLES carry a TCP analysis flag |"
