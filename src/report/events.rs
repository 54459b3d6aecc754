//! Events files (JSON lines written by `run`/`replay`) read back into [`Event`]s.
//!
//! Field names are the stable ones of `output/json.rs`. Fields this version does not know are
//! ignored, and a line whose `kind` it does not know is counted, not fatal, so a report of a
//! newer ackscope's events still renders what it can.

use std::net::SocketAddr;

use serde_json::Value;

use crate::detect::{Cause, Event, EventKind, Outcome, PrevState};
use crate::packet::{SeqNum, NO_VLAN};

/// Why one line could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not JSON, or not an object.
    NotJson(String),
    /// A required field is missing or has the wrong type.
    Field(&'static str),
    /// A `kind` this version does not know (skipped, counted).
    UnknownKind(String),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::NotJson(e) => write!(f, "not a JSON object: {e}"),
            LineError::Field(name) => write!(f, "field `{name}` missing or of the wrong type"),
            LineError::UnknownKind(k) => write!(f, "unknown event kind `{k}`"),
        }
    }
}

fn kind_of(s: &str) -> Option<EventKind> {
    EventKind::ALL.into_iter().find(|k| k.as_str() == s)
}

fn cause_of(s: &str) -> Option<Cause> {
    Cause::ALL.into_iter().find(|c| c.as_str() == s)
}

fn outcome_of(s: &str) -> Option<Outcome> {
    Outcome::ALL.into_iter().find(|o| o.as_str() == s)
}

const PREV_STATES: [PrevState; 8] = [
    PrevState::None,
    PrevState::AttemptOnly,
    PrevState::Open,
    PrevState::Reset,
    PrevState::HalfClosedByServer,
    PrevState::HalfClosedByClient,
    PrevState::ClosedByServerFirst,
    PrevState::ClosedByClientFirst,
];

fn prev_state_of(s: &str) -> Option<PrevState> {
    PREV_STATES.into_iter().find(|p| p.as_str() == s)
}

/// Parse one JSON line into an [`Event`].
pub fn parse_line(line: &str) -> Result<Event, LineError> {
    let v: Value = serde_json::from_str(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let o = v.as_object().ok_or_else(|| LineError::NotJson("not an object".into()))?;
    let s = |k: &'static str| o.get(k).and_then(Value::as_str);
    let u = |k: &'static str| o.get(k).and_then(Value::as_u64);
    let seq = |k: &'static str| u(k).map(|n| SeqNum(n as u32));
    let kind_s = s("kind").ok_or(LineError::Field("kind"))?;
    let kind = kind_of(kind_s).ok_or_else(|| LineError::UnknownKind(kind_s.to_string()))?;
    let ts_ns = s("ts").and_then(parse_rfc3339).ok_or(LineError::Field("ts"))?;
    let client: SocketAddr = s("client").and_then(|a| a.parse().ok()).ok_or(LineError::Field("client"))?;
    let server: SocketAddr = s("server").and_then(|a| a.parse().ok()).ok_or(LineError::Field("server"))?;
    let vlan = u("vlan").map(|v| v as u16).unwrap_or(NO_VLAN);
    let svlan = u("svlan").map(|v| v as u16).unwrap_or(NO_VLAN);
    let mut ev = Event::new(kind, ts_ns, u("frame").unwrap_or(0), client, server, vlan, svlan);
    ev.syn_seq = seq("syn_seq");
    ev.ack = seq("ack");
    ev.expected_ack = seq("expected_ack");
    ev.cause = s("cause").and_then(cause_of);
    ev.prev_state = s("prev_state").and_then(prev_state_of);
    ev.prev_close_age_ms = u("prev_close_age_ms").map(|v| v.min(u32::MAX as u64) as u32);
    ev.prev_rcv_nxt = seq("prev_rcv_nxt");
    ev.outcome = s("outcome").and_then(outcome_of);
    ev.recovery_us = o.get("recovery_ms").and_then(Value::as_f64).map(|ms| (ms * 1000.0).round().max(0.0) as u64);
    ev.stale_acks = u("stale_acks").unwrap_or(0) as u32;
    ev.syn_retries = u("syn_retries").unwrap_or(0) as u32;
    ev.client_rst = o.get("client_rst").and_then(Value::as_bool);
    ev.rst_ignored = o.get("rst_ignored").and_then(Value::as_bool);
    Ok(ev)
}

/// `YYYY-MM-DDThh:mm:ss[.fraction]Z` (what `output::format_rfc3339` writes) → ns since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &s[19..];
    let rest = rest.strip_suffix('Z')?;
    let mut frac_ns = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        frac_ns = f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32);
    } else if !rest.is_empty() {
        return None;
    }
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m as u32, d as u32);
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1_000_000_000 + frac_ns).ok()
}

/// Howard Hinnant's `days_from_civil`: (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::output::{format_rfc3339, write_json};

    #[test]
    fn timestamps_round_trip() {
        for ns in [0u64, 951_782_400_000_000_000, 1_764_042_506_123_456_000, 4_102_444_799_999_999_000] {
            let mut s = String::new();
            format_rfc3339(ns as i64, &mut s);
            assert_eq!(parse_rfc3339(&s), Some(ns), "{s}");
        }
        assert_eq!(parse_rfc3339("2025-11-25T03:48:26Z"), Some(1_764_042_506_000_000_000));
        assert_eq!(parse_rfc3339("2025-13-25T03:48:26Z"), None);
        assert_eq!(parse_rfc3339("2025-11-25 03:48:26Z"), None);
    }

    #[test]
    fn a_written_event_reads_back_equal() {
        let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let srv: SocketAddr = "[fd00::2]:80".parse().unwrap();
        let mut ev = Event::new(EventKind::StaleAck, 1_764_042_506_123_456_000, 17, c, srv, 5, NO_VLAN);
        ev.syn_seq = Some(SeqNum(u32::MAX - 3));
        ev.ack = Some(SeqNum(1000));
        ev.expected_ack = Some(SeqNum(u32::MAX - 2));
        ev.cause = Some(Cause::TimeWait);
        ev.prev_state = Some(PrevState::ClosedByServerFirst);
        ev.prev_close_age_ms = Some(1234);
        ev.prev_rcv_nxt = Some(SeqNum(1000));
        let mut out = Vec::new();
        write_json(&mut out, &ev, 0).unwrap();
        assert_eq!(parse_line(std::str::from_utf8(&out).unwrap().trim()).unwrap(), ev);

        let mut o = Event::new(EventKind::StaleAckOutcome, 1_764_042_506_200_000_000, 20, c, srv, NO_VLAN, NO_VLAN);
        o.cause = Some(Cause::LingeringClose);
        o.outcome = Some(Outcome::Recovered);
        o.recovery_us = Some(3_456);
        o.stale_acks = 2;
        o.syn_retries = 1;
        o.client_rst = Some(true);
        o.rst_ignored = Some(false);
        let mut out = Vec::new();
        write_json(&mut out, &o, 0).unwrap();
        assert_eq!(parse_line(std::str::from_utf8(&out).unwrap().trim()).unwrap(), o);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(matches!(parse_line("nope"), Err(LineError::NotJson(_))));
        assert_eq!(parse_line("{\"kind\":\"stale_ack\"}"), Err(LineError::Field("ts")));
        assert_eq!(
            parse_line("{\"kind\":\"brand_new\",\"ts\":\"2025-11-25T03:48:26Z\"}"),
            Err(LineError::UnknownKind("brand_new".into()))
        );
    }
}
