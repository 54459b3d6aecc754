#!/usr/bin/env python3
"""Queries a Prometheus HTTP API (tests/live/fleet.sh).
  prom_dump.py up ADDR                 exit 0 once up{job="ackscope"} == 1
  prom_dump.py dump ADDR T0 DASHBOARD  print JSON: counters, alerts, range series since T0,
                                        the result status of every dashboard query, metric names
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request


def api(addr, path, **params):
    url = f"http://{addr}/api/v1/{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def query(addr, q):
    return [{"metric": r["metric"], "value": float(r["value"][1])} for r in api(addr, "query", query=q)["result"]]


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "up":
        r = query(addr, 'up{job="ackscope"}')
        sys.exit(0 if r and r[0]["value"] == 1 else 1)
    t0, dash = int(sys.argv[3]), json.load(open(sys.argv[4]))
    now = int(time.time())
    out = {"t0": t0, "end": now}
    for name in ["ackscope_stale_acks_total", "ackscope_stale_ack_outcomes_total", "ackscope_events_total", "ackscope_events_written_total", "up"]:
        out[name] = query(addr, name)
    out["alerts"] = api(addr, "alerts")["alerts"]
    rng = api(addr, "query_range", query="ackscope_stale_acks_total", start=t0, end=now, step=1)["result"]
    out["range"] = [{"metric": r["metric"], "values": [[int(float(t)), float(v)] for t, v in r["values"]]} for r in rng]
    out["names"] = sorted({r["metric"]["__name__"] for r in api(addr, "query", query='{__name__=~"ackscope_.*"}')["result"]})
    # Every query of the dashboard, with its variables set as Grafana would.
    subst = {"$job": "ackscope", "$instance": ".*", "$__rate_interval": "5s", "$__range": f"{max(now - t0, 10)}s"}
    results = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            q = t["expr"]
            for k, v in subst.items():
                q = q.replace(k, v)
            try:
                n = len(api(addr, "query", query=q)["result"])
                results.append({"panel": p["title"], "expr": q, "series": n})
            except Exception as e:  # noqa: BLE001 - reported to the test
                results.append({"panel": p["title"], "expr": q, "error": str(e)})
    out["dashboard"] = results
    json.dump(out, sys.stdout)


main()
