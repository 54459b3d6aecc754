//! Replays every committed fuzz corpus entry (`fuzz/corpus/<target>/*`) through the same code
//! as the fuzz targets (the harness file is shared with `#[path]`), so `cargo test` guards
//! against regressions without libFuzzer or nightly.
//!
//! The seeds themselves are written by the ignored test `write_seed_corpus`:
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` (see fuzz/README.md).

#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use ackscope::packet::build::{TcpSpec, F};
use ackscope::packet::{parse_frame, LinkType, Parsed, Segment};
use ackscope::replay::CaptureReader;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Runs `f` on every entry; a panic names the entry.
fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let entries = corpus(target);
    for (path, data) in &entries {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(data)));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target} corpus entry {} fails: {msg}", path.display());
        }
    }
    entries.len()
}

#[test]
fn parse_frame_corpus() {
    let n = replay("parse_frame", harness::parse_frame_input);
    eprintln!("parse_frame: {n} corpus entries replayed");
}

#[test]
fn capture_reader_corpus() {
    let n = replay("capture_reader", |d| {
        harness::capture_reader_input(d);
    });
    eprintln!("capture_reader: {n} corpus entries replayed");
}

#[test]
fn engine_corpus() {
    let n = replay("engine", |d| {
        harness::engine_input(d);
    });
    eprintln!("engine: {n} corpus entries replayed");
}

#[test]
fn flow_table_corpus() {
    let n = replay("flow_table", harness::flow_table_input);
    eprintln!("flow_table: {n} corpus entries replayed");
}

/// The engine seeds made from real captures reproduce the captures' own detections: the
/// encoding keeps sequence numbers, flags and timing exactly (only addresses are remapped).
#[test]
fn engine_seeds_keep_the_captures_detections() {
    for name in ["tw_repair", "lingering_est", "rfc1337"] {
        let segs = capture_segments(&root().join(format!("tests/captures/{name}.pcap")));
        let (cfg, steps) = harness::decode_engine(&harness::encode_engine(ENGINE_HEADER, &segs));
        assert_eq!(steps.len(), segs.len());
        let events = harness::run_engine(cfg, &steps, ackscope::flow::KeySeed::fixed(3));
        // Same engine, the real segments.
        let mut shard = ackscope::detect::Shard::new(cfg, ackscope::flow::KeySeed::fixed(3));
        let mut real = Vec::new();
        for s in &segs {
            shard.process(s, &mut real);
        }
        shard.finish(&mut real);
        let kinds = |v: &[ackscope::detect::Event]| {
            v.iter().map(|e| (e.kind, e.cause, e.outcome, e.ack.map(|a| a.0), e.syn_seq.map(|a| a.0))).collect::<Vec<_>>()
        };
        assert_eq!(kinds(&events), kinds(&real), "{name}");
        assert!(events.iter().any(|e| e.kind == ackscope::detect::EventKind::StaleAck), "{name}");
    }
}

// ---- seed corpus ---------------------------------------------------------------------------

/// Engine header of the capture-derived seeds: cap 16, connect timeout 10 s, TIME_WAIT 60 s,
/// default TTLs, a 2023 clock.
const ENGINE_HEADER: [u8; 3] = [0, 0x0B, 0];

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

fn capture_frames(path: &Path) -> Vec<(u64, LinkType, Vec<u8>)> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        v.push((f.ts_ns, f.link, f.data.to_vec()));
    }
    v
}

fn capture_segments(path: &Path) -> Vec<Segment> {
    capture_frames(path)
        .iter()
        .enumerate()
        .filter_map(|(i, (ts, link, d))| match parse_frame(*link, d, *ts, i as u64 + 1) {
            Ok(Parsed::Tcp(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// A pcapng file: SHB, one IDB (µs or ns resolution), then EPBs (or SPBs).
fn pcapng(frames: &[(u64, LinkType, Vec<u8>)], nanos: bool, simple: bool) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let total = (body.len() + 12) as u32;
        out.extend_from_slice(&btype.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0A0D_0D0A, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    if nanos {
        idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]); // if_tsresol = 9
    }
    idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    block(&mut out, 1, &idb);
    for (ts, _, d) in frames {
        let units = if nanos { *ts } else { ts / 1000 };
        let mut b = Vec::new();
        if simple {
            b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        } else {
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(units as u32).to_le_bytes());
            b.extend_from_slice(&(d.len() as u32).to_le_bytes());
            b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(d);
        block(&mut out, if simple { 3 } else { 6 }, &b);
    }
    out
}

/// Classic pcap, big-endian, ns resolution.
fn pcap_be_ns(frames: &[(u64, LinkType, Vec<u8>)], linktype: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xA1B2_3C4Du32.to_be_bytes());
    b.extend_from_slice(&2u16.to_be_bytes());
    b.extend_from_slice(&4u16.to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_be_bytes());
    b.extend_from_slice(&linktype.to_be_bytes());
    for (ts, _, d) in frames {
        b.extend_from_slice(&((ts / 1_000_000_000) as u32).to_be_bytes());
        b.extend_from_slice(&((ts % 1_000_000_000) as u32).to_be_bytes());
        b.extend_from_slice(&(d.len() as u32).to_be_bytes());
        b.extend_from_slice(&(d.len() as u32).to_be_bytes());
        b.extend_from_slice(d);
    }
    b
}

/// The IP packet inside an Ethernet frame with up to two tags.
fn ip_of_ethernet(f: &[u8]) -> &[u8] {
    let mut off = 12;
    while matches!(u16::from_be_bytes([f[off], f[off + 1]]), 0x8100 | 0x88A8) {
        off += 4;
    }
    &f[off + 2..]
}

fn relink(eth: &[u8], link: LinkType) -> Vec<u8> {
    let ip = ip_of_ethernet(eth);
    let proto = if ip[0] >> 4 == 6 { [0x86, 0xDD] } else { [0x08, 0x00] };
    let mut f = match link {
        LinkType::LinuxSll => vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, proto[0], proto[1]],
        LinkType::LinuxSll2 => vec![proto[0], proto[1], 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0],
        _ => Vec::new(),
    };
    f.extend_from_slice(ip);
    f
}

/// Hand-made frames the captures lack: tags, IPv6 extension headers, odd options.
fn crafted_frames() -> Vec<Vec<u8>> {
    let a = |s: &str| s.parse().unwrap();
    let mut v = Vec::new();
    let mut s = TcpSpec::new(a("10.0.0.1:40000"), a("10.0.0.2:80"), u32::MAX - 3, 0, F::SYN);
    s.mss = Some(1460);
    s.ts = Some((1, 0));
    v.push(s.ethernet());
    s.vlans = vec![100];
    v.push(s.ethernet());
    s.vlans = vec![10, 200];
    v.push(s.ethernet());
    let mut f = s.ethernet();
    f.splice(20..20, [0x81, 0x00, 0x00, 0x03]); // a third tag
    v.push(f);
    let mut s6 = TcpSpec::new(a("[fd00::1]:5000"), a("[fd00::2]:443"), 1, 2, F::ACK | F::FIN);
    s6.payload = 10;
    let mut ip = s6.ip();
    let tcp = ip.split_off(40);
    ip[6] = 0;
    ip.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop
    ip.extend_from_slice(&[51, 0, 0, 1, 0, 0, 0, 9]); // fragment, first
    ip.extend_from_slice(&[60, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // AH, 12 bytes
    ip.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // destination options
    ip.extend_from_slice(&tcp);
    let plen = (ip.len() - 40) as u16;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    let mut e = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xDD];
    e.extend_from_slice(&ip);
    v.push(e);
    // IPv4 with options (IHL 6).
    let mut f = TcpSpec::new(a("10.0.0.1:1"), a("10.0.0.2:2"), 5, 6, F::RST | F::ACK).ethernet();
    f.splice(34..34, [1, 1, 1, 0]);
    f[14] = 0x46;
    let tot = u16::from_be_bytes([f[16], f[17]]) + 4;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    v.push(f);
    v
}

/// Writes the seed corpora from tests/captures. Run by hand; then minimize (fuzz/README.md).
#[test]
#[ignore = "writes fuzz/corpus seeds; run by hand"]
fn write_seed_corpus() {
    let base = root().join("fuzz/corpus");
    let dir = |t: &str| {
        let d = base.join(t);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (pf, cr, en) = (dir("parse_frame"), dir("capture_reader"), dir("engine"));
    for cap in captures() {
        let name = cap.file_stem().unwrap().to_string_lossy().into_owned();
        let frames = capture_frames(&cap);
        // parse_frame: every frame under its own link type, the first few also as SLL, SLL2, raw.
        for (i, (_, link, d)) in frames.iter().enumerate() {
            let mut e = vec![harness::sel_of(*link)];
            e.extend_from_slice(d);
            std::fs::write(pf.join(format!("seed-{name}-{i:04}")), &e).unwrap();
            if i < 4 && *link == LinkType::Ethernet {
                for l in [LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::RawIp] {
                    let mut e = vec![harness::sel_of(l)];
                    e.extend_from_slice(&relink(d, l));
                    std::fs::write(pf.join(format!("seed-{name}-{i:04}-{l:?}")), &e).unwrap();
                }
            }
        }
        // capture_reader: the file itself, and (small captures) as pcapng and big-endian ns pcap.
        std::fs::copy(&cap, cr.join(format!("seed-{name}.pcap"))).unwrap();
        if frames.len() < 50 {
            std::fs::write(cr.join(format!("seed-{name}-us.pcapng")), pcapng(&frames, false, false)).unwrap();
            std::fs::write(cr.join(format!("seed-{name}-ns.pcapng")), pcapng(&frames, true, false)).unwrap();
            std::fs::write(cr.join(format!("seed-{name}-spb.pcapng")), pcapng(&frames, false, true)).unwrap();
            std::fs::write(cr.join(format!("seed-{name}-be-ns.pcap")), pcap_be_ns(&frames, 1)).unwrap();
        }
        // engine: the capture's segments.
        let segs = capture_segments(&cap);
        std::fs::write(en.join(format!("seed-{name}")), harness::encode_engine(ENGINE_HEADER, &segs)).unwrap();
        if segs.len() < 50 {
            // The same near the top of the u64 clock, with a tiny cap and short timers.
            std::fs::write(en.join(format!("seed-{name}-clockmax")), harness::encode_engine([0, 0x35, 3], &segs)).unwrap();
        }
    }
    // flow_table: fill to the cap and beyond with colliding keys, remove, expire, re-insert.
    let ft = dir("flow_table");
    let mut ops = vec![0u8];
    for k in 0..60u8 {
        ops.extend_from_slice(&[0, k, k % 8, k]);
    }
    for k in 0..20u8 {
        ops.extend_from_slice(&[3, k, k % 8, 0, 4, k + 20, k % 8, 0]);
    }
    ops.extend_from_slice(&[6, 0, 0, 200, 5, 0, 0, 10]);
    for k in 0..40u8 {
        ops.extend_from_slice(&[1, k, 4 | (k % 4), 3]);
    }
    std::fs::write(ft.join("seed-fill-evict-expire"), &ops).unwrap();
    // Insert, get, remove the special fingerprints 0 and 1.
    let special = [0u8, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0, 0, 0, 4, 0, 1, 0, 3, 0, 0, 0, 4, 0, 0, 0, 3, 0, 1, 0, 4, 0, 1, 0];
    std::fs::write(ft.join("seed-special-keys"), special).unwrap();
    for (i, f) in crafted_frames().iter().enumerate() {
        let mut e = vec![0];
        e.extend_from_slice(f);
        std::fs::write(pf.join(format!("seed-crafted-{i:02}")), &e).unwrap();
    }
}
