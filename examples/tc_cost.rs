//! Host mode's tc program, cost per frame with BPF_PROG_RUN (bench/modes.sh host-cost).
//!
//! ```text
//! tc_cost [REPEAT] [ROUNDS]     as root, in a namespace of its own whose lo is up
//! ```
//!
//! Runs the tc program of both host-mode paths over the same frames, alternating
//! ring, clone, ring, clone, ... (ROUNDS pairs): the ring path writes a 168-byte record into
//! the BPF ring buffer (drained between calls), the clone path `bpf_clone_redirect`s the
//! frame to `lo` (ifindex 1) — only the first hop of the real clone path, whose clone then
//! crosses a veth, XDP and an AF_XDP copy. Prints, per frame kind and path, the median and
//! min-max of the kernel's average ns per run, and the program's counters.

use std::net::SocketAddr;

use ackscope::datapath::tc::{test_run_ns, TcConfig};
use ackscope::packet::build::TcpSpec;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let repeat: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let (c, s): (SocketAddr, SocketAddr) = ("10.0.0.1:40000".parse()?, "10.0.0.2:80".parse()?);
    let mut syn = TcpSpec::new(c, s, 1000, 0, 0x02);
    syn.mss = Some(1460);
    let synack = TcpSpec::new(s, c, 5000, 1001, 0x12);
    let ack = TcpSpec::new(c, s, 1001, 5001, 0x10);
    let mut data = TcpSpec::new("10.0.0.3:40001".parse()?, s, 7000, 9000, 0x18);
    data.payload = 100;
    let fin = TcpSpec::new(c, s, 1001, 5001, 0x11);
    let kinds = ["syn", "synack", "ack_in_handshake", "data_established", "fin"];
    let frames: Vec<Vec<u8>> = [syn, synack, ack, data, fin].iter().map(TcpSpec::ethernet).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut res: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); kinds.len()]; 2];
    for _ in 0..rounds {
        for (p, ring) in [(0, true), (1, false)] {
            let cfg = TcConfig { ring, ..TcConfig::default() };
            let (ns, counters) = test_run_ns(&refs, &cfg, 1, repeat, 1)?;
            for (k, v) in ns.into_iter().enumerate() {
                res[p][k].extend(v);
            }
            if ring && counters.ring_full > 0 {
                anyhow::bail!("ring full during the run ({counters}): lower REPEAT");
            }
        }
    }
    for (p, name) in [(0, "ring"), (1, "clone")] {
        for (k, kind) in kinds.iter().enumerate() {
            let mut v = res[p][k].clone();
            v.sort_by(f64::total_cmp);
            let med = v[v.len() / 2];
            println!("{name} path, {kind}: median {med:.0} ns/frame (min-max {:.0}..{:.0}, {} rounds of {repeat})", v[0], v[v.len() - 1], v.len());
        }
    }
    Ok(())
}
