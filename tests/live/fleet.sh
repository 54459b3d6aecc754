#!/usr/bin/env bash
# The fleet stack end to end, in network namespaces: the demo's scenarios (real Linux client and
# server, a software SPAN port), ackscope started the way the ackscope@ unit starts it (a TOML
# config file, an unprivileged user with exactly the unit's AmbientCapabilities), and a real
# Prometheus (Debian package) scraping it every second on a loopback port of the server
# namespace, with its own data directory and ackscope's alert rules loaded.
# Usage: fleet.sh ACKSCOPE_BIN OUTDIR [ORDINARY]
# Leaves in OUTDIR: events.jsonl, ackscope.err, prometheus.log, prom.json (tests/live/prom_dump.py),
# privs.txt.
source "$(dirname "$0")/lib.sh"
BIN="$1" OUT="$2" ORDINARY="${3:-100}"
ROOT="$LIVE_DIR/../.."
UNIT="$ROOT/packaging/ackscope@.service"
RULES="$ROOT/packaging/prometheus/ackscope.rules.yml"
DASH="$ROOT/packaging/grafana/ackscope.json"
command -v prometheus >/dev/null || die "prometheus not found: bash scripts/setup.sh installs the Debian package"
mkdir -p "$OUT"
chmod 0777 "$OUT"
live_setup fleet 1 net.ipv4.tcp_timestamps=0
live_start_server

# Ports inside the server namespace's own loopback: nothing else listens there.
MPORT=9464 PPORT=9090
cat >"$OUT/tapb.toml" <<TOML
mode = "mirror"
metrics = "127.0.0.1:$MPORT"
events = "$OUT/events.jsonl"
format = "json"
TOML

# The unit's capabilities, as setpriv wants them: +cap_net_admin,+cap_bpf,...
caps="$(sed -n 's/^AmbientCapabilities=//p' "$UNIT" | tr ' ' '\n' | tr 'A-Z' 'a-z' | sed 's/^cap_/+/' | paste -sd, -)"
[ -n "$caps" ] || die "no AmbientCapabilities in $UNIT"
log "unit capabilities: $caps"
ip netns exec "$NS_S" setpriv --reuid=nobody --regid=nogroup --clear-groups \
    --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" \
    "$BIN" run --config "$OUT/tapb.toml" --iface tapb 2>"$OUT/ackscope.err" &
ACK_PID=$!
for i in $(seq 1 100); do
    grep -q "inspecting" "$OUT/ackscope.err" 2>/dev/null && break
    kill -0 "$ACK_PID" 2>/dev/null || { cat "$OUT/ackscope.err" >&2; die "ackscope exited"; }
    sleep 0.1
done
grep -q "inspecting" "$OUT/ackscope.err" || die "ackscope did not start"
grep -E "^(Uid|CapEff|CapBnd|NoNewPrivs)" "/proc/$ACK_PID/status" >"$OUT/privs.txt" || true

mkdir -p "$OUT/prometheus-data"
cat >"$OUT/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: ackscope
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
YAML
# Not through a shell function: $! must be prometheus itself (ip netns exec execs it).
ip netns exec "$NS_S" prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus-data" \
    --web.listen-address="127.0.0.1:$PPORT" >"$OUT/prometheus.log" 2>&1 &
PROM_PID=$!
_PIDS+=("$PROM_PID")
# Until Prometheus has scraped ackscope (up == 1, the counters at 0).
t0=""
for i in $(seq 1 150); do
    kill -0 "$PROM_PID" 2>/dev/null || { tail -20 "$OUT/prometheus.log" >&2; die "prometheus exited"; }
    if nss "$PY" "$LIVE_DIR/prom_dump.py" up "127.0.0.1:$PPORT" 2>/dev/null; then t0="$(date +%s)"; break; fi
    sleep 0.2
done
[ -n "$t0" ] || { tail -20 "$OUT/prometheus.log" >&2; die "prometheus never scraped ackscope"; }
log "prometheus scrapes ackscope (t0=$t0)"
sleep 1

# The demo's scenarios: ordinary connections in the background, one of each cause.
ip netns exec "$NS_C" "$PY" "$TCPAPP" many --sport 43000 --count "$ORDINARY" --gap 0.01 --src "$CLI_IP" --dst "$SRV_IP" >/dev/null 2>&1 &
BG=$!
_PIDS+=("$BG")
client reuse --sport 41001 --nbytes 20000 --isn below --isn-offset 5000
sleep 0.3
client lingering --sport 41002 --nbytes 3000
sleep 0.3
client lingering --sport 41003 --nbytes 3000 --server-closes
for i in $(seq 1 600); do kill -0 "$BG" 2>/dev/null || break; sleep 0.1; done
# ackscope publishes its counters once a second, Prometheus scrapes once a second.
sleep 4
nss "$PY" "$LIVE_DIR/prom_dump.py" dump "127.0.0.1:$PPORT" "$t0" "$DASH" >"$OUT/prom.json" || die "prom_dump failed"
live_stop_ackscope || log "ackscope exited with $?"
log "done"
