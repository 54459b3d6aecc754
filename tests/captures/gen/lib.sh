# shellcheck shell=bash
# ackscope capture generator: shared helpers (source this file, do not run it).
#
# Everything happens in two network namespaces created here with a unique prefix
# "ackscope-cap-<PID>-<scenario>-{c,s}" and a veth pair created *inside* the client
# namespace whose peer is created directly inside the server namespace. Nothing of the
# root namespace (devices, sysctls, nft) is touched. cap_cleanup removes it all and is
# installed as an EXIT/INT/TERM trap by cap_setup.
#
#   client ns: veth "vc", 10.77.0.1/24, fd77::1/64
#   server ns: veth "vs", 10.77.0.2/24, fd77::2/64   (tcpdump runs here, on "vs")

set -euo pipefail

GEN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CAP_DIR="$(cd "$GEN_DIR/.." && pwd)"
TCPAPP="$GEN_DIR/tcpapp.py"
PY="${PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3)"

CLI_IP=10.77.0.1
SRV_IP=10.77.0.2
CLI_IP6=fd77::1
SRV_IP6=fd77::2
SRV_PORT=5000

NS_C=""
NS_S=""
TCPDUMP_PID=""
SERVER_PID=""
CAP_TMP=""
_CAP_PIDS=()

# IPv4: SYN/FIN/RST, or no TCP payload.
FILTER4='tcp and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0 or ((ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) == 0))'
# IPv6 without extension headers: next header TCP, flags at 40+13, data offset at 40+12.
FILTER6='ip6 and ip6[6] == 6 and (ip6[53] & 0x07 != 0 or (ip6[4:2] - ((ip6[52]&0xf0)>>2)) == 0)'

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "${SCEN:-gen}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

nsc() { ip netns exec "$NS_C" "$@"; }
nss() { ip netns exec "$NS_S" "$@"; }

_kill_pid() {  # kill one process we started, by PID, and reap it
    local pid="$1" sig="${2:-TERM}"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cap_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP PIPE
    set +e
    local p
    for p in "${_CAP_PIDS[@]}"; do _kill_pid "$p"; done
    _kill_pid "$SERVER_PID"
    _kill_pid "$TCPDUMP_PID" INT
    [ -n "$NS_C" ] && ip netns del "$NS_C" 2>/dev/null
    [ -n "$NS_S" ] && ip netns del "$NS_S" 2>/dev/null
    [ -n "$CAP_TMP" ] && rm -rf "$CAP_TMP"
    exit "$rc"
}

# cap_setup SCENARIO [client-sysctl ...] -- [server-sysctl ...]
#   e.g. cap_setup tw_repair net.ipv4.tcp_timestamps=0 -- net.ipv4.tcp_rfc1337=1
cap_setup() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    local tool
    for tool in ip tcpdump nft ethtool sysctl; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
    SCEN="$1"; shift
    local tag="ackscope-cap-$$-${SCEN//_/-}"
    NS_C="${tag}-c"
    NS_S="${tag}-s"
    CAP_TMP="$(mktemp -d "/tmp/ackscope-cap-$$-XXXXXX")"
    trap cap_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    trap 'exit 141' PIPE
    ip netns add "$NS_C"
    ip netns add "$NS_S"
    # veth created inside the client namespace, peer created directly inside the server one
    ip -n "$NS_C" link add vc type veth peer name vs netns "$NS_S"
    ip -n "$NS_C" link set lo up
    ip -n "$NS_S" link set lo up
    ip -n "$NS_C" addr add "$CLI_IP/24" dev vc
    ip -n "$NS_S" addr add "$SRV_IP/24" dev vs
    ip -n "$NS_C" addr add "$CLI_IP6/64" dev vc nodad
    ip -n "$NS_S" addr add "$SRV_IP6/64" dev vs nodad
    # veth leaves checksums partial (CHECKSUM_PARTIAL); compute them so captures are valid
    nsc ethtool -K vc tx off >/dev/null
    nss ethtool -K vs tx off >/dev/null
    ip -n "$NS_C" link set vc up
    ip -n "$NS_S" link set vs up
    local side=c kv
    for kv in "$@"; do
        if [ "$kv" = "--" ]; then side=s; continue; fi
        if [ "$side" = c ]; then nsc sysctl -q -w "$kv"; else nss sysctl -q -w "$kv"; fi
    done
    # bounded wait for the link to come up
    local i
    for i in $(seq 1 50); do
        nsc ping -c1 -W1 "$SRV_IP" >/dev/null 2>&1 && break
        sleep 0.1
    done
    log "namespaces $NS_C / $NS_S ready"
}

cap_mtu() {  # cap_mtu MTU: same MTU on both veth ends
    ip -n "$NS_C" link set vc mtu "$1"
    ip -n "$NS_S" link set vs mtu "$1"
}

# cap_start_tcpdump FILE [4|6|all] [full]
#   all: every TCP segment (payload included), 128-byte snap.
#   full: every TCP segment, data included, whole frames (the *_data captures: replay sees
#   what moved the receive point; tests derive the control-only view from them).
cap_start_tcpdump() {
    local file="$1" fam="${2:-4}" filter snap=128
    case "$fam" in
        6) filter="$FILTER6" ;;
        all) filter="tcp" ;;
        *) filter="$FILTER4" ;;
    esac
    if [ "${3:-}" = full ]; then filter="tcp"; snap=0; fi
    rm -f "$file"
    local errf="$CAP_TMP/tcpdump.err"
    : >"$errf"
    # --immediate-mode: with TPACKET_V3 blocks, packets of a not yet retired block would
    # be lost when tcpdump is stopped with SIGINT.
    ip netns exec "$NS_S" tcpdump -Z root --immediate-mode -i vs -s "$snap" -U -n -w "$file" "$filter" 2>"$errf" &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q "listening" "$errf" && break
        kill -0 "$TCPDUMP_PID" 2>/dev/null || { cat "$errf" >&2; die "tcpdump failed"; }
        sleep 0.05
    done
    grep -q "listening" "$errf" || die "tcpdump did not start"
    sleep 0.2
}

cap_stop_tcpdump() {
    sleep 0.5
    _kill_pid "$TCPDUMP_PID" INT
    TCPDUMP_PID=""
}

# cap_start_server [server args...]: python server in the server ns, waits until it listens
cap_start_server() {
    local ready="$CAP_TMP/server.ready"
    rm -f "$ready"
    ip netns exec "$NS_S" "$PY" "$TCPAPP" server --ready-file "$ready" "$@" &
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -e "$ready" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "server died"
        sleep 0.05
    done
    [ -e "$ready" ] || die "server did not start"
}

cap_stop_server() {
    _kill_pid "$SERVER_PID"
    SERVER_PID=""
}

# cap_client ARGS...: run the python client in the client ns; its key=value output is
# appended to $CAP_TMP/client.log (and echoed to stderr).
cap_client() {
    ip netns exec "$NS_C" "$PY" "$TCPAPP" "$@" | tee -a "$CAP_TMP/client.log" >&2
    return "${PIPESTATUS[0]}"
}

# kv KEY: last value of KEY=... from the client log
kv() { grep -o "\b$1=[^ ]*" "$CAP_TMP/client.log" | tail -n1 | cut -d= -f2-; }

# cap_finish NAME: check the capture with the reference checker against NAME.expect
cap_check() {
    local name="$1"
    local got="$CAP_TMP/$name.got"
    "$PY" "$TCPAPP" check "$CAP_DIR/$name.pcap" >"$got"
    if diff -u "$CAP_DIR/$name.expect" "$got" >&2; then
        log "OK: $name.pcap matches $name.expect ($(stat -c %s "$CAP_DIR/$name.pcap") bytes)"
    else
        log "MISMATCH: $name.pcap does not give the events of $name.expect (see diff above)"
        return 1
    fi
}

# pkts NAME [tcpdump-filter]: tcpdump listing with absolute sequence numbers, for NAME.md
pkts() {
    local name="$1"; shift
    tcpdump -nn -S -tttt -r "$CAP_DIR/$name.pcap" "$@" 2>/dev/null
}

# cap_expect NAME [event-line ...]: write NAME.expect (empty file = no events)
cap_expect() {
    local name="$1"; shift
    if [ $# -gt 0 ]; then printf '%s\n' "$@" >"$CAP_DIR/$name.expect"; else : >"$CAP_DIR/$name.expect"; fi
}

# cap_md NAME [dump options] <<EOF prose EOF: NAME.md = prose + the key packet lines
cap_md() {
    local name="$1"; shift
    {
        cat
        echo
        echo "Key packets (\`tcpapp.py dump --key\`; seq/ack absolute, dt = since previous listed packet of the 4-tuple):"
        echo
        echo '```'
        "$PY" "$TCPAPP" dump --key "$@" "$CAP_DIR/$name.pcap"
        echo '```'
    } >"$CAP_DIR/$name.md"
}

# retry_ms NAME: ms between the client's RST and its next SYN (first occurrence)
retry_ms() {
    "$PY" "$TCPAPP" dump --key "$CAP_DIR/$1.pcap" |
        awk '/\[R\]/ {r=1; next} r && /\[S\]/ {for (i=1;i<=NF;i++) if ($i ~ /^dt=/) {sub("dt=\\+","",$i); sub("ms","",$i); print $i; exit}}'
}

# tw_isn_note NAME: when a TIME_WAIT socket accepts a new SYN (TCP_TW_SYN) Linux gives the new
# connection the ISN tw_snd_nxt + 65535 + 2; print the observed relation for NAME.md
tw_isn_note() {
    "$PY" "$TCPAPP" dump --key "$CAP_DIR/$1.pcap" | awk -v sp="$SRV_PORT" '
        $3 ~ "\\." sp "$" && $6 == "[F.]" && !fin { fin = $8 + 1 }
        $3 ~ "\\." sp "$" && $6 == "[S.]" { n++; if (n == 2) sa = $8 }
        END {
            if (fin == "" || sa == "") exit
            d = (sa - fin) % 4294967296; if (d < 0) d += 4294967296
            printf "the server'"'"'s new ISN %.0f = old snd_nxt %.0f + %.0f", sa, fin, d
            if (d == 65537) printf " (Linux: a TIME_WAIT socket that accepts a SYN hands over the ISN tw_snd_nxt + 65535 + 2)"
        }'
}

# stale_ts NAME: TS echo of the first stale ACK vs the TSval of the SYN it answers (for NAME.md)
stale_ts() {
    pkts "$1" | awk -v sp="$SRV_PORT" '
        /Flags \[S\]/ { syn = 1; split($0, a, "TS val "); split(a[2], b, " "); tsv = b[1]; next }
        syn && $0 ~ "\\." sp " > " && /Flags \[\.\]/ {
            split($0, a, "ecr "); split(a[2], b, "]"); ecr = b[1]
            printf "the stale ACK echoes TS ecr %s, the old connection'"'"'s last client TSval, not the new SYN'"'"'s TSval %s", ecr, tsv
            exit }
        { syn = 0 }'
}
