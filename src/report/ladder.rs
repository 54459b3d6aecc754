//! One incident as a ladder diagram (inline SVG): client and server lanes, the previous
//! connection's last segments, the gap, the reuse SYN, the stale ACK, the client's RST, the
//! retries and the recovering SYN-ACK or the failure, each with its time and frame number.

use std::fmt::Write as _;

use super::html::{esc, fmt_dur_signed, fmt_ms_us};
use super::model::{Incident, SegRec, SegSource};
use crate::detect::{Cause, Outcome};
use crate::packet::{SeqNum, TcpFlags};

const W: i32 = 700;
const CX: i32 = 210;
const SX: i32 = 600;
const ROW: i32 = 30;

/// One row of the ladder.
enum Item {
    /// An arrow between the lanes.
    Arrow { from_client: bool, label: String, class: &'static str, frame: Option<u64>, t: Option<i64> },
    /// Time passing without segments.
    Gap(String),
    /// A note across the lanes.
    Note(String, &'static str),
}

fn flags_name(f: u8) -> String {
    let f = TcpFlags(f);
    let mut v = Vec::new();
    if f.has(TcpFlags::SYN) {
        v.push("SYN");
    }
    if f.has(TcpFlags::FIN) {
        v.push("FIN");
    }
    if f.has(TcpFlags::RST) {
        v.push("RST");
    }
    if f.has(TcpFlags::PSH) {
        v.push("PSH");
    }
    if f.has(TcpFlags::ACK) {
        v.push("ACK");
    }
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join("-")
    }
}

fn is(r: &SegRec, mask: u8) -> bool {
    TcpFlags(r.flags).has(mask)
}

/// Rows of a ladder drawn from segments.
fn items_from_segments(inc: &Incident) -> Vec<Item> {
    let ev = &inc.stale;
    let isn = ev.syn_seq.map(|s| s.0);
    let stale_ack = ev.ack.map(|s| s.0);
    let expected = ev.expected_ack.map(|s| s.0);
    // The attempt starts at the first SYN with the attempt's ISN; all before it is history.
    let all: Vec<&SegRec> = inc.before.iter().chain(inc.after.iter()).collect();
    let start = all.iter().position(|r| r.from_client && is(r, TcpFlags::SYN) && !is(r, TcpFlags::ACK) && Some(r.seq) == isn);
    let t0 = start.map(|i| all[i].ts_ns).unwrap_or(ev.ts_ns) as i64;
    let mut items = Vec::new();
    let prev: &[&SegRec] = match start {
        Some(i) => &all[..i],
        None => &[],
    };
    if prev.is_empty() {
        items.push(Item::Note("no earlier segment of this 4-tuple in the input".into(), "note"));
    } else {
        items.push(Item::Note("previous connection: its last segments".into(), "phase"));
    }
    let first_fin = prev.iter().position(|r| is(r, TcpFlags::FIN));
    let mut seen_stale = false;
    let mut seen_syns = 0;
    let mut recovered = false;
    for (k, r) in all.iter().enumerate() {
        if Some(k) == start {
            if let Some(last) = prev.last() {
                let gap = r.ts_ns.saturating_sub(last.ts_ns);
                if let Some(rp) = ev.prev_rcv_nxt {
                    items.push(Item::Note(format!("server's receive point of the old connection (rcv_nxt) = {rp}"), "note"));
                }
                items.push(Item::Gap(format!("{} without segments on this 4-tuple, then the port comes round again", fmt_dur_signed(gap as i64).trim_start_matches('+'))));
            }
            items.push(Item::Note("new connection attempt on the same 4-tuple".into(), "phase"));
        }
        let t = Some(r.ts_ns as i64 - t0);
        let frame = (r.frame != 0).then_some(r.frame);
        let syn = is(r, TcpFlags::SYN);
        let ack = is(r, TcpFlags::ACK);
        let rst = is(r, TcpFlags::RST);
        let mut class = "seg";
        let label = if start.is_some_and(|s| k < s) {
            class = "old";
            let mut l = format!("{} seq={} ack={}", flags_name(r.flags), r.seq, r.ack);
            if r.len > 0 {
                let _ = write!(l, " len={}", r.len);
            }
            if Some(k) == first_fin {
                l.push_str(if r.from_client { " — client closes first" } else { " — server closes first" });
            }
            l
        } else if syn && !ack && r.from_client && Some(r.seq) == isn {
            seen_syns += 1;
            if seen_syns == 1 {
                class = "syn";
                let reuse = if prev.is_empty() { "" } else { " (reuse)" };
                format!("SYN ISN={}{reuse}", r.seq)
            } else {
                class = "retry";
                format!("SYN retry #{} ISN={}", seen_syns - 1, r.seq)
            }
        } else if !r.from_client && ack && !syn && !rst && Some(r.ack) == stale_ack && !seen_stale {
            seen_stale = true;
            class = "stale";
            let delta = match (ev.ack, ev.expected_ack) {
                (Some(a), Some(e)) => format!(" (Δ {:+})", a.delta(e)),
                _ => String::new(),
            };
            format!("stale ACK ack={} ≠ expected {}{}", r.ack, expected.map(|e| e.to_string()).unwrap_or_else(|| "?".into()), delta)
        } else if !r.from_client && ack && !syn && !rst && Some(r.ack) == stale_ack {
            class = "stale";
            format!("stale ACK again ack={}", r.ack)
        } else if r.from_client && rst {
            class = "rst";
            let tail = if Some(r.seq) == stale_ack { " (= the stale ack, RFC 9293 §3.10.7.3)" } else { "" };
            format!("RST seq={}{tail}", r.seq)
        } else if !r.from_client && syn && ack {
            let good = isn.map(|i| SeqNum(i).add(1).0) == Some(r.ack);
            if good {
                recovered = true;
                class = "ok";
                format!("SYN-ACK ack={} = ISN+1 — handshake completes", r.ack)
            } else {
                class = "stale";
                format!("SYN-ACK ack={} (not ISN+1)", r.ack)
            }
        } else {
            let mut l = format!("{} seq={} ack={}", flags_name(r.flags), r.seq, r.ack);
            if r.len > 0 {
                let _ = write!(l, " len={}", r.len);
            }
            l
        };
        items.push(Item::Arrow { from_client: r.from_client, label, class, frame, t });
    }
    outcome_note(inc, recovered, &mut items);
    items
}

fn outcome_note(inc: &Incident, seen_synack: bool, items: &mut Vec<Item>) {
    match inc.outcome.as_ref().and_then(|o| o.outcome.map(|x| (o, x))) {
        Some((o, Outcome::Recovered)) => {
            let r = o.recovery_us.map(fmt_ms_us).unwrap_or_else(|| "?".into());
            let what = if seen_synack { "" } else { " (SYN-ACK not drawn)" };
            items.push(Item::Note(format!("recovered: handshake {r} after the first SYN{what}"), "okn"));
        }
        Some((o, Outcome::Failed)) => {
            let why = if o.rst_ignored == Some(true) { "; the server ignored the client's RST (tcp_rfc1337=1)" } else { "" };
            items.push(Item::Note(format!("failed: no handshake within the connect timeout{why}"), "bad"));
        }
        Some((_, _)) => items.push(Item::Note("unresolved: the input ended before the attempt completed or timed out".into(), "note")),
        None => items.push(Item::Note("no outcome seen".into(), "note")),
    }
}

/// Rows of a ladder drawn from the events' evidence only (live events file, no capture).
fn items_from_events(inc: &Incident) -> Vec<Item> {
    let ev = &inc.stale;
    let o = inc.outcome.as_ref();
    let mut items = Vec::new();
    let prev = ev.prev_state.map(|p| p.as_str()).unwrap_or("not seen");
    let age = ev.prev_close_age_ms.map(|a| format!(", last seen closing {a} ms before")).unwrap_or_default();
    items.push(Item::Note(format!("previous connection: {prev}{age} (no segments: events only)"), "phase"));
    if let Some(rp) = ev.prev_rcv_nxt {
        items.push(Item::Note(format!("server's receive point of the old connection (rcv_nxt) = {rp}"), "note"));
    }
    if let Some(a) = ev.prev_close_age_ms {
        items.push(Item::Gap(format!("{a} ms, then the port comes round again")));
    }
    items.push(Item::Note("new connection attempt on the same 4-tuple".into(), "phase"));
    let isn = ev.syn_seq.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
    items.push(Item::Arrow { from_client: true, label: format!("SYN ISN={isn} (reuse)"), class: "syn", frame: None, t: None });
    let delta = ev.ack_delta().map(|d| format!(" (Δ {d:+})")).unwrap_or_default();
    let (ack, exp) = (ev.ack.map(|s| s.to_string()).unwrap_or_default(), ev.expected_ack.map(|s| s.to_string()).unwrap_or_default());
    items.push(Item::Arrow {
        from_client: false,
        label: format!("stale ACK ack={ack} ≠ expected {exp}{delta}"),
        class: "stale",
        frame: (ev.frame != 0).then_some(ev.frame),
        t: None,
    });
    if let Some(o) = o {
        if o.client_rst == Some(true) {
            items.push(Item::Arrow { from_client: true, label: format!("RST seq={ack} (= the stale ack)"), class: "rst", frame: None, t: None });
        }
        if o.syn_retries > 0 {
            items.push(Item::Arrow { from_client: true, label: format!("SYN retry ×{} ISN={isn}", o.syn_retries), class: "retry", frame: None, t: None });
        }
        if o.outcome == Some(Outcome::Recovered) {
            let t = o.recovery_us.map(|us| us as i64 * 1000);
            let ok = ev.expected_ack.map(|s| s.to_string()).unwrap_or_default();
            items.push(Item::Arrow { from_client: false, label: format!("SYN-ACK ack={ok} = ISN+1 — handshake completes"), class: "ok", frame: (o.frame != 0).then_some(o.frame), t });
        }
    }
    outcome_note(inc, true, &mut items);
    items
}

/// The SVG of one incident.
pub fn svg(inc: &Incident, out: &mut String) {
    let items = match inc.source {
        SegSource::EventsOnly => items_from_events(inc),
        _ => items_from_segments(inc),
    };
    let h: i32 = 56 + items.iter().map(|i| if matches!(i, Item::Gap(_)) { ROW + 12 } else { ROW }).sum::<i32>() + 10;
    let ev = &inc.stale;
    let _ = write!(
        out,
        "<svg class=\"lad\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"img\" aria-label=\"ladder diagram\">\
         <text x=\"{CX}\" y=\"16\" class=\"lane\">client {}</text><text x=\"{SX}\" y=\"16\" class=\"lane\">server {}</text>\
         <text x=\"4\" y=\"34\" class=\"hdr\">frame</text><text x=\"60\" y=\"34\" class=\"hdr\">time vs SYN</text>\
         <line x1=\"{CX}\" y1=\"24\" x2=\"{CX}\" y2=\"{h}\" class=\"lanel\"/><line x1=\"{SX}\" y1=\"24\" x2=\"{SX}\" y2=\"{h}\" class=\"lanel\"/>",
        esc(&ev.client.to_string()),
        esc(&ev.server.to_string())
    );
    let mut y = 40;
    for it in &items {
        match it {
            Item::Arrow { from_client, label, class, frame, t } => {
                let (x1, x2) = if *from_client { (CX, SX) } else { (SX, CX) };
                let (ya, y2) = (y + 4, y + 16);
                if let Some(f) = frame {
                    let _ = write!(out, "<text x=\"4\" y=\"{}\" class=\"fr\">#{f}</text>", y + 14);
                }
                if let Some(t) = t {
                    let _ = write!(out, "<text x=\"60\" y=\"{}\" class=\"tm\">{}</text>", y + 14, esc(&fmt_dur_signed(*t)));
                }
                let _ = write!(
                    out,
                    "<line x1=\"{x1}\" y1=\"{ya}\" x2=\"{x2}\" y2=\"{y2}\" class=\"a {class}\" marker-end=\"url(#ah-{class})\"/>\
                     <text x=\"{}\" y=\"{}\" class=\"l {class}\">{}</text>",
                    (CX + SX) / 2,
                    y + 4,
                    esc(label)
                );
                y += ROW;
            }
            Item::Gap(text) => {
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"gap\"/><text x=\"{}\" y=\"{}\" class=\"gapt\">⋯ {} ⋯</text>",
                    CX - 30,
                    y - 6,
                    SX - CX + 60,
                    ROW,
                    (CX + SX) / 2,
                    y + 14,
                    esc(text)
                );
                y += ROW + 12;
            }
            Item::Note(text, class) => {
                let _ = write!(out, "<text x=\"{}\" y=\"{}\" class=\"n {class}\">{}</text>", (CX + SX) / 2, y + 8, esc(text));
                y += ROW;
            }
        }
    }
    out.push_str("</svg>");
}

/// The colour class of a cause.
pub fn cause_class(c: Option<Cause>) -> &'static str {
    match c.map(|c| c.as_str()) {
        Some("time_wait") => "c0",
        Some("lingering_established") => "c1",
        Some("lingering_close") => "c2",
        _ => "c3",
    }
}

/// Arrow-head markers, once per page.
pub const MARKERS: &str = "<svg width=\"0\" height=\"0\" style=\"position:absolute\"><defs>\
<marker id=\"ah-seg\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#444\"/></marker>\
<marker id=\"ah-old\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#999\"/></marker>\
<marker id=\"ah-syn\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#1f5fbf\"/></marker>\
<marker id=\"ah-retry\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#6a3fb5\"/></marker>\
<marker id=\"ah-stale\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#c62828\"/></marker>\
<marker id=\"ah-rst\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#e65100\"/></marker>\
<marker id=\"ah-ok\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#2e7d32\"/></marker>\
</defs></svg>";

/// The evidence beside a ladder.
pub fn evidence(inc: &Incident, files: &[String], out: &mut String) {
    let ev = &inc.stale;
    let cause = ev.cause.map(|c| c.as_str()).unwrap_or("unknown");
    let _ = write!(out, "<dl class=\"ev\"><dt>cause</dt><dd><b class=\"cause {}\">{cause}</b></dd>", cause_class(ev.cause));
    let mut dd = |k: &str, v: String| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    if ev.frame != 0 {
        dd("stale ACK frame", format!("#{}", ev.frame));
    }
    if files.len() > 1 {
        if let Some(f) = files.get(inc.file) {
            let base = std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned());
            dd("file", base.unwrap_or_else(|| f.clone()));
        }
    }
    match &inc.source {
        SegSource::Capture => {}
        SegSource::PcapDir(f) => dd("segments from", format!("{f} (--pcap-dir; frame numbers of that file)")),
        SegSource::EventsOnly => dd("segments", "none: drawn from the events".into()),
    }
    if let Some(p) = ev.prev_state {
        dd("previous connection", p.as_str().into());
    }
    if let Some(a) = ev.prev_close_age_ms {
        dd("previous close", format!("{a} ms before"));
    }
    if let Some(s) = ev.syn_seq {
        dd("ISN", s.to_string());
    }
    if let (Some(a), Some(e)) = (ev.ack, ev.expected_ack) {
        dd("ack vs expected", format!("{a} vs {e} (Δ {:+})", a.delta(e)));
    }
    if let Some(r) = ev.prev_rcv_nxt {
        let m = if ev.ack == Some(r) { "= the ack: the old receive point" } else { "≠ the ack" };
        dd("old receive point", format!("{r} {m}"));
    }
    if let Some(o) = &inc.outcome {
        if let Some(x) = o.outcome {
            dd("outcome", x.as_str().into());
        }
        if let Some(us) = o.recovery_us {
            dd("recovery", fmt_ms_us(us));
        }
        dd("stale ACKs / SYN retries", format!("{} / {}", o.stale_acks, o.syn_retries));
        if let Some(r) = o.client_rst {
            dd("client RST", if r { "yes".into() } else { "no".into() });
        }
        if o.rst_ignored == Some(true) {
            dd("RST ignored", "yes (tcp_rfc1337=1)".into());
        }
    }
    let _ = write!(out, "</dl><p class=\"expl\">{}</p>", esc(ev.explanation()));
}
