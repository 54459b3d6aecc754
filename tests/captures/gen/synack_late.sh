#!/usr/bin/env bash
# synack_late: nftables in the client namespace drops incoming SYN-ACKs for 13.5 s. The client
# retries its SYN (same ISN) and the server its SYN-ACK; the first SYN-ACK after the rule goes
# completes the handshake late. Expected: no event, no port reuse (same-ISN SYNs are
# retransmissions).
source "$(dirname "$0")/lib.sh"
NAME=synack_late
SPORT=43000
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" all
cap_start_server
cap_client late --sport "$SPORT" --drop 13.5 --connect-timeout 60
cap_stop_server
cap_stop_tcpdump
nsyn=$(pkts "$NAME" "tcp[tcpflags] == tcp-syn" | wc -l)
nsa=$(pkts "$NAME" "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" | wc -l)
[ "$(kv connect)" = connected ] || die "connect: $(kv connect)"
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

One connection from $CLI_IP:$SPORT to $SRV_IP:$SRV_PORT while nftables in the client namespace drops incoming SYN-ACKs for 13.5 s (the capture, on the server's veth, sees them). The client sent $nsyn SYNs with one ISN, the server $nsa SYN-ACKs; connect() returned $(kv connect) after $(kv connect_ms) ms.
Expected: no event; the same-ISN SYNs are retransmissions (counted as such, not as port reuses), the repeated SYN-ACKs change nothing. Made by the kernel (gen/synack_late.sh).
MD
log "OK: $NAME.pcap"
