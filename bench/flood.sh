#!/usr/bin/env bash
# SYN-flood reliability benchmark (issue 17): tests/live/flood.sh for SECS (default 60) in
# mirror and host mode, random-4-tuple SYNs at the generator's top rate with the mix's
# stale-ACK exchanges among them; prints peak RSS, evictions, the found share and the
# load average. Usage: bench/flood.sh [SECS] [MAX_FLOWS] [KERNEL_FLOWS]   (root)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}" MAXF="${2:-50000}" KF="${3:-16384}"
cargo build --release --bin ackscope >&2
BIN="${CARGO_TARGET_DIR:-target}/release/ackscope"
for mode in mirror host; do
    out="$(mktemp -d /tmp/ackscope-bench-flood.XXXXXX)"
    timeout $((SECS + 180)) bash tests/live/flood.sh "$BIN" "$out" "$mode" "$SECS" "$MAXF" "$KF" 2>"$out/script.err" || { tail -30 "$out/script.err"; exit 1; }
    python3 - "$out" "$mode" "$SECS" "$MAXF" "$KF" <<'PY'
import json, sys
d, mode, secs, maxf, kf = sys.argv[1:]
g = json.load(open(d + "/gen.json")); s = json.load(open(d + "/summary.json"))
kb = lambda f, k: int(next(l for l in open(d + "/" + f) if l.startswith(k)).split()[1])
evs = [json.loads(l) for l in open(d + "/events.jsonl")]
# The flood's clients are 198.18.128.0/17: no event may name one.
flood_evs = sum(1 for e in evs if e.get("client", "").startswith("198.18.") and int(e["client"].split(".")[2]) >= 128)
stale = [e for e in evs if e["kind"] == "stale_ack" and not e["client"].startswith("10.77.0.1:")]
load = " / ".join(l.strip() for l in open(d + "/load.txt"))
lp = open(d + "/loop.txt").read().strip() if mode == "host" else "-"
print(f"{mode}: {secs} s, {g['rate_fps']:.0f} frames/s ({g['flood_syns']} flood SYNs), peak RSS {kb('rss-end.txt','VmHWM:')} kB "
      f"(idle {kb('rss-idle.txt','VmRSS:')} kB), --max-flows {maxf}: flows {s['flows']}, evictions {s['evictions']}; "
      f"--kernel-flows {kf}: kernel table evictions {s['xdp']['flows_evicted']}; stale ACKs found {len(stale)}/{g['stale_acks']} = {100*len(stale)/max(1,g['stale_acks']):.1f} %; "
      f"kernel drops {s['accounting']['kernel_drops']} and redirect/ring-full {s['accounting']['redirect_fail']} of {s['accounting']['steered']}; adds_up {s['accounting']['adds_up']}; "
      f"events about a flood 4-tuple {flood_evs}; connection loop {lp}; load {load}")
PY
    rm -rf "$out"
done
