#!/usr/bin/env bash
# ordinary: 200 ordinary short connections from distinct client ports, every third one
# closed by the server first, the others by the client first. No port reuse, no event.
source "$(dirname "$0")/lib.sh"
NAME=ordinary
SPORT=41000
COUNT=200
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client many --sport "$SPORT" --count "$COUNT"
cap_stop_server
cap_stop_tcpdump
nsyn=$(pkts "$NAME" "tcp[tcpflags] == tcp-syn" | wc -l)
nsa=$(pkts "$NAME" "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" | wc -l)
nfin=$(pkts "$NAME" "tcp[tcpflags] & tcp-fin != 0" | wc -l)
nrst=$(pkts "$NAME" "tcp[tcpflags] & tcp-rst != 0" | wc -l)
cap_expect "$NAME"
cap_md "$NAME" --max 12 <<MD
# $NAME (control: no event)

$(kv connections) ordinary connections from $CLI_IP ports $(kv first_sport)-$(kv last_sport) (one each, no reuse) to $SRV_IP:$SRV_PORT, TCP timestamps on; connection i sends 50 + (37 i mod 3000) bytes; every third (i % 3 == 0) is closed by the server first, the others by the client first.
Capture: $nsyn SYNs, $nsa SYN-ACKs, $nfin FINs, $nrst RSTs; every handshake completes at once. No stale ACK, no reuse_in_time_wait, no refused connection.
MD
cap_check "$NAME"
