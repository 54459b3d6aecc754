//! Engine benchmark: segments per second through `Shard::process_keyed` on one core, over
//! 10 k, 1 M and 10 M tracked 4-tuples, and bytes of flow table per tracked 4-tuple.
//!
//! ```text
//! cargo bench --bench engine -- [--flows 10000,1000000,10000000] [--rounds 3]
//!                                [--window N|all] [--threads N] [--stale 0.01]
//! ```
//!
//! The workload is the traffic generator's mix (src/gen): one connection story per 4-tuple
//! per lap (handshakes, client- and server-first closes, resets, refused SYNs, retransmitted
//! SYNs, port reuses, stale-ACK exchanges at `--stale`), stories interleaved over a window of
//! `--window` open stories (default: all of them, so consecutive segments of one 4-tuple are
//! far apart and nearly every lookup misses the CPU caches, as on a busy link).
//!
//! Nothing is built while the clock runs: every segment is a pre-parsed `Segment` (one
//! template per story step and lap) and every key a precomputed fingerprint, read from an
//! array in order. Lap 0 (untimed) inserts every 4-tuple; each timed round is the next lap, in
//! which every 4-tuple is reused with fresh ISNs, so the table holds exactly N entries
//! throughout. Reported: the median (and min/max) over the rounds of segments/s, and
//! `Shard::table_bytes() / Shard::flows()`.
//!
//! `--flood N` instead measures memory: a shard with `max_flows` N takes 4 N SYNs to distinct
//! 4-tuples (a SYN flood at the cap: growth steps, then evictions and rebuilds), and the
//! process's VmRSS / VmHWM growth over that run is printed per tracked flow, beside the
//! table's own bytes per flow. Run one size per process (VmHWM only rises).
//!
//! `--threads N` runs N shards side by side, each on its own core with its own N-th of the
//! 4-tuples (the live datapath's shared-nothing layout), and reports their summed rate.

use std::time::Instant;

use ackscope::detect::{Config, Event, EventSink, Shard};
use ackscope::flow::{FlowKey, KeySeed, Side};
use ackscope::gen::mix::{MixConfig, Plan, Rng, Story, STORIES};
use ackscope::packet::{parse_frame, LinkType, Parsed, Segment};

/// Segments per story are at most this many (a stale exchange with data is 23).
const MAX_STEPS: usize = 32;

struct Args {
    flows: Vec<u64>,
    rounds: usize,
    window: Option<u32>,
    threads: usize,
    stale: f64,
    flood: Option<usize>,
}

fn parse_args() -> Args {
    let mut a = Args { flows: vec![10_000, 1_000_000, 10_000_000], rounds: 3, window: None, threads: 1, stale: 0.01, flood: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        // cargo bench passes --bench; ignore what is not ours.
        let mut val = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--flows" => a.flows = val().split(',').map(|v| v.trim().replace('_', "").parse().expect("--flows N[,N…]")).collect(),
            "--rounds" => a.rounds = val().parse().expect("--rounds N"),
            "--window" => {
                let v = val();
                a.window = if v == "all" { None } else { Some(v.parse().expect("--window N|all")) }
            }
            "--threads" => a.threads = val().parse().expect("--threads N"),
            "--stale" => a.stale = val().parse().expect("--stale R"),
            "--flood" => a.flood = Some(val().replace('_', "").parse().expect("--flood N")),
            _ => {}
        }
    }
    a
}

/// Counts events; the engine's cost of emitting them stays in the measurement.
#[derive(Default)]
struct CountSink(u64);

impl EventSink for CountSink {
    #[inline]
    fn event(&mut self, ev: &Event) {
        self.0 += 1;
        std::hint::black_box(ev);
    }
}

/// One step of the workload: which template, which 4-tuple.
#[derive(Clone, Copy)]
#[repr(C)]
struct Step {
    fp: u64,
    tmpl: u16,
    from_hi: bool,
}

/// Templates of one lap: `[story kind][step]`.
struct Lap {
    segs: Vec<Segment>,
}

/// Pre-parsed segments of one representative flow per story kind, for `laps` laps.
fn templates(plan: &Plan, laps: u64, ts0: u64) -> (Vec<Lap>, [usize; STORIES], [[bool; MAX_STEPS]; STORIES]) {
    let mut rep = [u32::MAX; STORIES];
    for &i in plan.members() {
        let k = plan.kind(i) as usize;
        if rep[k] == u32::MAX {
            rep[k] = i;
        }
    }
    let mut len = [0usize; STORIES];
    let mut from_hi = [[false; MAX_STEPS]; STORIES];
    let seed = KeySeed::fixed(0);
    let mut out = Vec::new();
    for lap in 0..laps {
        let mut segs = vec![template_filler(); STORIES * MAX_STEPS];
        for (k, &flow) in rep.iter().enumerate() {
            if flow == u32::MAX {
                continue;
            }
            let frames = plan.story(flow, lap);
            assert!(frames.len() <= MAX_STEPS);
            len[k] = frames.len();
            for (s, f) in frames.iter().enumerate() {
                let Ok(Parsed::Tcp(seg)) = parse_frame(LinkType::Ethernet, &f.data, ts0 + lap * 1_000_000, 0) else {
                    panic!("mix frame does not parse")
                };
                from_hi[k][s] = FlowKey::of(&seg, &seed).from == Side::Hi;
                segs[k * MAX_STEPS + s] = seg;
            }
        }
        out.push(Lap { segs });
    }
    (out, len, from_hi)
}

fn template_filler() -> Segment {
    let f = ackscope::packet::build::TcpSpec::new("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap(), 0, 0, 0x10).ethernet();
    match parse_frame(LinkType::Ethernet, &f, 0, 0) {
        Ok(Parsed::Tcp(s)) => s,
        _ => unreachable!(),
    }
}

/// The order of one lap: each flow's steps in order, flows interleaved over `window` open
/// stories (the same order as the generator's, without building frames).
fn schedule(plan: &Plan, len: &[usize; STORIES], from_hi: &[[bool; MAX_STEPS]; STORIES], fps: &[u64], window: usize, seed: u64) -> Vec<Step> {
    let total: usize = plan.members().iter().map(|&i| len[plan.kind(i) as usize]).sum();
    let mut out = Vec::with_capacity(total);
    let mut rng = Rng::new(seed);
    let mut open: Vec<(u32, u8, u8)> = Vec::with_capacity(window.min(plan.members().len()));
    let mut next = 0usize;
    let members = plan.members();
    loop {
        while open.len() < window && next < members.len() {
            let i = members[next];
            open.push((i, plan.kind(i) as u8, 0));
            next += 1;
        }
        if open.is_empty() {
            break;
        }
        let j = rng.below(open.len() as u64) as usize;
        let (flow, k, s) = open[j];
        out.push(Step { fp: fps[flow as usize], tmpl: (k as usize * MAX_STEPS + s as usize) as u16, from_hi: from_hi[k as usize][s as usize] });
        if s as usize + 1 == len[k as usize] {
            open.swap_remove(j);
        } else {
            open[j].2 = s + 1;
        }
    }
    out
}

#[inline(never)]
fn run_lap(shard: &mut Shard, lap: &Lap, steps: &[Step], sink: &mut CountSink) {
    let d = prefetch_distance();
    let key = |st: &Step| FlowKey { fp: st.fp, from: if st.from_hi { Side::Hi } else { Side::Lo } };
    if d > 0 && two_stage() {
        // Fingerprint line 2d ahead, entry line d ahead (src/flow/table.rs).
        for (i, st) in steps.iter().enumerate() {
            if let Some(ahead) = steps.get(i + 2 * d) {
                shard.prefetch_fps(&key(ahead));
            }
            if let Some(ahead) = steps.get(i + d) {
                shard.prefetch_entry(&key(ahead));
            }
            shard.process_keyed(&lap.segs[st.tmpl as usize], key(st), sink);
        }
        return;
    }
    if d > 0 {
        for (i, st) in steps.iter().enumerate() {
            if let Some(ahead) = steps.get(i + d) {
                shard.prefetch(&key(ahead));
            }
            shard.process_keyed(&lap.segs[st.tmpl as usize], key(st), sink);
        }
        return;
    }
    for st in steps {
        shard.process_keyed(&lap.segs[st.tmpl as usize], key(st), sink);
    }
}

struct Measured {
    rates: Vec<f64>,
    segments: u64,
    flows: usize,
    table_bytes: usize,
    events: u64,
}

/// One shard over `plan`'s flows: lap 0 untimed, then `rounds` timed laps.
fn measure(plan: &Plan, rounds: usize, window: usize, seed: u64) -> Measured {
    let n = plan.members().len();
    let mut rng = Rng::new(seed ^ 0xF1F1);
    let fps: Vec<u64> = {
        let mut v = vec![0u64; plan.flows_total()];
        for &i in plan.members() {
            v[i as usize] = rng.next_u64();
        }
        v
    };
    let ts0 = 1_700_000_000_000_000_000u64;
    let (laps, len, from_hi) = templates(plan, rounds as u64 + 1, ts0);
    let steps = schedule(plan, &len, &from_hi, &fps, window, seed);
    drop(fps);
    let cfg = Config { max_flows: n.max(16) + n / 4, ..Config::default() };
    let mut shard = Shard::new(cfg, KeySeed::fixed(1));
    let mut sink = CountSink::default();
    run_lap(&mut shard, &laps[0], &steps, &mut sink);
    let mut rates = Vec::new();
    for lap in &laps[1..] {
        let t = Instant::now();
        run_lap(&mut shard, lap, &steps, &mut sink);
        let dt = t.elapsed().as_secs_f64();
        rates.push(steps.len() as f64 / dt);
    }
    assert_eq!(shard.evictions().live + shard.evictions().tombstones, 0, "the table must never evict");
    Measured { rates, segments: steps.len() as u64, flows: shard.flows(), table_bytes: shard.table_bytes(), events: sink.0 }
}

fn prefetch_distance() -> usize {
    // Look-ahead of the table prefetch, as the live worker does per batch; ACKSCOPE_BENCH_PREFETCH=0 turns it off.
    std::env::var("ACKSCOPE_BENCH_PREFETCH").ok().and_then(|v| v.parse().ok()).unwrap_or(8)
}

fn two_stage() -> bool {
    // ACKSCOPE_BENCH_STAGES=1: one-step `Shard::prefetch` (every line of the bucket), as the
    // live worker calls it; default 2: `prefetch_fps` then `prefetch_entry`.
    std::env::var("ACKSCOPE_BENCH_STAGES").map(|v| v.trim() != "1").unwrap_or(true)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

trait FlowsTotal {
    fn flows_total(&self) -> usize;
}

impl FlowsTotal for Plan {
    fn flows_total(&self) -> usize {
        self.members().iter().copied().max().map(|m| m as usize + 1).unwrap_or(0)
    }
}

/// `VmRSS` / `VmHWM` of this process, kB.
fn vm(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A SYN flood of 4 × `cap` distinct 4-tuples into a shard capped at `cap` flows.
fn flood(cap: usize) {
    let mut seg = match parse_frame(
        LinkType::Ethernet,
        &ackscope::packet::build::TcpSpec::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), 1, 0, 0x02).ethernet(),
        0,
        0,
    ) {
        Ok(Parsed::Tcp(s)) => s,
        _ => unreachable!(),
    };
    let (rss0, hwm0) = (vm("VmRSS:"), vm("VmHWM:"));
    let mut shard = Shard::new(Config { max_flows: cap, ..Config::default() }, KeySeed::fixed(1));
    let mut sink = CountSink::default();
    let mut rng = Rng::new(99);
    let total = 4 * cap as u64;
    let t = Instant::now();
    for i in 0..total {
        seg.ts_ns = 1_700_000_000_000_000_000 + i * 1000;
        seg.frame = i + 1;
        shard.process_keyed(&seg, FlowKey { fp: rng.next_u64(), from: Side::Lo }, &mut sink);
    }
    let dt = t.elapsed().as_secs_f64();
    let (rss1, hwm1) = (vm("VmRSS:"), vm("VmHWM:"));
    let ev = shard.evictions();
    println!("| max_flows | SYNs | flows kept | evicted | table B/flow | RSS growth B/flow | peak RSS growth (VmHWM) B/flow | RSS before kB | SYNs/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {cap} | {total} | {} | {} | {:.1} | {:.1} | {:.1} | {rss0} (HWM {hwm0}) | {:.2} M |",
        shard.flows(),
        ev.live + ev.tombstones + ev.expired,
        shard.table_bytes() as f64 / shard.flows().max(1) as f64,
        rss1.saturating_sub(rss0) as f64 * 1024.0 / cap as f64,
        hwm1.saturating_sub(rss0) as f64 * 1024.0 / cap as f64,
        total as f64 / dt / 1e6
    );
}

fn main() {
    let a = parse_args();
    if let Some(cap) = a.flood {
        flood(cap);
        return;
    }
    println!(
        "engine benchmark: {} round(s) per size, window {}, {} thread(s), stale-ACK stories {:.2}%",
        a.rounds,
        a.window.map(|w| w.to_string()).unwrap_or_else(|| "all".into()),
        a.threads,
        a.stale * 100.0
    );
    println!("| tracked 4-tuples | segments/round | median segments/s | min | max | ns/segment | table bytes per 4-tuple | events/round |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &flows in &a.flows {
        let window = a.window.map(|w| w as usize).unwrap_or(usize::MAX);
        let cfg = MixConfig { flows: flows as u32, stale_ack_rate: a.stale, ipv6: 0.2, concurrency: 1, ..MixConfig::default() };
        let plan = Plan::new(&cfg);
        let parts: Vec<Plan> = (0..a.threads as u32).map(|t| plan.part(t, a.threads as u32)).collect();
        let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let results: Vec<Measured> = std::thread::scope(|s| {
            let hs: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(t, p)| {
                    let (rounds, threads) = (a.rounds, a.threads);
                    s.spawn(move || {
                        if threads > 1 {
                            core_affinity::set_for_current(core_affinity::CoreId { id: t % ncpu });
                        }
                        measure(p, rounds, window, 7 + t as u64)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("bench thread")).collect()
        });
        // Per round: the shards' rates add up (they run side by side).
        let mut total: Vec<f64> = (0..a.rounds).map(|r| results.iter().map(|m| m.rates[r]).sum()).collect();
        let segs: u64 = results.iter().map(|m| m.segments).sum();
        let tracked: usize = results.iter().map(|m| m.flows).sum();
        let bytes: usize = results.iter().map(|m| m.table_bytes).sum();
        let events: u64 = results.iter().map(|m| m.events).sum::<u64>() / (a.rounds as u64 + 1);
        let (mn, mx) = (total.iter().cloned().fold(f64::MAX, f64::min), total.iter().cloned().fold(0.0, f64::max));
        let med = median(&mut total);
        println!(
            "| {tracked} | {segs} | {:.2} M | {:.2} M | {:.2} M | {:.1} | {:.1} | {events} |",
            med / 1e6,
            mn / 1e6,
            mx / 1e6,
            1e9 / med * a.threads as f64,
            bytes as f64 / tracked.max(1) as f64
        );
        let _ = Story::ALL;
    }
}
