//! Malformed frames, live, as root (issue 17): the malformed-frame set is written as a capture
//! and sent by `ackscope gen --pcap` (each frame once, in order, through the generator's
//! BPF_PROG_RUN live-frames path) into `ackscope run --mode mirror` on the veth peer
//! (tests/live/malformed.sh). Without root this test says so and passes, unless
//! ACKSCOPE_REQUIRE_ROOT=1 demands it (CI runs as root).
//!
//! The set: every crafted Ethernet frame of tests/common/malformed.rs (truncations, bad IHL,
//! total length and data offset, IPv6 extension-header chains and loops of every type, 0-6
//! VLAN tags, bad TCP option lists, encapsulations), the first frames of a real capture cut at
//! every offset, the Ethernet entries of the `parse_frame` fuzz corpus, and a real stale-ACK
//! exchange (tests/captures/lingering_est.pcap) after them; of these, the
//! frames a 1500-byte-MTU veth carries (14..=1518 bytes; shorter and jumbo frames are covered
//! by tests/malformed.rs through BPF_PROG_RUN).
//!
//! Like with like: the XDP classifier drops the frames it does not steer before user space, so
//! - `xdp.*` of the live summary (frames, parse_fail, not_tcp, not_steered_tcp, steered)
//!   equals the same program's counts over the same frames in the same order with
//!   BPF_PROG_RUN (`classify_test_run`);
//! - `parse_errors_by_reason` / `skipped_by_reason` (what reached user space) equal
//!   `ackscope replay` of the steered frames; and `ackscope replay` of the whole capture
//!   counts exactly that plus the parser's reasons of the frames XDP kept back;
//! - the events equal those of `ackscope replay` of the steered frames.

mod common;
use common::malformed::crafted;
use common::{events, num, out_dir, read, root_or_skip, run_script, summary};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ackscope::datapath::xdp::{classify_test_run, SteerConfig, SteerMode};
use ackscope::output::PcapWriter;
use ackscope::packet::{parse_frame, LinkType, ParseError, Parsed, SkipReason, PARSE_REASONS};
use ackscope::replay::CaptureReader;
use serde_json::Value;

/// Longest frame a veth of MTU 1500 delivers (with one VLAN tag).
const WIRE_MAX: usize = 1518;
/// Frames per second of the generator (the whole set takes well under a second).
const RATE: u32 = 20_000;

fn the_set() -> Vec<Vec<u8>> {
    let mut set: Vec<Vec<u8>> = crafted().into_iter().filter(|c| c.link == LinkType::Ethernet).map(|c| c.frame).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut caps: Vec<PathBuf> = std::fs::read_dir(root.join("tests/captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    caps.sort();
    let mut r = CaptureReader::open(&caps[0]).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        for cut in 14..=f.data.len() {
            set.push(f.data[..cut].to_vec());
        }
        n += 1;
        if n == 4 {
            break;
        }
    }
    let mut fuzz: Vec<PathBuf> =
        std::fs::read_dir(root.join("fuzz/corpus/parse_frame")).unwrap().map(|e| e.unwrap().path()).collect();
    fuzz.sort();
    for p in fuzz {
        let d = std::fs::read(&p).unwrap();
        if d.first().is_some_and(|s| s % 8 == 0) {
            set.push(d[1..].to_vec());
        }
    }
    // And a real stale-ACK exchange among them (one stale_ack and its outcome in replay), so
    // that the events compared are not only none.
    let mut r = CaptureReader::open(&root.join("tests/captures/lingering_est.pcap")).unwrap();
    while let Some(f) = r.next_frame().unwrap() {
        set.push(f.data.to_vec());
    }
    set.retain(|f| (14..=WIRE_MAX).contains(&f.len()));
    set
}

fn write_pcap(path: &Path, frames: &[&[u8]]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap(), 1, true).unwrap();
    let gap = 1_000_000_000 / u64::from(RATE);
    for (i, f) in frames.iter().enumerate() {
        w.write(1_700_000_000_000_000_000 + i as u64 * gap, f).unwrap();
    }
    w.into_inner().unwrap();
}

/// Per-reason counts (errors, skips) from the text summary of `ackscope replay`, and its events.
fn replay(pcap: &Path, events_path: &Path) -> (BTreeMap<String, u64>, BTreeMap<String, u64>, Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["replay", "--format", "json", "--events"])
        .arg(events_path)
        .arg(pcap)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay {}: {err}", pcap.display());
    let reasons: Vec<&str> = (0..PARSE_REASONS).map(ParseError::reason_name).collect();
    let skips: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
    let (mut e, mut s) = (BTreeMap::new(), BTreeMap::new());
    let mut in_problems = false;
    for line in err.lines() {
        let skip_line = line.starts_with("skipped (not TCP for us):") || line.starts_with("encapsulations not decoded");
        if line.starts_with("parse problems:") {
            in_problems = true;
            continue;
        }
        in_problems &= line.starts_with("  ");
        for tok in line.split_whitespace() {
            let Some((k, v)) = tok.split_once('=') else { continue };
            let Ok(v) = v.parse::<u64>() else { continue };
            if in_problems && reasons.contains(&k) {
                *e.entry(k.to_string()).or_insert(0) += v;
            } else if skip_line && skips.contains(&k) {
                *s.entry(k.to_string()).or_insert(0) += v;
            }
        }
    }
    (e, s, events(events_path), err)
}

/// The nonzero entries of a `{name: count}` object.
fn nonzero(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().unwrap().iter().filter_map(|(k, n)| n.as_u64().filter(|&n| n > 0).map(|n| (k.clone(), n))).collect()
}

/// Events as comparable keys (times and measured durations left out), sorted.
fn keys(evs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = evs
        .iter()
        .map(|e| format!("{} {} {} -> {} {}", e["kind"], e["cause"], e["client"], e["server"], e["outcome"]))
        .collect();
    k.sort();
    k
}

#[test]
fn malformed_frames_live_match_replay() {
    if !root_or_skip("live_malformed") {
        return;
    }
    let out = out_dir("ackscope-live-malformed");
    std::fs::create_dir_all(&out).unwrap();
    let set = the_set();
    let frames: Vec<&[u8]> = set.iter().map(|f| &f[..]).collect();
    // What the XDP program makes of each frame, in order (its flow table persists).
    let (runs, total) = classify_test_run(&frames, &SteerConfig { steer_mode: SteerMode::Mirror, ..SteerConfig::default() })
        .expect("load the XDP program");
    let steered: Vec<&[u8]> = frames.iter().zip(&runs).filter(|(_, r)| r.counters.steered() == 1).map(|(f, _)| *f).collect();
    let kept_back: Vec<&[u8]> = frames.iter().zip(&runs).filter(|(_, r)| r.counters.steered() == 0).map(|(f, _)| *f).collect();
    let all_pcap = out.join("malformed.pcap");
    let steered_pcap = out.join("steered.pcap");
    write_pcap(&all_pcap, &frames);
    write_pcap(&steered_pcap, &steered);

    let o = out.to_str().unwrap();
    run_script("malformed.sh", 90, &[o, all_pcap.to_str().unwrap(), &RATE.to_string()], &[]);
    let err = read(&out, "ackscope.err");
    let gen: Value = serde_json::from_str(&read(&out, "gen.json")).unwrap_or_else(|e| panic!("gen.json: {e}\n{err}"));
    let s = summary(&out.join("summary.json"), &err);
    // Survived, every frame sent and counted.
    assert_eq!(read(&out, "alive").trim(), "1", "ackscope died: {err}");
    assert_eq!(read(&out, "rc").trim(), "0", "{err}");
    assert_eq!(num(&s, "/exit_code"), 0, "{s:#}");
    assert_eq!(s["accounting"]["adds_up"], true, "{s:#}");
    let n = frames.len() as u64;
    assert_eq!((num(&gen, "/loaded"), num(&gen, "/frames"), num(&gen, "/errors")), (n, n, 0), "{gen:#}");
    // The classifier, live = BPF_PROG_RUN of the same frames.
    let x = &s["xdp"];
    assert_eq!(num(x, "/frames"), n, "{s:#}");
    assert_eq!(num(x, "/frames"), total.frames, "{s:#}\n{total}");
    assert_eq!(num(x, "/parse_fail"), total.parse_fail, "{s:#}\n{total}");
    assert_eq!(num(x, "/not_tcp"), total.not_tcp, "{s:#}\n{total}");
    assert_eq!(num(x, "/not_steered_tcp"), total.not_steered_tcp, "{s:#}\n{total}");
    assert_eq!(num(x, "/steered"), total.steered(), "{s:#}\n{total}");
    assert_eq!(num(x, "/steered"), steered.len() as u64);
    assert_eq!(num(x, "/redirect_fail"), 0, "{s:#}");
    // User space, live = replay of the steered frames, reason by reason.
    let live_err = nonzero(&s["parse_errors_by_reason"]);
    let live_skip = nonzero(&s["skipped_by_reason"]);
    let (st_err, st_skip, st_ev, st_log) = replay(&steered_pcap, &out.join("steered-events.jsonl"));
    assert_eq!(live_err, st_err, "parse errors by reason, live vs replay of the steered frames\n{st_log}");
    assert_eq!(live_skip, st_skip, "skips by reason, live vs replay of the steered frames\n{st_log}");
    // Replay of the whole capture = the above + the parser's reasons of what XDP kept back.
    let (all_err, all_skip, all_ev, all_log) = replay(&all_pcap, &out.join("all-events.jsonl"));
    let (mut want_err, mut want_skip) = (live_err.clone(), live_skip.clone());
    for f in &kept_back {
        match parse_frame(LinkType::Ethernet, f, 1, 1) {
            Err(e) => *want_err.entry(e.reason().to_string()).or_insert(0) += 1,
            Ok(Parsed::Skip(r)) => *want_skip.entry(r.as_str().to_string()).or_insert(0) += 1,
            Ok(Parsed::Tcp(_)) => {}
        }
    }
    assert_eq!(all_err, want_err, "replay of the whole capture\n{all_log}");
    assert_eq!(all_skip, want_skip, "replay of the whole capture\n{all_log}");
    // Events, live = replay of the steered frames.
    let live_ev = events(&out.join("events.jsonl"));
    assert_eq!(keys(&live_ev), keys(&st_ev), "events, live vs replay of the steered frames");
    assert!(common::count(&live_ev, "stale_ack", Some("lingering_established")) == 1, "the real stale ACK among the malformed frames: {live_ev:#?}");
    let errors: u64 = live_err.values().sum();
    eprintln!(
        "live_malformed: {n} frames sent at {} frames/s; XDP: parse_fail {} not_tcp {} not_steered_tcp {} steered {}; \
         user space: {errors} parse errors in {} reasons, {} skipped; events live {} = replay of the steered {} (replay of all: {})",
        gen["rate_fps"],
        total.parse_fail,
        total.not_tcp,
        total.not_steered_tcp,
        total.steered(),
        live_err.len(),
        live_skip.values().sum::<u64>(),
        live_ev.len(),
        st_ev.len(),
        all_ev.len()
    );
    assert!(total.parse_fail > 50 && errors > 0, "the set must exercise both the classifier's and the parser's rejections");
    let _ = std::fs::remove_dir_all(&out);
}
