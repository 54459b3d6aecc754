//! JSON lines through serde. Field names are the stable ones of the README's "Events" section
//! (DESIGN §3); fields that do not apply to an event's kind are left out. The order of the
//! fields is the order of [`JsonEvent`]'s members.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::time::format_rfc3339;
use crate::detect::Event;
use crate::kernel::{KernelView, SideView, TcpState};
use crate::packet::Tunnel;
use crate::packet::NO_VLAN;

/// One event as written: a view of [`Event`] with wall-clock time.
#[derive(Serialize)]
struct JsonEvent<'a> {
    kind: &'static str,
    severity: &'static str,
    ts: &'a str,
    #[serde(serialize_with = "display")]
    client: SocketAddr,
    #[serde(serialize_with = "display")]
    server: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svlan: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tunnel: Option<JsonTunnel<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syn_seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_delta: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_close_age_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_rcv_nxt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_matches_prev: Option<bool>,
    // issue 19: how sure ack_matches_prev is, and how long an open previous connection was quiet.
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_evidence: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_window: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_last_seen_ms: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    outcome: Option<JsonOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    roles: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revises: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pressure: Option<JsonPressure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<JsonKernel<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inferred_from: Option<&'static str>,
    explanation: &'static str,
}

/// The `kernel` object (live runs only, when sock_diag found a local socket for the 4-tuple):
/// `{"server":{"state":"TIME-WAIT","timer_ms":57000,"owner":"none"},"agrees":true}` or
/// `{"server":{"state":"ESTABLISHED","idle_ms":40,"inode":1234,"uid":0,"pid":42,"comm":"nginx",
/// "cgroup":"/system.slice/nginx.service"},"client":{"state":"SYN-SENT",...},"agrees":false}`.
/// `owner` is `"none"` for TIME-WAIT sockets (they belong to no process) and `"not_found"`
/// when the `/proc` scan did not find the inode.
#[derive(Serialize)]
struct JsonKernel<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<JsonSide<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<JsonSide<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agrees: Option<bool>,
}

#[derive(Serialize)]
struct JsonSide<'a> {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    timer_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'static str>,
}

fn side(v: &SideView) -> JsonSide<'_> {
    let tw = v.socket.state == TcpState::TimeWait;
    JsonSide {
        state: v.socket.state.as_str(),
        timer_ms: v.socket.timer_ms,
        idle_ms: v.socket.idle_ms,
        inode: (v.socket.inode != 0).then_some(v.socket.inode),
        uid: (!tw).then_some(v.socket.uid),
        pid: v.owner.as_ref().map(|o| o.pid),
        comm: v.owner.as_ref().map(|o| o.comm.as_str()),
        cgroup: v.owner.as_ref().map(|o| o.cgroup.as_str()),
        owner: match (&v.owner, tw) {
            (Some(_), _) => None,
            (None, true) => Some("none"),
            (None, false) => Some("not_found"),
        },
    }
}

/// The `tunnel` object (only when the flow came in an encapsulation):
/// `{"type":"vxlan","vni":42,"outer_src":"10.0.0.1","outer_dst":"10.0.0.2","depth":1}`. The id
/// member is named after the type (`vni`, `key`, `session_id`, `label`) and left out when the
/// header has none; the outer addresses are left out for MPLS/PPPoE straight on Ethernet.
struct JsonTunnel<'a>(&'a Tunnel);

impl Serialize for JsonTunnel<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", t.kind.as_str())?;
        if let Some(id) = t.id {
            m.serialize_entry(t.kind.id_name(), &id)?;
        }
        if let (Some(a), Some(b)) = (t.outer_src_ip(), t.outer_dst_ip()) {
            m.serialize_entry("outer_src", &a)?;
            m.serialize_entry("outer_dst", &b)?;
        }
        m.serialize_entry("depth", &t.depth)?;
        m.end()
    }
}

/// The `pressure` object of a `port_pressure` event (detect/pressure.rs): the pair's recent
/// reuses, how many of them landed inside the server's TIME_WAIT, the median reuse interval
/// against the TIME_WAIT length, the client ports it cycles through, its stale ACKs so far.
#[derive(Serialize)]
struct JsonPressure {
    reuses: u32,
    reuses_in_time_wait: u32,
    in_time_wait_share: f64,
    median_reuse_ms: u64,
    time_wait_ms: u32,
    ports_seen: u32,
    port_min: u16,
    port_max: u16,
    stale_acks: u64,
}

/// The members of a `stale_ack_outcome`.
#[derive(Serialize)]
struct JsonOutcome {
    outcome: &'static str,
    /// Milliseconds with exactly three decimals (`12.345`), as the format always had.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_ms: Option<Box<RawValue>>,
    stale_acks: u32,
    syn_retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_rst: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rst_ignored: Option<bool>,
}

fn display<S: Serializer>(v: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Write one event as a JSON object and a newline.
pub fn write_json(w: &mut impl Write, ev: &Event, clock_offset_ns: i64) -> io::Result<()> {
    write_json_kernel(w, ev, clock_offset_ns, None)
}

/// [`write_json`] with what the kernel said about the event's 4-tuple (the `kernel` object).
pub fn write_json_kernel(w: &mut impl Write, ev: &Event, clock_offset_ns: i64, kernel: Option<&KernelView>) -> io::Result<()> {
    let mut ts = String::with_capacity(40);
    format_rfc3339(ev.ts_ns as i64 + clock_offset_ns, &mut ts);
    let outcome = ev.outcome.map(|o| JsonOutcome {
        outcome: o.as_str(),
        recovery_ms: ev
            .recovery_us
            .map(|us| RawValue::from_string(format!("{}.{:03}", us / 1000, us % 1000)).expect("a decimal number is valid JSON")),
        stale_acks: ev.stale_acks,
        syn_retries: ev.syn_retries,
        client_rst: ev.client_rst,
        rst_ignored: ev.rst_ignored,
    });
    let j = JsonEvent {
        kind: ev.kind.as_str(),
        severity: ev.severity().as_str(),
        ts: &ts,
        client: ev.client,
        server: ev.server,
        vlan: (ev.vlan != NO_VLAN).then_some(ev.vlan),
        svlan: (ev.svlan != NO_VLAN).then_some(ev.svlan),
        tunnel: ev.tunnel.as_ref().map(JsonTunnel),
        syn_seq: ev.syn_seq.map(|v| v.0),
        ack: ev.ack.map(|v| v.0),
        expected_ack: ev.expected_ack.map(|v| v.0),
        ack_delta: ev.ack_delta(),
        cause: ev.cause.map(|v| v.as_str()),
        prev_state: ev.prev_state.map(|v| v.as_str()),
        prev_close_age_ms: ev.prev_close_age_ms,
        prev_rcv_nxt: ev.prev_rcv_nxt.map(|v| v.0),
        ack_matches_prev: ev.ack_matches_prev(),
        ack_evidence: ev.ack_evidence.map(|v| v.as_str()),
        ack_window: ev.ack_window,
        prev_last_seen_ms: ev.prev_last_seen_ms,
        outcome,
        frame: (ev.frame != 0).then_some(ev.frame),
        roles: ev.roles.as_str(),
        last_frame: (ev.last_frame != 0).then_some(ev.last_frame),
        revises: ev.revises.map(|v| v.as_str()),
        pressure: ev.pressure.map(|p| JsonPressure {
            reuses: p.reuses,
            reuses_in_time_wait: p.in_time_wait,
            in_time_wait_share: if p.reuses == 0 { 0.0 } else { (f64::from(p.in_time_wait) / f64::from(p.reuses) * 1000.0).round() / 1000.0 },
            median_reuse_ms: p.median_reuse_ms,
            time_wait_ms: p.time_wait_ms,
            ports_seen: p.ports_seen,
            port_min: p.port_min,
            port_max: p.port_max,
            stale_acks: p.stale_acks,
        }),
        kernel: kernel.map(|k| JsonKernel { server: k.server.as_ref().map(side), client: k.client.as_ref().map(side), agrees: k.agrees }),
        visibility: ev.visibility.map(|v| v.as_str()),
        inferred_from: ev.inferred_from.map(|v| v.as_str()),
        explanation: ev.explanation(),
    };
    let mut buf = Vec::with_capacity(512);
    serde_json::to_writer(&mut buf, &j).map_err(io::Error::other)?;
    buf.push(b'\n');
    w.write_all(&buf)
}
