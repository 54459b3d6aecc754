#!/usr/bin/env bash
# midstream: 20 connections opened and half used before tcpdump starts; the capture sees the
# rest of their data and their close (half server first, half client first), never a SYN.
# Expected: no event; the roles of these flows are unknown.
source "$(dirname "$0")/lib.sh"
NAME=midstream
SPORT=44000
COUNT=20
cap_setup "$NAME"
cap_start_server
ready="$CAP_TMP/mid.ready"; go="$CAP_TMP/mid.go"
nsc "$PY" "$TCPAPP" midstream --sport "$SPORT" --count "$COUNT" --nbytes 3000 \
    --ready-file "$ready" --go-file "$go" >"$CAP_TMP/client.log" &
pc=$!; _CAP_PIDS+=("$pc")
for i in $(seq 1 100); do [ -e "$ready" ] && break; sleep 0.05; done
[ -e "$ready" ] || die "client not ready"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" all
touch "$go"
wait "$pc" || die "client failed"
cap_stop_server
cap_stop_tcpdump
nsyn=$(pkts "$NAME" "tcp[tcpflags] & tcp-syn != 0" | wc -l)
[ "$nsyn" = 0 ] || die "the capture holds $nsyn SYNs"
cap_expect "$NAME"
cap_md "$NAME" <<MD
# $NAME (control: no event)

$(kv connections) connections from $CLI_IP ports $(kv first_sport)-$(kv last_sport) to $SRV_IP:$SRV_PORT, opened and half used (3000 of 6000 bytes) before tcpdump started; the capture holds the rest of the data and the close (even ports: server first; odd: client first), and no SYN.
Expected: no event. Nobody can tell the client from these segments alone; an event on such a flow would say roles "unknown". Made by the kernel (gen/midstream.sh).
MD
log "OK: $NAME.pcap"
