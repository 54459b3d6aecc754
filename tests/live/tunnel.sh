#!/usr/bin/env bash
# Live mirror mode through tunnels (issue 12), as root. Usage: tunnel.sh ACKSCOPE_BIN OUTDIR KIND
#   KIND=vxlan   a real TCP client/server pair; both directions of the server's veth are
#                mirrored (tc u32 + mirred) into the kernel's own vxlan device (VNI 4242)
#                whose remote end is ackscope's interface: how a Linux host mirrors remotely.
#   KIND=erspan  frames of the real-kernel stale-ACK capture tests/captures/encap/erspan2.pcap
#                (the project's builder, src/packet/build.rs wrap()) sent from a packet socket
#                through the veth into ackscope's interface, with their capture gaps.
# ackscope runs with --mode mirror on tapb either way. Leaves events.jsonl, summary.json,
# ackscope.err in OUTDIR. Namespaces ackscope-live-$$-*, removed on every exit (lib.sh).
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" KIND="$3"
mkdir -p "$OUT"
live_setup "tun-$KIND" 1 net.ipv4.tcp_timestamps=0
# No plain copy: the tunnel is the only path to tapb.
live_span_del ingress
live_span_del egress
ip -n "$NS_S" link set tapa mtu 9000
ip -n "$NS_S" link set tapb mtu 9000
case "$KIND" in
vxlan)
    # tapa is the VTEP's underlay (10.78.0.1); 10.78.0.2 is "ackscope's address": a static
    # neighbour pointing at tapb, which has no address (the frames end in its XDP program).
    ip -n "$NS_S" addr add 10.78.0.1/24 dev tapa
    mac="$(ip -n "$NS_S" -o link show tapb | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')"
    ip -n "$NS_S" neigh add 10.78.0.2 lladdr "$mac" dev tapa nud permanent
    ip -n "$NS_S" link add vx0 type vxlan id 4242 local 10.78.0.1 remote 10.78.0.2 dstport 4789 dev tapa
    nss sysctl -qw net.ipv6.conf.vx0.disable_ipv6=1
    ip -n "$NS_S" link set vx0 up
    # Only u32 filters work on this kernel (no matchall/flower).
    live_span_filter ingress vx0
    live_span_filter egress vx0
    live_start_server
    live_start_ackscope "$BIN" "$OUT"
    for p in 41001 41002; do
        client reuse --sport "$p" --nbytes 5000 --isn below --isn-offset 1000
    done
    client many --sport 42000 --count 50
    ;;
erspan)
    live_start_ackscope "$BIN" "$OUT"
    # Sent from the tapa side (a packet socket bypasses the stack), in capture order, each
    # frame after its capture gap (capped at 0.5 s).
    nss "$PY" - "$LIVE_DIR/../captures/encap/erspan2.pcap" <<'PY'
import socket, struct, sys, time
data = open(sys.argv[1], "rb").read()
magic = struct.unpack("<I", data[:4])[0]
e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("tapa", 0))
off, prev, n = 24, None, 0
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
    t = sec + frac / (1e9 if nano else 1e6)
    if prev is not None:
        time.sleep(min(max(t - prev, 0), 0.5))
    prev = t
    s.send(data[off + 16:off + 16 + incl])
    off += 16 + incl
    n += 1
print(f"sent {n} ERSPAN frames", file=sys.stderr)
PY
    ;;
*) die "unknown kind $KIND" ;;
esac
sleep 0.5
live_stop_ackscope || log "ackscope exited with $?"
log "done"
