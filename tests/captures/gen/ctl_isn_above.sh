#!/usr/bin/env bash
# ctl_isn_above (control): as tw_repair, but the new ISN is 1,000,000 ABOVE the old receive
# point: Linux accepts the SYN on the TIME_WAIT 4-tuple (RFC 1122 4.2.2.13). No event.
source "$(dirname "$0")/lib.sh"
NAME=ctl_isn_above
SPORT=40006
cap_setup "$NAME" net.ipv4.tcp_timestamps=0
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn above --isn-offset 1000000
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

As tw_repair (client $CLI_IP:$SPORT, tcp_timestamps=0, server closes first, server socket in TIME_WAIT), but the new ISN is preset to $(kv isn2_requested) = old receive point $(kv old_rcv_point) + 1,000,000 (old ISN $(kv isn1)).
The TIME_WAIT socket accepts the SYN (seq after rcv_nxt: TCP_TW_SYN, the TIME_WAIT socket is replaced) and the server answers with a SYN-ACK at once (connect took $(kv connect2_ms) ms; $(tw_isn_note "$NAME")): no stale ACK, and no reuse_in_time_wait since the ISN is above the old receive point.
MD
cap_check "$NAME"
