#!/usr/bin/env bash
# The main command of the README: installs what is missing, builds, and runs `ackscope demo`:
# a throw-away testbed of network namespaces with real Linux TCP client and server, every
# stale-ACK cause reproduced among ordinary traffic, ackscope live on it. Needs root.
# Extra arguments go to `ackscope demo` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --quiet
exec ./target/release/ackscope demo "$@"
