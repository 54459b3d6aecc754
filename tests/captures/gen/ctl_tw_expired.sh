#!/usr/bin/env bash
# ctl_tw_expired (control): as tw_repair, but the reconnect comes 62 s later, after the
# server's 60 s TIME_WAIT has ended. No event.
source "$(dirname "$0")/lib.sh"
NAME=ctl_tw_expired
SPORT=40008
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server --max-seconds 400
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000 --delay 62
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

As tw_repair (client $CLI_IP:$SPORT, tcp_timestamps=0, server closes first; old ISN $(kv isn1), old receive point $(kv old_rcv_point), new ISN $(kv isn2_requested) preset 1000 below it), but the client waits 62 s before reconnecting.
Linux's TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN), so the server no longer has the socket and the listener answers the SYN with a SYN-ACK (connect took $(kv connect2_ms) ms): no stale ACK and no reuse_in_time_wait (the previous close is > 60 s old).
MD
cap_check "$NAME"
