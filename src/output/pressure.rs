//! The per-server port-pressure view of the end-of-run summaries (text and `--summary-json`):
//! per server (per backend on an LB host) its reuses of 4-tuples, the share inside TIME_WAIT,
//! the median reuse interval against the TIME_WAIT length, stale ACKs per minute by cause, and
//! its busiest clients with the ports they cycle through (against the ephemeral range when the
//! client is local). Top N servers only; the rest are counted.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::detect::pressure::ServerPressure;
use crate::detect::{Cause, CAUSES};
use crate::kernel::LocalClients;

/// Clients shown per server.
pub const CLIENTS_SHOWN: usize = 3;

fn name(s: &ServerPressure) -> String {
    s.server.map_or_else(|| "other".to_string(), |a| a.to_string())
}

/// Text lines (empty when no SYN was seen).
pub fn render(view: &[ServerPressure], top: usize, time_wait_ms: u32, local: Option<&LocalClients>) -> String {
    let mut s = String::new();
    if view.is_empty() {
        return s;
    }
    let _ = writeln!(s, "port pressure per server (top {} of {}; TIME_WAIT {} ms):", top.min(view.len()), view.len(), time_wait_ms);
    for v in view.iter().take(top) {
        let t = &v.total;
        let _ = write!(
            s,
            "  {}: {} connections, {} reuses, {} inside TIME_WAIT ({:.1} %), median reuse interval {} vs TIME_WAIT {} ms",
            name(v),
            t.connections,
            t.reuses,
            t.in_time_wait,
            t.share_in_time_wait() * 100.0,
            t.median_interval_ms().map_or("-".to_string(), |m| format!("{m} ms")),
            time_wait_ms
        );
        if t.stale_acks() > 0 {
            s.push_str("; stale ACKs/min");
            for c in Cause::ALL {
                if t.stale[c as usize] > 0 {
                    let _ = write!(s, " {}={:.2}", c.as_str(), v.stale_per_minute(c));
                }
            }
        }
        if t.warnings > 0 {
            let _ = write!(s, "; port_pressure warnings {}", t.warnings);
        }
        s.push('\n');
        for (ip, c) in v.clients.iter().take(CLIENTS_SHOWN) {
            let _ = write!(s, "    client {ip}: {} connections, {} reuses ({} inside TIME_WAIT), ports {} ({}-{})", c.connections, c.reuses, c.in_time_wait, c.ports_seen(), c.port_min, c.port_max);
            if let Some((lo, hi)) = local.and_then(|l| l.range_of(*ip)) {
                let size = u32::from(hi.saturating_sub(lo)) + 1;
                let _ = write!(s, " of the local ephemeral range {lo}-{hi} ({size} ports, {:.0} % cycled)", f64::from(c.ports_seen()) * 100.0 / f64::from(size));
            }
            s.push('\n');
        }
    }
    s
}

fn causes(f: impl Fn(Cause) -> Value) -> Value {
    let m: serde_json::Map<String, Value> = Cause::ALL.iter().map(|&c| (c.as_str().to_string(), f(c))).collect();
    debug_assert_eq!(m.len(), CAUSES);
    Value::Object(m)
}

/// The `pressure` object of the JSON summary.
pub fn json(view: &[ServerPressure], top: usize, time_wait_ms: u32, local: Option<&LocalClients>) -> Value {
    let servers: Vec<Value> = view
        .iter()
        .take(top)
        .map(|v| {
            let t = &v.total;
            let clients: Vec<Value> = v
                .clients
                .iter()
                .take(CLIENTS_SHOWN)
                .map(|(ip, c)| {
                    let range = local.and_then(|l| l.range_of(*ip));
                    json!({
                        "client": ip.to_string(), "connections": c.connections, "reuses": c.reuses,
                        "reuses_in_time_wait": c.in_time_wait, "ports_seen": c.ports_seen(),
                        "port_min": c.port_min, "port_max": c.port_max,
                        "local_ephemeral_range": range.map(|(a, b)| json!([a, b])),
                    })
                })
                .collect();
            json!({
                "server": name(v),
                "connections": t.connections,
                "reuses": t.reuses,
                "reuses_in_time_wait": t.in_time_wait,
                "in_time_wait_share": (t.share_in_time_wait() * 1000.0).round() / 1000.0,
                "median_reuse_ms": t.median_interval_ms(),
                "mean_reuse_ms": (t.reuses > 0).then(|| t.interval_sum_ms / t.reuses),
                "stale_acks": causes(|c| json!(t.stale[c as usize])),
                "stale_acks_per_minute": causes(|c| json!((v.stale_per_minute(c) * 100.0).round() / 100.0)),
                "warnings": t.warnings,
                "clients": clients,
            })
        })
        .collect();
    json!({ "time_wait_ms": time_wait_ms, "servers_seen": view.len(), "servers": servers })
}
