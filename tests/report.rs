//! `ackscope report` and `replay --report` without a browser: events-file input (with and
//! without the run's --pcap-dir captures), the cap on drawn ladders, input errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures").join(name)
}

fn ackscope(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ackscope")).args(args).output().expect("run ackscope")
}

struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ackscope-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ladders(html: &str) -> Vec<&str> {
    html.split("<section class=\"ladder\"").skip(1).map(|s| s.split("</section>").next().unwrap()).collect()
}

fn os(s: &Path) -> &std::ffi::OsStr {
    s.as_os_str()
}

#[test]
fn events_file_report_uses_the_pcap_dir_for_the_previous_connection() {
    let d = Scratch::new("events");
    let (events, pcaps) = (d.0.join("events.jsonl"), d.0.join("pcaps"));
    let cap = fixture("lingering_finwait2.pcap");
    let out = ackscope(&["replay".as_ref(), "-q".as_ref(), "--format".as_ref(), "json".as_ref(), "--events".as_ref(), os(&events), "--pcap-dir".as_ref(), os(&pcaps), os(&cap)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Events alone: the ladder is drawn from the evidence, without frames of the old connection.
    let alone = d.0.join("alone.html");
    let out = ackscope(&["report".as_ref(), os(&events), "-o".as_ref(), os(&alone)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&alone).unwrap();
    let l = ladders(&html);
    assert_eq!(l.len(), 1);
    assert!(l[0].contains("none: drawn from the events"), "{}", l[0]);
    assert!(l[0].contains("lingering_close"));
    assert!(l[0].contains("previous connection: half_closed_by_server"), "{}", l[0]);
    assert!(l[0].contains("stale ACK ack="));
    assert!(l[0].contains("recovered: handshake"));

    // With the flagged-flow captures: the old connection's last segments, with their frames.
    let with = d.0.join("with.html");
    let out = ackscope(&["report".as_ref(), os(&events), "--pcap-dir".as_ref(), os(&pcaps), "-o".as_ref(), os(&with)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&with).unwrap();
    let l = ladders(&html);
    assert_eq!(l.len(), 1);
    assert!(l[0].contains("(--pcap-dir; frame numbers of that file)"), "{}", l[0]);
    assert!(l[0].contains("previous connection: its last segments"), "{}", l[0]);
    assert!(l[0].contains("server closes first"), "FIN_WAIT2: the server's FIN comes first: {}", l[0]);
    assert!(l[0].contains("RST seq="), "the client's RST is drawn");
    assert!(l[0].contains("SYN-ACK ack="), "the recovering SYN-ACK is drawn");
    assert!(l[0].matches("class=\"fr\">#").count() >= 4);
    assert!(html.contains("1 flagged-flow captures from --pcap-dir used"));
}

#[test]
fn replay_report_writes_the_same_report_as_report() {
    let d = Scratch::new("replay");
    let cap = fixture("rfc1337.pcap");
    let a = d.0.join("a.html");
    let out = ackscope(&["replay".as_ref(), "-q".as_ref(), "--format".as_ref(), "json".as_ref(), "--report".as_ref(), os(&a), os(&cap)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"stale_ack\""), "events still go to stdout");
    let html = std::fs::read_to_string(&a).unwrap();
    let l = ladders(&html);
    assert_eq!(l.len(), 1);
    assert!(l[0].contains("failed: no handshake within the connect timeout"), "{}", l[0]);
    assert!(l[0].contains("SYN retry #"), "rfc1337: the client retries: {}", l[0]);
    let b = d.0.join("b.html");
    let out = ackscope(&["report".as_ref(), os(&cap), "-o".as_ref(), os(&b)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 stale ACKs, 1 ladders"));
    assert_eq!(ladders(&std::fs::read_to_string(&b).unwrap()), l);
}

#[test]
fn the_ladder_cap_keeps_every_cause() {
    let d = Scratch::new("cap");
    let o = d.0.join("cap.html");
    let mut args: Vec<std::ffi::OsString> = vec!["report".into(), "--max-ladders".into(), "2".into(), "-o".into(), o.clone().into()];
    for f in ["tw_repair.pcap", "tw_upload.pcap", "lingering_est.pcap", "lingering_finwait2.pcap"] {
        args.push(fixture(f).into());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope")).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&o).unwrap();
    let l = ladders(&html);
    assert_eq!(l.len(), 2);
    assert!(html.contains("2 of 4 stale ACKs drawn (--max-ladders 2)"));
    assert!(l.iter().any(|s| s.contains("data-cause=\"time_wait\"")));
    assert!(l.iter().any(|s| s.contains("data-cause=\"lingering_established\"")));
}

#[test]
fn bad_inputs_say_what_to_do() {
    let d = Scratch::new("bad");
    let junk = d.0.join("junk.bin");
    std::fs::write(&junk, b"\x00\x01\x02\x03garbage").unwrap();
    let o = d.0.join("x.html");
    let out = ackscope(&["report".as_ref(), os(&junk), "-o".as_ref(), os(&o)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a capture"), "{}", String::from_utf8_lossy(&out.stderr));
    let ev = d.0.join("e.jsonl");
    std::fs::write(&ev, "{}\n").unwrap();
    let out = ackscope(&["report".as_ref(), os(&ev), os(&fixture("tw_repair.pcap")), "-o".as_ref(), os(&o)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not both"));
    // A truncated capture: the report covers what came before the damage, says so, exit 3.
    let cut = d.0.join("cut.pcap");
    let b = std::fs::read(fixture("tw_repair.pcap")).unwrap();
    std::fs::write(&cut, &b[..b.len() - 10]).unwrap();
    let out = ackscope(&["report".as_ref(), os(&cut), "-o".as_ref(), os(&o)]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&o).unwrap().contains("damaged input:"));
    // A bad line is counted and shown, not fatal.
    let out = ackscope(&["report".as_ref(), os(&ev), "-o".as_ref(), os(&o)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&o).unwrap().contains("1 lines of the events files could not be read"));
}
