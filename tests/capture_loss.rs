//! Capture loss: frames dropped at random (seeded) from real-kernel captures.
//!
//! - False alarms: `busy.pcap.gz` (3000 ordinary connections, every segment, made by
//!   tests/captures/gen/busy.sh) holds no stale ACK. With 1 % and 5 % of its frames dropped no
//!   `stale_ack` (nor `synack_wrong_ack`) may appear; with 10 %, at most one per 10 000
//!   connections. Each level runs over several seeds, so 12 000 connections per level.
//! - Detections: the real stale-ACK captures lose frames too; the share of runs that still
//!   report their stale ACK is printed and must stay above what the loss of the frames a
//!   detection needs (SYN, stale ACK, and the client's RST or retried SYN) allows.
//!
//! No root needed. `cargo test --release --test capture_loss -- --nocapture` prints the figures.

use std::path::{Path, PathBuf};

use ackscope::detect::{Config, Event, EventKind, Shard, EVENT_KINDS};
use ackscope::flow::KeySeed;
use ackscope::packet::{parse_frame_wire, LinkType, Parsed};
use ackscope::replay::CaptureReader;

struct Rec {
    data: Vec<u8>,
    wire: usize,
    ts: u64,
    link: LinkType,
    n: u64,
}

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn load(name: &str) -> Vec<Rec> {
    let mut r = CaptureReader::open(&captures().join(name)).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        v.push(Rec { data: f.data.to_vec(), wire: f.orig_len as usize, ts: f.ts_ns, link: f.link, n: f.number });
    }
    v
}

/// xorshift64*: a fixed sequence per seed.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Replay `frames` with each dropped with probability `loss`; events and counters.
fn run(frames: &[Rec], loss: f64, seed: u64) -> (Vec<Event>, [u64; EVENT_KINDS]) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut shard = Shard::new(Config::default(), KeySeed::fixed(seed));
    let mut ev = Vec::new();
    for f in frames {
        if rng.unit() < loss {
            continue;
        }
        if let Ok(Parsed::Tcp(s)) = parse_frame_wire(f.link, &f.data, f.wire, f.ts, f.n) {
            shard.process(&s, &mut ev);
        }
    }
    shard.finish(&mut ev);
    let counts = shard.counters.events;
    (ev, counts)
}

const SEEDS: u64 = 4;

#[test]
fn no_false_stale_acks_under_random_capture_loss() {
    let frames = load("busy.pcap.gz");
    assert!(frames.len() > 20_000, "busy capture: {} frames", frames.len());
    // The capture itself is clean.
    let (ev, _) = run(&frames, 0.0, 1);
    assert!(ev.is_empty(), "busy.pcap.gz without loss: {:?}", ev.first());
    let conns_per_run = 3000u64;
    for (loss, max_stale) in [(0.01, 0u64), (0.05, 0), (0.10, SEEDS * conns_per_run / 10_000)] {
        let mut total = [0u64; EVENT_KINDS];
        for seed in 0..SEEDS {
            let (_, c) = run(&frames, loss, 1000 + seed);
            for (t, x) in total.iter_mut().zip(c) {
                *t += x;
            }
        }
        let per_kind: Vec<String> =
            EventKind::ALL.iter().map(|k| format!("{}={}", k.as_str(), total[*k as usize])).collect();
        println!(
            "loss {:>4.1} %: {} connections over {SEEDS} seeds, false events: {}",
            loss * 100.0,
            SEEDS * conns_per_run,
            per_kind.join(" ")
        );
        let stale = total[EventKind::StaleAck as usize];
        assert!(stale <= max_stale, "loss {loss}: {stale} false stale_ack in {} connections", SEEDS * conns_per_run);
        assert_eq!(total[EventKind::SynackWrongAck as usize], 0, "loss {loss}: false synack_wrong_ack");
        assert_eq!(total[EventKind::ReuseInTimeWait as usize], 0, "loss {loss}: no port is reused in busy");
        assert_eq!(total[EventKind::ConnectionRefused as usize], 0, "loss {loss}");
    }
}

#[test]
fn stale_acks_are_still_found_under_capture_loss() {
    // Captures whose stale ACK the kernel made (tests/captures/gen), with their cause.
    let cases = ["tw_repair.pcap", "tw_repair_v6.pcap", "tw_upload.pcap", "rfc1337.pcap", "lingering_est.pcap", "lingering_finwait2.pcap"];
    let runs = 200u64;
    for loss in [0.01, 0.05, 0.10] {
        let (mut found, mut wrong, mut n) = (0u64, 0u64, 0u64);
        for name in cases {
            let frames = load(name);
            for seed in 0..runs {
                let (ev, _) = run(&frames, loss, 7000 + seed);
                n += 1;
                let stale: Vec<&Event> = ev.iter().filter(|e| e.kind == EventKind::StaleAck).collect();
                found += u64::from(!stale.is_empty());
                wrong += stale.len().saturating_sub(1) as u64;
            }
        }
        let rate = found as f64 / n as f64;
        // A detection needs the SYN, the stale ACK and one of the client's RST or retried
        // SYN: (1-p)² (1-p²) when nothing else is seen twice.
        let floor = (1.0 - loss) * (1.0 - loss) * (1.0 - loss * loss) - 0.05;
        println!("loss {:>4.1} %: stale ACK found in {found}/{n} runs ({:.1} %), floor {:.1} %", loss * 100.0, rate * 100.0, floor * 100.0);
        assert!(rate >= floor, "loss {loss}: detection {rate:.3} below {floor:.3}");
        assert_eq!(wrong, 0, "more than one stale_ack for one attempt");
    }
}

#[test]
fn corrupted_handshake_frames_do_not_make_the_next_segment_stale() {
    // Half of the SYN-ACKs, and half of the segments right after them (the client's ACK),
    // get a broken IP header: the parser refuses them, as it would a damaged capture.
    let mut frames = load("busy.pcap.gz");
    let mut rng = Rng(42);
    let (mut broken, mut errors) = (0u64, 0u64);
    let mut after = false;
    for f in frames.iter_mut() {
        let synack = f.data.len() > 47 && f.data[47] & 0x12 == 0x12;
        if (synack || after) && rng.unit() < 0.5 {
            f.data[14] = 0x55; // IP version 5
            broken += 1;
        }
        after = synack;
    }
    let mut shard = Shard::new(Config::default(), KeySeed::fixed(5));
    let mut ev = Vec::new();
    for f in &frames {
        match parse_frame_wire(f.link, &f.data, f.wire, f.ts, f.n) {
            Ok(Parsed::Tcp(s)) => shard.process(&s, &mut ev),
            Ok(Parsed::Skip(_)) => {}
            Err(_) => errors += 1,
        }
    }
    shard.finish(&mut ev);
    println!("corrupted {broken} handshake frames ({errors} refused by the parser): {} events", ev.len());
    assert!(broken > 1000 && errors == broken, "{broken} {errors}");
    assert!(ev.iter().all(|e| e.kind != EventKind::StaleAck && e.kind != EventKind::SynackWrongAck), "{:?}", ev.first());
}
