#!/usr/bin/env bash
# kernel_vxlan_mirror: the tw_repair scenario (stale ACK from a server TIME_WAIT socket, client
# ISN forced 1000 below the old receive point) mirrored remotely the way a Linux host (or a
# cloud traffic mirror) does it: both directions of the server's veth are copied by tc mirred
# into the kernel's own VXLAN device (VNI 4242, UDP 4789), whose remote end is a third
# namespace, the "mirror target"; the capture is taken there, on the underlay, so every frame
# is Ethernet/IPv4/UDP/VXLAN/Ethernet/IPv4/TCP as ackscope would receive it.
#
#   client ns  vc 10.77.0.1 ──veth── vs 10.77.0.2  server ns
#                                    tc clsact on vs: ingress + egress u32 → mirred → vxm
#                                    vxm: vxlan id 4242 local 10.99.0.1 remote 10.99.0.2
#                                    us 10.99.0.1 ──veth── um 10.99.0.2  mirror-target ns
#                                                                (tcpdump -i um udp port 4789)
#
# The server's own view (tcpdump on vs, unencapsulated) is checked with the reference checker
# (gen/tcpapp.py check) against the expected events, so the .expect does not rest on ackscope.
# Writes tests/captures/encap/kernel_vxlan_mirror.{pcap,expect,md}. Root; namespaces only.
source "$(dirname "$0")/lib.sh"
NAME=kernel_vxlan_mirror
SPORT=40001
VNI=4242
OUT="$CAP_DIR/encap"
mkdir -p "$OUT"
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
NS_M="${NS_S%-s}-m"
MIRROR_TCPDUMP=""
trap '_rc=$?; [ -n "$MIRROR_TCPDUMP" ] && _kill_pid "$MIRROR_TCPDUMP" INT; ip netns del "$NS_M" 2>/dev/null; (exit $_rc); cap_cleanup' EXIT
ip netns add "$NS_M"
ip -n "$NS_S" link add us type veth peer name um netns "$NS_M"
ip -n "$NS_S" addr add 10.99.0.1/24 dev us
ip -n "$NS_M" addr add 10.99.0.2/24 dev um
ip -n "$NS_M" link set lo up
ip -n "$NS_S" link set us up
ip -n "$NS_M" link set um up
nss ethtool -K us tx off >/dev/null
ip -n "$NS_S" link add vxm type vxlan id "$VNI" local 10.99.0.1 remote 10.99.0.2 dstport 4789 dev us
ip -n "$NS_S" link set vxm up
for i in $(seq 1 50); do nss ping -c1 -W1 10.99.0.2 >/dev/null 2>&1 && break; sleep 0.1; done
nss tc qdisc add dev vs clsact
nss tc filter add dev vs ingress protocol all u32 match u32 0 0 action mirred egress mirror dev vxm
nss tc filter add dev vs egress protocol all u32 match u32 0 0 action mirred egress mirror dev vxm

PLAIN="$CAP_TMP/plain.pcap"
cap_start_tcpdump "$PLAIN"
errf="$CAP_TMP/mirror.err"
ip netns exec "$NS_M" tcpdump -Z root --immediate-mode -i um -s 256 -U -n -w "$OUT/$NAME.pcap" udp port 4789 2>"$errf" &
MIRROR_TCPDUMP=$!
for i in $(seq 1 100); do grep -q listening "$errf" && break; sleep 0.05; done
grep -q listening "$errf" || die "mirror tcpdump did not start"
sleep 0.2
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000
cap_stop_server
cap_stop_tcpdump
sleep 0.3
_kill_pid "$MIRROR_TCPDUMP" INT
MIRROR_TCPDUMP=""
printf '%s\n' reuse_in_time_wait "stale_ack time_wait" "stale_ack_outcome recovered" >"$OUT/$NAME.expect"
"$PY" "$TCPAPP" check "$PLAIN" >"$CAP_TMP/got"
diff -u "$OUT/$NAME.expect" "$CAP_TMP/got" >&2 || die "the server's own capture does not show the expected events"
frames=$(tcpdump -nn -r "$OUT/$NAME.pcap" 2>/dev/null | grep -c VXLAN)
cat >"$OUT/$NAME.md" <<MD
# $NAME

The tw_repair scenario (client $CLI_IP:$SPORT, tcp_timestamps=0, server closes first; the client
reconnects from the same port with its ISN preset 1000 below the old receive point; the server's
TIME_WAIT socket answers with a stale ACK, the client resets it and its retried SYN completes),
with both directions of the server's veth mirrored by \`tc ... u32 match u32 0 0 action mirred
egress mirror dev vxm\` (ingress and egress) into a kernel VXLAN device (VNI $VNI, UDP 4789,
10.99.0.1 → 10.99.0.2) and captured on the mirror target's underlay interface (\`tcpdump -i um
udp port 4789\`, snaplen 256): $frames frames, every one VXLAN. The unencapsulated capture taken at
the same time on the server's veth gives \`$(tr '\n' ',' <"$CAP_TMP/got" | sed 's/,$//; s/,/, /g')\`
with gen/tcpapp.py check.

Regenerate: \`bash tests/captures/gen/vxlan_mirror.sh\` (root; namespaces only).
MD
log "OK: $OUT/$NAME.pcap ($frames frames)"
