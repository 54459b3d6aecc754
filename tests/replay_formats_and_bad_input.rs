//! Capture formats (pcap µs/ns in both byte orders, pcapng with several interfaces, EPB/SPB,
//! Linux cooked v1/v2, raw IP) and damaged input: clear messages, exit codes, never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ackscope::replay::CaptureReader;

fn tmp(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("ackscope-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", N.fetch_add(1, Ordering::Relaxed)))
}

fn run(files: &[&Path]) -> (Vec<String>, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope")).args(["replay", "--format", "json"]).args(files).output().unwrap();
    let kinds = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{}@{}", v["kind"].as_str().unwrap(), v.get("frame").and_then(|f| f.as_u64()).unwrap_or(0))
        })
        .collect();
    (kinds, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().expect("exited, not killed by a signal"))
}

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/tw_repair.pcap")
}

/// (ts_ns, bytes) of every frame of the reference capture.
fn frames() -> Vec<(u64, Vec<u8>)> {
    let mut r = CaptureReader::open(&reference()).unwrap();
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        v.push((f.ts_ns, f.data.to_vec()));
    }
    v
}

fn pcap_bytes(frames: &[(u64, Vec<u8>)], big_endian: bool, nanos: bool, linktype: u32) -> Vec<u8> {
    let w32 = |v: u32| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut b = Vec::new();
    b.extend_from_slice(&w32(if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 }));
    b.extend_from_slice(&w16(2));
    b.extend_from_slice(&w16(4));
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&w32(65535));
    b.extend_from_slice(&w32(linktype));
    for (ts, d) in frames {
        b.extend_from_slice(&w32((ts / 1_000_000_000) as u32));
        let frac = if nanos { ts % 1_000_000_000 } else { (ts % 1_000_000_000) / 1000 };
        b.extend_from_slice(&w32(frac as u32));
        b.extend_from_slice(&w32(d.len() as u32));
        b.extend_from_slice(&w32(d.len() as u32));
        b.extend_from_slice(d);
    }
    b
}

fn block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let total = (12 + body.len() + pad) as u32;
    out.extend_from_slice(&btype.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&vec![0; pad]);
    out.extend_from_slice(&total.to_le_bytes());
}

fn shb(out: &mut Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(out, 0x0A0D_0D0A, &body);
}

fn idb(out: &mut Vec<u8>, linktype: u16, tsresol: Option<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(&linktype.to_le_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&0u32.to_le_bytes());
    if let Some(r) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[r, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    block(out, 1, &body);
}

fn epb(out: &mut Vec<u8>, iface: u32, ts_units: u64, data: &[u8]) {
    let mut body = Vec::new();
    body.extend_from_slice(&iface.to_le_bytes());
    body.extend_from_slice(&((ts_units >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts_units as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(out, 6, &body);
}

const EXPECTED: [&str; 3] = ["reuse_in_time_wait@15", "stale_ack@16", "stale_ack_outcome@19"];

#[test]
fn pcap_variants_give_the_same_events() {
    let (reference_events, _, code) = run(&[&reference()]);
    assert_eq!(code, 0);
    assert_eq!(reference_events, EXPECTED);
    let f = frames();
    for (be, ns) in [(false, true), (true, false), (true, true)] {
        let p = tmp("v.pcap");
        std::fs::write(&p, pcap_bytes(&f, be, ns, 1)).unwrap();
        let (ev, err, code) = run(&[&p]);
        assert_eq!((ev.iter().map(String::as_str).collect::<Vec<_>>(), code), (EXPECTED.to_vec(), 0), "be={be} ns={ns}: {err}");
    }
}

#[test]
fn linux_cooked_and_raw_ip_link_types() {
    let f = frames();
    let sll: Vec<_> = f
        .iter()
        .map(|(t, d)| {
            let mut h = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            h.extend_from_slice(&d[12..14]);
            h.extend_from_slice(&d[14..]);
            (*t, h)
        })
        .collect();
    let sll2: Vec<_> = f
        .iter()
        .map(|(t, d)| {
            let mut h = d[12..14].to_vec();
            h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            h.extend_from_slice(&d[14..]);
            (*t, h)
        })
        .collect();
    let raw: Vec<_> = f.iter().map(|(t, d)| (*t, d[14..].to_vec())).collect();
    for (name, frames, lt) in [("sll", sll, 113), ("sll2", sll2, 276), ("raw", raw, 101)] {
        let p = tmp(name);
        std::fs::write(&p, pcap_bytes(&frames, false, false, lt)).unwrap();
        let (ev, err, code) = run(&[&p]);
        assert_eq!((ev.iter().map(String::as_str).collect::<Vec<_>>(), code), (EXPECTED.to_vec(), 0), "{name}: {err}");
    }
}

#[test]
fn pcapng_with_two_interfaces_and_resolutions() {
    let f = frames();
    let mut b = Vec::new();
    shb(&mut b);
    idb(&mut b, 1, None); // µs
    idb(&mut b, 1, Some(9)); // ns
    // A name-resolution block in between is skipped.
    block(&mut b, 4, &[0, 0, 0, 0]);
    for (i, (ts, d)) in f.iter().enumerate() {
        if i % 2 == 0 {
            epb(&mut b, 0, ts / 1000, d);
        } else {
            epb(&mut b, 1, *ts, d);
        }
    }
    let p = tmp("two.pcapng");
    std::fs::write(&p, &b).unwrap();
    let (ev, err, code) = run(&[&p]);
    assert_eq!((ev.iter().map(String::as_str).collect::<Vec<_>>(), code), (EXPECTED.to_vec(), 0), "{err}");
    // A second section restarts the interface list.
    let mut b2 = b.clone();
    shb(&mut b2);
    idb(&mut b2, 1, None);
    epb(&mut b2, 0, f[0].0 / 1000, &f[0].1);
    let p2 = tmp("sections.pcapng");
    std::fs::write(&p2, &b2).unwrap();
    let (_, err, code) = run(&[&p2]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{} frames", f.len() + 1)), "{err}");
}

#[test]
fn pcapng_simple_packet_blocks_are_read() {
    let f = frames();
    let mut b = Vec::new();
    shb(&mut b);
    idb(&mut b, 1, None);
    for (_, d) in &f {
        let mut body = (d.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(d);
        block(&mut b, 3, &body);
    }
    let p = tmp("spb.pcapng");
    std::fs::write(&p, &b).unwrap();
    let (_, err, code) = run(&[&p]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{} frames, {} TCP segments", f.len(), f.len())), "{err}");
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let p = tmp("notes.txt");
    std::fs::write(&p, "hello, this is text\n").unwrap();
    let (_, err, code) = run(&[&p]);
    assert_eq!(code, 1);
    assert!(err.contains("not a pcap or pcapng capture") && err.contains("notes.txt") && err.contains("byte 0"), "{err}");
    let empty = tmp("empty.pcap");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(run(&[&empty]).2, 1);
    let missing = tmp("missing.pcap");
    let (_, err, code) = run(&[&missing]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn truncated_last_record_keeps_earlier_events() {
    let full = std::fs::read(reference()).unwrap();
    let p = tmp("cut.pcap");
    std::fs::write(&p, &full[..full.len() - 10]).unwrap();
    let (ev, err, code) = run(&[&p]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(ev[..2], EXPECTED[..2]);
    assert!(err.contains("truncated at byte") && err.contains("cut.pcap"), "{err}");
}

#[test]
fn record_length_beyond_the_file_and_absurd_lengths() {
    let full = std::fs::read(reference()).unwrap();
    // Find the last record header: walk records.
    let mut at = 24;
    let mut last = 24;
    while at + 16 <= full.len() {
        last = at;
        let incl = u32::from_le_bytes(full[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + incl;
    }
    let mut beyond = full.clone();
    beyond[last + 8..last + 12].copy_from_slice(&100_000u32.to_le_bytes());
    let p = tmp("beyond.pcap");
    std::fs::write(&p, &beyond).unwrap();
    let (_, err, code) = run(&[&p]);
    assert_eq!(code, 3);
    assert!(err.contains(&format!("truncated at byte {last}")), "{err}");
    let mut huge = full;
    huge[last + 8..last + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = tmp("huge.pcap");
    std::fs::write(&p, &huge).unwrap();
    let (_, err, code) = run(&[&p]);
    assert_eq!(code, 3);
    assert!(err.contains(&format!("corrupt record header at byte {last}")), "{err}");
}

#[test]
fn garbage_frames_are_counted_by_reason() {
    let mut f = frames();
    f.push((f.last().unwrap().0 + 1, vec![0xFF; 7])); // too short for Ethernet
    let mut bad_ihl = f[0].1.clone();
    bad_ihl[14] = 0x41;
    f.push((f.last().unwrap().0 + 1, bad_ihl));
    let p = tmp("garbage.pcap");
    std::fs::write(&p, pcap_bytes(&f, false, false, 1)).unwrap();
    let (_, err, code) = run(&[&p]);
    assert_eq!(code, 0);
    assert!(err.contains("truncated_link=1"), "{err}");
    assert!(err.contains("bad_ipv4_ihl=1"), "{err}");
    assert!(err.contains("first: frame"), "{err}");
}

#[test]
fn random_bytes_never_panic() {
    // Deterministic xorshift noise after valid headers of both formats.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = |n: usize| {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut ng = Vec::new();
    shb(&mut ng);
    let heads: [Vec<u8>; 3] = [pcap_bytes(&[], false, false, 1), ng, Vec::new()];
    for round in 0..60 {
        let mut b = heads[round % 3].clone();
        b.extend(noise(64 + round * 37));
        let p = tmp("noise");
        std::fs::write(&p, &b).unwrap();
        let (_, err, code) = run(&[&p]);
        assert!(matches!(code, 0 | 1 | 3), "round {round}: exit {code}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn several_files_in_order() {
    let ref2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures/refused.pcap");
    let (ev, _, code) = run(&[&reference(), &ref2]);
    assert_eq!(code, 0);
    assert_eq!(ev.len(), 4);
    assert_eq!(ev[3], "connection_refused@2");
}

#[test]
fn help_documents_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope")).args(["replay", "--help"]).output().unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("Exit codes") && s.contains("damaged"), "{s}");
}
