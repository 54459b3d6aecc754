#!/usr/bin/env bash
# tw_repair: stale ACK from a server TIME_WAIT socket; the client's new ISN is forced
# (TCP_REPAIR / TCP_QUEUE_SEQ) 1000 below the old receive point.
source "$(dirname "$0")/lib.sh"
NAME=tw_repair
SPORT=40001
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" reuse_in_time_wait "stale_ack time_wait" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Client ($CLI_IP:$SPORT, tcp_timestamps=0) sends $(kv bytes1) bytes; the server closes first (FIN), the client closes; the server's socket is in TIME_WAIT.
After 200 ms the client reconnects from the same port with its ISN preset by TCP_REPAIR/TCP_QUEUE_SEQ to $(kv isn2_requested), 1000 below the old receive point $(kv old_rcv_point) (old ISN $(kv isn1), client FIN seq $(kv client_fin_seq)); the SYN carries that ISN.
The TIME_WAIT socket answers with a bare ACK seq=old snd_nxt ack=$(kv old_rcv_point) (the stale ACK); the client sends RST seq=$(kv old_rcv_point), which kills the TIME_WAIT socket (tcp_rfc1337=0), and retransmits the SYN $(retry_ms "$NAME") ms later (TCP_TIMEOUT_MIN, 2 jiffies at HZ=250); the retry gets a SYN-ACK (connect took $(kv connect2_ms) ms).
MD
cap_check "$NAME"
