#!/usr/bin/env bash
# busy: 3000 ordinary connections, every TCP segment captured (payload included), written as
# busy.pcap.gz. The loss test (tests/capture_loss.rs) drops frames from it at random.
# Expected: no event.
source "$(dirname "$0")/lib.sh"
NAME=busy
SPORT=45000
COUNT=3000
cap_setup "$NAME"
cap_start_tcpdump "$CAP_TMP/$NAME.pcap" all
cap_start_server
cap_client many --sport "$SPORT" --count "$COUNT"
cap_stop_server
cap_stop_tcpdump
gzip -9 -n -c "$CAP_TMP/$NAME.pcap" >"$CAP_DIR/$NAME.pcap.gz"
frames=$(tcpdump -r "$CAP_TMP/$NAME.pcap" 2>/dev/null | wc -l)
cap_expect "$NAME"
cat >"$CAP_DIR/$NAME.md" <<MD
# $NAME (control: no event; the loss test's input)

$(kv connections) ordinary connections from $CLI_IP ports $(kv first_sport)-$(kv last_sport) to $SRV_IP:$SRV_PORT, made by the kernel (gen/busy.sh, the \`many\` client: connection i sends 50 + (37 i mod 3000) bytes; every third is closed by the server first). Every TCP segment is captured (tcpdump -s 128, no filter): $frames frames, gzip-compressed (read transparently).
Expected: no event. tests/capture_loss.rs drops frames from it at random (seeded) at 1 %, 5 % and 10 % and counts false alarms.
MD
log "OK: $NAME.pcap.gz ($frames frames)"
