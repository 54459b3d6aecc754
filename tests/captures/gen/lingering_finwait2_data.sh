#!/usr/bin/env bash
# lingering_finwait2_data: lingering_finwait2 with the whole capture (data included): the
# client sends a 1,009-byte request, the server closes first, the client ACKs the FIN and then
# aborts while nftables drops its RST and FIN: the server is left in FIN_WAIT2.
source "$(dirname "$0")/lib.sh"
NAME=lingering_finwait2_data
SPORT=40006
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" 4 full
cap_start_server
cap_client lingering --sport "$SPORT" --nbytes 1000 --server-closes
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" "stale_ack lingering_close" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Whole capture (every TCP segment, data included, full frames). Connection 1 from $CLI_IP:$SPORT (ISN $(kv isn1)) sends a $(kv bytes1)-byte request; the server close()s first (FIN, ack $(kv old_rcv_point)), the client's kernel ACKs the FIN, then the client aborts (SO_LINGER {1,0}) while nft drops its RST and FIN, so the server socket sits in FIN_WAIT2 with rcv_nxt $(kv old_rcv_point).
The reconnect from the same port (ISN $(kv isn2)) is answered by the FIN_WAIT2 socket with a bare ACK ack=$(kv old_rcv_point); the client's RST kills it and the retried SYN, $(retry_ms "$NAME") ms later, gets a SYN-ACK (connect took $(kv connect2_ms) ms).

Evidence ackscope must report, in replay and in the control-only cut alike (host mode steers the server's FIN, whose ack field is the receive point): \`ack_evidence: exact\`, \`ack_matches_prev: true\`, \`prev_rcv_nxt\` $(kv old_rcv_point).
MD
cap_check "$NAME"
