//! Connection-rate load for bench/modes.sh (std only).
//!
//! ```text
//! connrate server ADDR:PORT [THREADS]          accept; read to EOF; answer 16 bytes; close
//! connrate client ADDR:PORT SECS [THREADS] [RATE]
//!                                              connect, send 16 bytes, shut down the write
//!                                              side, read the answer to EOF, close; repeat
//!                                              (RATE > 0: at most RATE connections/s in
//!                                              total, paced evenly over the threads)
//! ```
//!
//! The client prints `conns=N failed=F secs=S rate=R cpu_s=C` (connections per second; C its
//! own user+system CPU time from getrusage, which with tick accounting includes the softirq
//! work done in its context). The client
//! closes first, so its namespace needs `net.ipv4.tcp_tw_reuse=1` and a wide
//! `ip_local_port_range` for long runs.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn serve(l: TcpListener) {
    let mut buf = [0u8; 256];
    loop {
        let Ok((mut s, _)) = l.accept() else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = s.write_all(&[b'r'; 16]);
    }
}

/// One client thread; `every`: the pace of this thread (None: as fast as it can).
fn client(addr: SocketAddr, until: Instant, every: Option<Duration>, ok: &AtomicU64, failed: &AtomicU64, stop: &AtomicBool) {
    let mut buf = [0u8; 256];
    let mut next = Instant::now();
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        if let Some(every) = every {
            // A fixed schedule (not "sleep after each"): a slow connection is caught up.
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            next += every;
        }
        let r = (|| -> std::io::Result<()> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(&[b'q'; 16])?;
            s.shutdown(Shutdown::Write)?;
            let mut got = 0;
            loop {
                match s.read(&mut buf)? {
                    0 => break,
                    k => got += k,
                }
            }
            if got == 16 {
                Ok(())
            } else {
                Err(std::io::Error::other("short answer"))
            }
        })();
        match r {
            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// This process's user+system CPU time (all threads), in seconds.
fn own_cpu_s() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given; no other precondition.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: connrate server ADDR:PORT [THREADS] | connrate client ADDR:PORT SECS [THREADS] [RATE]";
    let addr: SocketAddr = args.get(2).and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("{usage}"));
    match args.get(1).map(String::as_str) {
        Some("server") => {
            let threads: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(4);
            let l = TcpListener::bind(addr).expect("bind");
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let l = l.try_clone().expect("clone listener");
                    std::thread::spawn(move || serve(l))
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
        }
        Some("client") => {
            let secs: f64 = args.get(3).and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{usage}"));
            let threads: usize = args.get(4).and_then(|t| t.parse().ok()).unwrap_or(4);
            let rate: f64 = args.get(5).and_then(|t| t.parse().ok()).unwrap_or(0.0);
            let every = (rate > 0.0).then(|| Duration::from_secs_f64(threads as f64 / rate));
            let (ok, failed, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
            let t0 = Instant::now();
            let until = t0 + Duration::from_secs_f64(secs);
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
                    std::thread::spawn(move || client(addr, until, every, &ok, &failed, &stop))
                })
                .collect();
            for h in hs {
                let _ = h.join();
            }
            let el = t0.elapsed().as_secs_f64();
            let n = ok.load(Ordering::Relaxed);
            println!(
                "conns={n} failed={} secs={el:.3} rate={:.0} cpu_s={:.3}",
                failed.load(Ordering::Relaxed),
                n as f64 / el,
                own_cpu_s()
            );
        }
        _ => panic!("{usage}"),
    }
}
