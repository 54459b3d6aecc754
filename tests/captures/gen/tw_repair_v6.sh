#!/usr/bin/env bash
# tw_repair_v6: tw_repair over IPv6.
source "$(dirname "$0")/lib.sh"
NAME=tw_repair_v6
SPORT=40009
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" 6
cap_start_server --addr "$SRV_IP6"
cap_client reuse --src "$CLI_IP6" --dst "$SRV_IP6" --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" reuse_in_time_wait "stale_ack time_wait" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

tw_repair over IPv6: client [$CLI_IP6]:$SPORT (net.ipv4.tcp_timestamps=0, which also governs IPv6) sends $(kv bytes1) bytes, the server [$SRV_IP6]:$SRV_PORT closes first, the client closes; old ISN $(kv isn1), old receive point $(kv old_rcv_point).
The reconnect from the same port carries the preset ISN $(kv isn2_requested) (1000 below); the TIME_WAIT socket answers with a bare ACK ack=$(kv old_rcv_point); the client's RST kills it and the SYN retransmitted $(retry_ms "$NAME") ms after the RST gets a SYN-ACK (connect took $(kv connect2_ms) ms).
MD
cap_check "$NAME"
