use super::*;
use crate::detect::{Config, Event, EventKind, Outcome, Shard};
use crate::flow::KeySeed;
use crate::packet::build::{checksum, F};
use crate::packet::{parse_frame, LinkType, Parsed};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// TCP (and IPv4 header) checksums of an untagged or single-tagged frame are valid.
fn checksums_ok(f: &[u8]) -> bool {
    let mut off = 12;
    let mut et = u16::from_be_bytes([f[off], f[off + 1]]);
    while et == 0x8100 || et == 0x88A8 {
        off += 4;
        et = u16::from_be_bytes([f[off], f[off + 1]]);
    }
    let l3 = off + 2;
    match et {
        0x0800 => {
            let tot = u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]) as usize;
            if checksum(&[&f[l3..l3 + 20]], 0) != 0 {
                return false;
            }
            let tcp = &f[l3 + 20..l3 + tot];
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&f[l3 + 12..l3 + 20]);
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
            checksum(&[&pseudo, tcp], 0) == 0
        }
        0x86DD => {
            let plen = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]) as usize;
            let tcp = &f[l3 + 40..l3 + 40 + plen];
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&f[l3 + 8..l3 + 40]);
            pseudo.extend_from_slice(&(plen as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
            checksum(&[&pseudo, tcp], 0) == 0
        }
        _ => false,
    }
}

fn engine_events(frames: impl Iterator<Item = Vec<u8>>) -> (Vec<Event>, Shard) {
    let mut shard = Shard::new(Config::default(), KeySeed::fixed(7));
    let mut ev = Vec::new();
    let mut ts = 1_700_000_000_000_000_000u64;
    for (i, f) in frames.enumerate() {
        ts += 1000;
        match parse_frame(LinkType::Ethernet, &f, ts, i as u64 + 1).expect("mix frames parse") {
            Parsed::Tcp(seg) => shard.process(&seg, &mut ev),
            Parsed::Skip(r) => panic!("frame {i} skipped: {r:?}"),
        }
    }
    (ev, shard)
}

fn count(ev: &[Event], kind: EventKind) -> u64 {
    ev.iter().filter(|e| e.kind == kind).count() as u64
}

/// The `stale_ack` events are the ones `exp` expects, in all and by cause.
fn assert_stale_acks(ev: &[Event], exp: &Expected, ctx: &str) {
    assert_eq!(count(ev, EventKind::StaleAck), exp.stale_acks, "{ctx}");
    for c in Cause::ALL {
        let got = ev.iter().filter(|e| e.kind == EventKind::StaleAck && e.cause == Some(c)).count() as u64;
        assert_eq!(got, exp.stale_by_cause[c as usize], "cause {c:?}, {ctx}");
    }
}

/// The engine reports exactly what the mix says, lap after lap, and nothing else.
fn check_against_engine(cfg: MixConfig, laps: u64, extra: usize) {
    let plan = Plan::new(&cfg);
    let mut frames = Vec::new();
    for lap in 0..laps {
        plan.for_each_frame(lap, |f| frames.push(f.clone()));
    }
    // A cut lap too.
    let lap_n = frames.len() / laps as usize;
    let cut = plan.lap(laps);
    frames.extend(cut[..extra.min(cut.len())].iter().cloned());
    for f in &frames {
        assert!(checksums_ok(&f.data), "bad checksum in {:?} frame of flow {}", f.story, f.flow);
        assert!(f.data.len() >= MIN_FRAME);
    }
    let (ev, mut shard) = engine_events(frames.iter().map(|f| f.data.clone()));
    let mut ev = ev;
    shard.finish(&mut ev);
    let exp = Expected::after(&plan.lap(0), frames.len() as u64);
    assert_eq!(exp.frames, frames.len() as u64);
    assert_eq!(lap_n as u64, plan.lap(0).len() as u64);
    assert_stale_acks(&ev, &exp, &format!("{cfg:?}"));
    assert_eq!(count(&ev, EventKind::ReuseInTimeWait), exp.reuse_in_time_wait);
    assert_eq!(count(&ev, EventKind::ConnectionRefused), exp.connection_refused);
    let recovered = ev.iter().filter(|e| e.kind == EventKind::StaleAckOutcome && e.outcome == Some(Outcome::Recovered)).count() as u64;
    assert_eq!(recovered, exp.recovered);
    assert_eq!(count(&ev, EventKind::SynackWrongAck), 0, "{:?}", ev.iter().find(|e| e.kind == EventKind::SynackWrongAck));
    assert_eq!(count(&ev, EventKind::AckedUnseen), 0, "{:?}", ev.iter().find(|e| e.kind == EventKind::AckedUnseen));
    // Flood SYNs (the same base 4-tuples every lap in user space) are tracked too.
    let flood: std::collections::HashSet<Vec<u8>> =
        plan.lap(0).iter().filter(|f| f.flood).map(|f| f.data[usize::from(f.l4off) - 8..usize::from(f.l4off) + 4].to_vec()).collect();
    assert_eq!(shard.flows() as u32, cfg.flows + flood.len() as u32);
    if extra == 0 {
        // Every attempt ended: no unresolved outcome.
        assert_eq!(count(&ev, EventKind::StaleAckOutcome), exp.recovered);
        // Each outcome counts its attempt's stale ACKs, the repeats included.
        let outcomes = ev.iter().filter(|e| e.kind == EventKind::StaleAckOutcome);
        assert_eq!(outcomes.map(|e| u64::from(e.stale_acks)).sum::<u64>(), exp.stale_ack_segments, "{cfg:?}");
        assert_eq!(shard.counters.stale_ack_repeats, exp.stale_ack_segments - exp.stale_acks);
        let ignored = ev.iter().filter(|e| e.kind == EventKind::StaleAckOutcome && e.rst_ignored == Some(true)).count() as u64;
        assert_eq!(ignored, if cfg.stale_ack_repeats > 0 { exp.recovered } else { 0 }, "rst_ignored");
    }
}

/// The event-storm mix (issue 17): every exchange's stale ACK repeats after the client's RST;
/// one `stale_ack` per exchange, the repeats only in its outcome.
#[test]
fn stale_ack_repeats_stay_in_one_attempt() {
    let cfg = MixConfig { flows: 400, stale_ack_rate: 1.0, ipv6: 0.3, concurrency: 64, stale_ack_repeats: 5, ..MixConfig::default() };
    let plan = Plan::new(&cfg);
    let exp = Expected::after(&plan.lap(0), plan.lap(0).len() as u64);
    assert_eq!(exp.stale_acks, 400);
    assert_eq!(exp.stale_ack_segments, 400 * 6);
    check_against_engine(cfg, 2, 0);
}

#[test]
fn mix_matches_the_engine_over_laps() {
    let cfg = MixConfig { flows: 2000, stale_ack_rate: 0.1, ipv6: 0.3, concurrency: 64, ..MixConfig::default() };
    check_against_engine(cfg, 3, 0);
}

#[test]
fn mix_with_data_vlan_and_a_cut_lap() {
    let cfg = MixConfig {
        flows: 777,
        stale_ack_rate: 0.25,
        ipv6: 0.5,
        concurrency: 500,
        data: Some((24, 48)),
        vlan: Some(42),
        seed: 99,
        ..MixConfig::default()
    };
    check_against_engine(cfg, 2, 1234);
}

#[test]
fn plan_counts_are_exact_and_parts_cover_every_flow() {
    let cfg = MixConfig { flows: 1003, stale_ack_rate: 0.02, ipv6: 0.25, ..MixConfig::default() };
    let plan = Plan::new(&cfg);
    let c = plan.story_counts();
    let stale: u64 = Story::STALE.iter().map(|s| c[*s as usize]).sum();
    assert_eq!(stale, 20);
    assert_eq!(c.iter().sum::<u64>(), 1003);
    assert_eq!(plan.ipv6_flows(), 251);
    let parts: Vec<Plan> = (0..3).map(|k| plan.part(k, 3)).collect();
    assert_eq!(parts.iter().map(|p| p.flows()).sum::<u32>(), 1003);
    let mut all: Vec<u32> = parts.iter().flat_map(|p| p.members().to_vec()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..1003).collect::<Vec<_>>());
    // 4-tuples are distinct.
    let mut tuples: Vec<_> = (0..1003).map(|i| plan.endpoints(i)).collect();
    tuples.sort_unstable();
    tuples.dedup();
    assert_eq!(tuples.len(), 1003);
}

#[test]
fn frames_fit_the_injector_slots() {
    let cfg = MixConfig { flows: 300, ipv6: 1.0, data: Some((24, 48)), vlan: Some(1), ..MixConfig::default() };
    let plan = Plan::new(&cfg);
    plan.for_each_frame(0, |f| assert!(f.data.len() <= GEN_SLOT, "{} bytes", f.data.len()));
}

/// The program, run in test mode, builds lap k's frame i exactly as user space builds it:
/// the in-kernel lap shift and checksum update are right.
#[test]
fn kernel_lap_shift_matches_user_space() {
    if !is_root() {
        eprintln!("SKIPPED kernel_lap_shift_matches_user_space: needs root (BPF)");
        return;
    }
    let cfg = MixConfig { flows: 200, stale_ack_rate: 0.2, ipv6: 0.5, vlan: Some(5), ..MixConfig::default() };
    let plan = Plan::new(&cfg);
    let lap0 = plan.lap(0);
    let mut inj = Injector::load(1, 0, &lap0, 64).expect("load the generator program");
    let n = lap0.len() as u64;
    for lap in [0u64, 1, 2, 77, 1_000_003] {
        let want = plan.lap(lap);
        for i in (0..n).step_by(7) {
            let got = inj.build_one(lap * n + i).expect("test run");
            assert_eq!(got, want[i as usize].data, "lap {lap} frame {i} ({:?})", want[i as usize].story);
            assert!(checksums_ok(&got));
        }
    }
    assert_eq!(inj.errors(), 0);
}

#[test]
fn syn_flood_mix_keeps_the_engine_verdicts() {
    let cfg = MixConfig { flows: 1000, stale_ack_rate: 0.1, ipv6: 0.2, concurrency: 64, syn_flood: 0.8, ..MixConfig::default() };
    let lap = Plan::new(&cfg).lap(0);
    let flood = lap.iter().filter(|f| f.flood).count() as f64;
    let share = flood / lap.len() as f64;
    assert!((share - 0.8).abs() < 0.01, "flood share {share}");
    assert!(lap.iter().filter(|f| f.flood).all(|f| f.data[12..14] == [8, 0] && f.data[14 + 20 + 13] == F::SYN));
    check_against_engine(cfg, 2, 0);
}

/// The `AF_PACKET` path's frame builder (kernels that refuse live frames) writes exactly what
/// the program writes, byte for byte: every story, IPv6, VLANs, data, flood slots with new
/// 4-tuples, over laps far apart (sequence numbers wrapping), and a capture's frames.
#[test]
fn user_space_builder_equals_the_program() {
    if !is_root() {
        eprintln!("SKIPPED user_space_builder_equals_the_program: needs root (BPF)");
        return;
    }
    let cfg = MixConfig {
        flows: 300,
        stale_ack_rate: 0.2,
        ipv6: 0.3,
        vlan: Some(9),
        data: Some((24, 48)),
        syn_flood: 0.3,
        stale_ack_repeats: 2,
        ..MixConfig::default()
    };
    let lap0 = Plan::new(&cfg).lap(0);
    let mut inj = Injector::load(1, 0, &lap0, 64).expect("load the generator program");
    let n = lap0.len() as u64;
    let mut compared = 0;
    for lap in [0u64, 1, 2, 3, 255, 4097, 1_000_003, u64::from(u32::MAX) + 5] {
        for i in (0..n).step_by(3) {
            let c = lap * n + i;
            let want = inj.build_one(c).expect("test run");
            assert_eq!(inj.frame_at(c).as_deref(), Some(&want[..]), "lap {lap} frame {i}");
            compared += 1;
        }
    }
    assert!(compared > 1000, "{compared}");
    assert_eq!(inj.errors(), 0);
    let frames: Vec<Vec<u8>> = [14usize, 60, 129, GEN_PCAP_SLOT].iter().map(|&l| (0..l).map(|i| (i * 5) as u8).collect()).collect();
    let mut inj = Injector::load_pcap(1, 0, &frames, 64).expect("load the generator program");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(inj.frame_at(i as u64).as_ref(), Some(f));
        assert_eq!(&inj.build_one(i as u64).expect("test run"), f);
    }
    assert_eq!(inj.frame_at(frames.len() as u64), None, "past the capture: nothing, as the program");
}

/// In the kernel, a flood slot gets a new 4-tuple every lap (client kept in
/// 198.18.128.0/17, server unchanged) with valid checksums.
#[test]
fn kernel_varies_the_flood_tuples_per_lap() {
    if !is_root() {
        eprintln!("SKIPPED kernel_varies_the_flood_tuples_per_lap: needs root (BPF)");
        return;
    }
    let cfg = MixConfig { flows: 50, stale_ack_rate: 0.0, ipv6: 0.0, syn_flood: 0.5, vlan: Some(7), ..MixConfig::default() };
    let lap0 = Plan::new(&cfg).lap(0);
    let mut inj = Injector::load(1, 0, &lap0, 64).expect("load the generator program");
    let n = lap0.len() as u64;
    let mut tuples = std::collections::HashSet::new();
    let mut floods = 0;
    for lap in 0..40u64 {
        for (i, f) in lap0.iter().enumerate().filter(|(_, f)| f.flood) {
            let got = inj.build_one(lap * n + i as u64).expect("test run");
            assert!(checksums_ok(&got), "lap {lap} frame {i}");
            let ip = usize::from(f.l4off) - 20;
            assert_eq!(&got[ip + 12..ip + 14], &[198, 18]);
            assert!(got[ip + 14] >= 128);
            assert_eq!(got[ip + 16..ip + 20], f.data[ip + 16..ip + 20], "server address kept");
            assert_eq!(got[ip + 22..ip + 24], f.data[ip + 22..ip + 24], "server port kept");
            tuples.insert(got[ip + 12..ip + 24].to_vec());
            floods += 1;
        }
    }
    assert!(tuples.len() as f64 > 0.99 * floods as f64, "{} distinct of {floods}", tuples.len());
    assert_eq!(inj.errors(), 0);
}

/// The capture program, run in test mode, writes frame i of its table unchanged (any bytes,
/// 14..=GEN_PCAP_SLOT long), and nothing once every frame was sent.
#[test]
fn kernel_sends_capture_frames_unchanged() {
    if !is_root() {
        eprintln!("SKIPPED kernel_sends_capture_frames_unchanged: needs root (BPF)");
        return;
    }
    let frames: Vec<Vec<u8>> = [14usize, 15, 60, 127, 128, 129, 1514, GEN_PCAP_SLOT]
        .iter()
        .enumerate()
        .map(|(k, &len)| (0..len).map(|i| (i * 7 + k * 13) as u8).collect())
        .collect();
    let mut inj = Injector::load_pcap(1, 0, &frames, 64).expect("load the generator program");
    assert_eq!(inj.lap_len(), frames.len() as u32);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(&inj.build_one(i as u64).expect("test run"), f, "frame {i}");
    }
    assert_eq!(inj.errors(), 0);
    let _ = inj.build_one(frames.len() as u64).expect("test run");
    assert_eq!(inj.errors(), 1, "a cursor past the capture sends nothing");
    for bad in [vec![0u8; 13], vec![0u8; GEN_PCAP_SLOT + 1]] {
        assert!(Injector::load_pcap(1, 0, &[bad], 64).is_err());
    }
}

/// `read_pcap` takes the Ethernet frames that fit and counts the others.
#[test]
fn read_pcap_counts_what_it_cannot_send() {
    use crate::packet::build::TcpSpec;
    let dir = std::env::temp_dir().join(format!("ackscope-gen-read-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.pcap");
    let syn = TcpSpec::new("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), 1, 0, F::SYN).ethernet();
    let mut big = TcpSpec::new("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:80".parse().unwrap(), 1, 0, F::ACK);
    big.payload = 3000;
    let frames = [syn.clone(), syn[..10].to_vec(), big.ethernet(), syn.clone()];
    let mut w = crate::output::PcapWriter::new(std::fs::File::create(&path).unwrap(), 1, true).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(i as u64 * 1000, f).unwrap();
    }
    w.into_inner().unwrap();
    let (got, sent) = read_pcap(&path, None).unwrap();
    assert_eq!(got, vec![syn.clone(), syn.clone()]);
    assert_eq!((sent.records, sent.loaded, sent.too_short, sent.too_long, sent.not_ethernet, sent.cut), (4, 2, 1, 1, 0, false));
    let (got, sent) = read_pcap(&path, Some(1)).unwrap();
    assert_eq!((got.len(), sent.cut), (1, true));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn thread_shares_add_up_exactly() {
    for threads in 1..=7u32 {
        for total in [0u64, 1, 2, 6, 7, 1000, 1_000_003] {
            let shares: Vec<u64> = (0..threads as usize).map(|t| super::thread_share(total, threads, t)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{threads} threads, {total}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1, "{shares:?}");
        }
    }
}

/// Wherever the generator stops, its expectations are what the engine reports: a stale ACK
/// that ackscope reports only once the client's RST confirms it is not expected before that
/// RST was sent (the one stale ACK a 30-minute soak was short by: the run ended between them).
#[test]
fn expectations_hold_wherever_the_stream_is_cut() {
    let cfg = MixConfig { flows: 200, stale_ack_rate: 0.5, ipv6: 0.3, concurrency: 64, seed: 5, ..MixConfig::default() };
    let plan = Plan::new(&cfg);
    let mut frames: Vec<Vec<u8>> = plan.lap(0).into_iter().map(|f| f.data).collect();
    let lap_n = frames.len();
    frames.extend(plan.lap(1).into_iter().map(|f| f.data));
    let mut held_back = 0;
    for cut in (lap_n..frames.len()).step_by(5) {
        let (mut ev, mut shard) = engine_events(frames[..cut].iter().cloned());
        shard.finish(&mut ev);
        let exp = Expected::after(&plan.lap(0), cut as u64);
        assert_stale_acks(&ev, &exp, &format!("cut after {cut} frames"));
        held_back += shard.counters.stale_ack_unconfirmed;
    }
    // The cuts did fall between a stale ACK and its confirming RST.
    assert!(held_back > 0);
}
