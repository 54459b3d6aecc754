# shellcheck shell=bash
# Helpers for the host- and inline-mode live tests (source after lib.sh).
#
#   modes_setup_host TAG      client ns (c0) <-> server ns (s0), one veth pair; ackscope runs
#                             in the server ns on s0 (host mode)
#   modes_setup_inline TAG    client ns (c0) <-> middle ns (ia | ib) <-> server ns (s0): the
#                             client and the server are connected only through ackscope
#
# Namespaces are ackscope-modes-$$-TAG-{c,s,m}; modes_cleanup (the EXIT trap) kills what we
# started (by PID) and deletes the namespaces. Nothing of the root namespace is touched.
NS_M="" MODES_TAG=""
BULK="$LIVE_DIR/bulk.py"
PROGS="$LIVE_DIR/progs_alive.py"

modes_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local p
    live_kill_started
    for p in "$NS_C" "$NS_S" "$NS_M"; do
        [ -n "$p" ] && ip netns del "$p" 2>/dev/null
    done
    exit "$rc"
}

_modes_ns() {
    [ "$(id -u)" = 0 ] || die "needs root"
    MODES_TAG="ackscope-modes-$$-$1"
    NS_C="$MODES_TAG-c"; NS_S="$MODES_TAG-s"
    trap modes_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ip netns add "$NS_C"; ip netns add "$NS_S"
    ip -n "$NS_C" link set lo up; ip -n "$NS_S" link set lo up
    [ -n "${OUT:-}" ] && echo "$MODES_TAG" >"$OUT/ns-tag"
    return 0
}

_modes_sysctls() {  # client sysctls -- server sysctls
    local side=c kv
    for kv in "$@"; do
        if [ "$kv" = "--" ]; then side=s; continue; fi
        if [ "$side" = c ]; then nsc sysctl -qw "$kv"; else nss sysctl -qw "$kv"; fi
    done
}

# modes_setup_host TAG [client sysctl...] -- [server sysctl...]
modes_setup_host() {
    _modes_ns "$1"; shift
    ip -n "$NS_C" link add c0 type veth peer name s0 netns "$NS_S"
    ip -n "$NS_C" addr add "$CLI_IP/24" dev c0
    ip -n "$NS_S" addr add "$SRV_IP/24" dev s0
    ip -n "$NS_C" link set c0 up; ip -n "$NS_S" link set s0 up
    # Offloads stay on (TSO/GSO, partial checksums): host mode must cope with what a real
    # server interface carries, and must not change it.
    _modes_sysctls "$@"
    log "host testbed $NS_C / $NS_S ready"
}

# modes_setup_inline TAG [client sysctl...] -- [server sysctl...]
modes_setup_inline() {
    _modes_ns "$1"; shift
    NS_M="$MODES_TAG-m"
    ip netns add "$NS_M"
    ip -n "$NS_M" link set lo up
    ip -n "$NS_C" link add c0 type veth peer name ia netns "$NS_M"
    ip -n "$NS_S" link add s0 type veth peer name ib netns "$NS_M"
    ip -n "$NS_C" addr add "$CLI_IP/24" dev c0
    ip -n "$NS_S" addr add "$SRV_IP/24" dev s0
    ip netns exec "$NS_M" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$NS_M" sysctl -qw net.ipv6.conf.ia.disable_ipv6=1 net.ipv6.conf.ib.disable_ipv6=1
    # End hosts: full checksums (a veth's partial checksums do not survive an XDP hop) and
    # GRO on, which gives their veth ends the NAPI that XDP redirects into a veth need.
    nsc ethtool -K c0 tx off gro on >/dev/null
    nss ethtool -K s0 tx off gro on >/dev/null
    ip -n "$NS_C" link set c0 up; ip -n "$NS_S" link set s0 up
    ip -n "$NS_M" link set ia up; ip -n "$NS_M" link set ib up
    _modes_sysctls "$@"
    log "inline testbed $NS_C / $NS_M / $NS_S ready (connected only through ackscope)"
}

nsm() { ip netns exec "$NS_M" "$@"; }

# modes_start_ackscope NS OUT TAG args...: `ackscope run ARGS` in NS, events in OUT/TAG.jsonl,
# stderr in OUT/TAG.err, the end-of-run summary in OUT/TAG.summary.json; waits until it inspects.
modes_start_ackscope() {
    local ns="$1" out="$2" tag="$3"; shift 3
    ip netns exec "$ns" "$BIN" run --format json --events "$out/$tag.jsonl" --summary-json "$out/$tag.summary.json" "$@" 2>"$out/$tag.err" &
    ACK_PID=$!
    local i
    for i in $(seq 1 150); do
        grep -q "inspecting" "$out/$tag.err" 2>/dev/null && break
        kill -0 "$ACK_PID" 2>/dev/null || { cat "$out/$tag.err" >&2; die "ackscope exited"; }
        sleep 0.1
    done
    grep -q "inspecting" "$out/$tag.err" || die "ackscope did not start"
}

modes_kill9_ackscope() {
    local pid="$ACK_PID"
    ACK_PID=""
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
}

# bulk MBYTES [PORT]: byte-exact transfer client -> server; prints the client's result line.
bulk() {
    local mb="$1" port="${2:-5001}" ready; ready="$(mktemp -u /tmp/ackscope-modes-$$-bulk.XXXXXX)"
    ip netns exec "$NS_S" "$PY" "$BULK" server --addr "$SRV_IP" --port "$port" --ready-file "$ready" --once &
    local spid=$!
    _PIDS+=("$spid")
    local i; for i in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.05; done
    rm -f "$ready"
    nsc "$PY" "$BULK" client --dst "$SRV_IP" --port "$port" --mbytes "$mb"
    wait "$spid" || true
}
