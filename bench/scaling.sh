#!/usr/bin/env bash
# Scaling: 1 and 2 workers.
#   1. engine: `cargo bench --bench engine` with 1 and 2 shards side by side (each on its own
#      core, each with half of the 4-tuples), summed segments/s;
#   2. live: bench/live.sh with 1 queue (generator on the last core, receiver on core 0) and
#      with 2 queues (two generator threads on cores 0 and 1, frames on both veth queues,
#      receivers on cores 0 and 1), for the bare loop and ackscope.
#
#   bash bench/scaling.sh [ROUNDS] [FLOWS]          (defaults 3, 1000000)
set -u -o pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
FLOWS=${2:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
echo "## engine, $FLOWS tracked 4-tuples in total"
for t in 1 2; do
    echo "### $t shard(s)"
    cargo bench --bench engine -- --flows "$FLOWS" --rounds "$ROUNDS" --threads "$t" 2>/dev/null | tail -1
done
echo "## live"
for q in 1 2; do
    echo "### $q queue(s)"
    RECEIVERS="${RECEIVERS:-bare ackscope}" bash bench/live.sh "$ROUNDS" "${SECS:-5}" 0 "$q" 2>/dev/null | sed -n '/^| receiver/,$p'
done
