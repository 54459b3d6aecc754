//! `xsk_probe` — proves the live datapath end to end.
//!
//! ```text
//! xsk_probe IFACE QUEUES SECONDS [--xdp auto|native|generic] [--bind auto|copy|zerocopy]
//!           [--steer mirror|pass] [--forward OUT_IFACE] [--force] [--flow-age-ms N]
//!           [--busy-poll]
//! ```
//!
//! `--forward OUT_IFACE` selects forward mode: frames that are not steered
//! leave through OUT_IFACE (DEVMAP) instead of being dropped.
//!
//! Attaches the XDP steering program to IFACE, opens one AF_XDP socket per
//! queue `0..QUEUES` (each moved into its own thread), receives for SECONDS
//! and prints, as `key=value` text:
//!
//! * `attach:` the mode the program got and whether it is a bpf_link;
//! * `queue N:` frames received per queue, how many carried the kernel
//!   timestamp in their XDP metadata, a per-class tally from a tiny parser,
//!   `data_steered` (ACKs with payload and no SYN/FIN/RST — must stay 0) and
//!   the kernel→user latency derived from the stamps;
//! * `bpf:` the program's counters; `xsk N:` the socket's XDP_STATISTICS;
//! * `detached:` whether the interface is free of XDP programs afterwards.
//!
//! Needs root. SIGINT/SIGTERM end the run early (with cleanup).
//!

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ackscope::datapath::sys::monotonic_ns;
use ackscope::datapath::xdp::{prog_id_on, AttachMode, SteerConfig, SteerMode, XdpSteer};
use ackscope::datapath::xsk::{BindMode, BusyPoll, RxCounts, XskConfig, XskQueue, XskStats};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Per-queue tally of what user space received.
#[derive(Debug, Default, Clone)]
struct Tally {
    syn: u64,
    synack: u64,
    fin: u64,
    rst: u64,
    bare_ack: u64,
    /// ACK with payload and no SYN/FIN/RST: must never be steered.
    data_steered: u64,
    other: u64,
    lat_max_ns: u64,
    lat_sum_ns: u64,
    lat_n: u64,
}

struct Args {
    iface: String,
    queues: u32,
    seconds: u64,
    steer: SteerConfig,
    xsk: XskConfig,
    forward: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: xsk_probe IFACE QUEUES SECONDS [--xdp auto|native|generic] \
         [--bind auto|copy|zerocopy] [--steer mirror|pass] [--forward OUT_IFACE] [--force] [--flow-age-ms N] [--busy-poll]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let iface = it.next()?;
    let queues = it.next()?.parse().ok()?;
    let seconds = it.next()?.parse().ok()?;
    let mut steer = SteerConfig::default();
    let mut xsk = XskConfig::default();
    let mut forward = None;
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--xdp" => {
                steer.attach_mode = match it.next()?.as_str() {
                    "auto" => AttachMode::Auto,
                    "native" => AttachMode::Native,
                    "generic" => AttachMode::Generic,
                    _ => return None,
                }
            }
            "--bind" => {
                xsk.bind_mode = match it.next()?.as_str() {
                    "auto" => BindMode::Auto,
                    "copy" => BindMode::Copy,
                    "zerocopy" => BindMode::ZeroCopy,
                    _ => return None,
                }
            }
            "--steer" => {
                steer.steer_mode = match it.next()?.as_str() {
                    "mirror" => SteerMode::Mirror,
                    "pass" => SteerMode::Pass,
                    _ => return None,
                }
            }
            "--forward" => {
                forward = Some(it.next()?);
                steer.steer_mode = SteerMode::Forward;
            }
            "--force" => steer.force = true,
            "--flow-age-ms" => steer.flow_age = Duration::from_millis(it.next()?.parse().ok()?),
            "--busy-poll" => xsk.busy_poll = Some(BusyPoll::default()),
            _ => return None,
        }
    }
    Some(Args { iface, queues, seconds, steer, xsk, forward })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Some(args) = parse_args() else {
        return usage();
    };
    // SAFETY: `on_signal` only stores to an atomic, which is
    // async-signal-safe; the handler stays valid for the whole process.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t);
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xsk_probe: {e}");
            ExitCode::from(1)
        }
    }
}

/// Returns whether the interface was left clean.
fn run(args: &Args) -> Result<bool, ackscope::datapath::DatapathError> {
    let steer = XdpSteer::attach(&args.iface, &args.steer)?;
    let ifindex = steer.ifindex();
    println!(
        "attach: iface={} ifindex={} mode={} link={} prog_id={}",
        args.iface,
        ifindex,
        steer.attached_mode(),
        steer.is_link(),
        steer.prog_id()
    );

    if let Some(out) = &args.forward {
        let to = ackscope::datapath::sys::ifindex_of(out)?;
        steer.set_forward(ifindex, to)?;
        println!("forward: {} -> {out} (ifindex {to})", args.iface);
    }

    let mut sockets = Vec::new();
    for q in 0..args.queues {
        let xsk = XskQueue::open(&args.iface, q, &args.xsk)?;
        steer.register_socket(q, xsk.fd())?;
        println!("socket: queue={q} fd={} zerocopy={}", xsk.fd(), xsk.is_zerocopy());
        sockets.push(xsk);
    }

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for mut xsk in sockets {
        let stop = Arc::clone(&stop);
        // The queue moves into its worker thread: XskQueue is Send.
        workers.push(std::thread::spawn(move || -> (XskQueue, Tally, Option<String>) {
            let mut tally = Tally::default();
            let mut err = None;
            while !stop.load(Ordering::Relaxed) {
                let res = xsk.recv_batch(64, 100, |ts, frame| {
                    let now = monotonic_ns();
                    let lat = now.saturating_sub(ts);
                    tally.lat_max_ns = tally.lat_max_ns.max(lat);
                    tally.lat_sum_ns += lat;
                    tally.lat_n += 1;
                    classify(frame, &mut tally);
                });
                if let Err(e) = res {
                    err = Some(e.to_string());
                    break;
                }
            }
            (xsk, tally, err)
        }));
    }

    while Instant::now() < deadline && !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);

    let mut results: Vec<(XskQueue, Tally, Option<String>)> = Vec::new();
    for w in workers {
        results.push(w.join().expect("worker panicked"));
    }
    let counters = steer.counters()?;
    let tracked = steer.tracked_flows();
    let mut total = 0;
    for (xsk, t, err) in &results {
        let c: RxCounts = xsk.rx_counts();
        total += c.frames;
        let avg_us = t.lat_sum_ns.checked_div(t.lat_n).unwrap_or(0) / 1000;
        println!(
            "queue {}: frames={} kernel_ts={} syn={} synack={} fin={} rst={} bare_ack={} \
             data_steered={} other={} lat_avg_us={} lat_max_us={}",
            xsk.queue(),
            c.frames,
            c.kernel_ts,
            t.syn,
            t.synack,
            t.fin,
            t.rst,
            t.bare_ack,
            t.data_steered,
            t.other,
            avg_us,
            t.lat_max_ns / 1000
        );
        if let Some(e) = err {
            println!("queue {}: error={e}", xsk.queue());
        }
    }
    println!("total: frames={total}");
    println!("bpf: {counters} tracked_flows={tracked}");
    for (xsk, _, _) in &results {
        let s: XskStats = xsk.stats()?;
        println!(
            "xsk {}: rx_dropped={} rx_invalid_descs={} tx_invalid_descs={} rx_ring_full={} \
             rx_fill_ring_empty_descs={} tx_ring_empty_descs={}",
            xsk.queue(),
            s.rx_dropped,
            s.rx_invalid_descs,
            s.tx_invalid_descs,
            s.rx_ring_full,
            s.rx_fill_ring_empty_descs,
            s.tx_ring_empty_descs
        );
    }

    // Sockets first, then the program.
    drop(results);
    drop(steer);
    let left = prog_id_on(ifindex)?;
    println!("detached: {}", if left.is_none() { "yes" } else { "no" });
    Ok(left.is_none())
}

/// Minimal L2–L4 parse (Ethernet, ≤2 VLAN tags, IPv4/IPv6 without extension
/// headers, TCP) to tally what arrived.
fn classify(frame: &[u8], t: &mut Tally) {
    let Some((flags, payload)) = tcp_flags_payload(frame) else {
        t.other += 1;
        return;
    };
    let (syn, ack, fin, rst) = (flags & 0x02 != 0, flags & 0x10 != 0, flags & 0x01 != 0, flags & 0x04 != 0);
    if rst {
        t.rst += 1;
    } else if syn && ack {
        t.synack += 1;
    } else if syn {
        t.syn += 1;
    } else if fin {
        t.fin += 1;
    } else if ack && payload == 0 {
        t.bare_ack += 1;
    } else if ack {
        t.data_steered += 1;
    } else {
        t.other += 1;
    }
}

fn tcp_flags_payload(f: &[u8]) -> Option<(u8, usize)> {
    let be16 = |o: usize| Some(u16::from_be_bytes([*f.get(o)?, *f.get(o + 1)?]));
    let mut off = 12;
    let mut et = be16(off)?;
    for _ in 0..2 {
        if et == 0x8100 || et == 0x88a8 {
            off += 4;
            et = be16(off)?;
        }
    }
    let l3 = off + 2;
    let (l4, l4_len) = match et {
        0x0800 => {
            let ihl = usize::from(*f.get(l3)? & 0x0f) * 4;
            if *f.get(l3 + 9)? != 6 {
                return None;
            }
            (l3 + ihl, usize::from(be16(l3 + 2)?).checked_sub(ihl)?)
        }
        0x86dd => {
            if *f.get(l3 + 6)? != 6 {
                return None;
            }
            (l3 + 40, usize::from(be16(l3 + 4)?))
        }
        _ => return None,
    };
    let doff = usize::from(*f.get(l4 + 12)? >> 4) * 4;
    Some((*f.get(l4 + 13)?, l4_len.checked_sub(doff)?))
}
