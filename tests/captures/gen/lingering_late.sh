#!/usr/bin/env bash
# lingering_late: as lingering_est, but the client's RSTs stay dropped 14 s into the reconnect:
# the server's challenge ACKs go unanswered until then, and the handshake completes later than
# the 10 s connect timeout. Expected: stale_ack lingering_established, stale_ack_outcome failed
# (at the timeout), then a stale_ack_outcome recovered that revises it.
source "$(dirname "$0")/lib.sh"
NAME=lingering_late
SPORT=40310
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" all
cap_start_server
cap_client lingering --sport "$SPORT" --nbytes 1000 --keep-dropping 14 --connect-timeout 90
cap_stop_server
cap_stop_tcpdump
[ "$(kv connect2)" = connected ] || die "reconnect: $(kv connect2)"
cap_expect "$NAME" "stale_ack lingering_established" "stale_ack_outcome failed" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Client $CLI_IP:$SPORT, connection 1 held open by the server (mode H), aborted by the client with SO_LINGER 0 while nftables drops its RST: the server keeps the connection ESTABLISHED. The reconnect from the same port gets RFC 5961 challenge ACKs; the client's RSTs stay dropped for 14 s more, so the server keeps its old state and the client keeps retrying its SYN (same ISN). connect() returned $(kv connect2) after $(kv connect2_ms) ms.
Expected: stale_ack (lingering_established), stale_ack_outcome failed at the 10 s connect timeout, then stale_ack_outcome recovered with revises=failed when the handshake completes (the failed verdict is never left standing). Made by the kernel (gen/lingering_late.sh).
MD
log "OK: $NAME.pcap"
