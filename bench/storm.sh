#!/usr/bin/env bash
# Event-storm benchmark (issue 17): tests/live/storm.sh for SECS (default 30) at RATE frames/s
# (default 420000: ~100 k stale ACK segments/s with REPEATS 8; 0 = the generator's top rate),
# every story a stale-ACK exchange whose stale ACK repeats REPEATS times (default 8), into
# mirror mode with a blocked output sink. Prints the storm rate, what the engine saw, the events
# written / dropped, the kernel drops, the stop time and the load average. ackscope runs with
# ACK_ARGS (default `--ring-size 8192 --umem-frames 16384`: the generator sends in bursts of
# ~100 ms worth per BPF_PROG_RUN call, which overflow the default 2048-slot ring).
# Usage: bench/storm.sh [SECS] [RATE] [REPEATS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-30}" RATE="${2:-420000}" REPEATS="${3:-8}"
cargo build --release --bin ackscope >&2
BIN="${CARGO_TARGET_DIR:-target}/release/ackscope"
out="$(mktemp -d /tmp/ackscope-bench-storm.XXXXXX)"
trap 'rm -rf "$out"' EXIT
ACK_ARGS="${ACK_ARGS---ring-size 8192 --umem-frames 16384}" CHUNK="${CHUNK:-}" RATE="$RATE" REPEATS="$REPEATS" timeout $((SECS + 120)) bash tests/live/storm.sh "$BIN" "$out" "$SECS" 2>"$out/script.err" \
    || { tail -30 "$out/script.err"; exit 1; }
ACK_ARGS="${ACK_ARGS---ring-size 8192 --umem-frames 16384}" python3 - "$out" "$SECS" "$RATE" "$REPEATS" <<'PY'
import json, os, sys
d, secs, rate, rep = sys.argv[1:]
g = json.load(open(d + "/gen.json")); s = json.load(open(d + "/summary.json"))
load = " / ".join(l.split()[0] for l in open(d + "/load.txt"))
el = g["elapsed_s"]; ev = s["events"]; acc = s["accounting"]
seen = ev["stale_ack"] + s["stale_ack_repeats"]
print(f"storm {secs} s, ackscope {os.environ.get('ACK_ARGS', '')!r}, --rate {rate}, --stale-ack-repeats {rep}: {g['rate_fps']:.0f} frames/s, "
      f"{g['stale_ack_segments']} stale ACK segments = {g['stale_ack_segments']/el:.0f}/s in {g['stale_acks']} exchanges; "
      f"engine: stale_ack {ev['stale_ack']} (outcomes {ev['stale_ack_outcome']}), repeats {s['stale_ack_repeats']}, "
      f"segments seen {seen} = {100*seen/max(1,g['stale_ack_segments']):.1f} %; "
      f"events {sum(ev.values())} = written {s['events_written']} + dropped {s['events_dropped']} "
      f"(abandoned at the stop {s['events_abandoned']}); kernel drops {acc['kernel_drops']} of {acc['steered']}, "
      f"adds_up {acc['adds_up']}; exit {float(open(d + '/stop_s').read()):.2f} s after SIGINT; rc {open(d + '/rc').read().strip()}; "
      f"other events: { {k: v for k, v in ev.items() if k not in ('stale_ack', 'stale_ack_outcome', 'reuse_in_time_wait') and v} }; load {load}")
PY
