#!/usr/bin/env bash
# tw_upload: the natural stale ACK. A fast 100 MB upload moves the old receive point far
# above the next kernel ISN (same 4-tuple hash + ns/64 clock), the server closes first,
# the client reconnects at once from the same port with a kernel-chosen ISN.
source "$(dirname "$0")/lib.sh"
NAME=tw_upload
SPORT=40002
NBYTES=200000000   # 200 MB
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
cap_mtu 65000      # 64 KB segments: at most one server ACK per 64 KB keeps the pcap < 200 KB
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes "$NBYTES" --isn kernel
cap_stop_server
cap_stop_tcpdump
isn1=$(kv isn1); isn2=$(kv isn2); old=$(kv old_rcv_point)
got="$("$PY" "$TCPAPP" check "$CAP_DIR/$NAME.pcap")"
if printf '%s\n' "$got" | grep -q '^stale_ack '; then
    cap_expect "$NAME" reuse_in_time_wait "stale_ack time_wait" "stale_ack_outcome recovered"
    what="Reproduced: the TIME_WAIT socket answers the new SYN with a bare ACK ack=$old (the stale ACK); the client sends RST and retransmits the SYN $(retry_ms "$NAME") ms later, which gets a SYN-ACK (connect took $(kv connect2_ms) ms)."
else
    # write what the capture really contains so the expect file stays true
    if [ -n "$got" ]; then printf '%s\n' "$got" >"$CAP_DIR/$NAME.expect"; else : >"$CAP_DIR/$NAME.expect"; fi
    what="NOT reproduced in this run: the new ISN was not below the old receive point (or the upload was too slow), so the SYN was accepted; the expect file lists what the capture does contain."
fi
cap_md "$NAME" <<MD
# $NAME

Client ($CLI_IP:$SPORT, tcp_timestamps=0) uploads $NBYTES bytes (plus the 9-byte header of tcpapp.py) over the veth, MTU 65000 so that the server's ACKs stay few and the capture small; the server closes first, the client closes, then the client reconnects at once from the same port with a kernel-chosen ISN (no TCP_REPAIR).
Old ISN $isn1, old receive point $old (old ISN + 1 + $(kv bytes1) bytes + FIN), new kernel ISN $isn2: the new ISN advanced only $(( (isn2 - isn1) & 0xffffffff )) (secure_tcp_seq: same 4-tuple hash + 1 per 64 ns) while the sequence space advanced $(kv bytes1), so it lies $(( (old - isn2) & 0xffffffff )) below the old receive point.
$what
MD
cap_check "$NAME"
sz=$(stat -c %s "$CAP_DIR/$NAME.pcap"); [ "$sz" -lt 200000 ] || log "WARNING: $NAME.pcap is $sz bytes (> 200 KB)"
