#!/usr/bin/env bash
# Regenerate every capture in tests/captures/ (NAME.pcap, NAME.expect, NAME.md). Run as root:
#   bash tests/captures/gen/all.sh [NAME ...]
# Each scenario runs in its own pair of network namespaces (see lib.sh); nothing of the root
# namespace is changed. Takes about 2 minutes (ctl_tw_expired waits 62 s, rfc1337 ~20 s).
set -uo pipefail
GEN_DIR="$(cd "$(dirname "$0")" && pwd)"
ALL="tw_repair tw_upload lingering_est lingering_finwait2 lingering_est_data lingering_finwait2_data rfc1337 ctl_isn_above ctl_newer_ts ctl_tw_expired tw_repair_v6 ordinary refused tfo simopen synack_late lingering_late midstream busy"
[ $# -gt 0 ] && ALL="$*"
trap 'echo "interrupted" >&2; exit 130' INT TERM
fail=""
for s in $ALL; do
    echo "=== $s" >&2
    if ! bash "$GEN_DIR/$s.sh"; then fail="$fail $s"; fi
done
if [ -n "$fail" ]; then
    echo "FAILED or not reproduced:$fail" >&2
    exit 1
fi
echo "all captures regenerated and checked" >&2
