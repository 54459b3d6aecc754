//! Encapsulated captures (tests/captures/encap/): the real-kernel stale-ACK captures tw_repair
//! and tw_repair_v6 wrapped, frame by frame, in every encapsulation and link type ackscope
//! decodes (`ackscope::packet::build::encap_fixtures`, written by
//! `cargo run --example encap_fixtures`), plus the kernel-made VXLAN mirror capture when present.
//!
//! - the committed files are exactly what the builder makes from the inner captures;
//! - replayed through the binary, each gives the inner capture's events (same evidence), each
//!   event with the `tunnel` object of its encapsulation;
//! - tshark decodes, frame by frame, the same inner 4-tuple, TCP flags, sequence and
//!   acknowledgment numbers and tunnel id as ackscope's parser (tshark comes from
//!   scripts/setup.sh; without it that test is skipped loudly, or fails under
//!   ACKSCOPE_REQUIRE_ROOT=1 as in CI);
//! - two VXLAN sessions carrying the same inner 4-tuple are kept apart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ackscope::packet::build::{encap_fixtures, wrap, wrap_capture, Wrap};
use ackscope::packet::{parse_frame, LinkType, Parsed, Segment, TcpFlags, TunnelKind};
use ackscope::replay::CaptureReader;
use serde_json::Value;

fn caps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn frames(p: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = CaptureReader::open(p).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        v.push((f.ts_ns, f.data.to_vec()));
    }
    v
}

fn frames_linked(p: &Path) -> Vec<(LinkType, Vec<u8>)> {
    let mut r = CaptureReader::open(p).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        v.push((f.link, f.data.to_vec()));
    }
    v
}

fn replay(file: &Path) -> (Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["replay", "--format", "json"])
        .arg(file)
        .output()
        .expect("run ackscope");
    assert_eq!(out.status.code(), Some(0), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    (events, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn label(e: &Value) -> String {
    let kind = e["kind"].as_str().unwrap();
    match (e.get("cause"), e.get("outcome")) {
        (_, Some(o)) => format!("{kind} {}", o.as_str().unwrap()),
        (Some(c), None) => format!("{kind} {}", c.as_str().unwrap()),
        _ => kind.to_string(),
    }
}

/// (type, (id field, id), rides on IP) of a `tunnel` object.
type WantTunnel = (&'static str, Option<(&'static str, u64)>, bool);

/// The `tunnel` object an event of a capture wrapped in `w` must carry (None: no tunnel).
fn tunnel_of(w: &Wrap) -> Option<WantTunnel> {
    Some(match w {
        Wrap::Vlans(_) | Wrap::Null { .. } | Wrap::Loop { .. } => return None,
        Wrap::Vxlan { vni, .. } => ("vxlan", Some(("vni", u64::from(*vni))), true),
        Wrap::Geneve { vni, .. } => ("geneve", Some(("vni", u64::from(*vni))), true),
        Wrap::Gre { key, .. } => ("gre", key.map(|k| ("key", u64::from(k))), true),
        Wrap::GreTeb { key, .. } => ("gre_teb", Some(("key", u64::from(*key))), true),
        Wrap::ErspanII { session, .. } => ("erspan_ii", Some(("session_id", u64::from(*session))), true),
        Wrap::ErspanIII { session, .. } => ("erspan_iii", Some(("session_id", u64::from(*session))), true),
        Wrap::IpIp { .. } => ("ipip", None, true),
        Wrap::Mpls { labels, .. } => ("mpls", Some(("label", u64::from(*labels.last().unwrap()))), false),
        Wrap::Pppoe { session, .. } => ("pppoe", Some(("session_id", u64::from(*session))), false),
    })
}

#[test]
fn committed_fixtures_are_what_the_builder_makes() {
    let list = encap_fixtures();
    assert!(list.len() >= 20);
    for (name, inner, w) in &list {
        let want = wrap_capture(&frames(&caps().join(format!("{inner}.pcap"))), w);
        let path = caps().join(format!("encap/{name}.pcap"));
        let got = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (cargo run --example encap_fixtures)", path.display()));
        assert!(got == want, "{} differs from the builder's output: cargo run --release --example encap_fixtures", path.display());
        let exp = std::fs::read_to_string(path.with_extension("expect")).unwrap();
        assert_eq!(exp, std::fs::read_to_string(caps().join(format!("{inner}.expect"))).unwrap(), "{name}.expect");
    }
}

#[test]
fn every_encap_capture_gives_the_inner_events_with_its_tunnel() {
    for (name, inner, w) in encap_fixtures() {
        let path = caps().join(format!("encap/{name}.pcap"));
        let (events, stderr) = replay(&path);
        let (plain, _) = replay(&caps().join(format!("{inner}.pcap")));
        let want: Vec<String> = std::fs::read_to_string(path.with_extension("expect"))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        assert_eq!(events.iter().map(label).collect::<Vec<_>>(), want, "{name}\n{stderr}");
        assert!(!stderr.contains("parse problems"), "{name}: {stderr}");
        assert!(!stderr.contains("skipped"), "{name}: every frame is TCP: {stderr}");
        let tun = tunnel_of(&w);
        for (e, p) in events.iter().zip(&plain) {
            // Same evidence as the plain capture: everything but the encapsulation's fields.
            for k in ["client", "server", "syn_seq", "ack", "expected_ack", "cause", "prev_state", "prev_rcv_nxt", "outcome", "frame"] {
                assert_eq!(e.get(k), p.get(k), "{name}: {k} of {e}");
            }
            match tun {
                None => assert!(e.get("tunnel").is_none(), "{name}: {e}"),
                Some((ty, id, outer)) => {
                    let t = &e["tunnel"];
                    assert_eq!(t["type"], ty, "{name}: {e}");
                    assert_eq!(t["depth"], 1, "{name}");
                    match id {
                        Some((field, v)) => assert_eq!(t[field].as_u64(), Some(v), "{name}: {t}"),
                        None => assert_eq!(t.as_object().unwrap().len(), if outer { 4 } else { 2 }, "{name}: no id: {t}"),
                    }
                    assert_eq!(t.get("outer_src").is_some(), outer, "{name}: {t}");
                }
            }
        }
        if let Wrap::Vlans(tags) = &w {
            assert_eq!(events[0]["vlan"], tags[tags.len() - 1]);
            assert_eq!(events[0]["svlan"], tags[tags.len() - 2]);
        }
        if let Wrap::Pppoe { vlan: Some(v), .. } = &w {
            assert_eq!(events[0]["vlan"], *v);
        }
    }
}

#[test]
fn text_output_names_the_tunnel() {
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["replay", "--format", "text"])
        .arg(caps().join("encap/vxlan.pcap"))
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("tunnel=vxlan:vni=4242:192.0.2.10>198.51.100.20"), "{s}");
}

// ---- tshark ---------------------------------------------------------------------------------

fn have_tshark() -> bool {
    Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success())
}

const FIELDS: [&str; 14] = [
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "vxlan.vni",
    "geneve.vni",
    "gre.key",
    "erspan.spanid",
    "mpls.label",
];

/// tshark's per-frame fields (last occurrence: the innermost header), one Vec per frame.
fn tshark_fields(file: &Path) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file).args(["-T", "fields", "-E", "occurrence=l", "-E", "separator=|"]);
    for f in FIELDS.iter().chain(["pppoe.session_id", "frame.protocols"].iter()) {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(out.status.success(), "tshark -r {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('|').map(String::from).collect()).collect()
}

fn num(s: &str) -> Option<u64> {
    if s.is_empty() {
        None
    } else if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// The inner IP family's address fields: tshark's last `ip.*` when the frame's innermost IP is
/// IPv4, `ipv6.*` otherwise, decided from tshark's own protocol list.
fn tshark_inner(row: &[String]) -> (String, String) {
    let protos = &row[FIELDS.len() + 1];
    let inner_v6 = protos.rfind(":ipv6:").map(|i| i as i64).unwrap_or(-1) > protos.rfind(":ip:").map(|i| i as i64).unwrap_or(-1)
        || protos.starts_with("null:ipv6") || protos.starts_with("loop:ipv6");
    if inner_v6 {
        (row[2].clone(), row[3].clone())
    } else {
        (row[0].clone(), row[1].clone())
    }
}

fn check_against_tshark(name: &str, path: &Path) -> usize {
    let rows = tshark_fields(path);
    let ours = frames_linked(path);
    assert_eq!(rows.len(), ours.len(), "{name}: frame count");
    for (i, ((link, data), row)) in ours.iter().zip(&rows).enumerate() {
        let seg: Segment = match parse_frame(*link, data, 0, i as u64 + 1) {
            Ok(Parsed::Tcp(s)) => s,
            // Not TCP for either (the ARP a kernel mirror carries too).
            Ok(Parsed::Skip(_)) if row[4].is_empty() && !row[FIELDS.len() + 1].contains(":tcp") => continue,
            other => panic!("{name} frame {}: {other:?} (tshark: {row:?})", i + 1),
        };
        let (src, dst) = tshark_inner(row);
        let ctx = format!("{name} frame {}: tshark {row:?} ackscope {seg:?}", i + 1);
        assert_eq!(src, seg.src_addr().ip().to_string(), "{ctx}");
        assert_eq!(dst, seg.dst_addr().ip().to_string(), "{ctx}");
        assert_eq!(num(&row[4]), Some(u64::from(seg.sport)), "{ctx}");
        assert_eq!(num(&row[5]), Some(u64::from(seg.dport)), "{ctx}");
        // tshark's tcp.flags is the 12-bit field; ackscope keeps the low 8 bits.
        assert_eq!(num(&row[6]).map(|f| f & 0xFF), Some(u64::from(seg.flags.0)), "{ctx}");
        assert_eq!(num(&row[7]), Some(u64::from(seg.seq.0)), "{ctx}");
        if seg.flags.has(TcpFlags::ACK) {
            assert_eq!(num(&row[8]), Some(u64::from(seg.ack.0)), "{ctx}");
        }
        if let Some(t) = seg.tunnel {
            let col = match t.kind {
                TunnelKind::Vxlan => Some(9),
                TunnelKind::Geneve => Some(10),
                TunnelKind::Gre | TunnelKind::GreTeb => Some(11),
                TunnelKind::ErspanII | TunnelKind::ErspanIII => Some(12),
                TunnelKind::Mpls => Some(13),
                TunnelKind::Pppoe => Some(FIELDS.len()),
                TunnelKind::ErspanI | TunnelKind::IpIp => None,
            };
            if let Some(c) = col {
                assert_eq!(num(&row[c]), t.id.map(u64::from), "{ctx}");
            }
        }
    }
    rows.len()
}

#[test]
fn tshark_decodes_the_same_inner_segments_and_tunnel_ids() {
    if !have_tshark() {
        assert_ne!(std::env::var("ACKSCOPE_REQUIRE_ROOT").as_deref(), Ok("1"), "tshark missing: run scripts/setup.sh");
        eprintln!("SKIPPED: tshark not installed (scripts/setup.sh installs it)");
        return;
    }
    let mut n = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(caps().join("encap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    for p in &files {
        n += check_against_tshark(&p.file_stem().unwrap().to_string_lossy(), p);
    }
    assert!(n >= 20 * 25, "only {n} frames compared");
}

// ---- two mirror sessions, one inner 4-tuple -------------------------------------------------

#[test]
fn two_vnis_carrying_the_same_inner_tuple_stay_apart() {
    let inner = frames(&caps().join("tw_repair.pcap"));
    let outer = ("192.0.2.10".parse().unwrap(), "198.51.100.20".parse().unwrap());
    let (a, b) = (Wrap::Vxlan { vni: 1, outer }, Wrap::Vxlan { vni: 2, outer });
    // Both sessions' copies of every frame, interleaved, session 2 one µs later.
    let mut w = ackscope::output::PcapWriter::new(Vec::new(), 1, false).unwrap();
    for (i, (ts, f)) in inner.iter().enumerate() {
        w.write(*ts, &wrap(&a, f, i as u32)).unwrap();
        w.write(ts + 1000, &wrap(&b, f, i as u32)).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("ackscope-encap-two-vni-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two.pcap");
    std::fs::write(&path, w.into_inner().unwrap()).unwrap();
    let (events, stderr) = replay(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let labels: Vec<String> = events.iter().map(label).collect();
    let mut want = Vec::new();
    for l in ["reuse_in_time_wait", "stale_ack time_wait", "stale_ack_outcome recovered"] {
        want.push(l.to_string());
        want.push(l.to_string());
    }
    assert_eq!(labels, want, "{stderr}");
    for pair in events.chunks(2) {
        let vnis: BTreeSet<u64> = pair.iter().map(|e| e["tunnel"]["vni"].as_u64().unwrap()).collect();
        assert_eq!(vnis, BTreeSet::from([1, 2]), "{pair:?}");
    }
    assert!(stderr.contains("2 4-tuples tracked"), "one flow per session: {stderr}");
    // The same frames as one session (duplicated): one flow, so the VNI made the difference.
    let mut w = ackscope::output::PcapWriter::new(Vec::new(), 1, false).unwrap();
    for (i, (ts, f)) in inner.iter().enumerate() {
        w.write(*ts, &wrap(&a, f, i as u32)).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("ackscope-encap-one-vni-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one.pcap");
    std::fs::write(&path, w.into_inner().unwrap()).unwrap();
    let (_, stderr) = replay(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(stderr.contains("1 4-tuples tracked"), "{stderr}");
}

// ---- the kernel-made VXLAN mirror capture ----------------------------------------------------

#[test]
fn kernel_vxlan_mirror_capture_gives_the_stale_ack_in_the_tunnel() {
    let path = caps().join("encap/kernel_vxlan_mirror.pcap");
    if !path.exists() {
        panic!("{} missing: bash tests/captures/gen/vxlan_mirror.sh", path.display());
    }
    let (events, stderr) = replay(&path);
    let want: Vec<String> = std::fs::read_to_string(caps().join("encap/kernel_vxlan_mirror.expect"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert_eq!(events.iter().map(label).collect::<Vec<_>>(), want, "{stderr}");
    for e in &events {
        assert_eq!(e["tunnel"]["type"], "vxlan", "{e}");
        assert!(e["tunnel"]["vni"].as_u64().is_some(), "{e}");
    }
    assert!(!stderr.contains("parse problems"), "{stderr}");
    if have_tshark() {
        check_against_tshark("kernel_vxlan_mirror", &path);
    }
}

// ---- the summary --------------------------------------------------------------------------

fn write_pcap(name: &str, linktype: u32, frames: &[Vec<u8>]) -> PathBuf {
    let mut w = ackscope::output::PcapWriter::new(Vec::new(), linktype, false).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write(1_700_000_000_000_000_000 + i as u64 * 1000, f).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("ackscope-encap-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.pcap"));
    std::fs::write(&p, w.into_inner().unwrap()).unwrap();
    p
}

#[test]
fn summary_names_encapsulations_met_unsupported_ones_and_link_types() {
    // Decoded: the VXLAN fixture's summary counts its segments by encapsulation.
    let (_, stderr) = replay(&caps().join("encap/vxlan.pcap"));
    assert!(stderr.contains("encapsulated TCP segments (outermost):  vxlan=25"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    // Not decoded: GRE version 1 and VXLAN-GPE frames, and nothing else: named with counts, and
    // the IP-but-no-TCP warning.
    let inner = frames(&caps().join("tw_repair.pcap"));
    let outer = ("192.0.2.10".parse().unwrap(), "198.51.100.20".parse().unwrap());
    let mut fr = Vec::new();
    for (i, (_, f)) in inner.iter().enumerate().take(6) {
        let mut g = wrap(&Wrap::Gre { csum: false, key: None, seq: None, outer }, f, i as u32);
        g[14 + 20 + 1] = 1; // GRE version 1 (PPTP)
        fr.push(g);
        let mut v = wrap(&Wrap::Vxlan { vni: 1, outer }, f, i as u32);
        v[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&4790u16.to_be_bytes());
        fr.push(v);
    }
    let p = write_pcap("unsupported", 1, &fr);
    let (events, stderr) = replay(&p);
    std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
    assert!(events.is_empty());
    assert!(stderr.contains("encapsulations not decoded (frames skipped):  unsupported_gre=6  unsupported_udp_tunnel=6"), "{stderr}");
    assert!(stderr.contains("warning: 12 IP frames were seen but no TCP segment was parsed"), "{stderr}");
    assert!(!stderr.contains("skipped (not TCP for us)"), "{stderr}");

    // A link type we do not decode: named by number with its count.
    let p = write_pcap("linktype", 147, &inner.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>());
    let (_, stderr) = replay(&p);
    std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
    assert!(stderr.contains("unsupported link types (frames skipped):  LINKTYPE 147=25"), "{stderr}");
    assert!(!stderr.contains("warning"), "no IP was seen: {stderr}");

    // UDP only (not a tunnel): plain skip, and the warning.
    let udp: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let u = ackscope::packet::build::udp_packet(outer.0, outer.1, 1000 + i, 53, &[0; 12]);
            ackscope::packet::build::ethernet_frame(&[], 0x0800, &u)
        })
        .collect();
    let p = write_pcap("udp", 1, &udp);
    let (_, stderr) = replay(&p);
    std::fs::remove_dir_all(p.parent().unwrap()).unwrap();
    assert!(stderr.contains("skipped (not TCP for us):  not_tcp=3"), "{stderr}");
    assert!(stderr.contains("warning: 3 IP frames were seen but no TCP segment was parsed"), "{stderr}");
}
