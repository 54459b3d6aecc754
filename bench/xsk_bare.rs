//! `xsk_bare`: the practical ceiling of ackscope's live path — the same XDP steering program
//! and AF_XDP sockets, and a receive loop that only takes frames and gives them back.
//!
//! ```text
//! xsk_bare IFACE [--queues N] [--seconds S] [--batch N] [--cores LIST] [--ring N] [--frames N] [--pace-us U]
//!          [--idle-ms M]
//! ```
//!
//! Attaches `ackscope_xdp` (mirror mode: control segments to the sockets, everything else
//! dropped) to IFACE, opens one socket per queue `0..N`, each received by its own thread pinned
//! to its core (default: queue i on core i), counts frames for S seconds (or until SIGINT /
//! SIGTERM), and prints `key=value` lines: `bare:` totals, `queue Q:` per socket with its
//! XDP_STATISTICS, `bpf:` the program's counters, and the loss accounting.
//! Frame contents are never read. `--pace-us U`: after a batch smaller than a quarter of
//! `--batch`, wait U µs before the next receive (what ackscope's mirror and host workers do,
//! `datapath::Paced`), for a like-for-like CPU-per-frame comparison; `--idle-ms M`: how long an
//! idle loop waits in `poll()` (1 ms by default; ackscope's single-queue worker waits
//! `datapath::pool::IDLE_WAIT_MS`). Needs root.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ackscope::datapath::xdp::{SteerConfig, SteerMode, XdpSteer};
use ackscope::datapath::xsk::{XskConfig, XskQueue};

struct Args {
    iface: String,
    queues: u32,
    seconds: f64,
    batch: usize,
    cores: Option<Vec<usize>>,
    ring: u32,
    frames: u32,
    pace_us: u64,
    idle_ms: i32,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let iface = it.next().ok_or("usage: xsk_bare IFACE [--queues N] [--seconds S] [--batch N] [--cores LIST] [--ring N] [--frames N] [--pace-us U] [--idle-ms M]")?;
    let mut a = Args { iface, queues: 1, seconds: 10.0, batch: 64, cores: None, ring: 2048, frames: 4096, pace_us: 0, idle_ms: 1 };
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{k} {v}: {e}");
        match k.as_str() {
            "--queues" => a.queues = v.parse().map_err(|e| bad(&e))?,
            "--seconds" => a.seconds = v.parse().map_err(|e| bad(&e))?,
            "--batch" => a.batch = v.parse().map_err(|e| bad(&e))?,
            "--ring" => a.ring = v.parse().map_err(|e| bad(&e))?,
            "--frames" => a.frames = v.parse().map_err(|e| bad(&e))?,
            "--pace-us" => a.pace_us = v.parse().map_err(|e| bad(&e))?,
            "--idle-ms" => a.idle_ms = v.parse().map_err(|e| bad(&e))?,
            "--cores" => a.cores = Some(v.split(',').map(|c| c.trim().parse().map_err(|e| bad(&e))).collect::<Result<_, _>>()?),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xsk_bare: {e}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let steer = match XdpSteer::attach(&a.iface, &SteerConfig { steer_mode: SteerMode::Mirror, ..SteerConfig::default() }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xsk_bare: attach: {e}");
            return ExitCode::from(1);
        }
    };
    let xcfg = XskConfig { frame_count: a.frames, fill_ring: a.ring, rx_ring: a.ring, ..XskConfig::default() };
    let mut socks = Vec::new();
    for q in 0..a.queues {
        match XskQueue::open(&a.iface, q, &xcfg) {
            Ok(s) => {
                if let Err(e) = steer.register_socket(q, s.fd()) {
                    eprintln!("xsk_bare: register queue {q}: {e}");
                    return ExitCode::from(1);
                }
                socks.push(s);
            }
            Err(e) => {
                eprintln!("xsk_bare: open queue {q}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!("socket: {} queue(s) on {} ready", socks.len(), a.iface);
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..a.queues).map(|_| AtomicU64::new(0)).collect());
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(a.seconds);
    let handles: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let (stop, counts) = (stop.clone(), counts.clone());
            let core = a.cores.as_ref().map(|c| c.get(i).copied()).unwrap_or(Some(i % ncpu));
            let batch = a.batch;
            let pace = Duration::from_micros(a.pace_us);
            let idle_ms = a.idle_ms;
            std::thread::Builder::new().name(format!("xsk_bare-q{i}")).spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                let mut n = 0u64;
                let mut idle = false;
                let mut err = None;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match s.recv_batch(batch, if idle { idle_ms } else { 0 }, |_, _| {}) {
                        Ok(k) => {
                            n += k as u64;
                            idle = k == 0;
                            if k > 0 {
                                counts[i].store(n, Ordering::Relaxed);
                                if !pace.is_zero() && k < batch.div_ceil(4) {
                                    std::thread::sleep(pace);
                                }
                            }
                        }
                        Err(e) => {
                            err = Some(e.to_string());
                            break;
                        }
                    }
                }
                counts[i].store(n, Ordering::Relaxed);
                (s, err)
            })
            .expect("spawn a receive thread")
        })
        .collect();
    let mut total = 0u64;
    let mut drops = 0u64;
    let mut lines = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (s, err) = h.join().expect("receive thread");
        let n = counts[i].load(Ordering::Relaxed);
        total += n;
        let x = s.stats().unwrap_or_default();
        drops += x.rx_dropped + x.rx_ring_full + x.rx_invalid_descs;
        lines.push(format!(
            "queue {i}: received={n} rx_dropped={} rx_ring_full={} fill_ring_empty={} invalid_descs={}{}",
            x.rx_dropped,
            x.rx_ring_full,
            x.rx_fill_ring_empty_descs,
            x.rx_invalid_descs,
            err.map(|e| format!(" error={e}")).unwrap_or_default()
        ));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let bpf = steer.counters().unwrap_or_default();
    println!("bare: received={total} elapsed={elapsed:.3} rate={:.0}", total as f64 / elapsed);
    for l in lines {
        println!("{l}");
    }
    println!("bpf: {bpf}");
    let delivered = bpf.steered().saturating_sub(bpf.redirect_fail);
    println!(
        "accounting: steered={} redirect_fail={} received={total} kernel_drops={drops} unaccounted={}",
        bpf.steered(),
        bpf.redirect_fail,
        delivered as i64 - (total + drops) as i64
    );
    ExitCode::SUCCESS
}
