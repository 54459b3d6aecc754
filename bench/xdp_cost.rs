//! XDP program cost per frame (issue 18): `BPF_PROG_RUN` with `repeat` on the same frames for
//! three programs in one run — `bench_drop` (returns XDP_DROP: the floor of running any XDP
//! program), `bench_parse` (Ethernet → IP → TCP and drop: what any classifier pays), both in
//! bpf/bench_floor.bpf.c, and ackscope's steering program (bpf/ackscope.bpf.c, mirror mode, no
//! AF_XDP socket: a steered frame's redirect fails and it is dropped). Rounds are paired: each
//! round runs every program on every frame, the program order reversed every other round.
//! Printed: the kernel's mean ns/frame per run, median and min-max over the rounds, and the
//! per-round difference ackscope − drop (median, min-max).
//!
//! The repeated SYN and SYN-ACK find their tracking entry from the first run (a retransmitted
//! SYN); a SYN of a new 4-tuple inserts one: that is measured with distinct SYNs, one run of
//! `repeat` 1 each, against `bench_drop` on the same frames (the kernel's per-run clock
//! overhead is in both and cancels in the difference).
//!
//! With `XDP_COST_BASE=path/to/ackscope.bpf.o` (another build's object, e.g. main's
//! `target/release/build/ackscope-*/out/ackscope.bpf.o`) that program is run too, in the same
//! rounds, as the "base" column: old and new side by side (for the new 4-tuples, on the same
//! frames after ackscope and the floor; its own table, so they are new to it too). Several
//! objects, comma-separated, give one column each, in the order given (variants of one change
//! measured in one run).
//!
//! `cargo run --release --example xdp_cost [-- ROUNDS [REPEAT]]` as root.

use std::time::Duration;

use ackscope::packet::build::{wrap, TcpSpec, Wrap, F};
use libbpf_rs::{Object, ObjectBuilder, ProgramInput};

const ACKSCOPE_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ackscope.bpf.o"));
const FLOOR_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_floor.bpf.o"));

fn open(mem: &[u8]) -> Object {
    let open = ObjectBuilder::default().open_memory(mem).expect("open the BPF object");
    open.load().expect("load the BPF object (run as root)")
}

fn run(obj: &Object, prog: &str, frame: &[u8], repeat: u32) -> Duration {
    let p = obj.progs_mut().find(|p| p.name() == prog).unwrap_or_else(|| panic!("no program {prog}"));
    let input = ProgramInput { data_in: Some(frame), repeat, ..Default::default() };
    p.test_run(input).expect("BPF_PROG_RUN").duration
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let med = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (med, v[0], v[n - 1])
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let repeat: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let ackscope = open(ACKSCOPE_OBJ);
    let floor = open(FLOOR_OBJ);
    let base_paths: Vec<String> = std::env::var("XDP_COST_BASE")
        .map(|v| v.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let bases: Vec<Object> = base_paths
        .iter()
        .map(|p| open(&std::fs::read(p).unwrap_or_else(|e| panic!("read XDP_COST_BASE object {p}: {e}"))))
        .collect();
    for (i, p) in base_paths.iter().enumerate() {
        println!("base {}: {p}", i + 1);
    }
    let (c, s) = ("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
    let (c6, s6) = ("[fd00::1]:40000".parse().unwrap(), "[fd00::2]:80".parse().unwrap());
    let mut data = TcpSpec::new(c, s, 1000, 2000, F::ACK | F::PSH);
    data.payload = 1400;
    data.ts = Some((1, 2));
    let mut data6 = TcpSpec::new(c6, s6, 1000, 2000, F::ACK | F::PSH);
    data6.payload = 1400;
    let mut ack = TcpSpec::new(s, c, 2000, 2400, F::ACK);
    ack.ts = Some((3, 4));
    let mut syn = TcpSpec::new(c, s, 999, 0, F::SYN);
    syn.mss = Some(1460);
    let mut synack = TcpSpec::new(s, c, 1999, 1000, F::SYN | F::ACK);
    synack.mss = Some(1460);
    let vx = Wrap::Vxlan { vni: 42, outer: ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()) };
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("data segment, IPv4 (1400 B)", data.ethernet()),
        ("data segment in VXLAN (1450 B)", wrap(&vx, &data.ethernet(), 0)),
        ("SYN in VXLAN, entry present", wrap(&vx, &syn.ethernet(), 0)),
        ("data segment, IPv6 (1400 B)", data6.ethernet()),
        ("pure ACK, established (no entry)", ack.ethernet()),
        ("SYN, entry present (retransmission)", syn.ethernet()),
        ("SYN-ACK, entry present", synack.ethernet()),
    ];
    // The steering program is run as loaded here, with its rodata defaults: no metadata block
    // (`ackscope_use_meta` 0). ackscope itself writes the block where the kernel allows
    // bpf_xdp_adjust_meta; this line says which case the figures stand for.
    let meta = ackscope::datapath::xdp::xdp_meta_supported();
    println!(
        "bpf_xdp_adjust_meta allowed to XDP programs here: {meta} ({})",
        if meta { "ackscope writes the metadata block; these figures exclude it" } else { "ackscope runs without it, as here" }
    );
    let load0 = loadavg();
    println!("XDP cost, BPF_PROG_RUN repeat {repeat}, {rounds} rounds; load average {load0} at start");
    println!();
    let base_cols: String = if bases.is_empty() {
        " base (XDP_COST_BASE) |".to_string()
    } else {
        (1..=bases.len()).map(|i| format!(" base {i} |")).collect()
    };
    println!("| frame | XDP_DROP | parse only | ackscope | ackscope − drop |{base_cols}");
    println!("|---|---|---|---|---|{}", "---|".repeat(bases.len().max(1)));
    for (name, f) in &frames {
        let (mut d, mut p, mut a, mut diff) = (vec![], vec![], vec![], vec![]);
        let mut b: Vec<Vec<f64>> = vec![vec![]; bases.len()];
        for r in 0..rounds {
            let (x, y, z);
            if r % 2 == 0 {
                x = ns(run(&floor, "bench_drop", f, repeat));
                y = ns(run(&floor, "bench_parse", f, repeat));
                z = ns(run(&ackscope, "ackscope_xdp", f, repeat));
            } else {
                z = ns(run(&ackscope, "ackscope_xdp", f, repeat));
                y = ns(run(&floor, "bench_parse", f, repeat));
                x = ns(run(&floor, "bench_drop", f, repeat));
            }
            d.push(x);
            p.push(y);
            a.push(z);
            diff.push(z - x);
            for (col, base) in b.iter_mut().zip(&bases) {
                col.push(ns(run(base, "ackscope_xdp", f, repeat)));
            }
        }
        let f3 = |v: &mut Vec<f64>| {
            let (m, lo, hi) = stats(v);
            format!("{m:.1} ({lo:.1}–{hi:.1})")
        };
        let bcol = base_columns(&mut b, f3);
        println!("| {name} | {} | {} | {} | {} |{bcol}", f3(&mut d), f3(&mut p), f3(&mut a), f3(&mut diff));
    }
    // New 4-tuples: distinct frames, repeat 1 each, paired with the floor on the same frame. A
    // pure ACK of new 4-tuples is the control: key, presence slot (cold), no insert.
    let n = 20_000u32;
    let f3 = |v: &mut Vec<f64>| {
        let (m, lo, hi) = stats(v);
        format!("{m:.1} ({lo:.1}–{hi:.1})")
    };
    for (what, flags) in [("pure ACK", F::ACK), ("SYN", F::SYN)] {
        let (mut d, mut a, mut diff) = (vec![], vec![], vec![]);
        let mut b: Vec<Vec<f64>> = vec![vec![]; bases.len()];
        for r in 0..rounds {
            let (mut sd, mut sa) = (vec![], vec![]);
            let mut sb: Vec<Vec<f64>> = vec![vec![]; bases.len()];
            for i in 0..n {
                let src = std::net::SocketAddr::new(
                    std::net::Ipv4Addr::new(10, 1 + r as u8 + if flags == F::SYN { 100 } else { 0 }, (i >> 8) as u8, i as u8)
                        .into(),
                    1024 + (i % 50000) as u16,
                );
                let mut s1 = TcpSpec::new(src, s, i, 0, flags);
                s1.mss = Some(1460);
                let fr = s1.ethernet();
                if i % 2 == 0 {
                    sd.push(ns(run(&floor, "bench_drop", &fr, 1)));
                    sa.push(ns(run(&ackscope, "ackscope_xdp", &fr, 1)));
                } else {
                    sa.push(ns(run(&ackscope, "ackscope_xdp", &fr, 1)));
                    sd.push(ns(run(&floor, "bench_drop", &fr, 1)));
                }
                for (col, base) in sb.iter_mut().zip(&bases) {
                    col.push(ns(run(base, "ackscope_xdp", &fr, 1)));
                }
            }
            for (col, s) in b.iter_mut().zip(sb.iter_mut()) {
                col.push(stats(s).0);
            }
            let (md, _, _) = stats(&mut sd);
            let (ma, _, _) = stats(&mut sa);
            d.push(md);
            a.push(ma);
            diff.push(ma - md);
        }
        println!(
            "| {what} of a new 4-tuple ({n} distinct frames, repeat 1, median per round) | {} | – | {} | {} |{}",
            f3(&mut d),
            f3(&mut a),
            f3(&mut diff),
            base_columns(&mut b, f3)
        );
    }
    println!();
    println!("ns/frame: median (min–max) over {rounds} rounds; load average {} at end", loadavg());
}

/// The base columns of one row: each object's cell, or one "–" without XDP_COST_BASE.
fn base_columns(cols: &mut [Vec<f64>], f3: impl Fn(&mut Vec<f64>) -> String) -> String {
    if cols.is_empty() {
        return " – |".to_string();
    }
    cols.iter_mut().map(|c| format!(" {} |", f3(c))).collect()
}
