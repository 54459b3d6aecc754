//! The kernel module against a real kernel (root: a network namespace of its own): sock_diag
//! finds an ESTABLISHED socket and its owner (this test process), a TIME-WAIT socket with its
//! remaining timer and no owner, a local client's SYN-SENT socket, the MIB counters move with
//! what the test made the kernel do, and what one lookup costs.

mod common;

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use ackscope::detect::Cause;
use ackscope::kernel::{look_up, Lookups, Mib, OwnerCache, SockDiag, TcpState};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("ackscope-kv{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(Command::new("ip").args(["netns", "add", &name]).status().unwrap().success());
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }
    fn exec(&self, args: &[&str]) {
        let ok = Command::new("ip").args(["netns", "exec", &self.0]).args(args).status().unwrap().success();
        assert!(ok, "{args:?} failed in {}", self.0);
    }
    /// Move the calling thread into it.
    fn enter(&self) {
        let f = std::fs::File::open(format!("/var/run/netns/{}", self.0)).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on an open netns file descriptor; affects only this thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn comm() -> String {
    std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_string()
}

#[test]
fn sock_diag_sees_established_time_wait_and_syn_sent() {
    if !common::root_or_skip("sock_diag_sees_established_time_wait_and_syn_sent") {
        return;
    }
    let ns = Netns::new("a");
    // A veth pair inside the namespace; the peer has no address, so a SYN to 10.99.0.2 stays
    // unanswered (ARP fails) and the client sits in SYN-SENT.
    ns.exec(&["ip", "link", "add", "ackscope-kvd", "type", "veth", "peer", "name", "ackscope-kvp"]);
    ns.exec(&["ip", "link", "set", "ackscope-kvp", "up"]);
    ns.exec(&["ip", "addr", "add", "10.99.0.1/24", "dev", "ackscope-kvd"]);
    ns.exec(&["ip", "link", "set", "ackscope-kvd", "up"]);
    let name = ns.0.clone();
    std::thread::spawn(move || {
        let ns = Netns(name);
        ns.enter();
        let before = Mib::read().unwrap();
        let mut diag = SockDiag::open().unwrap();
        let mut owners = OwnerCache::default();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let server: SocketAddr = l.local_addr().unwrap();

        // ESTABLISHED, owned by this process.
        let c = TcpStream::connect(server).unwrap();
        let client = c.local_addr().unwrap();
        let (s, _) = l.accept().unwrap();
        let v = look_up(&mut diag, &mut owners, client, server, Some(Cause::TimeWait)).unwrap();
        let sv = v.server.clone().expect("server socket found");
        assert_eq!(sv.socket.state, TcpState::Established);
        assert!(sv.socket.inode != 0);
        assert!(sv.socket.idle_ms.is_some());
        let o = sv.owner.expect("owner found");
        assert_eq!(o.pid, std::process::id());
        assert_eq!(o.comm, comm());
        assert_eq!(v.agrees, Some(false), "time_wait claimed, kernel says ESTABLISHED");
        let cv = v.client.expect("the local client socket too");
        assert_eq!(cv.socket.state, TcpState::Established);

        // Cost of one lookup (sock_diag both sides + owner from the cache).
        let n = 2000;
        let t0 = Instant::now();
        let cpu0 = cpu_ns();
        for _ in 0..n {
            look_up(&mut diag, &mut owners, client, server, Some(Cause::LingeringEstablished)).unwrap();
        }
        let wall = t0.elapsed().as_nanos() as f64 / n as f64 / 1000.0;
        let cpu = (cpu_ns() - cpu0) as f64 / n as f64 / 1000.0;
        let fds0 = owners.fds_read;
        let t1 = Instant::now();
        let mut cold = OwnerCache::default();
        cold.owner(sv.socket.inode).unwrap();
        eprintln!(
            "cost: lookup (both sides, owner cached) {wall:.1} µs wall, {cpu:.1} µs CPU (thread); cold /proc scan {:.2} ms over {} fds; load {}",
            t1.elapsed().as_secs_f64() * 1000.0,
            cold.fds_read,
            std::fs::read_to_string("/proc/loadavg").unwrap().trim()
        );
        assert_eq!(owners.fds_read, fds0, "cached owners need no rescan");

        // The server closes first: its side goes to TIME-WAIT, ~60 s left, no owner.
        drop(s);
        let mut buf = [0u8; 1];
        let mut c = c;
        assert_eq!(c.read(&mut buf).unwrap(), 0);
        drop(c);
        std::thread::sleep(Duration::from_millis(100));
        let v = look_up(&mut diag, &mut owners, client, server, Some(Cause::TimeWait)).unwrap();
        let sv = v.server.expect("TIME-WAIT socket found");
        assert_eq!(sv.socket.state, TcpState::TimeWait);
        let t = sv.socket.timer_ms.expect("TIME-WAIT timer");
        assert!((50_000..=60_000).contains(&t), "timer {t} ms");
        assert!(sv.owner.is_none(), "TIME-WAIT sockets have no owner");
        assert_eq!(v.agrees, Some(true));

        // A local client in SYN-SENT (10.99.0.2 does not answer), through the lookup thread.
        let dst: SocketAddr = "10.99.0.2:80".parse().unwrap();
        let name = ns.0.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            Netns(name.clone()).enter();
            let sock = std::net::TcpStream::connect_timeout(&dst, Duration::from_millis(1500));
            let _ = tx.send(());
            std::mem::forget(Netns(name)); // the outer guard removes it
            sock.is_err()
        });
        let mut lk = Lookups::start().unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            // The client port is unknown: find it from the netns's own table.
            let out = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap();
            let port = out.lines().skip(1).find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[2] == "0200630A:0050" && f[3] == "02").then(|| u16::from_str_radix(f[1].split(':').nth(1)?, 16).ok()).flatten()
            });
            if let Some(p) = port {
                let client: SocketAddr = format!("10.99.0.1:{p}").parse().unwrap();
                found = lk.query(client, dst, Some(Cause::Unknown));
            }
        }
        let v = found.expect("SYN-SENT socket found through the lookup thread");
        assert!(v.server.is_none());
        let cv = v.client.expect("client side");
        assert_eq!(cv.socket.state, TcpState::SynSent);
        assert_eq!(cv.owner.expect("client owner").pid, std::process::id());
        assert_eq!(v.agrees, None);
        assert!(h.join().unwrap(), "the connect to a silent address failed");
        rx.recv().unwrap();

        // The MIB moved with what we did in this namespace: 2 active opens (the connect that
        // completed and the one left in SYN-SENT; a connect the caller gives up on is not an
        // AttemptFail, which counts only sockets the kernel itself fails), no resets sent.
        let d = Mib::read().unwrap().since(&before);
        let get = |n: &str| d.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("ActiveOpens"), 2, "{d:?}");
        assert_eq!(get("OutRsts"), 0, "{d:?}");
        std::mem::forget(ns);
    })
    .join()
    .unwrap();
    drop(ns);
}

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An event with a kernel view, written by the real writer, matches docs/events.schema.json.
#[test]
fn kernel_object_matches_the_schema() {
    use ackscope::detect::{Event, EventKind};
    use ackscope::kernel::{KernelSocket, KernelView, Owner, SideView};
    let c: SocketAddr = "10.77.0.1:40001".parse().unwrap();
    let s: SocketAddr = "10.77.0.2:80".parse().unwrap();
    let mut ev = Event::new(EventKind::StaleAck, 1, 1, c, s, ackscope::packet::NO_VLAN, ackscope::packet::NO_VLAN);
    ev.cause = Some(Cause::TimeWait);
    ev.syn_seq = Some(ackscope::packet::SeqNum(1));
    ev.ack = Some(ackscope::packet::SeqNum(1000));
    ev.expected_ack = Some(ackscope::packet::SeqNum(2));
    ev.prev_state = Some(ackscope::detect::PrevState::ClosedByServerFirst);
    let tw = KernelView {
        server: Some(SideView { socket: KernelSocket { state: TcpState::TimeWait, timer_ms: Some(57_000), idle_ms: None, inode: 0, uid: 0 }, owner: None }),
        client: Some(SideView {
            socket: KernelSocket { state: TcpState::SynSent, timer_ms: Some(900), idle_ms: Some(3), inode: 77, uid: 0 },
            owner: Some(Owner { pid: 4242, comm: "curl".into(), cgroup: "/user.slice".into() }),
        }),
        agrees: Some(true),
    };
    let mut out = Vec::new();
    ackscope::output::write_json_kernel(&mut out, &ev, 0, Some(&tw)).unwrap();
    let line = String::from_utf8(out.clone()).unwrap();
    assert!(line.contains(r#""kernel":{"server":{"state":"TIME-WAIT","timer_ms":57000,"owner":"none"},"client":{"state":"SYN-SENT""#), "{line}");
    let mut plain = Vec::new();
    ackscope::output::write_json(&mut plain, &ev, 0).unwrap();
    assert!(!String::from_utf8(plain.clone()).unwrap().contains("kernel"), "no kernel view, no kernel member");
    let dir = std::env::temp_dir().join(format!("ackscope-kv-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("k.jsonl");
    let mut both = out;
    both.extend_from_slice(&plain);
    std::fs::write(&f, &both).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = Command::new("python3").arg(root.join("tests/validate_events.py")).arg(root.join("docs/events.schema.json")).arg(&f).output().unwrap();
    let bad = std::fs::read_to_string(&f).unwrap().replace(r#""owner":"none""#, r#""owner":"nobody""#);
    std::fs::write(&f, bad).unwrap();
    let v2 = Command::new("python3").arg(root.join("tests/validate_events.py")).arg(root.join("docs/events.schema.json")).arg(&f).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
    assert!(!v2.status.success(), "a wrong owner value was accepted");
}
