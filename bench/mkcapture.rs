//! `mkcapture`: a large capture for the replay benchmark, with known needles.
//!
//! ```text
//! mkcapture OUT.pcap [--flows N] [--laps L] [--stale R] [--ipv6 F] [--data REQ,RESP|none]
//!                    [--concurrency W] [--gap-ns G] [--seed S]
//! mkcapture --check OUT.needles EVENTS.jsonl
//! mkcapture --walk CAPTURE
//! ```
//!
//! Writes the traffic generator's mix (src/gen) as a classic pcap (µs timestamps, `--gap-ns`
//! apart, valid checksums): `--laps` laps over `--flows` 4-tuples, each 4-tuple running one
//! connection story per lap — handshakes with a request/response, client- and server-first
//! closes, resets, refused SYNs, retransmitted SYNs, port reuses — and `--stale` of the
//! stories are stale-ACK exchanges of the four causes (the *needles*).
//!
//! Next to it, `OUT.needles` lists every needle, one per line:
//! `FRAME CAUSE CLIENT SERVER` (1-based frame number as Wireshark counts, of the stale ACK
//! itself as the event names it, even when the client's RST is what lets ackscope report it;
//! the cause ackscope must name), after a `#` header with the totals and the other events ackscope must report.
//!
//! `--check` compares ackscope's JSON events with the needles: every needle must be reported
//! as a `stale_ack` at its frame with its cause, and nothing else as a `stale_ack`. It prints
//! one line `needles N found F missed M wrong_cause C extra X` and exits 0 only when all are
//! found and nothing is extra.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use ackscope::detect::{Cause, CAUSES};
use ackscope::gen::mix::{Expected, MixConfig, Plan, Trigger};
use ackscope::output::PcapWriter;

struct Args {
    out: PathBuf,
    cfg: MixConfig,
    laps: u64,
    gap_ns: u64,
}

fn usage() -> ExitCode {
    eprintln!("usage: mkcapture OUT.pcap [--flows N] [--laps L] [--stale R] [--ipv6 F] [--data REQ,RESP|none] [--concurrency W] [--gap-ns G] [--seed S]\n       mkcapture --check OUT.needles EVENTS.jsonl\n       mkcapture --walk CAPTURE");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--walk") && argv.len() == 2 {
        return walk(&argv[1]);
    }
    if argv.first().map(String::as_str) == Some("--check") {
        if argv.len() != 3 {
            return usage();
        }
        return check(&argv[1], &argv[2]);
    }
    let Some(out) = argv.first() else { return usage() };
    let mut a = Args {
        out: PathBuf::from(out),
        cfg: MixConfig { flows: 100_000, stale_ack_rate: 0.001, ipv6: 0.2, concurrency: 1024, data: Some((100, 400)), ..MixConfig::default() },
        laps: 5,
        gap_ns: 1000,
    };
    let mut it = argv[1..].iter();
    while let Some(k) = it.next() {
        let Some(v) = it.next() else { return usage() };
        let ok = match k.as_str() {
            "--flows" => v.parse().map(|x| a.cfg.flows = x).is_ok(),
            "--laps" => v.parse().map(|x| a.laps = x).is_ok(),
            "--stale" => v.parse().map(|x| a.cfg.stale_ack_rate = x).is_ok(),
            "--ipv6" => v.parse().map(|x| a.cfg.ipv6 = x).is_ok(),
            "--concurrency" => v.parse().map(|x| a.cfg.concurrency = x).is_ok(),
            "--gap-ns" => v.parse().map(|x| a.gap_ns = x).is_ok(),
            "--seed" => v.parse().map(|x| a.cfg.seed = x).is_ok(),
            "--data" if v == "none" => {
                a.cfg.data = None;
                true
            }
            "--data" => match v.split_once(',').map(|(x, y)| (x.parse(), y.parse())) {
                Some((Ok(x), Ok(y))) => {
                    a.cfg.data = Some((x, y));
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            eprintln!("mkcapture: bad option {k} {v}");
            return usage();
        }
    }
    match write(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkcapture: {e}");
            ExitCode::from(1)
        }
    }
}

fn write(a: &Args) -> std::io::Result<()> {
    let plan = Plan::new(&a.cfg);
    let f = std::fs::File::create(&a.out)?;
    let mut pcap = PcapWriter::new(BufWriter::with_capacity(1 << 20, f), 1, false)?;
    let needles_path = a.out.with_extension("needles");
    let mut needles: Vec<String> = Vec::new();
    let mut exp = Expected::default();
    let mut frame = 0u64;
    // Per 4-tuple, the frame of its latest stale ACK segment: a stale ACK above the SYN is
    // reported when the client's RST confirms it (that RST carries the trigger), but the event
    // names the stale ACK's own frame, as every needle does.
    let mut last_stale: HashMap<u32, u64> = HashMap::new();
    // 2026-01-01T00:00:00Z.
    let mut ts = 1_767_225_600_000_000_000u64;
    let mut err = None;
    for lap in 0..a.laps {
        let mut lap_frames = Vec::new();
        plan.for_each_frame(lap, |f| {
            if err.is_some() {
                return;
            }
            frame += 1;
            ts += a.gap_ns;
            if let Err(e) = pcap.write(ts, &f.data) {
                err = Some(e);
                return;
            }
            if f.stale_segment {
                last_stale.insert(f.flow, frame);
            }
            if let Trigger::StaleAck(story) = f.trigger {
                let (c, s) = plan.endpoints(f.flow);
                let cause = story.cause(lap).map(Cause::as_str).unwrap_or("?");
                let at = last_stale.get(&f.flow).copied().unwrap_or(frame);
                needles.push(format!("{at} {cause} {c} {s}"));
            }
            lap_frames.push(f.clone());
        });
        if let Some(e) = err.take() {
            return Err(e);
        }
        // Count this lap with its own lap number (the `unknown` cause only on lap 0).
        let e = Expected::after(&lap_frames, lap_frames.len() as u64);
        let mut e = e;
        if lap > 0 {
            // `after` counts a single lap as lap 0; move its `unknown` needles to lingering_close.
            let u = e.stale_by_cause[Cause::Unknown as usize];
            e.stale_by_cause[Cause::Unknown as usize] = 0;
            e.stale_by_cause[Cause::LingeringClose as usize] += u;
        }
        exp.add(&e);
    }
    pcap.into_inner()?;
    let mut w = BufWriter::new(std::fs::File::create(&needles_path)?);
    let causes: Vec<String> = Cause::ALL.iter().zip(exp.stale_by_cause).map(|(c, n)| format!("{}={n}", c.as_str())).collect();
    writeln!(
        w,
        "# frames={} flows={} laps={} stale_ack={} {} reuse_in_time_wait={} connection_refused={} recovered={} data_segments={}",
        exp.frames,
        plan.flows(),
        a.laps,
        exp.stale_acks,
        causes.join(" "),
        exp.reuse_in_time_wait,
        exp.connection_refused,
        exp.recovered,
        exp.data_segments
    )?;
    for n in &needles {
        writeln!(w, "{n}")?;
    }
    w.flush()?;
    eprintln!(
        "mkcapture: {} frames, {} needles ({}) -> {} and {}",
        exp.frames,
        needles.len(),
        causes.join(" "),
        a.out.display(),
        needles_path.display()
    );
    Ok(())
}

fn check(needles: &str, events: &str) -> ExitCode {
    let read = |p: &str| std::fs::File::open(p).map(std::io::BufReader::new);
    let (Ok(nf), Ok(ef)) = (read(needles), read(events)) else {
        eprintln!("mkcapture --check: cannot read {needles} or {events}");
        return ExitCode::from(1);
    };
    let mut want: HashMap<u64, String> = HashMap::new();
    for line in nf.lines().map_while(Result::ok) {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        if let (Some(f), Some(c)) = (it.next(), it.next()) {
            if let Ok(f) = f.parse() {
                want.insert(f, c.to_string());
            }
        }
    }
    let (mut found, mut wrong, mut extra) = (0u64, 0u64, 0u64);
    let mut by_cause = [0u64; CAUSES];
    for line in ef.lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if v["kind"] != "stale_ack" {
            continue;
        }
        let frame = v["frame"].as_u64().unwrap_or(0);
        let cause = v["cause"].as_str().unwrap_or("");
        match want.remove(&frame) {
            Some(c) if c == cause => {
                found += 1;
                if let Some(i) = Cause::ALL.iter().position(|x| x.as_str() == cause) {
                    by_cause[i] += 1;
                }
            }
            Some(_) => wrong += 1,
            None => extra += 1,
        }
    }
    let missed = want.len() as u64;
    let total = found + wrong + missed;
    let causes: Vec<String> = Cause::ALL.iter().zip(by_cause).map(|(c, n)| format!("{}={n}", c.as_str())).collect();
    println!("needles {total} found {found} missed {missed} wrong_cause {wrong} extra {extra} ({})", causes.join(" "));
    if missed == 0 && wrong == 0 && extra == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The replay's floor: ackscope's own capture reader walking every record header (the file read
/// into its window, each record's lengths and timestamp), no parsing, no engine. bench/replay.sh
/// times it beside `ackscope replay` in the same round.
fn walk(path: &str) -> ExitCode {
    let mut r = match ackscope::replay::CaptureReader::open(std::path::Path::new(path)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mkcapture --walk: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut frames, mut bytes, mut ts) = (0u64, 0u64, 0u64);
    loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                frames += 1;
                bytes += u64::from(f.orig_len);
                ts ^= f.ts_ns;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("mkcapture --walk: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("frames {frames} bytes {bytes} ts {ts:x}");
    ExitCode::SUCCESS
}
