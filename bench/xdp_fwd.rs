//! The limit of inline mode (issue 18): a bare XDP program that forwards every frame between
//! two ports through a DEVMAP_HASH (`bench_fwd` in bpf/bench_floor.bpf.c) — what
//! `ackscope run --mode inline` does for its non-control frames, without the classifier, the
//! tracking and the AF_XDP path. `bench/modes.sh inline` runs it on the same veths as the
//! bridge and ackscope.
//!
//! `xdp_fwd IFACE_A IFACE_B SECONDS` as root (in the namespace of the two ports): attaches in
//! native mode through bpf_links (gone when the process ends), prints `attached`, sleeps,
//! exits.

use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags, ObjectBuilder};

const FLOOR_OBJ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_floor.bpf.o"));

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).expect("interface name");
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert!(i != 0, "no interface {name}");
    i
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (a, b) = (ifindex(&args[1]), ifindex(&args[2]));
    let secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let open = ObjectBuilder::default().open_memory(FLOOR_OBJ).expect("open the BPF object");
    let obj = open.load().expect("load the BPF object (run as root)");
    let map = obj.maps().find(|m| m.name() == "bench_fwd_map").expect("bench_fwd_map");
    for (from, to) in [(a, b), (b, a)] {
        map.update(&from.to_ne_bytes(), &to.to_ne_bytes(), MapFlags::ANY).expect("fill the DEVMAP");
    }
    let prog = obj.progs_mut().find(|p| p.name() == "bench_fwd").expect("bench_fwd");
    let mut links = Vec::new();
    for i in [a, b] {
        links.push(prog.attach_xdp(i as i32).expect("attach XDP (bpf_link)"));
    }
    println!("attached");
    std::thread::sleep(Duration::from_secs_f64(secs));
    drop(links);
}
