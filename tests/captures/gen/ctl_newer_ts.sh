#!/usr/bin/env bash
# ctl_newer_ts (control): TCP timestamps on; the new ISN is forced below the old receive
# point, but the SYN's TSval is newer than the last one the TIME_WAIT socket saw: accepted.
source "$(dirname "$0")/lib.sh"
NAME=ctl_newer_ts
SPORT=40007
cap_setup "$NAME" net.ipv4.tcp_timestamps=1 -- net.ipv4.tcp_timestamps=1
cap_start_tcpdump "$CAP_DIR/$NAME.pcap"
cap_start_server
cap_client reuse --sport "$SPORT" --nbytes 10000 --isn below --isn-offset 1000
cap_stop_server
cap_stop_tcpdump
fin_ts=$(pkts "$NAME" "src port $SPORT and tcp[tcpflags] & tcp-fin != 0" -c1 | grep -o 'TS val [0-9]*' | head -1)
syn2_ts=$(pkts "$NAME" "src port $SPORT and tcp[tcpflags] == tcp-syn" | sed -n 2p | grep -o 'TS val [0-9]*')
nts=$(pkts "$NAME" | grep -c 'TS val' || true); nall=$(pkts "$NAME" | wc -l)
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

As tw_repair (client $CLI_IP:$SPORT, server closes first, server socket in TIME_WAIT, new ISN $(kv isn2_requested) preset 1000 below the old receive point $(kv old_rcv_point), old ISN $(kv isn1)), but tcp_timestamps=1 on both sides: $nts of the $nall captured segments carry timestamps, both connections included.
The client's FIN of connection 1 had ${fin_ts:-?}, the new SYN has ${syn2_ts:-?} (same per-address-pair offset, 200 ms later): the TIME_WAIT socket sees a newer timestamp, accepts the SYN despite the low ISN and answers with a SYN-ACK at once (connect took $(kv connect2_ms) ms; $(tw_isn_note "$NAME")). No stale ACK, no reuse_in_time_wait.
MD
cap_check "$NAME"
