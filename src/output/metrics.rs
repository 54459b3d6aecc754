//! Prometheus text exposition (format 0.0.4) and a small HTTP endpoint for it.
//!
//! The HTTP side is `tiny_http` (a maintained, dependency-light server); it answers
//! `GET /metrics` from its own thread, so a slow scraper never touches the packet path.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::datapath::bpf::BpfCounters;
use crate::datapath::pool::{ShardSnapshot, WorkerStats};
use crate::detect::{Cause, Counters, EventKind, Outcome, ServerRtt, RTT_BUCKETS};

/// What one scrape shows.
pub struct MetricsInput<'a> {
    /// Per-shard snapshots.
    pub shards: &'a [ShardSnapshot],
    /// Per-worker counters, with the queue each worker reads.
    pub workers: &'a [WorkerStats],
    /// Queue number of each worker.
    pub queues: &'a [u32],
    /// The XDP program's counters.
    pub bpf: Option<BpfCounters>,
    /// Events written by the output, and lost there.
    pub events_written: u64,
    /// Events the output could not write.
    pub events_dropped: u64,
    /// Servers shown with their own RTT histogram; the rest are summed as `other`.
    pub top_servers: usize,
}

fn head(s: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Upper bound of RTT bucket `i` in seconds (bucket `i` holds `[2^(i-1), 2^i)` µs).
fn le(i: usize) -> f64 {
    (1u64 << i) as f64 / 1e6
}

fn histogram(s: &mut String, name: &str, label: &str, r: &ServerRtt) {
    let mut cum = 0;
    for (i, n) in r.buckets.iter().enumerate().take(RTT_BUCKETS - 1) {
        cum += n;
        let _ = writeln!(s, "{name}_bucket{{{label},le=\"{}\"}} {cum}", le(i));
    }
    let _ = writeln!(s, "{name}_bucket{{{label},le=\"+Inf\"}} {}", r.count());
    let _ = writeln!(s, "{name}_sum{{{label}}} {}", r.sum_us as f64 / 1e6);
    let _ = writeln!(s, "{name}_count{{{label}}} {}", r.count());
}

/// Render every metric.
pub fn render_prometheus(m: &MetricsInput<'_>) -> String {
    let mut c = Counters::default();
    let mut flows = 0;
    let mut pending = 0;
    let (mut ev_tomb, mut ev_live) = (0, 0);
    let mut servers: HashMap<SocketAddr, ServerRtt> = HashMap::new();
    let mut other = ServerRtt::default();
    for sh in m.shards {
        c.add(&sh.counters);
        flows += sh.flows;
        pending += sh.pending_outcomes;
        ev_tomb += sh.evictions.tombstones;
        ev_live += sh.evictions.live;
        for (a, r) in &sh.servers {
            servers.entry(*a).or_default().add(r);
        }
        other.add(&sh.other_servers);
    }
    let mut s = String::with_capacity(16 * 1024);
    head(&mut s, "ackscope_events_total", "counter", "Events reported, by kind.");
    for k in EventKind::ALL {
        let _ = writeln!(s, "ackscope_events_total{{kind=\"{}\"}} {}", k.as_str(), c.events[k as usize]);
    }
    head(&mut s, "ackscope_stale_acks_total", "counter", "stale_ack events by cause.");
    for k in Cause::ALL {
        let _ = writeln!(s, "ackscope_stale_acks_total{{cause=\"{}\"}} {}", k.as_str(), c.causes[k as usize]);
    }
    head(&mut s, "ackscope_stale_ack_outcomes_total", "counter", "stale_ack_outcome events by outcome.");
    for k in Outcome::ALL {
        let _ = writeln!(s, "ackscope_stale_ack_outcomes_total{{outcome=\"{}\"}} {}", k.as_str(), c.outcomes[k as usize]);
    }
    for (name, help, v) in [
        ("ackscope_segments_total", "TCP segments processed by the engine.", c.segments),
        ("ackscope_syn_total", "Client SYNs seen (retransmissions included).", c.syn),
        ("ackscope_synack_total", "SYN-ACKs seen.", c.synack),
        ("ackscope_port_reuses_total", "SYNs reusing a 4-tuple with a tracked previous connection (normal; not an event).", c.port_reuses),
        ("ackscope_stale_ack_repeats_total", "Stale ACKs after the first of an attempt.", c.stale_ack_repeats),
        ("ackscope_flow_evictions_tombstones_total", "Tombstones evicted because the flow table was full.", ev_tomb),
        ("ackscope_flow_evictions_live_total", "Live flows evicted because the flow table was full.", ev_live),
        ("ackscope_events_written_total", "Events written to the output.", m.events_written),
        ("ackscope_events_output_dropped_total", "Events the output could not write.", m.events_dropped),
    ] {
        head(&mut s, name, "counter", help);
        let _ = writeln!(s, "{name} {v}");
    }
    head(&mut s, "ackscope_flows", "gauge", "Tracked 4-tuples (open flows and tombstones).");
    let _ = writeln!(s, "ackscope_flows {flows}");
    head(&mut s, "ackscope_pending_outcomes", "gauge", "Stale-ACKed attempts waiting for their outcome.");
    let _ = writeln!(s, "ackscope_pending_outcomes {pending}");

    type Get = fn(&WorkerStats) -> u64;
    let per_queue: [(&str, &str, Get); 13] = [
        ("ackscope_queue_rx_frames_total", "Frames received from the AF_XDP socket.", |w| w.rx_frames.load(Ordering::Relaxed)),
        ("ackscope_queue_not_tcp_total", "Received frames without a TCP segment.", |w| w.skipped.load(Ordering::Relaxed)),
        ("ackscope_queue_parse_errors_total", "Received frames that could not be parsed.", |w| w.parse_errors.load(Ordering::Relaxed)),
        ("ackscope_queue_handed_off_total", "Segments handed to another queue's shard.", |w| w.handed_off.load(Ordering::Relaxed)),
        ("ackscope_queue_handoff_full_total", "Segments lost because a hand-off ring or reorder buffer was full.", |w| w.handoff_full.load(Ordering::Relaxed)),
        ("ackscope_queue_from_other_queues_total", "Segments received from other queues.", |w| w.received_handoff.load(Ordering::Relaxed)),
        ("ackscope_queue_processed_total", "Segments processed by the queue's shard.", |w| w.processed.load(Ordering::Relaxed)),
        ("ackscope_queue_reorder_late_total", "Segments that arrived later than the reorder window.", |w| w.reorder_late.load(Ordering::Relaxed)),
        ("ackscope_queue_events_dropped_total", "Events lost because the event channel was full.", |w| w.events_dropped.load(Ordering::Relaxed)),
        ("ackscope_xsk_rx_dropped_total", "XDP_STATISTICS rx_dropped.", |w| w.xsk_rx_dropped.load(Ordering::Relaxed)),
        ("ackscope_xsk_rx_ring_full_total", "XDP_STATISTICS rx_ring_full.", |w| w.xsk_rx_ring_full.load(Ordering::Relaxed)),
        ("ackscope_xsk_fill_ring_empty_total", "XDP_STATISTICS rx_fill_ring_empty_descs.", |w| w.xsk_fill_ring_empty.load(Ordering::Relaxed)),
        ("ackscope_xsk_rx_invalid_descs_total", "XDP_STATISTICS rx_invalid_descs.", |w| w.xsk_rx_invalid.load(Ordering::Relaxed)),
    ];
    for (name, help, get) in per_queue {
        head(&mut s, name, "counter", help);
        for (w, q) in m.workers.iter().zip(m.queues) {
            let _ = writeln!(s, "{name}{{queue=\"{q}\"}} {}", get(w));
        }
    }
    if let Some(b) = m.bpf {
        head(&mut s, "ackscope_xdp_frames_total", "counter", "Frames the XDP program saw.");
        let _ = writeln!(s, "ackscope_xdp_frames_total {}", b.frames);
        head(&mut s, "ackscope_xdp_steered_total", "counter", "Frames steered to AF_XDP, by class.");
        for (class, v) in [("syn", b.steered_syn), ("synack", b.steered_synack), ("fin", b.steered_fin), ("rst", b.steered_rst), ("ack", b.steered_ack)] {
            let _ = writeln!(s, "ackscope_xdp_steered_total{{class=\"{class}\"}} {v}");
        }
        head(&mut s, "ackscope_xdp_not_steered_total", "counter", "Frames not steered, by reason.");
        for (r, v) in [("tcp", b.not_steered_tcp), ("not_tcp", b.not_tcp), ("parse_fail", b.parse_fail)] {
            let _ = writeln!(s, "ackscope_xdp_not_steered_total{{reason=\"{r}\"}} {v}");
        }
        head(&mut s, "ackscope_xdp_redirect_fail_total", "counter", "Steered frames whose XSKMAP redirect failed.");
        let _ = writeln!(s, "ackscope_xdp_redirect_fail_total {}", b.redirect_fail);
    }
    // Bounded label cardinality: the top servers by handshakes, the rest as "other".
    let mut list: Vec<(SocketAddr, ServerRtt)> = servers.into_iter().collect();
    list.sort_by(|a, b| b.1.count().cmp(&a.1.count()).then(a.0.cmp(&b.0)));
    for (_, r) in list.iter().skip(m.top_servers) {
        other.add(r);
    }
    head(&mut s, "ackscope_handshake_rtt_seconds", "histogram", "SYN to SYN-ACK time per server (top servers; the rest as other).");
    for (a, r) in list.iter().take(m.top_servers) {
        histogram(&mut s, "ackscope_handshake_rtt_seconds", &format!("server=\"{a}\""), r);
    }
    histogram(&mut s, "ackscope_handshake_rtt_seconds", "server=\"other\"", &other);
    s
}

/// Serves `GET /metrics` on its own thread until dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// The address actually bound.
    pub addr: SocketAddr,
}

/// Produces the exposition text for one scrape.
pub type RenderFn = Arc<dyn Fn() -> String + Send + Sync>;

impl MetricsServer {
    /// Bind `addr` and serve `render()` at `/metrics`.
    pub fn start(addr: &str, render: RenderFn) -> std::io::Result<MetricsServer> {
        let server = tiny_http::Server::http(addr).map_err(|e| std::io::Error::other(format!("cannot listen on {addr}: {e}")))?;
        let bound = server.server_addr().to_ip().ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handle = std::thread::Builder::new().name("ackscope-metrics".into()).spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(200)) else { continue };
                let resp = if req.url() == "/metrics" || req.url().starts_with("/metrics?") {
                    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain; version=0.0.4"[..]).expect("static header");
                    tiny_http::Response::from_string(render()).with_header(header)
                } else {
                    tiny_http::Response::from_string("ackscope: metrics are at /metrics\n").with_status_code(404)
                };
                let _ = req.respond(resp);
            }
        })?;
        Ok(MetricsServer { stop, handle: Some(handle), addr: bound })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
