# Shared helpers of the bench scripts (sourced). Everything lives in network namespaces named
# ackscope-bench-$$-*, removed on every exit path; nothing in the root namespace is touched.
# Needs root, ip, ethtool.

BENCH_PFX="ackscope-bench-$$"
NS_G="$BENCH_PFX-gen"
NS_M="$BENCH_PFX-mon"
BENCH_PIDS=()

blog() { printf '[bench] %s\n' "$*" >&2; }

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    BENCH_PIDS=()
    ip netns del "$NS_G" 2>/dev/null
    ip netns del "$NS_M" 2>/dev/null
    true
}

# topology QUEUES: veth gen0 (namespace NS_G) <-> mon0 (namespace NS_M), QUEUES tx/rx queues
# each, no addresses, IPv6 off (no ND/MLD noise), GRO on mon0 (NAPI for frames sent to it
# with XDP_TX even before an XDP program is attached there).
topology() {
    local q=${1:-1}
    ip netns del "$NS_G" 2>/dev/null
    ip netns del "$NS_M" 2>/dev/null
    ip netns add "$NS_G" && ip netns add "$NS_M" || return 1
    ip -n "$NS_G" link add gen0 numtxqueues "$q" numrxqueues "$q" type veth \
        peer name mon0 numtxqueues "$q" numrxqueues "$q" netns "$NS_M" || return 1
    ip netns exec "$NS_G" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$NS_M" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$NS_G" link set lo up
    ip -n "$NS_M" link set lo up
    ip -n "$NS_G" link set gen0 up
    ip -n "$NS_M" link set mon0 up
    ip netns exec "$NS_M" ethtool -K mon0 gro on >/dev/null 2>&1
    true
}

# wait_for FILE PATTERN TRIES: poll (0.1 s) until FILE contains PATTERN.
wait_for() {
    local i
    for i in $(seq 1 "${3:-100}"); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

machine() {
    printf '%s, %s cores, %s GiB, Linux %s' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
        "$(nproc)" "$(awk '/MemTotal/ {printf "%d", $2/1048576}' /proc/meminfo)" "$(uname -r)"
}
