#!/usr/bin/env bash
# Issue 19, host mode: the lingering scenarios with request data (ESTABLISHED and FIN_WAIT2,
# 1,009 and 20,009 bytes), ackscope in host mode on the server's interface s0 and a tcpdump
# of every TCP segment on s0 beside it. Usage: host_evidence.sh ACKSCOPE_BIN OUTDIR
# Leaves OUTDIR/ev.jsonl, ev.err, s0.pcap.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/modes_lib.sh"
BIN="$1" OUT="$2"
mkdir -p "$OUT"
modes_setup_host hostev
live_start_server
nss tcpdump -Z root --immediate-mode -i s0 -s 0 -U -n -w "$OUT/s0.pcap" tcp 2>"$OUT/tcpdump.err" &
TD_PID=$!
_PIDS+=("$TD_PID")
for i in $(seq 1 100); do grep -q listening "$OUT/tcpdump.err" && break; sleep 0.05; done
grep -q listening "$OUT/tcpdump.err" || die "tcpdump did not start"
modes_start_ackscope "$NS_S" "$OUT" ev --mode host --iface s0
client lingering --sport 41101 --nbytes 1000
client lingering --sport 41102 --nbytes 1000 --server-closes
client lingering --sport 41103 --nbytes 20000
client lingering --sport 41104 --nbytes 20000 --server-closes
sleep 0.5
live_stop_ackscope || log "ackscope exited with $?"
sleep 0.3
_kill "$TD_PID" INT
log "done"
