#!/usr/bin/env bash
# lingering_finwait2: the server closes first, the client ACKs the FIN, then aborts while
# nftables drops the client's RST and FIN: the server is left in FIN_WAIT2 and answers the
# reconnect's SYN with an ACK carrying the old ack number.
source "$(dirname "$0")/lib.sh"
NAME=lingering_finwait2
SPORT=40004
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client lingering --sport "$SPORT" --nbytes 1000 --server-closes
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" "stale_ack lingering_close" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Connection 1 from $CLI_IP:$SPORT (ISN $(kv isn1), $(kv bytes1) bytes): the server close()s first (FIN), the client's kernel ACKs the FIN, then the client aborts (SO_LINGER {1,0}) while nft drops its RST and FIN, so the orphaned server socket sits in FIN_WAIT2 (a timewait socket in the FIN_WAIT2 substate, tcp_fin_timeout 60 s) with rcv_nxt $(kv old_rcv_point); only the server's FIN is in the capture (half-closed).
The reconnect from the same port uses a kernel ISN ($(kv isn2)), $(( ($(kv isn2) - $(kv old_rcv_point)) & 0xffffffff )) above the old receive point (same 4-tuple hash as connection 1, plus one per 64 ns: ~$(( ( ($(kv isn2) - $(kv isn1)) & 0xffffffff ) * 64 / 1000000 )) ms after connection 1's SYN) and outside the old receive window, so the FIN_WAIT2 socket answers with a bare ACK ack=$(kv old_rcv_point) (a SYN inside the window would have been answered with RST instead); the client's RST kills it and the SYN, retransmitted $(retry_ms "$NAME") ms after the RST, gets a SYN-ACK (connect took $(kv connect2_ms) ms). Timestamps on: $(stale_ts "$NAME").
MD
cap_check "$NAME"
