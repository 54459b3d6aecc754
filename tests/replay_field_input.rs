//! What captures from the field contain (issue 11): gzip-compressed files, sub-second
//! timestamp fields out of range, malformed TCP options. Each is read, counted, and gives the
//! events of the clean capture.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;
use flate2::Compression;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ackscope-field-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/tw_repair.pcap")
}

/// `kind@frame` of every event, stderr, exit code.
fn run(file: &Path) -> (Vec<String>, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope")).args(["replay", "--format", "json"]).arg(file).output().unwrap();
    let kinds = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{}@{}", v["kind"].as_str().unwrap(), v["frame"])
        })
        .collect();
    (kinds, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap())
}

fn gz(parts: &[&[u8]]) -> Vec<u8> {
    // One gzip member per part, concatenated (as `gzip -c a >> b` leaves them).
    let mut out = Vec::new();
    for p in parts {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(p).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

#[test]
fn gzip_pcap_gives_the_same_events_in_one_or_several_members() {
    let raw = std::fs::read(reference()).unwrap();
    let (want, _, code) = run(&reference());
    assert_eq!(code, 0);
    assert_eq!(want.len(), 3);
    let one = tmp("one.pcap.gz");
    std::fs::write(&one, gz(&[&raw])).unwrap();
    let (got, err, code) = run(&one);
    assert_eq!((got, code), (want.clone(), 0), "{err}");
    let cut = raw.len() / 2;
    let two = tmp("two.pcap.gz");
    std::fs::write(&two, gz(&[&raw[..cut], &raw[cut..]])).unwrap();
    let (got, err, code) = run(&two);
    assert_eq!((got, code), (want, 0), "{err}");
    // The name does not matter, the gzip magic does.
    let (_, err, code) = run(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/busy.pcap.gz"));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn gzip_pcapng_is_read() {
    // A pcapng with one interface, made from the reference frames.
    let mut r = ackscope::replay::CaptureReader::open(&reference()).unwrap();
    let mut b = Vec::new();
    let block = |out: &mut Vec<u8>, t: u32, body: &[u8]| {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&vec![0u8; pad]);
        out.extend_from_slice(&total.to_le_bytes());
    };
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut b, 0x0A0D_0D0A, &shb);
    block(&mut b, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        let us = f.ts_ns / 1000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&f.orig_len.to_le_bytes());
        epb.extend_from_slice(f.data);
        block(&mut b, 6, &epb);
        n += 1;
    }
    let p = tmp("ref.pcapng.gz");
    std::fs::write(&p, gz(&[&b])).unwrap();
    let (got, err, code) = run(&p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(got, run(&reference()).0);
    assert!(err.contains(&format!("{n} frames")), "{err}");
}

#[test]
fn out_of_range_sub_second_timestamps_are_normalised_and_counted() {
    let mut raw = std::fs::read(reference()).unwrap();
    // First record: µs field 1 500 000 = 1.5 s (the excess belongs to the seconds).
    let frac = u32::from_le_bytes(raw[28..32].try_into().unwrap());
    let sec = u32::from_le_bytes(raw[24..28].try_into().unwrap());
    raw[24..28].copy_from_slice(&(sec - 1).to_le_bytes());
    raw[28..32].copy_from_slice(&(frac + 1_000_000).to_le_bytes());
    let p = tmp("ts.pcap");
    std::fs::write(&p, &raw).unwrap();
    let (got, err, code) = run(&p);
    assert_eq!(code, 0, "not damaged input any more: {err}");
    assert_eq!(got, run(&reference()).0, "same instant, same events");
    assert!(err.contains("timestamps normalised: 1 records"), "{err}");
}

#[test]
fn malformed_tcp_options_keep_the_segment() {
    // Break the options of every SYN of the reference capture: the events stay the same, the
    // segments are counted as "tcp_options_ignored" instead of being dropped.
    let mut r = ackscope::replay::CaptureReader::open(&reference()).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        frames.push((f.ts_ns, f.data.to_vec()));
    }
    let mut broken = 0;
    for (_, d) in frames.iter_mut() {
        let ihl = usize::from(d[14] & 0x0F) * 4;
        let t = 14 + ihl;
        let doff = usize::from(d[t + 12] >> 4) * 4;
        if d[t + 13] & 0x02 != 0 && doff > 20 && d[t + 20] > 1 {
            d[t + 21] = 60; // first option's length runs past the header
            broken += 1;
        }
    }
    assert!(broken >= 2);
    let mut w = ackscope::output::PcapWriter::new(Vec::new(), 1, false).unwrap();
    for (ts, d) in &frames {
        w.write(*ts, d).unwrap();
    }
    let p = tmp("opts.pcap");
    std::fs::write(&p, w.into_inner().unwrap()).unwrap();
    let (got, err, code) = run(&p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(got, run(&reference()).0);
    assert!(err.contains(&format!("tcp_options_ignored={broken}")), "{err}");
    assert!(!err.contains("parse problems"), "{err}");
}
