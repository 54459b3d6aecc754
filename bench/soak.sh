#!/usr/bin/env bash
# Soak benchmark (issue 17): tests/live/soak.sh for SECS (default 1800 = 30 min) in mirror
# mode at a steady mixed rate; prints the RSS curve (every 10 s), its spread after warm-up,
# the flows, the accounting and the events against the generator's expectations.
# Usage: bench/soak.sh [SECS] [RATE] [FLOWS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-1800}" RATE="${2:-10000}" FLOWS="${3:-20000}"
cargo build --release --bin ackscope >&2
BIN="${CARGO_TARGET_DIR:-target}/release/ackscope"
out="$(mktemp -d /tmp/ackscope-bench-soak.XXXXXX)"
trap 'rm -rf "$out"' EXIT
timeout $((SECS + 180)) bash tests/live/soak.sh "$BIN" "$out" "$SECS" "$RATE" "$FLOWS" 2>"$out/script.err" || { tail -30 "$out/script.err"; exit 1; }
python3 - "$out" "$SECS" <<'PY'
import json, statistics, sys
d, secs = sys.argv[1], int(sys.argv[2])
g = json.load(open(d + "/gen.json")); s = json.load(open(d + "/summary.json"))
rss = [tuple(map(int, l.split())) for l in open(d + "/rss.txt") if l.strip()]
warm = [r for t, r in rss if 60 <= t <= secs]
med = statistics.median(warm)
ev = [json.loads(l) for l in open(d + "/events.jsonl")]
n = lambda k: sum(1 for e in ev if e["kind"] == k)
print("RSS kB every 10 s:", " ".join(str(r) for _, r in rss))
print(f"after warm-up (60 s..end): median {med:.0f} kB, min {min(warm)} max {max(warm)} ({100*(min(warm)-med)/med:+.1f} % .. {100*(max(warm)-med)/med:+.1f} %)")
print(f"gen {g['rate_fps']:.0f} frames/s, {g['frames']} frames, {g['laps']:.1f} laps; flows {s['flows']} (mix {g['flows']}); accounting {s['accounting']}; events_dropped {s['events_dropped']}")
for k, gk in [("stale_ack", "stale_acks"), ("reuse_in_time_wait", "reuse_in_time_wait"), ("connection_refused", "connection_refused")]:
    print(f"{k}: reported {n(k)}, expected {g[gk]}")
print("load:", " / ".join(l.strip() for l in open(d + "/load.txt")))
PY
