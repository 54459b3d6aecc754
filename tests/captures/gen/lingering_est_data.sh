#!/usr/bin/env bash
# lingering_est_data: lingering_est with the whole capture (data segments included): the
# client sends a 1,009-byte request, then aborts while nftables drops its RST, so the server
# stays ESTABLISHED; the reconnect gets an RFC 5961 challenge ACK with the old receive point.
# Replay sees the request; the control-only cut (tests/replay_captures.rs) does not.
source "$(dirname "$0")/lib.sh"
NAME=lingering_est_data
SPORT=40005
cap_setup "$NAME"
cap_start_tcpdump "$CAP_DIR/$NAME.pcap" 4 full
cap_start_server
cap_client lingering --sport "$SPORT" --nbytes 1000
cap_stop_server
cap_stop_tcpdump
cap_expect "$NAME" "stale_ack lingering_established" "stale_ack_outcome recovered"
cap_md "$NAME" <<MD
# $NAME

Whole capture (every TCP segment, data included, full frames). Connection 1 from $CLI_IP:$SPORT (ISN $(kv isn1)) sends a $(kv bytes1)-byte request, which the server reads and ACKs, and is never closed in the capture: the client aborts it with SO_LINGER {1,0} while an nft rule in the client namespace drops its outgoing RST, so the server socket stays ESTABLISHED with rcv_nxt $(kv old_rcv_point).
The client reconnects from the same port (ISN $(kv isn2)); the server's ESTABLISHED socket answers with an RFC 5961 challenge ACK carrying ack $(kv old_rcv_point); the client's RST resets the old connection and the retried SYN, $(retry_ms "$NAME") ms later, gets a SYN-ACK (connect took $(kv connect2_ms) ms).

Evidence ackscope must report: replay (every segment) \`ack_evidence: exact\`, \`ack_matches_prev: true\`, \`prev_rcv_nxt\` $(kv old_rcv_point); the control-only cut (what host mode steers: handshake, then nothing until the new SYN) \`ack_evidence: within_window\`, \`prev_rcv_nxt\` = ISN+1 = $(( ($(kv isn1) + 1) & 0xffffffff )), no \`ack_matches_prev\`.
MD
cap_check "$NAME"
