#!/usr/bin/env bash
# refused: a SYN to a closed port is answered by RST/ACK.
source "$(dirname "$0")/lib.sh"
NAME=refused
SPORT=40010
DPORT=5001
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_client once --sport "$SPORT" --dport "$DPORT"
cap_stop_tcpdump
cap_expect "$NAME" connection_refused
cap_md "$NAME" <<MD
# $NAME

The client $CLI_IP:$SPORT connects to $SRV_IP:$DPORT where nothing listens: the server kernel answers the SYN with RST/ACK (seq 0, ack = ISN + 1) and connect() fails with $(kv connect) after $(kv connect_ms) ms. One connection_refused, no stale ACK.
MD
cap_check "$NAME"
