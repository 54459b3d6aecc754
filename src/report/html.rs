//! The HTML page: hand-written markup and SVG (see docs/ARCHITECTURE.md for why no crate).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::capture::{REUSE_BINS, TIME_BINS};
use super::ladder;
use super::model::{percentile, Row};
use super::Gathered;
use crate::detect::{Cause, EventKind, Outcome, CAUSES};
use crate::output::format_rfc3339;

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A signed duration in ns, readable: `+0.412 ms`, `-2.315 s`.
pub fn fmt_dur_signed(ns: i64) -> String {
    let sign = if ns < 0 { '-' } else { '+' };
    let a = ns.unsigned_abs();
    if a < 1_000_000 {
        format!("{sign}{:.1} µs", a as f64 / 1e3)
    } else if a < 1_000_000_000 {
        format!("{sign}{:.3} ms", a as f64 / 1e6)
    } else {
        format!("{sign}{:.3} s", a as f64 / 1e9)
    }
}

/// µs as milliseconds with three decimals.
pub fn fmt_ms_us(us: u64) -> String {
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

fn ts(ns: u64) -> String {
    let mut s = String::new();
    format_rfc3339(ns as i64, &mut s);
    s
}

const CSS: &str = "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1180px;padding:16px;color:#222;background:#fff}\
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:4px 0}\
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right;font-size:13px}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
table.sortable th{cursor:pointer}table.sortable th:after{content:' \\2195';color:#aaa}\
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:120px}.card b{display:block;font-size:20px}\
.c0{color:#c62828}.c1{color:#1565c0}.c2{color:#6a1b9a}.c3{color:#616161}\
.ladder{border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:8px}.lbody{display:flex;gap:14px;align-items:flex-start}.lbody svg{flex:none}.lbody>div{flex:1 1 300px;min-width:260px}\
.ev{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0;font-size:13px;max-width:420px}.ev dt{color:#666}.ev dd{margin:0}\
.expl{font-size:13px;max-width:420px;color:#333;background:#fafafa;border-left:3px solid #bbb;padding:4px 8px}\
svg text{font:12px system-ui,sans-serif}.lane{text-anchor:middle;font-weight:600}.hdr{fill:#888}.lanel{stroke:#bbb;stroke-width:2}\
.fr,.tm{fill:#555;font-family:ui-monospace,monospace!important}.l{text-anchor:middle}.n{text-anchor:middle;font-style:italic;fill:#555}\
.phase{font-weight:600;font-style:normal;fill:#333}.okn{fill:#2e7d32;font-weight:600}.bad{fill:#c62828;font-weight:600}\
.a{stroke-width:1.6}.a.seg{stroke:#444}.a.old{stroke:#999}.a.syn{stroke:#1f5fbf}.a.retry{stroke:#6a3fb5}.a.stale{stroke:#c62828;stroke-width:2.4}.a.rst{stroke:#e65100}.a.ok{stroke:#2e7d32}\
.l.old{fill:#888}.l.syn{fill:#1f5fbf}.l.retry{fill:#6a3fb5}.l.stale{fill:#c62828;font-weight:700}.l.rst{fill:#e65100}.l.ok{fill:#2e7d32;font-weight:600}\
.gap{fill:#f5f5f5;stroke:#ccc;stroke-dasharray:4 3}.gapt{text-anchor:middle;fill:#666}\
.axis{stroke:#999}.tick{fill:#666;font-size:11px!important}.tw{stroke:#c62828;stroke-dasharray:5 3;stroke-width:2}\
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;height:10px;margin-right:4px}\
.muted{color:#777}.row{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}";

const CAUSE_COLORS: [&str; CAUSES] = ["#c62828", "#1565c0", "#6a1b9a", "#9e9e9e"];

const SCRIPT: &str = "(function(){\
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),d=th.dataset.dir==='d'?1:-1;\
th.dataset.dir=d===1?'a':'d';var r=Array.prototype.slice.call(b.rows);\
r.sort(function(x,y){var p=x.cells[i].dataset.v||x.cells[i].textContent,q=y.cells[i].dataset.v||y.cells[i].textContent,m=parseFloat(p),n=parseFloat(q);\
return d*(isNaN(m)||isNaN(n)?p.localeCompare(q):m-n);});r.forEach(function(e){b.appendChild(e);});});});\
var n=document.querySelectorAll('section.ladder').length;document.getElementById('js-status').textContent=n+' ladder'+(n===1?'':'s')+' drawn';\
document.body.setAttribute('data-js','ok');})();";

/// The whole page.
pub fn render(g: &Gathered) -> String {
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">");
    // Errors of the page's own script become visible (and testable) in the DOM.
    o.push_str("<script>window.addEventListener('error',function(e){document.documentElement.setAttribute('data-js-error',String(e.message));});</script>");
    let _ = write!(o, "<title>ackscope incident report</title><style>{CSS}</style></head><body>");
    o.push_str(ladder::MARKERS);
    o.push_str("<h1>ackscope incident report</h1>");
    let _ = write!(o, "<p class=\"muted\">{} · <span id=\"js-status\">(script not run)</span></p>", inputs_line(g));
    summary(g, &mut o);
    series(g, &mut o);
    if g.from_capture {
        histogram(g, &mut o);
    }
    tables(g, &mut o);
    ladders(g, &mut o);
    o.push_str("<p class=\"muted\">Made by ackscope report. Self-contained: no network access, no external script or font.</p>");
    let _ = writeln!(o, "<script>{SCRIPT}</script></body></html>");
    o
}

fn inputs_line(g: &Gathered) -> String {
    let what = if g.from_capture { "captures" } else { "events files" };
    let names: Vec<String> = g.model.files.iter().map(|f| std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.clone())).collect();
    let shown = if names.len() > 12 { format!("{} … ({} files)", names[..12].join(", "), names.len()) } else { names.join(", ") };
    format!("from {what}: {}", esc(&shown))
}

fn card(o: &mut String, label: &str, value: String) {
    let _ = write!(o, "<div class=\"card\"><b>{}</b>{}</div>", esc(&value), esc(label));
}

fn summary(g: &Gathered, o: &mut String) {
    let m = &g.model;
    o.push_str("<h2>Summary</h2><div class=\"cards\">");
    let span = g.engine.as_ref().and_then(|e| e.span).or(m.event_span);
    match span {
        Some((a, b)) => card(o, &format!("time span, {} → {}", ts(a), ts(b)), fmt_dur_signed((b - a) as i64).trim_start_matches('+').to_string()),
        None => card(o, "time span", "—".into()),
    }
    if let Some(e) = &g.engine {
        card(o, "frames", e.frames.to_string());
        card(o, "TCP segments", e.segments.to_string());
    }
    if let Some(t) = &g.trace {
        card(o, if t.tuples_capped { "4-tuples (cap reached)" } else { "4-tuples" }, t.tuples.to_string());
        card(o, "4-tuple reuses", t.reuses.to_string());
    }
    card(o, "stale ACKs", m.stale_acks().to_string());
    let total: u64 = m.kinds.iter().sum();
    card(o, "events", total.to_string());
    o.push_str("</div>");
    // Events by kind.
    o.push_str("<div class=\"row\"><div><h3>Events by kind</h3><table><tr><th>kind</th><th>count</th></tr>");
    for k in EventKind::ALL {
        let _ = write!(o, "<tr><td>{}</td><td>{}</td></tr>", k.as_str(), m.kinds[k as usize]);
    }
    o.push_str("</table></div>");
    // Stale ACKs by cause and outcome.
    o.push_str("<div><h3>Stale ACKs by cause and outcome</h3><table><tr><th>cause</th><th>stale ACKs</th>");
    for out in Outcome::ALL {
        let _ = write!(o, "<th>{}</th>", out.as_str());
    }
    o.push_str("</tr>");
    for c in Cause::ALL {
        let _ = write!(o, "<tr><td class=\"{}\">{}</td><td>{}</td>", ladder::cause_class(Some(c)), c.as_str(), m.causes[c as usize]);
        for out in Outcome::ALL {
            let _ = write!(o, "<td>{}</td>", m.cause_outcome[c as usize][out as usize]);
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    let mut rec = m.recovery_us.clone();
    rec.sort_unstable();
    o.push_str("<h3>Recovery time (first stale-ACKed SYN → SYN-ACK)</h3>");
    if rec.is_empty() {
        o.push_str("<p class=\"muted\">No recovered attempt.</p>");
    } else {
        o.push_str("<table><tr><th>recovered</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>");
        let _ = write!(o, "<tr><td>{}</td>", rec.len());
        for p in [50.0, 90.0, 99.0, 100.0] {
            let _ = write!(o, "<td>{}</td>", percentile(&rec, p).map(fmt_ms_us).unwrap_or_default());
        }
        o.push_str("</tr></table>");
    }
    o.push_str("</div></div>");
    if !m.explanations.is_empty() {
        o.push_str("<h3>What this means</h3><dl class=\"ev\" style=\"max-width:none\">");
        for (label, text) in &m.explanations {
            let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(text));
        }
        o.push_str("</dl>");
    }
    if let Some(e) = &g.engine {
        if e.time_backwards > 0 {
            let _ = write!(o, "<p class=\"bad\">{} segments went back in time (inputs not in capture order?): the engine used its own clock for them, so outcomes and recovery times there are unreliable; give the files in the order they were captured.</p>", e.time_backwards);
        }
        for d in &e.damaged {
            let _ = write!(o, "<p class=\"bad\">damaged input: {}</p>", esc(d));
        }
    }
    if m.bad_lines > 0 {
        let _ = write!(o, "<p class=\"bad\">{} lines of the events files could not be read, e.g. {}</p>", m.bad_lines, esc(&m.bad_line_examples.join("; ")));
    }
    if g.opts.pcap_dir.is_some() {
        let _ = write!(o, "<p class=\"muted\">{} flagged-flow captures from --pcap-dir used for ladders.</p>", g.pcaps_used);
    }
}

fn series(g: &Gathered, o: &mut String) {
    let m = &g.model;
    let Some(span) = g.engine.as_ref().and_then(|e| e.span).or(m.event_span) else { return };
    let mut bins = [[0u64; CAUSES]; TIME_BINS];
    for &(t, c) in &m.stale_times {
        bins[super::capture::time_bin(t, span)][c as usize] += 1;
    }
    let (reuse, reuse_label): ([u64; TIME_BINS], &str) = match &g.trace {
        Some(t) => (t.reuse_series, "4-tuple reuses"),
        None => {
            let mut r = [0u64; TIME_BINS];
            for &t in &m.tw_reuse_times {
                r[super::capture::time_bin(t, span)] += 1;
            }
            (r, "reuse_in_time_wait events (an events file has no plain reuses)")
        }
    };
    let (w, h, l, b) = (1000i32, 220i32, 50i32, 30i32);
    let pw = w - l - 60;
    let ph = h - b - 14;
    let smax = bins.iter().map(|x| x.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let rmax = reuse.iter().copied().max().unwrap_or(0).max(1);
    o.push_str("<h2>Over time</h2>");
    let _ = write!(o, "<p class=\"legend\">");
    for c in Cause::ALL {
        let _ = write!(o, "<span><i class=\"sw\" style=\"background:{}\"></i>stale ACK {}</span>", CAUSE_COLORS[c as usize], c.as_str());
    }
    let _ = write!(o, "<span><i class=\"sw\" style=\"background:#222;height:2px\"></i>{} (right axis)</span></p>", esc(reuse_label));
    let _ = write!(o, "<svg id=\"series\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"time series\">");
    let bw = pw as f64 / TIME_BINS as f64;
    for (i, counts) in bins.iter().enumerate() {
        let mut y = (14 + ph) as f64;
        for c in 0..CAUSES {
            if counts[c] == 0 {
                continue;
            }
            let hh = counts[c] as f64 / smax as f64 * ph as f64;
            y -= hh;
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{hh:.1}\" fill=\"{}\"><title>{} stale ACKs ({})</title></rect>",
                l as f64 + i as f64 * bw + 1.0,
                (bw - 2.0).max(1.0),
                CAUSE_COLORS[c],
                counts[c],
                Cause::ALL[c].as_str()
            );
        }
    }
    let mut pts = String::new();
    for (i, &r) in reuse.iter().enumerate() {
        let x = l as f64 + (i as f64 + 0.5) * bw;
        let y = 14.0 + ph as f64 - r as f64 / rmax as f64 * ph as f64;
        let _ = write!(pts, "{x:.1},{y:.1} ");
    }
    let _ = write!(o, "<polyline points=\"{pts}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\"/>");
    let _ = write!(o, "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>", 14 + ph, l + pw, 14 + ph);
    let _ = write!(o, "<line x1=\"{l}\" y1=\"14\" x2=\"{l}\" y2=\"{}\" class=\"axis\"/>", 14 + ph);
    let _ = write!(o, "<text x=\"{}\" y=\"18\" class=\"tick\" text-anchor=\"end\">{smax}</text><text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">0</text>", l - 4, l - 4, 14 + ph);
    let _ = write!(o, "<text x=\"{}\" y=\"18\" class=\"tick\">{rmax}</text>", l + pw + 4);
    let _ = write!(o, "<text x=\"{l}\" y=\"{}\" class=\"tick\">{}</text>", h - 8, esc(&ts(span.0)));
    let _ = write!(o, "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>", l + pw, h - 8, esc(&fmt_dur_signed((span.1 - span.0) as i64)));
    o.push_str("</svg>");
    let _ = write!(o, "<p class=\"muted\">{} bins of {} each; stale ACKs stacked by cause (left axis).</p>", TIME_BINS, esc(fmt_dur_signed(((span.1 - span.0) / TIME_BINS as u64) as i64).trim_start_matches('+')));
}

fn bin_edge_ms(k: usize) -> f64 {
    10f64.powf(k as f64 / 4.0)
}

fn fmt_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else {
        format!("{:.0} min", ms / 60_000.0)
    }
}

fn histogram(g: &Gathered, o: &mut String) {
    let Some(t) = &g.trace else { return };
    let tw_ms = g.opts.engine.time_wait_ms as f64;
    o.push_str("<h2>How fast 4-tuples come back</h2>");
    let _ = write!(
        o,
        "<p>Interval between a 4-tuple's last segment and the SYN that reuses it (new ISN), for {} reuses. \
         <b class=\"c0\">{}</b> came back within the server's TIME_WAIT ({}, dashed line): a server that closed first still holds them.</p>",
        t.reuses,
        t.reuses_within_tw,
        fmt_ms(tw_ms)
    );
    let (w, h, l, b) = (1000i32, 220i32, 50i32, 34i32);
    let pw = w - l - 20;
    let ph = h - b - 14;
    let max = t.reuse_hist.iter().copied().max().unwrap_or(0).max(1);
    let bw = pw as f64 / REUSE_BINS as f64;
    let _ = write!(o, "<svg id=\"reuse\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"reuse interval histogram\">");
    for (i, &n) in t.reuse_hist.iter().enumerate() {
        let hh = n as f64 / max as f64 * ph as f64;
        // Bin i covers [edge(i-1), edge(i)) ms; bin 0 is below 1 ms.
        let hi = if i == 0 { 1.0 } else { bin_edge_ms(i) };
        let fill = if hi <= tw_ms { "#e57373" } else { "#90a4ae" };
        let range = match i {
            0 => "< 1 ms".to_string(),
            i if i == REUSE_BINS - 1 => format!("≥ {}", fmt_ms(bin_edge_ms(i - 1))),
            i => format!("{} – {}", fmt_ms(bin_edge_ms(i - 1)), fmt_ms(hi)),
        };
        let _ = write!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hh:.1}\" fill=\"{fill}\"><title>{n} reuses, {}</title></rect>",
            l as f64 + i as f64 * bw + 1.0,
            14.0 + ph as f64 - hh,
            (bw - 2.0).max(1.0),
            esc(&range)
        );
    }
    // Ticks at each decade.
    for (k, label) in [(1usize, "1 ms"), (5, "10 ms"), (9, "100 ms"), (13, "1 s"), (17, "10 s"), (21, "100 s"), (25, "1000 s")] {
        let x = l as f64 + k as f64 * bw;
        let _ = write!(o, "<text x=\"{x:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{label}</text>", h - 18);
    }
    // TIME_WAIT marker: position of tw_ms on the bin scale (bin k starts at 10^((k-1)/4) ms).
    let pos = if tw_ms < 1.0 { 0.0 } else { tw_ms.log10() * 4.0 + 1.0 };
    let x = l as f64 + pos.min(REUSE_BINS as f64) * bw;
    let _ = write!(o, "<line x1=\"{x:.1}\" y1=\"10\" x2=\"{x:.1}\" y2=\"{}\" class=\"tw\"/><text x=\"{:.1}\" y=\"24\" class=\"tick\" fill=\"#c62828\">TIME_WAIT {}</text>", 14 + ph, x + 4.0, fmt_ms(tw_ms));
    let _ = write!(o, "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>", 14 + ph, l + pw, 14 + ph);
    let _ = write!(o, "<text x=\"{}\" y=\"18\" class=\"tick\" text-anchor=\"end\">{max}</text>", l - 4);
    let _ = write!(o, "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">reuse interval (log scale)</text>", l + pw / 2, h - 2);
    o.push_str("</svg>");
}

fn row_cells(o: &mut String, r: &Row) {
    let _ = write!(o, "<td>{}</td>", r.stale());
    for c in Cause::ALL {
        let _ = write!(o, "<td>{}</td>", r.causes[c as usize]);
    }
    let _ = write!(
        o,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        r.outcomes[Outcome::Recovered as usize],
        r.outcomes[Outcome::Failed as usize],
        r.kinds[EventKind::ReuseInTimeWait as usize],
        r.kinds[EventKind::ConnectionRefused as usize]
    );
    if let Some(mean) = r.recovery_sum_us.checked_div(r.outcomes[Outcome::Recovered as usize]) {
        let _ = write!(o, "<td data-v=\"{mean}\">{}</td><td data-v=\"{}\">{}</td>", fmt_ms_us(mean), r.recovery_max_us, fmt_ms_us(r.recovery_max_us));
    } else {
        o.push_str("<td data-v=\"-1\">—</td><td data-v=\"-1\">—</td>");
    }
}

fn table_head(o: &mut String, first: &str, id: &str) {
    let _ = write!(o, "<table class=\"sortable\" id=\"{id}\"><thead><tr><th>{first}</th><th>stale ACKs</th>");
    for c in Cause::ALL {
        let _ = write!(o, "<th>{}</th>", c.as_str());
    }
    o.push_str("<th>recovered</th><th>failed</th><th>reuse_in_time_wait</th><th>refused</th><th>mean recovery</th><th>max recovery</th></tr></thead><tbody>");
}

fn rank<K: Copy>(rows: &[(K, Row)]) -> Vec<(K, Row)> {
    let mut v = rows.to_vec();
    v.sort_by(|a, b| b.1.stale().cmp(&a.1.stale()).then(b.1.kinds.iter().sum::<u64>().cmp(&a.1.kinds.iter().sum::<u64>())));
    v
}

fn tables(g: &Gathered, o: &mut String) {
    let m = &g.model;
    let top = g.opts.top.max(1);
    o.push_str("<h2>Servers and clients</h2><p class=\"muted\">Click a column to sort.</p>");
    let servers: Vec<(SocketAddr, Row)> = m.servers.iter().map(|(k, v)| (*k, *v)).collect();
    let servers = rank(&servers);
    let _ = write!(o, "<h3>Top {} servers (of {}) by stale ACKs</h3>", top.min(servers.len()), servers.len());
    table_head(o, "server", "servers");
    for (k, r) in servers.iter().take(top) {
        let _ = write!(o, "<tr><td>{}</td>", esc(&k.to_string()));
        row_cells(o, r);
        o.push_str("</tr>");
    }
    let rest: Vec<&Row> = servers.iter().skip(top).map(|(_, r)| r).chain(std::iter::once(&m.other_server)).collect();
    other_row(o, &rest);
    o.push_str("</tbody></table>");
    let clients: Vec<(IpAddr, Row)> = m.clients.iter().map(|(k, v)| (*k, *v)).collect();
    let clients = rank(&clients);
    let _ = write!(o, "<h3>Top {} clients (of {}) by stale ACKs</h3>", top.min(clients.len()), clients.len());
    table_head(o, "client", "clients");
    for (k, r) in clients.iter().take(top) {
        let _ = write!(o, "<tr><td>{}</td>", esc(&k.to_string()));
        row_cells(o, r);
        o.push_str("</tr>");
    }
    let rest: Vec<&Row> = clients.iter().skip(top).map(|(_, r)| r).chain(std::iter::once(&m.other_client)).collect();
    other_row(o, &rest);
    o.push_str("</tbody></table>");
}

fn other_row(o: &mut String, rest: &[&Row]) {
    let mut sum = Row::default();
    for r in rest {
        for (a, b) in sum.causes.iter_mut().zip(r.causes) {
            *a += b;
        }
        for (a, b) in sum.outcomes.iter_mut().zip(r.outcomes) {
            *a += b;
        }
        for (a, b) in sum.kinds.iter_mut().zip(r.kinds) {
            *a += b;
        }
        sum.recovery_sum_us += r.recovery_sum_us;
        sum.recovery_max_us = sum.recovery_max_us.max(r.recovery_max_us);
    }
    if sum.kinds.iter().sum::<u64>() > 0 {
        o.push_str("<tr><td data-v=\"~\">(all others)</td>");
        row_cells(o, &sum);
        o.push_str("</tr>");
    }
}

fn ladders(g: &Gathered, o: &mut String) {
    let m = &g.model;
    let drawn = m.select(g.opts.max_ladders);
    o.push_str("<h2>Incidents</h2>");
    if (drawn.len() as u64) < m.stale_acks() {
        let _ = write!(
            o,
            "<p>{} of {} stale ACKs drawn (--max-ladders {}): the earliest of each cause taken in turn, so every cause present is shown; the tables above count them all.</p>",
            drawn.len(),
            m.stale_acks(),
            g.opts.max_ladders
        );
    } else {
        let _ = write!(o, "<p>Every stale ACK, {} in all, as a ladder: client left, server right, time downwards.</p>", drawn.len());
    }
    for (n, inc) in drawn.iter().enumerate() {
        let ev = &inc.stale;
        let cause = ev.cause.map(|c| c.as_str()).unwrap_or("unknown");
        let _ = write!(
            o,
            "<section class=\"ladder\" id=\"incident-{}\" data-cause=\"{cause}\" data-frame=\"{}\"><h3>#{} <span class=\"{}\">{cause}</span> · {} → {} · stale ACK frame {} · {}</h3><div class=\"lbody\">",
            n + 1,
            ev.frame,
            n + 1,
            ladder::cause_class(ev.cause),
            esc(&ev.client.to_string()),
            esc(&ev.server.to_string()),
            if ev.frame != 0 { format!("#{}", ev.frame) } else { "— (live)".into() },
            esc(&ts(ev.ts_ns))
        );
        ladder::svg(inc, o);
        o.push_str("<div>");
        ladder::evidence(inc, &m.files, o);
        o.push_str("</div></div></section>");
    }
}
