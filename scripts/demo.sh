#!/usr/bin/env bash
# The main command of the README: installs what is missing, builds, and shows ackscope at work.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --quiet
echo "== ackscope replays real Linux captures (tests/captures, made by tests/captures/gen/*.sh)" >&2
for f in tw_repair tw_upload lingering_est lingering_finwait2 rfc1337 ordinary; do
    echo "-- $f: $(head -n 3 tests/captures/$f.md | tail -n 1 | cut -c1-160)" >&2
    ./target/release/ackscope replay --format "${FORMAT:-text}" "tests/captures/$f.pcap"
done
