//! Readable, aligned event lines.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::time::format_rfc3339;
use crate::detect::{AckEvidence, Event, Severity};
use crate::packet::NO_VLAN;

/// Write one event as an aligned line, then its explanation indented on the next line.
pub fn write_text(w: &mut impl Write, ev: &Event, clock_offset_ns: i64) -> io::Result<()> {
    let mut s = String::with_capacity(512);
    format_rfc3339(ev.ts_ns as i64 + clock_offset_ns, &mut s);
    let sev = match ev.severity() {
        Severity::Info => "INFO",
        Severity::Warning => "WARN",
        Severity::Critical => "CRIT",
    };
    let flow = format!("{} -> {}", ev.client, ev.server);
    let _ = write!(s, " {sev} {:<18} {flow:<47}", ev.kind.as_str());
    if ev.vlan != NO_VLAN {
        let _ = write!(s, " vlan={}", ev.vlan);
    }
    if ev.svlan != NO_VLAN {
        let _ = write!(s, " svlan={}", ev.svlan);
    }
    if let Some(t) = &ev.tunnel {
        let _ = write!(s, " tunnel={}", t.kind.as_str());
        if let Some(id) = t.id {
            let _ = write!(s, ":{}={id}", t.kind.id_name());
        }
        if let (Some(a), Some(b)) = (t.outer_src_ip(), t.outer_dst_ip()) {
            let _ = write!(s, ":{a}>{b}");
        }
    }
    if let Some(c) = ev.cause {
        let _ = write!(s, " cause={}", c.as_str());
    }
    if let Some(o) = ev.outcome {
        let _ = write!(s, " outcome={}", o.as_str());
        if let Some(us) = ev.recovery_us {
            let _ = write!(s, " recovery={}.{:03}ms", us / 1000, us % 1000);
        }
        let _ = write!(s, " stale_acks={} retries={}", ev.stale_acks, ev.syn_retries);
        if ev.rst_ignored == Some(true) {
            s.push_str(" rst_ignored");
        }
        if let Some(r) = ev.revises {
            let _ = write!(s, " revises={}", r.as_str());
        }
    } else {
        if let Some(v) = ev.syn_seq {
            let _ = write!(s, " syn_seq={v}");
        }
        if let (Some(a), Some(e), Some(d)) = (ev.ack, ev.expected_ack, ev.ack_delta()) {
            let _ = write!(s, " ack={a} expected={e} delta={d:+}");
        }
        if let Some(p) = ev.prev_state {
            let _ = write!(s, " prev={}", p.as_str());
        }
        if let Some(a) = ev.prev_close_age_ms {
            let _ = write!(s, " prev_close_age={a}ms");
        }
        if let Some(a) = ev.prev_last_seen_ms {
            let _ = write!(s, " prev_last_seen={a}ms");
        }
        // issue 19: a match only when the evidence decides it; else say how it was judged.
        match (ev.ack_matches_prev(), ev.ack_evidence, ev.ack_window) {
            (Some(true), _, _) => s.push_str(" ack=prev_rcv_nxt"),
            (None, Some(AckEvidence::WithinWindow), Some(w)) => {
                let _ = write!(s, " ack_evidence=within_window({w} bytes after {})", ev.prev_rcv_nxt.map_or(0, |p| p.0));
            }
            (None, Some(e), _) => {
                let _ = write!(s, " ack_evidence={}", e.as_str());
            }
            _ => {}
        }
    }
    if let Some(p) = ev.pressure {
        let _ = write!(
            s,
            " reuses_in_time_wait={}/{} median_reuse={}ms time_wait={}ms ports={} ({}-{}) stale_acks={}",
            p.in_time_wait, p.reuses, p.median_reuse_ms, p.time_wait_ms, p.ports_seen, p.port_min, p.port_max, p.stale_acks
        );
    }
    if ev.frame != 0 {
        let _ = write!(s, " frame={}", ev.frame);
    }
    if ev.roles != crate::detect::Roles::Syn {
        let _ = write!(s, " roles={}", ev.roles.as_str());
    }
    if let Some(v) = ev.visibility {
        let _ = write!(s, " visibility={}", v.as_str());
    }
    if let Some(i) = ev.inferred_from {
        let _ = write!(s, " inferred_from={}", i.as_str());
    }
    let _ = writeln!(s, "\n    {}", ev.explanation());
    w.write_all(s.as_bytes())
}

/// The kernel's view of a stale ACK as one indented line after the event (live runs).
pub fn write_kernel_text(w: &mut impl Write, k: &crate::kernel::KernelView) -> io::Result<()> {
    let mut s = String::from("    kernel:");
    for (name, v) in [("server", &k.server), ("client", &k.client)] {
        let Some(v) = v else { continue };
        let _ = write!(s, " {name} {}", v.socket.state.as_str());
        if let Some(t) = v.socket.timer_ms {
            let _ = write!(s, " timer={t}ms");
        }
        if let Some(i) = v.socket.idle_ms {
            let _ = write!(s, " idle={i}ms");
        }
        match &v.owner {
            Some(o) => {
                let _ = write!(s, " pid={} comm={} cgroup={}", o.pid, o.comm, o.cgroup);
            }
            None if v.socket.state == crate::kernel::TcpState::TimeWait => s.push_str(" (no owner: TIME-WAIT sockets belong to no process)"),
            None => s.push_str(" (owner not found)"),
        }
        s.push(';');
    }
    if k.agrees == Some(false) {
        s.push_str(" DISAGREES with the cause inferred from packets");
    }
    s.push('\n');
    w.write_all(s.as_bytes())
}
