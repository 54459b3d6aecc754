//! JSON lines. Field names are the stable ones of DESIGN §3 / docs/EVENTS.md; fields that do
//! not apply to an event's kind are left out.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::time::format_rfc3339;
use crate::detect::Event;
use crate::packet::NO_VLAN;

/// Write one event as a JSON object and a newline.
pub fn write_json(w: &mut impl Write, ev: &Event, clock_offset_ns: i64) -> io::Result<()> {
    let mut s = String::with_capacity(512);
    s.push_str("{\"kind\":\"");
    s.push_str(ev.kind.as_str());
    s.push_str("\",\"severity\":\"");
    s.push_str(ev.severity().as_str());
    s.push_str("\",\"ts\":\"");
    format_rfc3339(ev.ts_ns as i64 + clock_offset_ns, &mut s);
    let _ = write!(s, "\",\"client\":\"{}\",\"server\":\"{}\"", ev.client, ev.server);
    if ev.vlan != NO_VLAN {
        let _ = write!(s, ",\"vlan\":{}", ev.vlan);
    }
    if ev.svlan != NO_VLAN {
        let _ = write!(s, ",\"svlan\":{}", ev.svlan);
    }
    if let Some(v) = ev.syn_seq {
        let _ = write!(s, ",\"syn_seq\":{v}");
    }
    if let Some(v) = ev.ack {
        let _ = write!(s, ",\"ack\":{v}");
    }
    if let Some(v) = ev.expected_ack {
        let _ = write!(s, ",\"expected_ack\":{v}");
    }
    if let Some(v) = ev.ack_delta() {
        let _ = write!(s, ",\"ack_delta\":{v}");
    }
    if let Some(v) = ev.cause {
        let _ = write!(s, ",\"cause\":\"{}\"", v.as_str());
    }
    if let Some(v) = ev.prev_state {
        let _ = write!(s, ",\"prev_state\":\"{}\"", v.as_str());
    }
    if let Some(v) = ev.prev_close_age_ms {
        let _ = write!(s, ",\"prev_close_age_ms\":{v}");
    }
    if let Some(v) = ev.prev_rcv_nxt {
        let _ = write!(s, ",\"prev_rcv_nxt\":{v}");
    }
    if let Some(v) = ev.ack_matches_prev() {
        let _ = write!(s, ",\"ack_matches_prev\":{v}");
    }
    // issue 19: how sure ack_matches_prev is, and how long an open previous connection was quiet.
    if let Some(v) = ev.ack_evidence {
        let _ = write!(s, ",\"ack_evidence\":\"{}\"", v.as_str());
    }
    if let Some(v) = ev.ack_window {
        let _ = write!(s, ",\"ack_window\":{v}");
    }
    if let Some(v) = ev.prev_last_seen_ms {
        let _ = write!(s, ",\"prev_last_seen_ms\":{v}");
    }
    if let Some(v) = ev.outcome {
        let _ = write!(s, ",\"outcome\":\"{}\"", v.as_str());
        if let Some(us) = ev.recovery_us {
            let _ = write!(s, ",\"recovery_ms\":{}.{:03}", us / 1000, us % 1000);
        }
        let _ = write!(s, ",\"stale_acks\":{},\"syn_retries\":{}", ev.stale_acks, ev.syn_retries);
        if let Some(v) = ev.client_rst {
            let _ = write!(s, ",\"client_rst\":{v}");
        }
        if let Some(v) = ev.rst_ignored {
            let _ = write!(s, ",\"rst_ignored\":{v}");
        }
    }
    if ev.frame != 0 {
        let _ = write!(s, ",\"frame\":{}", ev.frame);
    }
    let _ = write!(s, ",\"roles\":\"{}\"", ev.roles.as_str());
    if ev.last_frame != 0 {
        let _ = write!(s, ",\"last_frame\":{}", ev.last_frame);
    }
    if let Some(v) = ev.revises {
        let _ = write!(s, ",\"revises\":\"{}\"", v.as_str());
    }
    s.push_str(",\"explanation\":\"");
    // Explanations are static ASCII without quotes or backslashes; escape defensively anyway.
    for c in ev.explanation().chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push_str("\"}\n");
    w.write_all(s.as_bytes())
}
