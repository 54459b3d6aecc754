#!/usr/bin/env bash
# End-to-end test of the live datapath (XDP steering + AF_XDP) with
# examples/xsk_probe, entirely inside private network namespaces.
#
#   examples/test_probe.sh [PROBE_BIN] [SCENARIO...]
#
# PROBE_BIN defaults to target/debug/examples/xsk_probe (build it with
# `cargo build --example xsk_probe`). Scenarios (default: all):
#
#   mirror1   1-queue tap fed by tc mirred mirror of the server's veth,
#             native XDP; ~20 TCP connections (IPv4 + IPv6, clean closes,
#             RST closes, refused ports). Checks SYN/SYN-ACK/FIN/RST/bare-ACK
#             counts, that no data segment is steered, that every steered
#             frame reaches user space with its kernel timestamp, and that
#             XDP is gone afterwards.
#   generic1  the same in generic XDP mode.
#   multiq    2-queue veths everywhere, native XDP, sockets on queues 0 and
#             1: frames must land on both queues.
#   multiq-generic  the same in generic mode: every frame lands on queue 0.
#   kill      SIGKILL the probe: the bpf_link must take XDP with it; a new
#             probe must bind the same queue again straight away.
#   crafted   hand-made frames (QinQ, IPv6 extension headers and fragments,
#             IPv4 options and fragments, malformed headers, stale ACK in SYN
#             state, teardown, retransmitted FIN, expiry) with exact counters.
#   leftover  a netlink-attached `ackscope_xdp` (as a killed run of an old
#             kernel would leave) is removed with a warning; a foreign program
#             is refused, and replaced with --force.
#
# Safety: everything lives in namespaces named ackscope-dp-$$-*; nothing in
# the root namespace is touched; all namespaces and processes started here are
# removed on every exit path. Needs root, python3, tc, ip, ethtool.
set -u -o pipefail

PROBE=${1:-target/debug/examples/xsk_probe}
shift || true
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(mirror1 generic1 multiq multiq-generic crafted kill leftover)

PFX="ackscope-dp-$$"
NS_C="$PFX-cli"
NS_S="$PFX-srv"
WORK=$(mktemp -d "/tmp/$PFX.XXXXXX")
PIDS=()
FAILS=0

log() { printf '[test_probe] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { log "ok: $*"; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
    done
    PIDS=()
    ip netns del "$NS_C" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    true
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

[ -x "$PROBE" ] || { log "probe binary $PROBE missing (cargo build --example xsk_probe)"; exit 2; }
PROBE=$(readlink -f "$PROBE")
[ "$(id -u)" = 0 ] || { log "needs root"; exit 2; }

# --- helpers ------------------------------------------------------------------

# topology QUEUES: client ns (c0) <-> server ns (s0), plus tapa<->tapb in the
# server ns; s0's ingress and egress are mirrored to tapa, so tapb receives a
# copy of every frame of the connection.
topology() {
    local q=$1 qopt=""
    [ "$q" -gt 1 ] && qopt="numtxqueues $q numrxqueues $q"
    cleanup
    ip netns add "$NS_C" && ip netns add "$NS_S" || return 1
    # shellcheck disable=SC2086
    ip -n "$NS_C" link add c0 $qopt type veth peer name s0 $qopt netns "$NS_S" || return 1
    # shellcheck disable=SC2086
    ip -n "$NS_S" link add tapa $qopt type veth peer name tapb $qopt || return 1
    ip -n "$NS_C" addr add 10.201.0.1/24 dev c0
    ip -n "$NS_C" addr add fd00:201::1/64 dev c0 nodad
    ip -n "$NS_S" addr add 10.201.0.2/24 dev s0
    ip -n "$NS_S" addr add fd00:201::2/64 dev s0 nodad
    local ns dev
    for ns in "$NS_C" "$NS_S"; do ip -n "$ns" link set lo up; done
    # The tap pair carries no addresses: keep IPv6 ND/MLD noise off it.
    for dev in tapa tapb; do
        ip netns exec "$NS_S" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    done
    ip -n "$NS_C" link set c0 up
    for dev in s0 tapa tapb; do ip -n "$NS_S" link set "$dev" up; done
    # Wire-sized segments (no TSO/GSO/GRO super-packets).
    ip netns exec "$NS_C" ethtool -K c0 tso off gso off gro off >/dev/null 2>&1
    ip netns exec "$NS_S" ethtool -K s0 tso off gso off gro off >/dev/null 2>&1
    tc -n "$NS_S" qdisc add dev s0 clsact || return 1
    tc -n "$NS_S" filter add dev s0 ingress u32 match u32 0 0 action mirred egress mirror dev tapa || return 1
    tc -n "$NS_S" filter add dev s0 egress u32 match u32 0 0 action mirred egress mirror dev tapa || return 1
    start_server
}

start_server() {
    cat >"$WORK/server.py" <<'EOF'
import socket, threading, time
def handle(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 8080))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
for fam, addr in ((socket.AF_INET, "10.201.0.2"), (socket.AF_INET6, "fd00:201::2")):
    threading.Thread(target=serve, args=(fam, addr), daemon=True).start()
time.sleep(3600)
EOF
    ip netns exec "$NS_S" python3 "$WORK/server.py" &
    PIDS+=($!)
    # Wait (bounded) until both listeners are up.
    for _ in $(seq 1 50); do
        ip netns exec "$NS_S" ss -ltn 2>/dev/null | grep -q '10.201.0.2:8080' &&
            ip netns exec "$NS_S" ss -ltn 2>/dev/null | grep -q 'fd00:201::2\]:8080' && return 0
        sleep 0.1
    done
    log "server did not come up"
    return 1
}

# traffic N_CLEAN N_RST N_REFUSED: clean closes (every 3rd over IPv6), RST
# closes (SO_LINGER 0), and SYNs to a closed port. 3000 bytes echoed each.
traffic() {
    cat >"$WORK/client.py" <<'EOF'
import socket, struct, sys
n_clean, n_rst, n_refused = map(int, sys.argv[1:4])
def target(i):
    return (socket.AF_INET6, ("fd00:201::2", 8080)) if i % 3 == 2 else (socket.AF_INET, ("10.201.0.2", 8080))
def exchange(s):
    s.sendall(b"x" * 3000)
    got = 0
    while got < 3000:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    return got
ok = rst = refused = 0
for i in range(n_clean):
    fam, addr = target(i)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    if exchange(s) == 3000:
        ok += 1
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
for i in range(n_rst):
    fam, addr = target(i)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    exchange(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    rst += 1
for i in range(n_refused):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(("10.201.0.2", 9))
    except ConnectionRefusedError:
        refused += 1
    s.close()
print(f"clean={ok} rst={rst} refused={refused}")
EOF
    ip netns exec "$NS_C" python3 "$WORK/client.py" "$@"
}

# probe_start OUT QUEUES SECONDS [ARGS...]: start the probe on tapb in the
# server ns, wait (bounded) until its sockets are registered.
probe_start() {
    local out=$1 queues=$2 secs=$3
    shift 3
    ip netns exec "$NS_S" "$PROBE" tapb "$queues" "$secs" "$@" >"$out" 2>"$out.err" &
    PROBE_PID=$!
    PIDS+=("$PROBE_PID")
    for _ in $(seq 1 100); do
        [ "$(grep -c '^socket:' "$out")" -ge "$queues" ] && return 0
        kill -0 "$PROBE_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "probe did not come up:"
    cat "$out" "$out.err" >&2
    return 1
}

probe_wait() {
    local pid=$1
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    wait "$pid"
}

# val FILE LINE_PREFIX KEY
val() { grep "^$2" "$1" | grep -o "[ :]$3=[0-9]*" | head -1 | cut -d= -f2; }

xdp_gone() { ! ip -n "$NS_S" link show tapb | grep -q 'prog/xdp'; }

check_ge() { # name value min
    if [ "${2:-0}" -ge "$3" ]; then pass "$1=$2 (>= $3)"; else fail "$1=${2:-?} (< $3)"; fi
}
check_eq() { # name value expected
    if [ "${2:-x}" = "$3" ]; then pass "$1=$2"; else fail "$1=${2:-?} (expected $3)"; fi
}

# --- scenarios -------------------------------------------------------------------

N_CLEAN=14 N_RST=4 N_REFUSED=3

steering_run() { # name queues xdp-mode
    local name=$1 queues=$2 mode=$3 out="$WORK/$1.out"
    log "=== $name: $queues queue(s), --xdp $mode"
    topology "$queues" || { fail "$name: topology"; return; }
    probe_start "$out" "$queues" 6 --xdp "$mode" || { fail "$name: probe start"; return; }
    local res
    res=$(traffic "$N_CLEAN" "$N_RST" "$N_REFUSED") || fail "$name: client failed"
    log "client: $res"
    probe_wait "$PROBE_PID" || fail "$name: probe exit status"
    cat "$out" >&2
    local syn synack fin rst ack nst frames steered rfail kts data_st
    syn=$(val "$out" bpf: syn); synack=$(val "$out" bpf: synack); fin=$(val "$out" bpf: fin)
    rst=$(val "$out" bpf: rst); ack=$(val "$out" bpf: ack); nst=$(val "$out" bpf: not_steered_tcp)
    rfail=$(val "$out" bpf: redirect_fail); frames=$(val "$out" total: frames)
    steered=$((syn + synack + fin + rst + ack))
    local conns=$((N_CLEAN + N_RST))
    check_ge "$name syn" "$syn" $((conns + N_REFUSED))
    check_ge "$name synack" "$synack" "$conns"
    check_ge "$name fin" "$fin" $((2 * N_CLEAN))
    check_ge "$name rst" "$rst" $((N_RST + N_REFUSED))
    check_ge "$name steered bare ack" "$ack" $((conns + N_CLEAN))
    check_ge "$name not_steered_tcp (data)" "$nst" $((4 * conns))
    check_eq "$name redirect_fail" "$rfail" 0
    check_eq "$name user frames == steered" "$frames" "$steered"
    kts=0 data_st=0
    local q
    for q in $(seq 0 $((queues - 1))); do
        kts=$((kts + $(val "$out" "queue $q:" kernel_ts)))
        data_st=$((data_st + $(val "$out" "queue $q:" data_steered)))
    done
    check_eq "$name data segments in user space" "$data_st" 0
    check_eq "$name frames with kernel ts" "$kts" "$frames"
    check_eq "$name detached" "$(grep -o 'detached: [a-z]*' "$out" | cut -d' ' -f2)" yes
    xdp_gone && pass "$name: no XDP on tapb after exit" || fail "$name: XDP left on tapb"
    if [ "$queues" -gt 1 ] && [ "$mode" = generic ]; then
        # Generic XDP on veth reports rx_queue_index 0 for every frame.
        check_eq "$name frames on queue 0" "$(val "$out" "queue 0:" frames)" "$frames"
    elif [ "$queues" -gt 1 ]; then
        for q in $(seq 0 $((queues - 1))); do
            check_ge "$name frames on queue $q" "$(val "$out" "queue $q:" frames)" 1
        done
    fi
}

scenario_kill() {
    log "=== kill: SIGKILL leaves nothing behind; the queue rebinds at once"
    topology 1 || { fail "kill: topology"; return; }
    local out="$WORK/kill.out"
    probe_start "$out" 1 30 || { fail "kill: probe start"; return; }
    ip -n "$NS_S" link show tapb | grep -q 'prog/xdp' && pass "kill: XDP attached while running" ||
        fail "kill: XDP not visible while running"
    kill -9 "$PROBE_PID"
    wait "$PROBE_PID" 2>/dev/null
    for _ in $(seq 1 20); do xdp_gone && break; sleep 0.1; done
    xdp_gone && pass "kill: bpf_link released XDP after SIGKILL" || fail "kill: XDP left after SIGKILL"
    local out2="$WORK/kill2.out"
    probe_start "$out2" 1 2 || { fail "kill: restart"; return; }
    traffic 2 0 0 >/dev/null || fail "kill: client"
    probe_wait "$PROBE_PID" || fail "kill: second probe exit status"
    check_ge "kill: restarted probe frames" "$(val "$out2" total: frames)" 6
}

scenario_leftover() {
    log "=== leftover / foreign programs"
    topology 1 || { fail "leftover: topology"; return; }
    local obj
    obj=$(find "$(dirname "$PROBE")/../build" -name ackscope.bpf.o -printf '%T@ %p\n' 2>/dev/null |
        sort -n | tail -1 | cut -d' ' -f2)
    if [ -z "$obj" ]; then
        fail "leftover: ackscope.bpf.o not found under target/"
        return
    fi
    if ! ip -n "$NS_S" link set dev tapb xdpgeneric obj "$obj" sec xdp 2>"$WORK/ipxdp.err"; then
        log "ip cannot load the object ($(head -1 "$WORK/ipxdp.err")); skipping leftover part"
    else
        local out="$WORK/leftover.out"
        probe_start "$out" 1 1 || { fail "leftover: probe start"; return; }
        probe_wait "$PROBE_PID" || fail "leftover: probe exit status"
        grep -q 'removed leftover ackscope_xdp' "$out.err" && pass "leftover: detected and removed" ||
            fail "leftover: no warning about the leftover"
        xdp_gone && pass "leftover: nothing left" || fail "leftover: XDP left"
    fi
    cat >"$WORK/foreign.c" <<'EOF'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
    local multiarch=/usr/include/$(uname -m)-linux-gnu
    if ! clang-19 -O2 -g -target bpf -I"$multiarch" -c "$WORK/foreign.c" -o "$WORK/foreign.o" ||
        ! ip -n "$NS_S" link set dev tapb xdpgeneric obj "$WORK/foreign.o" sec xdp; then
        log "cannot build/attach a foreign program; skipping foreign part"
        return
    fi
    local out="$WORK/foreign.out"
    if ip netns exec "$NS_S" "$PROBE" tapb 1 1 >"$out" 2>"$out.err"; then
        fail "foreign: probe did not refuse"
    else
        grep -q "already has XDP program \`foreign_pass\`" "$out.err" && pass "foreign: refused with typed error" ||
            { fail "foreign: unexpected error"; cat "$out.err" >&2; }
    fi
    ip -n "$NS_S" link show tapb | grep -q 'prog/xdp' && pass "foreign: left untouched" ||
        fail "foreign: program was removed without --force"
    probe_start "$out" 1 1 --force || { fail "foreign: --force start"; return; }
    probe_wait "$PROBE_PID" || fail "foreign: --force exit status"
    xdp_gone && pass "foreign: replaced with --force, nothing left after" || fail "foreign: XDP left"
}

# Hand-made frames injected into tapa with AF_PACKET: exercise every branch
# of bpf/classify.h and the handshake/teardown state machine with exact
# expected counters (flow age 300 ms).
scenario_crafted() {
    log "=== crafted: classifier and state machine, exact counters"
    topology 1 || { fail "crafted: topology"; return; }
    # Only the injected frames: stop mirroring s0's traffic.
    tc -n "$NS_S" qdisc del dev s0 clsact
    local out="$WORK/crafted.out"
    probe_start "$out" 1 3 --flow-age-ms 300 || { fail "crafted: probe start"; return; }
    cat >"$WORK/craft.py" <<'PY'
import socket, struct, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("tapa", 0))
FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
A4, B4 = "10.9.0.1", "10.9.0.2"
A6, B6 = "fd00::1", "fd00::2"
def send(frame, pause=0.01):
    s.send(frame)
    time.sleep(pause)
def eth(et, payload, vlans=()):
    h = b"\x02" * 6 + b"\x04" * 6
    for tpid, vid in vlans:
        h += struct.pack("!HH", tpid, vid)
    return h + struct.pack("!H", et) + payload
def tcp(sp, dp, flags, payload=b"", seq=1000, ack=0):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
def ip4(src, dst, l4, proto=6, frag=0, opts=b"", ihl=None, tot=None):
    ihl = ihl if ihl is not None else (20 + len(opts)) // 4
    tot = tot if tot is not None else 20 + len(opts) + len(l4)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 1, frag, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + opts + l4
def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload
def opt6(nh, units=0):  # hop-by-hop / routing / destination options header
    return struct.pack("!BB", nh, units) + b"\x00" * (6 + 8 * units)
def frag6(nh, off, more):
    return struct.pack("!BBHI", nh, 0, (off << 3) | more, 77)
def v4(sp, dp, fl, src=A4, dst=B4, **kw):
    return eth(0x0800, ip4(src, dst, tcp(sp, dp, fl, **kw)))
QQ = ((0x88A8, 100), (0x8100, 200))
# 1-5: stale ACK while in SYN state (steered, entry kept); the client's RST during its SYN keeps
# the entry too (issue 19: the stale ACK answering its retried SYN must still be steered)
send(v4(40000, 80, SYN))
send(v4(80, 40000, ACK, src=B4, dst=A4))
send(v4(80, 40000, ACK, src=B4, dst=A4) + b"\x00" * 6)    # Ethernet padding
send(v4(40000, 80, RST))
send(v4(80, 40000, ACK, src=B4, dst=A4))                  # still tracked: steered
# 6-9: the QinQ key is separate from the untagged one
send(eth(0x0800, ip4(A4, B4, tcp(40001, 80, SYN)), QQ))
send(v4(40001, 80, ACK))                                  # untagged: no entry
send(eth(0x0800, ip4(A4, B4, tcp(40001, 80, ACK)), QQ))   # client ACK: done
send(eth(0x0800, ip4(A4, B4, tcp(40001, 80, ACK)), QQ))   # untracked now
# 10-13: IPv6 extension headers and fragments, IPv4 non-first fragment
send(eth(0x86DD, ip6(A6, B6, 0, opt6(60) + opt6(43, 1) + opt6(6) + tcp(40002, 80, SYN))))
send(eth(0x86DD, ip6(A6, B6, 44, frag6(6, 0, 1) + tcp(40003, 80, FIN | ACK))))
send(eth(0x86DD, ip6(A6, B6, 44, frag6(6, 100, 0) + b"\x00" * 24)))
send(eth(0x0800, ip4(A4, B4, b"\x00" * 24, frag=10)))
# 14: IPv4 options
send(eth(0x0800, ip4(A4, B4, tcp(40004, 80, SYN), opts=b"\x01\x01\x01\x00")))
# 15-17: parse failures: truncated TCP, IHL 4, too many IPv6 extension headers
send(eth(0x0800, ip4(A4, B4, b"\x00" * 10, tot=40)))
send(eth(0x0800, ip4(A4, B4, tcp(40004, 80, SYN), ihl=4)))
send(eth(0x86DD, ip6(A6, B6, 60, b"".join(opt6(60) for _ in range(6)) + opt6(6) + tcp(40009, 80, SYN))))
# 18: ARP
send(eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20))
# 19: a data segment of a tracked 4-tuple is not steered
send(v4(40004, 80, ACK | PSH, payload=b"d" * 100))
# 20-24: full teardown
send(v4(40005, 80, FIN | ACK))
send(v4(80, 40005, ACK, src=B4, dst=A4))
send(v4(80, 40005, FIN | ACK, src=B4, dst=A4))
send(v4(40005, 80, ACK))                                  # last ACK: done
send(v4(40005, 80, ACK))                                  # untracked now
# 25: a retransmitted FIN does not count as the second side
send(v4(40006, 80, FIN | ACK))
send(v4(40006, 80, FIN | ACK))
send(v4(80, 40006, ACK, src=B4, dst=A4))
send(v4(80, 40006, ACK, src=B4, dst=A4))                  # still half-closed
# 26: expiry (flow age 300 ms)
send(v4(40007, 80, SYN), pause=0.5)
send(v4(80, 40007, ACK, src=B4, dst=A4))                  # entry too old
# 27: handshake with SYN-ACK; the server's ACK keeps it, the client's ends it
send(v4(40008, 80, SYN))
send(v4(80, 40008, SYN | ACK, src=B4, dst=A4))
send(v4(80, 40008, ACK, src=B4, dst=A4))
send(v4(40008, 80, ACK))
send(v4(40008, 80, ACK))                                  # untracked now
# 28: one 802.1Q tag; 29: three tags (parsed: up to 8, as the Rust parser)
send(eth(0x0800, ip4(A4, B4, tcp(40010, 80, SYN)), ((0x8100, 7),)))
send(eth(0x0800, ip4(A4, B4, tcp(40011, 80, SYN)), ((0x88A8, 1), (0x8100, 2), (0x8100, 3))))
PY
    ip netns exec "$NS_S" python3 "$WORK/craft.py" || fail "crafted: injector failed"
    probe_wait "$PROBE_PID" || fail "crafted: probe exit status"
    cat "$out" >&2
    local kv k v
    for kv in frames=37 syn=8 synack=1 fin=5 rst=1 ack=10 not_steered_tcp=6 not_tcp=3 parse_fail=3 \
        redirect_fail=0 flows_expired=1 meta_fail=0; do
        k=${kv%%=*} v=${kv#*=}
        check_eq "crafted bpf $k" "$(val "$out" bpf: "$k")" "$v"
    done
    check_eq "crafted user frames" "$(val "$out" total: frames)" 25
    check_eq "crafted frames with kernel ts" "$(val "$out" "queue 0:" kernel_ts)" 25
    # Left tracked: 1 (SYN after the client's RST), 10 (v6 SYN), 11 (v6 FIN), 14/19 (SYN),
    # 25 (half-closed), 28 (VLAN SYN), 29 (three-tag SYN).
    check_eq "crafted tracked flows left" "$(val "$out" bpf: tracked_flows)" 7
}

for s in "${SCENARIOS[@]}"; do
    case "$s" in
        mirror1) steering_run mirror1 1 native ;;
        generic1) steering_run generic1 1 generic ;;
        multiq) steering_run multiq 2 native ;;
        multiq-generic) steering_run multiq-generic 2 generic ;;
        kill) scenario_kill ;;
        leftover) scenario_leftover ;;
        crafted) scenario_crafted ;;
        *) log "unknown scenario $s"; FAILS=$((FAILS + 1)) ;;
    esac
done
cleanup
if [ "$FAILS" -eq 0 ]; then
    log "ALL PASSED"
    exit 0
fi
log "$FAILS check(s) failed"
exit 1
