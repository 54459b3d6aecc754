//! Prometheus metrics of a live run, through the `prometheus-client` crate (OpenMetrics text).
//!
//! The values are not kept in `prometheus-client` counters: the workers already count in plain
//! atomics and publish shard snapshots once a second, so a [`Collector`] reads those on each
//! scrape. The HTTP side is `tiny_http` (a maintained, dependency-light server); it answers
//! `GET /metrics` from its own thread, so a slow scraper never touches the packet path.
//!
//! Metric and label names are the ones of the README's table; counters are registered without
//! their `_total` suffix, which the OpenMetrics encoder adds to the sample.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::datapath::{BpfCounters, ShardSnapshot, WorkerStats};
use crate::detect::pressure::{bucket_low, PairStats, ServerPressure, REUSE_BUCKETS};
use crate::detect::{Cause, Counters, EventKind, Outcome, ServerRtt, RTT_BUCKETS};

/// What the live loop refreshes once a second for the scrapes (the workers refresh the rest).
#[derive(Debug, Default)]
pub struct Published {
    /// The XDP program's counters, when readable.
    pub xdp: Mutex<Option<BpfCounters>>,
    /// Each interface's program counters, when mirror mode runs over several (else empty).
    pub ports: Mutex<Vec<(String, BpfCounters)>>,
    /// Events written by the output.
    pub events_written: AtomicU64,
    /// Events the output could not write.
    pub events_dropped: AtomicU64,
    /// The namespace's TCP MIB counters, read once a second.
    pub mib: Mutex<Option<crate::kernel::Mib>>,
    /// The kernel lookup thread's counters.
    pub lookups: Mutex<Option<Arc<crate::kernel::LookupStats>>>,
}

/// Everything one scrape reads.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    /// Per-shard snapshots.
    pub shards: Arc<Vec<Mutex<ShardSnapshot>>>,
    /// Per-worker counters.
    pub workers: Arc<Vec<WorkerStats>>,
    /// Queue number of each worker.
    pub queues: Vec<u32>,
    /// Interface of each worker when mirror mode runs over several (the per-queue metrics
    /// then carry an `iface` label: one value per `--iface`, bounded); empty otherwise.
    pub ifaces: Vec<String>,
    /// Values the live loop publishes.
    pub published: Arc<Published>,
    /// Servers shown with their own RTT histogram; the rest are summed as `other`.
    pub top_servers: usize,
    /// The engine's TIME_WAIT length (the port-pressure view compares reuse intervals to it).
    pub time_wait_ms: u32,
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn counter_family<L: AsRef<str>>(e: &mut DescriptorEncoder, name: &str, help: &str, label: &str, rows: impl IntoIterator<Item = (L, u64)>) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (l, v) in rows {
        let labels = [(label, l.as_ref())];
        ConstCounter::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// Bucket `i` of [`ServerRtt`] holds `[2^(i-1), 2^i)` µs; the last one is +Inf.
fn buckets(r: &ServerRtt) -> Vec<(f64, u64)> {
    r.buckets
        .iter()
        .enumerate()
        .map(|(i, n)| (if i + 1 < RTT_BUCKETS { (1u64 << i) as f64 / 1e6 } else { f64::MAX }, *n))
        .collect()
}

type Get = fn(&WorkerStats) -> u64;
const PER_QUEUE: [(&str, &str, Get); 13] = [
    ("ackscope_queue_rx_frames", "Frames received from the AF_XDP socket.", |w| w.rx_frames.load(Ordering::Relaxed)),
    ("ackscope_queue_not_tcp", "Received frames without a TCP segment.", |w| w.skipped.load(Ordering::Relaxed)),
    ("ackscope_queue_parse_errors", "Received frames that could not be parsed.", |w| w.parse_errors.load(Ordering::Relaxed)),
    ("ackscope_queue_handed_off", "Segments handed to another queue's shard.", |w| w.handed_off.load(Ordering::Relaxed)),
    ("ackscope_queue_handoff_full", "Segments lost because a hand-off ring or reorder buffer was full.", |w| w.handoff_full.load(Ordering::Relaxed)),
    ("ackscope_queue_from_other_queues", "Segments received from other queues.", |w| w.received_handoff.load(Ordering::Relaxed)),
    ("ackscope_queue_processed", "Segments processed by the queue's shard.", |w| w.processed.load(Ordering::Relaxed)),
    ("ackscope_queue_reorder_late", "Segments that arrived later than the reorder window.", |w| w.reorder_late.load(Ordering::Relaxed)),
    ("ackscope_queue_events_dropped", "Events lost because the event channel was full.", |w| w.events_dropped.load(Ordering::Relaxed)),
    ("ackscope_xsk_rx_dropped", "XDP_STATISTICS rx_dropped.", |w| w.xsk_rx_dropped.load(Ordering::Relaxed)),
    ("ackscope_xsk_rx_ring_full", "XDP_STATISTICS rx_ring_full.", |w| w.xsk_rx_ring_full.load(Ordering::Relaxed)),
    ("ackscope_xsk_fill_ring_empty", "XDP_STATISTICS rx_fill_ring_empty_descs.", |w| w.xsk_fill_ring_empty.load(Ordering::Relaxed)),
    ("ackscope_xsk_rx_invalid_descs", "XDP_STATISTICS rx_invalid_descs.", |w| w.xsk_rx_invalid.load(Ordering::Relaxed)),
];

impl Collector for MetricsSource {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut c = Counters::default();
        let (mut flows, mut pending, mut ev_tomb, mut ev_live) = (0usize, 0usize, 0u64, 0u64);
        let mut servers: HashMap<SocketAddr, ServerRtt> = HashMap::new();
        let mut other = ServerRtt::default();
        let mut pairs = Vec::new();
        for sh in self.shards.iter() {
            let sh = sh.lock().map(|g| g.clone()).unwrap_or_default();
            pairs.extend_from_slice(&sh.pressure);
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
        let e = &mut e;
        counter_family(e, "ackscope_events", "Events reported, by kind.", "kind", EventKind::ALL.iter().map(|k| (k.as_str(), c.events[*k as usize])))?;
        counter_family(e, "ackscope_stale_acks", "stale_ack events by cause.", "cause", Cause::ALL.iter().map(|k| (k.as_str(), c.causes[*k as usize])))?;
        counter_family(
            e,
            "ackscope_stale_ack_outcomes",
            "stale_ack_outcome events by outcome.",
            "outcome",
            Outcome::ALL.iter().map(|k| (k.as_str(), c.outcomes[*k as usize])),
        )?;
        let p = &self.published;
        for (name, help, v) in [
            ("ackscope_segments", "TCP segments processed by the engine.", c.segments),
            ("ackscope_syn", "Client SYNs seen (retransmissions included).", c.syn),
            ("ackscope_synack", "SYN-ACKs seen.", c.synack),
            ("ackscope_port_reuses", "SYNs reusing a 4-tuple with a tracked previous connection (normal; not an event).", c.port_reuses),
            ("ackscope_stale_ack_repeats", "Stale ACKs after the first of an attempt.", c.stale_ack_repeats),
            ("ackscope_flow_evictions_tombstones", "Tombstones evicted because the flow table was full.", ev_tomb),
            ("ackscope_flow_evictions_live", "Live flows evicted because the flow table was full.", ev_live),
            ("ackscope_events_written", "Events written to the output.", p.events_written.load(Ordering::Relaxed)),
            ("ackscope_events_output_dropped", "Events the output could not write.", p.events_dropped.load(Ordering::Relaxed)),
        ] {
            counter(e, name, help, v)?;
        }
        if let Some(m) = *p.mib.lock().expect("metrics lock") {
            counter_family(e, "ackscope_kernel_tcp_mib", "The namespace's TCP MIB counters (/proc/net/netstat TcpExt, /proc/net/snmp Tcp), by name.", "counter", m.iter())?;
        }
        if let Some(l) = p.lookups.lock().expect("metrics lock").clone() {
            let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
            counter_family(
                e,
                "ackscope_kernel_lookups",
                "sock_diag lookups for stale ACKs, by result.",
                "result",
                [
                    ("done", g(&l.done)),
                    ("found", g(&l.found)),
                    ("skipped_rate", g(&l.skipped_rate)),
                    ("skipped_full", g(&l.skipped_full)),
                    ("timed_out", g(&l.timed_out)),
                    ("failed", g(&l.failed)),
                ],
            )?;
            counter(e, "ackscope_kernel_disagree", "Stale ACKs whose server socket state disagreed with the cause inferred from packets.", g(&l.disagree))?;
        }
        gauge(e, "ackscope_flows", "Tracked 4-tuples (open flows and tombstones).", flows as i64)?;
        gauge(e, "ackscope_pending_outcomes", "Stale-ACKed attempts waiting for their outcome.", pending as i64)?;
        for (name, help, get) in PER_QUEUE {
            if self.ifaces.is_empty() {
                counter_family(e, name, help, "queue", self.workers.iter().zip(&self.queues).map(|(w, q)| (q.to_string(), get(w))))?;
            } else {
                let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
                for ((w, q), i) in self.workers.iter().zip(&self.queues).zip(&self.ifaces) {
                    let q = q.to_string();
                    let labels = [("iface", i.as_str()), ("queue", q.as_str())];
                    ConstCounter::new(get(w)).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        let ports = p.ports.lock().map(|g| g.clone()).unwrap_or_default();
        if !ports.is_empty() {
            // Several interfaces: each program's counters under its `iface` label.
            encode_xdp_ports(e, &ports)?;
        } else if let Some(b) = *p.xdp.lock().expect("metrics lock") {
            counter(e, "ackscope_xdp_frames", "Frames the XDP program saw (host mode's ring path: packets the tc program saw).", b.frames)?;
            counter_family(
                e,
                "ackscope_xdp_steered",
                "Frames steered to AF_XDP, by class (host mode's ring path: control segments the tc program wrote to its ring).",
                "class",
                [("syn", b.steered_syn), ("synack", b.steered_synack), ("fin", b.steered_fin), ("rst", b.steered_rst), ("ack", b.steered_ack)],
            )?;
            counter_family(
                e,
                "ackscope_xdp_not_steered",
                "Frames not steered, by reason (host mode's ring path: by the tc program).",
                "reason",
                [("tcp", b.not_steered_tcp), ("not_tcp", b.not_tcp), ("parse_fail", b.parse_fail)],
            )?;
            counter(e, "ackscope_xdp_redirect_fail", "Steered frames whose XSKMAP redirect failed (host mode's ring path: records lost to a full ring).", b.redirect_fail)?;
            counter(e, "ackscope_xdp_flows_evicted", FLOWS_EVICTED_HELP, b.flows_evicted)?;
        }
        pressure_metrics(e, crate::detect::pressure::by_server(pairs), self.top_servers, self.time_wait_ms)?;
        // Bounded label cardinality: the top servers by handshakes, the rest as "other".
        let mut list: Vec<(SocketAddr, ServerRtt)> = servers.into_iter().collect();
        list.sort_by(|a, b| b.1.count().cmp(&a.1.count()).then(a.0.cmp(&b.0)));
        for (_, r) in list.iter().skip(self.top_servers) {
            other.add(r);
        }
        let mut m = e.encode_descriptor(
            "ackscope_handshake_rtt_seconds",
            "SYN to SYN-ACK time per server (top servers; the rest as other).",
            None,
            MetricType::Histogram,
        )?;
        let shown = list.iter().take(self.top_servers).map(|(a, r)| (a.to_string(), r)).chain(std::iter::once(("other".to_string(), &other)));
        for (server, r) in shown {
            let labels = [("server", server.as_str())];
            m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(r.sum_us as f64 / 1e6, r.count(), &buckets(r), None)?;
        }
        Ok(())
    }
}

/// The per-server port-pressure view (detect/pressure.rs): the top `top` servers by reuses
/// inside TIME_WAIT plus stale ACKs, the rest summed as `other` (bounded label cardinality).
fn pressure_metrics(e: &mut DescriptorEncoder, view: Vec<ServerPressure>, top: usize, time_wait_ms: u32) -> Result<(), std::fmt::Error> {
    let mut rest = ServerPressure::default();
    for v in view.iter().skip(top) {
        rest.total.add(&v.total);
    }
    let shown: Vec<(String, &ServerPressure)> = view
        .iter()
        .take(top)
        .map(|v| (v.server.map_or_else(|| "other".to_string(), |a| a.to_string()), v))
        .chain((rest.total.connections > 0 || rest.total.stale_acks() > 0).then(|| ("other".to_string(), &rest)))
        .collect();
    gauge(e, "ackscope_time_wait_seconds", "The TIME_WAIT length reuse intervals are compared with (--time-wait).", i64::from(time_wait_ms / 1000))?;
    type Field = fn(&PairStats) -> u64;
    for (name, help, f) in [
        ("ackscope_server_connections", "SYNs opening a connection, per server (top servers; the rest as other).", (|t| t.connections) as Field),
        ("ackscope_server_port_reuses", "SYNs reusing a tracked 4-tuple, per server.", |t| t.reuses),
        ("ackscope_server_reuses_in_time_wait", "Reuses landing inside the server's TIME_WAIT (it closed first, less than TIME_WAIT ago), per server.", |t| t.in_time_wait),
        ("ackscope_server_port_pressure_warnings", "port_pressure warnings, per server.", |t| u64::from(t.warnings)),
    ] {
        counter_family(e, name, help, "server", shown.iter().map(|(n, v)| (n.as_str(), f(&v.total))))?;
    }
    let mut m = e.encode_descriptor("ackscope_server_stale_acks", "stale_ack events per server, by cause.", None, MetricType::Counter)?;
    for (n, v) in &shown {
        for c in Cause::ALL {
            ConstCounter::new(v.total.stale[c as usize]).encode(m.encode_family(&[("server", n.as_str()), ("cause", c.as_str())])?)?;
        }
    }
    let mut m = e.encode_descriptor("ackscope_server_stale_acks_per_minute", "stale_ack events per minute over the span the server was seen (at least a minute), by cause.", None, MetricType::Gauge)?;
    for (n, v) in &shown {
        for c in Cause::ALL {
            ConstGauge::new(v.stale_per_minute(c)).encode(m.encode_family(&[("server", n.as_str()), ("cause", c.as_str())])?)?;
        }
    }
    let mut m = e.encode_descriptor("ackscope_server_reuse_interval_median_seconds", "Median reuse interval of 4-tuples, per server (compare with ackscope_time_wait_seconds).", None, MetricType::Gauge)?;
    for (n, v) in &shown {
        if let Some(ms) = v.total.median_interval_ms() {
            ConstGauge::new(ms as f64 / 1e3).encode(m.encode_family(&[("server", n.as_str())])?)?;
        }
    }
    let mut m = e.encode_descriptor("ackscope_server_reuse_interval_seconds", "Reuse interval of 4-tuples (previous close to the reusing SYN), per server.", None, MetricType::Histogram)?;
    for (n, v) in &shown {
        let t = &v.total;
        // One bucket per octave (every fourth of the engine's log-linear buckets).
        let mut b: Vec<(f64, u64)> = Vec::with_capacity(REUSE_BUCKETS / 4 + 1);
        let mut cum = 0u64;
        for (i, c) in t.interval.iter().enumerate() {
            cum += u64::from(*c);
            if (i + 1) % 4 == 0 && i + 1 < REUSE_BUCKETS {
                b.push((bucket_low(i + 1) as f64 / 1e3, cum));
            }
        }
        // encode_histogram takes per-bucket counts.
        let mut prev = 0;
        let mut per: Vec<(f64, u64)> = b.iter().map(|&(le, c)| { let d = c - prev; prev = c; (le, d) }).collect();
        per.push((f64::MAX, t.reuses.saturating_sub(prev)));
        m.encode_family(&[("server", n.as_str())])?.encode_histogram::<NoLabelSet>(t.interval_sum_ms as f64 / 1e3, t.reuses, &per, None)?;
    }
    Ok(())
}

/// The XDP metrics of several interfaces, one `iface` label value each.
fn encode_xdp_ports(e: &mut DescriptorEncoder, ports: &[(String, BpfCounters)]) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor("ackscope_xdp_frames", "Frames the XDP program saw (host mode's ring path: packets the tc program saw).", None, MetricType::Counter)?;
    for (i, b) in ports {
        ConstCounter::new(b.frames).encode(m.encode_family(&[("iface", i.as_str())])?)?;
    }
    let mut m = e.encode_descriptor("ackscope_xdp_steered", "Frames steered to AF_XDP, by class (host mode's ring path: control segments the tc program wrote to its ring).", None, MetricType::Counter)?;
    for (i, b) in ports {
        for (class, v) in [("syn", b.steered_syn), ("synack", b.steered_synack), ("fin", b.steered_fin), ("rst", b.steered_rst), ("ack", b.steered_ack)] {
            ConstCounter::new(v).encode(m.encode_family(&[("iface", i.as_str()), ("class", class)])?)?;
        }
    }
    let mut m = e.encode_descriptor("ackscope_xdp_not_steered", "Frames not steered, by reason (host mode's ring path: by the tc program).", None, MetricType::Counter)?;
    for (i, b) in ports {
        for (reason, v) in [("tcp", b.not_steered_tcp), ("not_tcp", b.not_tcp), ("parse_fail", b.parse_fail)] {
            ConstCounter::new(v).encode(m.encode_family(&[("iface", i.as_str()), ("reason", reason)])?)?;
        }
    }
    let mut m = e.encode_descriptor("ackscope_xdp_redirect_fail", "Steered frames whose XSKMAP redirect failed (host mode's ring path: records lost to a full ring).", None, MetricType::Counter)?;
    for (i, b) in ports {
        ConstCounter::new(b.redirect_fail).encode(m.encode_family(&[("iface", i.as_str())])?)?;
    }
    let mut m = e.encode_descriptor("ackscope_xdp_flows_evicted", FLOWS_EVICTED_HELP, None, MetricType::Counter)?;
    for (i, b) in ports {
        ConstCounter::new(b.flows_evicted).encode(m.encode_family(&[("iface", i.as_str())])?)?;
    }
    Ok(())
}

const FLOWS_EVICTED_HELP: &str = "Fresh entries of the in-kernel handshake/teardown table overwritten by another 4-tuple (raise --kernel-flows).";

/// The exposition text of one scrape.
pub fn render(src: &MetricsSource) -> String {
    let mut reg = Registry::default();
    reg.register_collector(Box::new(src.clone()));
    let mut s = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut s, &reg).expect("writing to a String does not fail");
    s
}

/// Serves `GET /metrics` on its own thread until dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    /// The address actually bound.
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Bind `addr` and serve the metrics of `src` at `/metrics`.
    pub fn start(addr: &str, src: MetricsSource) -> std::io::Result<MetricsServer> {
        let server = tiny_http::Server::http(addr).map_err(|e| std::io::Error::other(format!("cannot listen on {addr}: {e}")))?;
        let bound = server.server_addr().to_ip().ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let mut reg = Registry::default();
        reg.register_collector(Box::new(src));
        let handle = std::thread::Builder::new().name("ackscope-metrics".into()).spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(200)) else { continue };
                let resp = if req.url() == "/metrics" || req.url().starts_with("/metrics?") {
                    let mut body = String::with_capacity(16 * 1024);
                    let _ = prometheus_client::encoding::text::encode(&mut body, &reg);
                    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..])
                        .expect("static header");
                    tiny_http::Response::from_string(body).with_header(header)
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
