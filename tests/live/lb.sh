#!/usr/bin/env bash
# Issue 19: a real HTTP load balancer. Debian's haproxy in front of two nginx backends, wrk as
# the load, each in its own network namespace; the LB's ephemeral port range is narrowed so
# that its kernel reuses backend 4-tuples at once and the backends' kernels answer some SYNs
# with stale ACKs. ackscope runs in host mode on the LB's backend-facing interface (lb0) and a
# tcpdump of lb0 runs beside it.
#
#   client ns (wrk)  c0 10.79.0.1 ── l0 10.79.0.2  LB ns (haproxy)
#   LB ns            lb0 10.79.1.1 ── b0 10.79.1.2, 10.79.1.3  backend ns (nginx × 2)
#
# Usage: lb.sh ACKSCOPE_BIN OUTDIR [SECONDS] [PORTS]
# Leaves OUTDIR/ev.jsonl, ev.err (ackscope), lb0.pcap, tcpdump.err, wrk.txt, haproxy.log,
# nginx{1,2}/error.log. Namespaces ackscope-lb-$$-{c,l,b}; every process is started here and
# killed by PID; nothing of the root namespace is touched.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" SECS="${3:-15}" PORTS="${4:-16}"
mkdir -p "$OUT"
for t in haproxy nginx wrk tcpdump; do command -v "$t" >/dev/null || die "$t not found: run scripts/setup.sh"; done
[ "$(id -u)" = 0 ] || die "needs root"

TAG="ackscope-lb-$$"
NS_C="$TAG-c" NS_L="$TAG-l" NS_B="$TAG-b"
NG_PIDS=() HA_PID="" TD_PID=""
echo "$TAG" >"$OUT/ns-tag"
lb_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local p
    live_kill_started
    _kill "$HA_PID"
    for p in "${NG_PIDS[@]}"; do _kill "$p" QUIT; done
    _kill "$TD_PID" INT
    for p in "$NS_C" "$NS_L" "$NS_B"; do ip netns del "$p" 2>/dev/null; done
    exit "$rc"
}
trap lb_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
nsl() { ip netns exec "$NS_L" "$@"; }
nsb() { ip netns exec "$NS_B" "$@"; }

for n in "$NS_C" "$NS_L" "$NS_B"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$NS_C" link add c0 type veth peer name l0 netns "$NS_L"
ip -n "$NS_L" link add lb0 type veth peer name b0 netns "$NS_B"
ip -n "$NS_C" addr add 10.79.0.1/24 dev c0
ip -n "$NS_L" addr add 10.79.0.2/24 dev l0
ip -n "$NS_L" addr add 10.79.1.1/24 dev lb0
ip -n "$NS_B" addr add 10.79.1.2/24 dev b0
ip -n "$NS_B" addr add 10.79.1.3/24 dev b0
ip -n "$NS_C" link set c0 up; ip -n "$NS_L" link set l0 up; ip -n "$NS_L" link set lb0 up; ip -n "$NS_B" link set b0 up
# The LB's kernel picks backend source ports from PORTS ports only.
nsl sysctl -qw net.ipv4.ip_local_port_range="40000 $((40000 + PORTS - 1))"
for kv in ${LB_SYSCTLS:-}; do nsl sysctl -qw "$kv"; done
# LB_RST_DROP=N: an nft rule in the LB namespace drops N % of the LB's RSTs to the backends
# before they reach lb0 (a firewall losing them): the backends' sockets linger.
if [ -n "${LB_RST_DROP:-}" ]; then
    printf 'table inet ackscope_lb {\n chain out {\n  type filter hook output priority 0; policy accept;\n  oifname "lb0" tcp flags & rst == rst numgen random mod 100 < %d counter drop\n }\n}\n' "$LB_RST_DROP" | nsl nft -f -
fi
for i in $(seq 1 50); do nsl ping -c1 -W1 10.79.1.3 >/dev/null 2>&1 && nsl ping -c1 -W1 10.79.0.1 >/dev/null 2>&1 && break; sleep 0.1; done

for i in 1 2; do
    d="$OUT/nginx$i"; mkdir -p "$d"
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
    client_max_body_size 4m;
    # nginx closes a keep-alive connection after a few requests: the backend closes first.
    ${LB_NGINX_OPTS:-keepalive_requests 5; keepalive_timeout 2s;}
    server {
        listen 10.79.1.$((i + 1)):80;
        location / { return 200 "backend $i\n"; }
    }
}
EOF
    # Not through a shell function: $! must be the process itself (ip netns exec execs it).
    ip netns exec "$NS_B" nginx -c "$d/nginx.conf" -p "$d" -g 'daemon off;' 2>"$d/stderr" &
    NG_PIDS+=($!)
done
cat >"$OUT/haproxy.cfg" <<EOF
global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    ${LB_HAPROXY_OPTS:-}
frontend fe
    bind 10.79.0.2:80
    default_backend be
backend be
    balance roundrobin
    server s1 10.79.1.2:80
    server s2 10.79.1.3:80
    ${LB_HAPROXY_BACKEND:-}
EOF
ip netns exec "$NS_L" haproxy -f "$OUT/haproxy.cfg" -db >"$OUT/haproxy.log" 2>&1 &
HA_PID=$!
for i in $(seq 1 100); do
    ip netns exec "$NS_C" bash -c 'exec 3<>/dev/tcp/10.79.0.2/80' 2>/dev/null && break
    sleep 0.1
done
for p in "${NG_PIDS[@]}" "$HA_PID"; do kill -0 "$p" 2>/dev/null || die "haproxy or nginx died: $(cat "$OUT"/haproxy.log "$OUT"/nginx*/stderr)"; done
log "LB testbed $NS_C / $NS_L / $NS_B ready (LB source ports 40000-$((40000 + PORTS - 1)))"

ip netns exec "$NS_L" tcpdump -Z root --immediate-mode -B 65536 -i lb0 -s 128 -U -n -w "$OUT/lb0.pcap" tcp 2>"$OUT/tcpdump.err" &
TD_PID=$!
for i in $(seq 1 100); do grep -q listening "$OUT/tcpdump.err" && break; sleep 0.05; done
grep -q listening "$OUT/tcpdump.err" || die "tcpdump did not start"
ip netns exec "$NS_L" "$BIN" run --mode host --iface lb0 --format json --events "$OUT/ev.jsonl" 2>"$OUT/ev.err" &
ACK_PID=$!
for i in $(seq 1 150); do
    grep -q "inspecting" "$OUT/ev.err" 2>/dev/null && break
    kill -0 "$ACK_PID" 2>/dev/null || { cat "$OUT/ev.err" >&2; die "ackscope exited"; }
    sleep 0.1
done
grep -q "inspecting" "$OUT/ev.err" || die "ackscope did not start"

# wrk POSTs a LB_BODY-byte body: an upload faster than the ISN clock (one per 64 ns, RFC
# 6528) leaves the LB's next ISN on a reused port below the backend's old receive point.
cat >"$OUT/post.lua" <<EOF
wrk.method = "POST"
wrk.body = string.rep("a", ${LB_BODY:-262144})
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
log "wrk for ${SECS}s"
ip netns exec "$NS_C" timeout $((SECS + 20)) wrk -t1 -c32 -d"${SECS}s" -s "$OUT/post.lua" http://10.79.0.2/ >"$OUT/wrk.txt" 2>&1 || log "wrk: $?"
sleep 1
live_stop_ackscope || log "ackscope exited with $?"
sleep 0.3
_kill "$TD_PID" INT; TD_PID=""
log "wrk: $(grep -E 'Requests/sec|requests in|Non-2xx|Socket errors' "$OUT/wrk.txt" | tr '\n' ' ')"
[ -n "${LB_RST_DROP:-}" ] && log "nft: $(nsl nft list table inet ackscope_lb | grep -o 'counter packets [0-9]*')"
log "tcpdump: $(grep -E 'captured|dropped' "$OUT/tcpdump.err" | tr '\n' ' ')"
log "done"
