#!/usr/bin/env bash
# lingering_est: the client aborts connection 1 (SO_LINGER 0) while nftables in the client
# namespace drops its RST, so the server stays ESTABLISHED; the reconnect from the same port
# gets an RFC 5961 challenge ACK with the old ack number.
source "$(dirname "$0")/lib.sh"
NAME=lingering_est
SPORT=40003
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client lingering --sport "$SPORT" --nbytes 1000
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" "stale_ack lingering_established" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Connection 1 from $CLI_IP:$SPORT (ISN $(kv isn1)) sends $(kv bytes1) bytes and is never closed in the capture: the client aborts it with SO_LINGER {1,0} while an nft rule in the client namespace drops its outgoing RST, so the server socket stays ESTABLISHED with rcv_nxt $(kv old_rcv_point).
The client reconnects from the same port with a kernel ISN ($(kv isn2)); the server's ESTABLISHED socket answers the SYN with an RFC 5961 challenge ACK carrying the old ack $(kv old_rcv_point); the client's RST (seq = that ack) resets the old connection and the SYN is retransmitted $(retry_ms "$NAME") ms after the RST and gets a SYN-ACK (connect took $(kv connect2_ms) ms). Both connections use TCP timestamps (defaults); $(stale_ts "$NAME").
MD
cap_check "$NAME"
