#!/usr/bin/env bash
# The main command of the README: installs what is missing, builds, and runs `ackscope demo`:
# a throw-away testbed of network namespaces with real Linux TCP client and server, every
# stale-ACK cause reproduced among ordinary traffic, ackscope live on it. Needs root.
# It ends by writing the incident report of the run (HTML, ladder diagrams) and printing where:
# $ACKSCOPE_DEMO_REPORT, default ${TMPDIR:-/tmp}/ackscope-demo-report.html.
# Extra arguments go to `ackscope demo` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --quiet
exec ./target/release/ackscope demo --report "${ACKSCOPE_DEMO_REPORT:-${TMPDIR:-/tmp}/ackscope-demo-report.html}" "$@"
