#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds, runs every test.
# Tests that need root and network namespaces run when this runs as root (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --all-targets
cargo test --release -- --test-threads="${ACKSCOPE_TEST_THREADS:-4}"
