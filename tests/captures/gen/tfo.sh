#!/usr/bin/env bash
# tfo: TCP Fast Open with net.ipv4.tcp_fastopen=3 on both sides and TCP_FASTOPEN on the
# listener. The first connection asks for a cookie; the next ones carry their first data on
# the SYN, and the server's SYN-ACK acknowledges ISN+1+len. Every segment is captured.
# Expected: no event (the SYN's payload is sequence space).
source "$(dirname "$0")/lib.sh"
NAME=tfo
SPORT=42000
COUNT=5
cap_setup "$NAME" net.ipv4.tcp_fastopen=3 -- net.ipv4.tcp_fastopen=3
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" all
cap_start_server --fastopen
cap_client tfo --sport "$SPORT" --count "$COUNT" --nbytes 200
cap_stop_server
cap_stop_tcpdump
nsyn_data=$("$PY" "$TCPAPP" dump "$CAP_DIR/$NAME.pcap" | awk '$6 == "[S]" && $12 > 0' | wc -l)
[ "$nsyn_data" -ge 1 ] || die "no SYN carried data: TCP Fast Open did not happen"
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

$(kv connections) connections from $CLI_IP ports $(kv first_sport)-$(kv last_sport) to $SRV_IP:$SRV_PORT with TCP Fast Open: net.ipv4.tcp_fastopen=3 in both namespaces, TCP_FASTOPEN on the listener, the client sends with MSG_FASTOPEN (209 bytes: 9-byte header + 200).
The first connection's SYN asks for a cookie (no data); $nsyn_data later SYNs carry their data, and the server's SYN-ACK acknowledges ISN+1+len (the SYN's payload occupies sequence space, DESIGN §6). Everything is captured (not only control segments).
Before issue 11 this gave synack_wrong_ack and stale_ack; now no event. Made by the kernel (gen/tfo.sh); checked by cargo test against the empty NAME.expect (the reference checker tcpapp.py does not model Fast Open).
MD
log "OK: $NAME.pcap ($nsyn_data SYNs with data)"
