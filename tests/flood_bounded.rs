//! A random-4-tuple SYN flood of two million frames, replayed with `--max-flows 10000`: the
//! table stays under the cap, evictions are counted and reported, and the process's peak
//! memory stays small (it would be hundreds of MB if every 4-tuple were kept).

use std::io::BufWriter;
use std::process::Command;

use ackscope::output::PcapWriter;
use ackscope::packet::build::{TcpSpec, F};

#[test]
fn syn_flood_replay_is_bounded_by_max_flows() {
    let path = std::env::temp_dir().join(format!("ackscope-flood-{}.pcap", std::process::id()));
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, f), 1, false).unwrap();
        // One template frame; only addresses, ports and seq change (checksums are not checked).
        let template = TcpSpec::new("10.0.0.1:1000".parse().unwrap(), "10.200.0.1:80".parse().unwrap(), 1, 0, F::SYN).ethernet();
        let mut frame = template.clone();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..2_000_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            frame[26..30].copy_from_slice(&(x as u32).to_be_bytes()); // src ip
            frame[34..36].copy_from_slice(&((x >> 32) as u16).to_be_bytes()); // src port
            frame[38..42].copy_from_slice(&((x >> 16) as u32).to_be_bytes()); // seq
            w.write(1_700_000_000_000_000_000 + i * 1000, &frame).unwrap();
        }
        w.into_inner().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ackscope"))
        .args(["replay", "--format", "json", "--max-flows", "10000"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "a SYN flood is not a stale ACK");
    assert!(err.contains("2000000 frames"), "{err}");
    let tracked: u64 = err.split(" 4-tuples tracked").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(tracked <= 10_000, "{err}");
    assert!(err.contains("flow table full: evicted"), "{err}");
    // Peak resident memory of the child (ru_maxrss, KiB).
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) }, 0);
    assert!(ru.ru_maxrss < 64 * 1024, "peak RSS {} KiB", ru.ru_maxrss);
}
