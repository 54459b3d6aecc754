#!/usr/bin/env bash
# rfc1337: as tw_repair, but the server namespace has tcp_rfc1337=1 (TIME_WAIT ignores the
# client's RST) and the client tcp_syn_retries=2: the connect fails. An unrelated ordinary
# connection made 11 s after connect() gave up moves the capture's clock past the 10 s
# outcome timeout.
source "$(dirname "$0")/lib.sh"
NAME=rfc1337
SPORT=40005
AFTER_SPORT=40905
cap_setup "$NAME" net.ipv4.tcp_timestamps=0 net.ipv4.tcp_syn_retries=2 -- net.ipv4.tcp_rfc1337=1
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000 \
    --after 11 --after-sport "$AFTER_SPORT"
cap_stop_server
cap_stop_tcpdump
isn2=$(kv isn2_requested)
# gaps (ms) between the SYNs that carry the new ISN
gaps=$("$PY" "$TCPAPP" dump "$CAP_DIR/$NAME.pcap" | awk -v isn="$isn2" '
    $6 == "[S]" && $8 == isn { n++; split($2, t, ":"); s = t[1]*3600 + t[2]*60 + t[3];
        if (n > 1) printf "%s%.0f", (n > 2 ? ", " : ""), (s - prev) * 1000; prev = s }')
nsyn=$(pkts "$NAME" "tcp[tcpflags] == tcp-syn and src port $SPORT" | wc -l)
nstale=$("$PY" "$TCPAPP" dump --key "$CAP_DIR/$NAME.pcap" | grep -c 'answers SYN' || true)
cap_expect "$NAME" reuse_in_time_wait "stale_ack time_wait" "stale_ack_outcome failed"
cap_md "$NAME" <<MD
# $NAME

As tw_repair (client $CLI_IP:$SPORT, tcp_timestamps=0, tcp_syn_retries=2; old ISN $(kv isn1), old receive point $(kv old_rcv_point), new ISN $isn2 = 1000 below), but the server namespace has tcp_rfc1337=1, so the TIME_WAIT socket ignores the client's RST.
The client sent $((nsyn - 1)) SYNs with the new ISN, $gaps ms apart: a fast retry ~10 ms after the first stale ACK (no answer: TIME_WAIT ACKs are rate-limited to one per 500 ms per socket), then 1 s linear timeouts (net.ipv4.tcp_syn_linear_timeouts=4, the default on this kernel) and exponential backoff. $nstale SYNs got a stale ACK ack=$(kv old_rcv_point), each answered by a client RST that the server ignored; despite tcp_syn_retries=2, connect() failed with $(kv connect2) only after $(kv connect2_ms) ms ($((nsyn - 2)) retransmissions: in SYN_SENT Linux allows tcp_syn_retries + tcp_syn_linear_timeouts = 2 + 4).
11 s after connect() gave up an unrelated ordinary connection from port $AFTER_SPORT ($(kv connect3)) moves the capture's clock past the 10 s outcome timeout, also counted from the last stale-ACKed SYN.
MD
cap_check "$NAME"
