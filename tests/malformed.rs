//! Malformed frames, through the user-space parser and through the XDP program.
//!
//! Parser (`parse_frame`), always run:
//! - every frame of every real capture (tests/captures/*.pcap) cut at every byte offset, as
//!   Ethernet, and the first frames of each also as Linux cooked v1/v2 and raw IP: each cut gives
//!   `truncated_<layer>` for the layer the cut falls in (computed from the frame's own header
//!   layout), or the same TCP segment once the TCP header is complete;
//! - bad IPv4 IHL, total length and TCP data offset, IPv6 payload lengths, IPv6
//!   extension-header chains of every type up to 12 long (and headers running past the frame or
//!   the payload length), 0-4 VLAN tags of each TPID, zero-length and tiny frames under every
//!   link type, jumbo frames (9000+ bytes, 64 KiB, an IPv6 jumbogram, a 100 KB TSO frame), TCP
//!   option lists that overrun: each gives the expected `ParseError::reason()`, `Skip` or TCP
//!   segment, never a panic.
//!
//! XDP program (`bpf/ackscope.bpf.c`), when the process may load BPF (root; CI runs as root):
//! the compiled object is loaded without attaching anything and every Ethernet frame above is
//! run through it with `BPF_PROG_RUN` (`ackscope::datapath::xdp::classify_test_run`). Each frame
//! must get the mode's not-steered verdict (`XDP_DROP` in mirror mode, `XDP_PASS` in pass mode:
//! with no AF_XDP socket every steered frame's redirect fails, is counted in `redirect_fail` and
//! falls back to that verdict), never a verifier or runtime error, and must be counted exactly
//! once in the class the classifier owes it: `parse_fail` for broken headers, `not_tcp`, or the
//! TCP class its flags give (`steered_*` / `not_steered_tcp`). Frames shorter than an Ethernet
//! header cannot be run (the kernel's test harness refuses them with EINVAL, as no NIC delivers
//! them). Without the privilege the BPF part is skipped with a loud message, unless
//! `ACKSCOPE_REQUIRE_ROOT=1`, which turns the skip into a failure.

use std::path::{Path, PathBuf};

use ackscope::datapath::xdp::{classify_test_run, BpfCounters, SteerConfig, SteerMode};
use ackscope::packet::build::{TcpSpec, F};
use ackscope::packet::{parse_frame, ContentError, LinkType, ParseError, Parsed, SkipReason};
use ackscope::replay::CaptureReader;

mod common;
use common::malformed::{a, be16, crafted, Bpf, Expect};


fn check(name: &str, link: LinkType, frame: &[u8], expect: &Expect) -> Result<Parsed, ParseError> {
    let got = parse_frame(link, frame, 5, 1);
    let ok = match (expect, &got) {
        (Expect::Err(reason), Err(e)) => e.reason() == *reason,
        (Expect::Skip(s), Ok(Parsed::Skip(g))) => s == g,
        (Expect::Tcp { payload }, Ok(Parsed::Tcp(seg))) => seg.payload_len == *payload,
        (Expect::SameTcp(want), Ok(Parsed::Tcp(seg))) => {
            (seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.payload_len, seg.opts, seg.tsval)
                == (want.src, want.dst, want.sport, want.dport, want.seq, want.ack, want.flags, want.payload_len, want.opts, want.tsval)
        }
        _ => false,
    };
    assert!(ok, "{name} ({link:?}, {} bytes): expected {expect:?}, got {got:?}", frame.len());
    // Error details are consistent with the frame.
    if let Err(ParseError::Len { offset, required, available, .. }) = got {
        assert!(required > available && available == frame.len().saturating_sub(offset), "{name}: {got:?}");
    }
    if let Err(e) = &got {
        let _ = e.to_string();
    }
    got
}

/// The classifier's view of a frame the parser judged `got` (Ethernet frames only).
fn bpf_expect(frame: &[u8], got: &Result<Parsed, ParseError>) -> Bpf {
    if frame.len() < 14 {
        return Bpf::Refused;
    }
    match got {
        // The classifier reads only the fixed 20-byte TCP header: a cut inside the options
        // still classifies.
        Err(ParseError::Len { layer: ackscope::packet::Layer::Tcp, offset, .. }) if offset + 20 <= frame.len() => Bpf::Tcp,
        Err(ParseError::Len { .. }) => Bpf::ParseFail,
        // Options are skipped by data offset, never walked.
        Err(ParseError::Content { error: ContentError::TcpOptionOverrun, .. }) => Bpf::Tcp,
        Err(ParseError::Content { .. }) => Bpf::ParseFail,
        Ok(Parsed::Skip(_)) => Bpf::NotTcp,
        Ok(Parsed::Tcp(_)) => Bpf::Tcp,
    }
}

// ---- captures and their layout ---------------------------------------------------------------

/// The capture files in tests/<sub> whose extension is one of `exts`, sorted, and the folder.
fn capture_files(sub: &str, exts: &[&str]) -> (PathBuf, Vec<PathBuf>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)))
        .collect();
    files.sort();
    (dir, files)
}

fn captures() -> Vec<(String, Vec<Vec<u8>>)> {
    let (dir, files) = capture_files("captures", &["pcap"]);
    assert!(files.len() >= 10, "the real captures are missing from {}", dir.display());
    files
        .iter()
        .map(|f| {
            let mut r = CaptureReader::open(f).unwrap();
            let mut frames = Vec::new();
            while let Some(fr) = r.next_frame().unwrap() {
                assert_eq!(fr.link, LinkType::Ethernet, "{}: the suite expects Ethernet captures", f.display());
                frames.push(fr.data.to_vec());
            }
            (f.file_stem().unwrap().to_string_lossy().into_owned(), frames)
        })
        .collect()
}

/// Header boundaries of a well-formed frame, found independently of the parser.
struct Layout {
    /// (layer reason of a cut before `end`, end offset), in frame order.
    bounds: Vec<(&'static str, usize)>,
    /// The frame's verdict once every header is complete.
    full: Expect,
}

/// `l2` is the link header length (0 for raw IP), `ethertype` where it sits (None: raw IP).
fn layout(f: &[u8], l2: usize, ethertype_at: Option<usize>, full: Result<Parsed, ParseError>) -> Layout {
    let mut bounds = Vec::new();
    let mut off = l2;
    let mut et = match ethertype_at {
        Some(at) => {
            bounds.push(("truncated_link", l2));
            be16(f, at)
        }
        None => {
            // Raw IP: the version nibble (read as the IPv4 layer) decides.
            bounds.push(("truncated_ipv4", 1));
            if f[0] >> 4 == 6 {
                0x86DD
            } else {
                0x0800
            }
        }
    };
    while matches!(et, 0x8100 | 0x88A8 | 0x9100) && ethertype_at.is_some() {
        bounds.push(("truncated_vlan", off + 4));
        et = be16(f, off + 2);
        off += 4;
    }
    let full = match full {
        Ok(Parsed::Tcp(seg)) => Expect::SameTcp(seg),
        Ok(Parsed::Skip(s)) => Expect::Skip(s),
        Err(e) => panic!("a real capture frame does not parse: {e}"),
    };
    match et {
        0x0800 => {
            let ihl = usize::from(f[off] & 0x0F) * 4;
            bounds.push(("truncated_ipv4", off + 20));
            bounds.push(("truncated_ipv4", off + ihl));
            let frag = be16(f, off + 6) & 0x1FFF;
            if f[off + 9] == 6 && frag == 0 {
                let tcp = off + ihl;
                bounds.push(("truncated_tcp", tcp + 20));
                bounds.push(("truncated_tcp", tcp + usize::from(f[tcp + 12] >> 4) * 4));
            }
        }
        0x86DD => {
            bounds.push(("truncated_ipv6", off + 40));
            let mut next = f[off + 6];
            let mut at = off + 40;
            loop {
                match next {
                    6 => {
                        bounds.push(("truncated_tcp", at + 20));
                        bounds.push(("truncated_tcp", at + usize::from(f[at + 12] >> 4) * 4));
                        break;
                    }
                    0 | 43 | 60 | 44 | 51 => {
                        bounds.push(("truncated_ipv6", at + 8));
                        let len = match next {
                            44 => 8,
                            51 => (usize::from(f[at + 1]) + 2) * 4,
                            _ => (usize::from(f[at + 1]) + 1) * 8,
                        };
                        bounds.push(("truncated_ipv6", at + len));
                        if next == 44 && be16(f, at + 2) & 0xFFF8 != 0 {
                            break;
                        }
                        next = f[at];
                        at += len;
                    }
                    _ => break,
                }
            }
        }
        _ => {}
    }
    Layout { bounds, full }
}

fn expect_at(l: &Layout, cut: usize) -> Expect {
    for &(reason, end) in &l.bounds {
        if cut < end {
            return Expect::Err(reason);
        }
    }
    l.full.clone()
}

/// Re-wraps an Ethernet frame's IP packet under another link type.
fn relink(eth: &[u8], link: LinkType) -> (Vec<u8>, usize, Option<usize>) {
    let mut off = 12;
    while matches!(be16(eth, off), 0x8100 | 0x88A8) {
        off += 4;
    }
    let et = [eth[off], eth[off + 1]];
    let ip = &eth[off + 2..];
    let (mut f, l2, at) = match link {
        LinkType::LinuxSll => (vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, et[0], et[1]], 16, Some(14)),
        LinkType::LinuxSll2 => (vec![et[0], et[1], 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], 20, Some(0)),
        _ => (Vec::new(), 0, None),
    };
    f.extend_from_slice(ip);
    (f, l2, at)
}

// ---- the parser ----------------------------------------------------------------------------

/// (name, frame, what the classifier owes it) of an Ethernet frame, for the BPF part.
type Judged = (String, Vec<u8>, Bpf);

fn truncations(caps: &[(String, Vec<Vec<u8>>)]) -> usize {
    let mut n = 0;
    for (name, frames) in caps {
        for (i, f) in frames.iter().enumerate() {
            let full = parse_frame(LinkType::Ethernet, f, 5, 1);
            let l = layout(f, 14, Some(12), full);
            for cut in 0..=f.len() {
                let _ = check(&format!("{name}#{} cut at {cut}", i + 1), LinkType::Ethernet, &f[..cut], &expect_at(&l, cut));
                n += 1;
            }
            if i < 6 {
                for link in [LinkType::LinuxSll, LinkType::LinuxSll2, LinkType::RawIp] {
                    let (g, l2, at) = relink(f, link);
                    let lay = layout(&g, l2, at, parse_frame(link, &g, 5, 1));
                    for cut in 0..=g.len() {
                        let _ = check(&format!("{name}#{} as {link:?} cut at {cut}", i + 1), link, &g[..cut], &expect_at(&lay, cut));
                        n += 1;
                    }
                }
            }
        }
    }
    n
}

fn crafted_checked() -> Vec<Judged> {
    let mut judged = Vec::new();
    for c in crafted() {
        let got = check(&c.name, c.link, &c.frame, &c.expect);
        if c.link == LinkType::Ethernet {
            let b = c.bpf_override.unwrap_or_else(|| bpf_expect(&c.frame, &got));
            judged.push((c.name, c.frame, b));
        }
    }
    judged
}

#[test]
fn parser_truncation_at_every_offset_of_every_real_frame() {
    let caps = captures();
    let n = truncations(&caps);
    let frames: usize = caps.iter().map(|c| c.1.len()).sum();
    eprintln!("parser: {n} truncations of {frames} real frames checked");
    assert!(frames > 3000);
}

/// Every frame of every encapsulated capture (tests/captures/encap/), cut at every offset: a
/// length error (of the header the cut falls in, consistent with the frame) or, once the inner
/// TCP header is complete, the same segment with the same tunnel; never a skip or a content error.
#[test]
fn parser_truncation_at_every_offset_of_every_encapsulated_frame() {
    let (dir, files) = capture_files("captures/encap", &["pcap", "pcapng"]);
    assert!(files.len() >= 20, "the encapsulated captures are missing from {}", dir.display());
    let (mut n, mut frames) = (0usize, 0usize);
    for f in &files {
        let mut r = CaptureReader::open(f).unwrap();
        while let Some(fr) = r.next_frame().unwrap() {
            frames += 1;
            let full = parse_frame(fr.link, fr.data, 5, 1);
            match full {
                Ok(Parsed::Tcp(_)) => {}
                // The ARP a kernel mirror carries along.
                Ok(Parsed::Skip(SkipReason::NotIp)) if fr.data.len() < 128 => {}
                ref other => panic!("{} frame {}: {other:?}", f.display(), fr.number),
            }
            for cut in 0..=fr.data.len() {
                let got = parse_frame(fr.link, &fr.data[..cut], 5, 1);
                match got {
                    Err(ParseError::Len { offset, required, available, .. })
                        if offset <= cut && required > available && available == cut - offset => {}
                    ref g if *g == full => {}
                    other => panic!("{} frame {} cut at {cut}: {other:?}", f.display(), fr.number),
                }
                n += 1;
            }
        }
    }
    eprintln!("parser: {n} truncations of {frames} encapsulated frames checked");
    assert!(frames >= 20 * 25);
}

/// The C-vs-Rust differential on encapsulated frames: every Ethernet frame of every
/// encapsulated capture (tests/captures/encap/) cut at every offset through the XDP program
/// (BPF_PROG_RUN): the class the parser's verdict gives, and for every control-class frame the
/// same inner 4-tuple and tunnel identity (`same_parse`). Steering decisions follow from the
/// class and the key.
#[test]
fn xdp_program_on_every_truncation_of_every_encapsulated_frame() {
    if !may_load_bpf("xdp_program_on_every_truncation_of_every_encapsulated_frame") {
        return;
    }
    let (_, files) = capture_files("captures/encap", &["pcap", "pcapng"]);
    let mut owned: Vec<(String, Vec<u8>)> = Vec::new();
    for f in &files {
        let mut r = CaptureReader::open(f).unwrap();
        while let Some(fr) = r.next_frame().unwrap() {
            if fr.link != LinkType::Ethernet {
                continue; // LINKTYPE_NULL/LOOP never reach XDP
            }
            for cut in 0..=fr.data.len() {
                owned.push((format!("{} frame {} cut at {cut}", f.file_name().unwrap().to_string_lossy(), fr.number), fr.data[..cut].to_vec()));
            }
        }
    }
    let judged: Vec<(String, &[u8], Bpf)> = owned
        .iter()
        .map(|(n, f)| (n.clone(), &f[..], bpf_expect(f, &parse_frame(LinkType::Ethernet, f, 5, 1))))
        .collect();
    let total = run_bpf(SteerMode::Mirror, &judged);
    assert!(total.tunnelled > 2000 && total.steered() > 1000, "{total}");
}

#[test]
fn parser_crafted_malformed_frames() {
    let n = crafted_checked().len();
    eprintln!("parser: {n} crafted Ethernet frames (and the other link types) checked");
}

// ---- the XDP program -----------------------------------------------------------------------

/// True when this process may load BPF programs; otherwise says so loudly (or fails, with
/// ACKSCOPE_REQUIRE_ROOT=1).
fn may_load_bpf(test: &str) -> bool {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok()))
        .unwrap_or(0);
    let ok = caps & (1 << 39) != 0 || caps & (1 << 21) != 0; // CAP_BPF or CAP_SYS_ADMIN
    if !ok {
        let msg = format!(
            "\n==================== SKIPPED: {test} ====================\n\
             loading the XDP program with BPF_PROG_RUN needs CAP_BPF (run as root).\n\
             Set ACKSCOPE_REQUIRE_ROOT=1 to make this a failure.\n\
             ===========================================================\n"
        );
        if std::env::var("ACKSCOPE_REQUIRE_ROOT").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        // Straight to stderr, past the test harness's output capture: a skip must be seen.
        use std::io::Write;
        let _ = std::io::stderr().write_all(msg.as_bytes());
    }
    ok
}

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

/// The TCP class counter a segment with these flags and payload must land in (steered bare
/// ACKs depend on the in-kernel tracking, so a bare ACK may be either).
fn tcp_counted(c: &BpfCounters, frame: &[u8]) -> Result<(), String> {
    let seg = match parse_frame(LinkType::Ethernet, frame, 0, 0) {
        Ok(Parsed::Tcp(s)) => Some(s),
        _ => None,
    };
    if c.steered() + c.not_steered_tcp != 1 {
        return Err("not counted exactly once in a TCP class".into());
    }
    let Some(seg) = seg else { return Ok(()) }; // cut inside the options: class by flags only
    let f = seg.flags.0;
    let (syn, ack, fin, rst) = (f & F::SYN != 0, f & F::ACK != 0, f & F::FIN != 0, f & F::RST != 0);
    let want = if rst {
        c.steered_rst == 1
    } else if syn && ack {
        c.steered_synack == 1
    } else if syn {
        c.steered_syn == 1
    } else if fin {
        c.steered_fin == 1
    } else if ack && seg.payload_len == 0 {
        c.steered_ack == 1 || c.not_steered_tcp == 1
    } else {
        c.not_steered_tcp == 1
    };
    if want {
        Ok(())
    } else {
        Err(format!("wrong TCP class for flags {:?} payload {}", seg.flags, seg.payload_len))
    }
}

/// The differential part: for a control-class frame the classifier's parse (what its
/// tracking key is made of) must be the parser's: the inner 4-tuple, flags, payload length
/// and the tunnel (kind, id, outer endpoints); `tunnelled` counts the encapsulated frames.
fn same_parse(frame: &[u8], run: &ackscope::datapath::xdp::TestRunFrame) -> Option<String> {
    let seg = match parse_frame(LinkType::Ethernet, frame, 0, 0) {
        Ok(Parsed::Tcp(s)) => s,
        _ => return None, // cut inside the TCP options: the class is checked, nothing else
    };
    if run.counters.tunnelled != u64::from(seg.tunnel.is_some()) {
        return Some(format!("tunnelled={} but the parser's tunnel is {:?}", run.counters.tunnelled, seg.tunnel));
    }
    let control = seg.flags.0 & (F::SYN | F::FIN | F::RST) != 0 || (seg.flags.0 & F::ACK != 0 && seg.payload_len == 0);
    let Some(k) = run.parsed else {
        return control.then(|| "a control-class frame without the classifier's parse".to_string());
    };
    let tunnel = seg.tunnel.map(|t| (t.kind as u8, t.id, t.outer_src, t.outer_dst));
    let want = (seg.src, seg.dst, seg.sport, seg.dport, seg.flags.0, seg.payload_len, tunnel);
    let got = (k.src, k.dst, k.sport, k.dport, k.flags, k.payload_len, k.tunnel);
    (want != got).then(|| format!("classifier parse {got:?}, parser {want:?}"))
}

fn run_bpf(mode: SteerMode, judged: &[(String, &[u8], Bpf)]) -> BpfCounters {
    let cfg = SteerConfig { steer_mode: mode, ..SteerConfig::default() };
    let frames: Vec<&[u8]> = judged.iter().map(|j| j.1).collect();
    let (runs, total) = classify_test_run(&frames, &cfg).unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
    let verdict_ok = match mode {
        SteerMode::Mirror => XDP_DROP,
        _ => XDP_PASS,
    };
    let mut failures = Vec::new();
    let (mut parse_fail, mut not_tcp, mut refused) = (0u64, 0u64, 0u64);
    for ((name, frame, want), run) in judged.iter().zip(&runs) {
        let c = &run.counters;
        let problem = match (*want, &run.verdict) {
            (Bpf::Refused, Err(e)) if e.kind() == libbpf_rs::ErrorKind::InvalidInput => {
                refused += 1;
                (*c != BpfCounters::default()).then(|| "counted a refused frame".to_string())
            }
            (Bpf::TooBig, Err(e)) if e.kind() == libbpf_rs::ErrorKind::OutOfMemory => {
                refused += 1;
                (*c != BpfCounters::default()).then(|| "counted a refused frame".to_string())
            }
            (Bpf::Refused | Bpf::TooBig, other) => Some(format!("a {}-byte frame was not refused: {other:?}", frame.len())),
            (_, Err(e)) => Some(format!("BPF_PROG_RUN failed: {e}")),
            (_, Ok(v)) if *v != verdict_ok => Some(format!("verdict {v}, want {verdict_ok}")),
            (_, Ok(_)) if c.frames != 1 || c.meta_fail != 0 || c.redirect_fail != c.steered() => {
                Some(format!("bad accounting: {c}"))
            }
            (Bpf::ParseFail, _) => {
                parse_fail += 1;
                (c.parse_fail != 1 || c.not_tcp + c.steered() + c.not_steered_tcp != 0).then(|| format!("want parse_fail: {c}"))
            }
            (Bpf::NotTcp, _) => {
                not_tcp += 1;
                (c.not_tcp != 1 || c.parse_fail + c.steered() + c.not_steered_tcp != 0).then(|| format!("want not_tcp: {c}"))
            }
            (Bpf::Tcp, _) => {
                if c.parse_fail + c.not_tcp != 0 {
                    Some(format!("want a TCP class: {c}"))
                } else {
                    tcp_counted(c, frame).err().or_else(|| same_parse(frame, run)).map(|e| format!("{e}: {c}"))
                }
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{name} ({} bytes): {p}", frame.len()));
        }
    }
    assert!(failures.is_empty(), "{} of {} frames wrong in {mode:?} mode:\n{}", failures.len(), judged.len(), failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n"));
    // The per-CPU counters count every parse failure.
    assert_eq!(total.parse_fail, parse_fail, "{total}");
    assert_eq!(total.not_tcp, not_tcp, "{total}");
    assert_eq!(total.frames, judged.len() as u64 - refused, "{total}");
    assert_eq!(total.redirect_fail, total.steered(), "with no AF_XDP socket every steered frame fails its redirect");
    eprintln!("XDP {mode:?}: {} frames, {refused} refused by BPF_PROG_RUN (< 14 bytes or > 72 KB); {total}", judged.len());
    total
}

#[test]
fn xdp_program_on_crafted_malformed_frames() {
    if !may_load_bpf("xdp_program_on_crafted_malformed_frames") {
        return;
    }
    let owned = crafted_checked();
    let judged: Vec<(String, &[u8], Bpf)> = owned.iter().map(|(n, f, b)| (n.clone(), &f[..], *b)).collect();
    for mode in [SteerMode::Mirror, SteerMode::Pass] {
        let total = run_bpf(mode, &judged);
        assert!(total.parse_fail > 50 && total.not_tcp > 5 && total.steered() > 50 && total.tunnelled >= 30, "{total}");
    }
}

#[test]
fn xdp_program_on_every_truncation_of_every_real_frame() {
    if !may_load_bpf("xdp_program_on_every_truncation_of_every_real_frame") {
        return;
    }
    let caps = captures();
    let mut judged: Vec<(String, &[u8], Bpf)> = Vec::new();
    for (name, frames) in &caps {
        for (i, f) in frames.iter().enumerate() {
            for cut in 0..=f.len() {
                let got = parse_frame(LinkType::Ethernet, &f[..cut], 5, 1);
                judged.push((format!("{name}#{} cut at {cut}", i + 1), &f[..cut], bpf_expect(&f[..cut], &got)));
            }
        }
    }
    let total = run_bpf(SteerMode::Mirror, &judged);
    assert!(total.parse_fail > 1000, "{total}");
}

/// The in-kernel tracking through BPF_PROG_RUN, frame by frame: which bare ACKs are steered
/// (issue 18 changed the key to a fingerprint, the value to 8 bytes, added in-place updates
/// and the presence filter in front of the lookup; the decisions must not change).
#[test]
fn xdp_tracking_steers_the_bare_acks_of_handshake_and_teardown_only() {
    if !may_load_bpf("xdp_tracking_steers_the_bare_acks_of_handshake_and_teardown_only") {
        return;
    }
    let c = a("10.9.0.1:40000");
    let s = a("10.9.0.2:80");
    let c6 = a("[fd00::1]:40001");
    let s6 = a("[fd00::2]:443");
    let f = |src, dst, flags: u8, payload: usize| {
        let mut t = TcpSpec::new(src, dst, 1, 1, flags);
        t.payload = payload;
        t.ethernet()
    };
    let mut seq: Vec<(&str, Vec<u8>, bool)> = Vec::new();
    for (c, s) in [(c, s), (c6, s6)] {
        seq.extend([
            ("bare ACK before anything", f(c, s, F::ACK, 0), false),
            ("SYN", f(c, s, F::SYN, 0), true),
            ("stale ACK from the server", f(s, c, F::ACK, 0), true),
            ("stale ACK again (entry kept)", f(s, c, F::ACK, 0), true),
            // Issue 19: the client's RST during its SYN keeps the entry, so the server's
            // stale ACKs after it are still steered; the server's RST removes it.
            ("RST from the client", f(c, s, F::RST, 0), true),
            ("stale ACK after the client's RST (entry kept)", f(s, c, F::ACK, 0), true),
            ("RST from the server", f(s, c, F::RST, 0), true),
            ("bare ACK after the server's RST", f(s, c, F::ACK, 0), false),
            ("SYN again", f(c, s, F::SYN, 0), true),
            ("SYN retransmitted (in place)", f(c, s, F::SYN, 0), true),
            ("SYN-ACK", f(s, c, F::SYN | F::ACK, 0), true),
            ("client's ACK completes the handshake", f(c, s, F::ACK, 0), true),
            ("bare ACK of the established flow", f(s, c, F::ACK, 0), false),
            ("data", f(c, s, F::ACK | F::PSH, 100), false),
            ("FIN from the server", f(s, c, F::FIN | F::ACK, 0), true),
            ("ACK of the first FIN", f(c, s, F::ACK, 0), true),
            ("FIN from the client", f(c, s, F::FIN | F::ACK, 0), true),
            ("last ACK", f(s, c, F::ACK, 0), true),
            ("bare ACK after the last ACK", f(c, s, F::ACK, 0), false),
        ]);
    }
    // Another 4-tuple in handshake does not make the first one's ACKs steered.
    let other = a("10.9.0.3:40000");
    seq.push(("SYN of another 4-tuple", f(other, s, F::SYN, 0), true));
    seq.push(("bare ACK of the first 4-tuple", f(s, c, F::ACK, 0), false));
    seq.push(("stale ACK of the other 4-tuple", f(s, other, F::ACK, 0), true));
    let frames: Vec<&[u8]> = seq.iter().map(|x| &x.1[..]).collect();
    let cfg = SteerConfig { steer_mode: SteerMode::Mirror, ..SteerConfig::default() };
    let (runs, _) = classify_test_run(&frames, &cfg).unwrap_or_else(|e| panic!("loading the XDP program: {e}"));
    let mut bad = Vec::new();
    for ((name, _, want), run) in seq.iter().zip(&runs) {
        assert_eq!(run.verdict.as_ref().ok(), Some(&XDP_DROP), "{name}");
        let steered = run.counters.steered() == 1;
        if steered != *want {
            bad.push(format!("{name}: steered {steered}, want {want} ({})", run.counters));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
