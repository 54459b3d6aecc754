#!/usr/bin/env bash
# simopen: simultaneous open (RFC 9293 §3.5). Two sockets bind each other's ports and connect
# at the same moment; nftables in each namespace drops the first incoming SYNs for 0.5 s so
# that both are in SYN-SENT when the retransmitted SYNs arrive. Expected: no event, the first
# SYN's sender stays the client.
source "$(dirname "$0")/lib.sh"
NAME=simopen
A="$CLI_IP:7001"
B="$SRV_IP:7002"
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" all
rule='table inet ackscope_cap { chain c_input { type filter hook input priority 0; policy accept; meta l4proto tcp tcp flags & (syn | ack) == syn counter drop; }; }'
nsc nft -f - <<<"$rule"
nss nft -f - <<<"$rule"
at=$("$PY" -c 'import time; print(time.time() + 0.3)')
nsc "$PY" "$TCPAPP" simopen --local "$A" --remote "$B" --at "$at" >"$CAP_TMP/a.log" &
pa=$!; _CAP_PIDS+=("$pa")
sleep 0.01
nss "$PY" "$TCPAPP" simopen --local "$B" --remote "$A" --at "$at" >"$CAP_TMP/b.log" &
pb=$!; _CAP_PIDS+=("$pb")
sleep 0.8
nsc nft delete table inet ackscope_cap
nss nft delete table inet ackscope_cap
wait "$pa" || die "side A: $(cat "$CAP_TMP/a.log")"
wait "$pb" || die "side B: $(cat "$CAP_TMP/b.log")"
cap_stop_tcpdump
cat "$CAP_TMP/a.log" "$CAP_TMP/b.log" >&2
nsyn=$(pkts "$NAME" "tcp[tcpflags] == tcp-syn" | wc -l)
nsa=$(pkts "$NAME" "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" | wc -l)
nsyn_b=$(pkts "$NAME" "tcp[tcpflags] == tcp-syn and src port 7002" | wc -l)
[ "$nsyn_b" -ge 1 ] && [ "$nsa" -ge 1 ] || die "no simultaneous open: $nsyn_b SYNs from B, $nsa SYN-ACKs"
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

Simultaneous open: $A and $B bind each other's ports and connect() to each other at the same moment. nftables in each namespace drops incoming SYNs (without ACK) for the first 0.8 s, so both sockets are in SYN-SENT when the retransmitted SYNs arrive; a SYN-SENT socket that receives the other's SYN answers it with a SYN-ACK (RFC 9293 §3.5, figure 8) and both connect. Capture: $nsyn SYNs ($nsyn_b from $B), $nsa SYN-ACK(s), every segment; what the kernel sent is listed below.
The first SYN's sender ($A) stays the client; the second SYN does not swap the roles (DESIGN §6). Expected: no event. Made by the kernel (gen/simopen.sh); checked by cargo test (the reference checker does not model simultaneous open).
MD
log "OK: $NAME.pcap"
