//! Injection: `bpf/gen.bpf.c` run with `BPF_PROG_RUN` in live-frames mode.
//!
//! [`Injector::load`] loads the program, sizes its frame table to one lap of the mix and
//! fills it. [`Injector::send`] runs it `repeat` times in one `BPF_PROG_RUN` call with
//! `BPF_F_TEST_XDP_LIVE_FRAMES`: each run writes the next frame of the lap into a live frame
//! and returns `XDP_TX`, which the kernel turns into a transmission out of the interface named
//! in the context (`xdp_md.ingress_ifindex`). libbpf-rs's `Program::test_run` has no
//! `batch_size`, so the call is made with `libbpf_sys::bpf_prog_test_run_opts` directly.
//!
//! The program's `.bss` (mmap()ed by libbpf) holds the frame cursor: how many frames the
//! program produced, exact even when a signal interrupts a call.
//!
//! [`Injector::load_pcap`] is the same path for the frames of a capture (`ackscope gen
//! --pcap`): the object's second program, `ackscope_gen_pcap`, writes frame `cursor` of its own
//! table (slots of [`GEN_PCAP_SLOT`] bytes) unchanged, so each frame leaves once, in order.
//!
//! **Kernels that refuse live frames.** Some kernel builds answer `BPF_PROG_RUN` with
//! `BPF_F_TEST_XDP_LIVE_FRAMES` with EPERM (this project's CI machine's 6.18.44 does). The
//! loader finds out with one live run that produces no frame (the capture program past its
//! last frame) and then sends through an `AF_PACKET` socket instead ([`super::packet`]): the
//! same frames, built in user space by [`Injector::frame_at`], the program's transformation
//! written a second time (the lap shift of sequence numbers and the flood's new 4-tuples, with
//! the same RFC 1624 checksum updates), checked byte for byte against the program run in test
//! mode (src/gen/tests.rs). The cursor and the error count then live here instead of in the
//! program's `.bss`. [`Injector::path`] says which path sends.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::mix::{MixFrame, LAP_DELTA};
use super::packet::{PacketTx, BATCH};
use crate::datapath::abi::{value_bytes, MapValue};
use crate::datapath::skeleton::OwnedSkel;
use super::GenError;

#[allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/gen.skel.rs"));
}
use skel::types::{gen_frame, gen_pcap_frame};
use skel::{GenSkel, GenSkelBuilder};

/// Largest frame the injector carries (`GEN_SLOT` in `bpf/abi.h`, the size of the generated
/// `gen_frame`'s `data`).
pub const GEN_SLOT: usize = std::mem::size_of::<gen_frame>() - std::mem::offset_of!(gen_frame, data);

/// Largest frame [`Injector::load_pcap`] carries (`GEN_PCAP_SLOT` in `bpf/abi.h`): a
/// 1500-byte-MTU Ethernet frame with up to five VLAN tags.
pub const GEN_PCAP_SLOT: usize = std::mem::size_of::<gen_pcap_frame>() - std::mem::offset_of!(gen_pcap_frame, data);

/// Largest `batch_size` the kernel accepts (`TEST_XDP_MAX_BATCH`).
pub const MAX_BATCH: u32 = 256;

// SAFETY: generated from `struct gen_frame` (bpf/abi.h): #[repr(C)], integer fields and byte
// arrays, no implicit padding (checked by the size assertion below).
unsafe impl MapValue for gen_frame {}
const _: () = assert!(std::mem::size_of::<gen_frame>() == 2 + 2 + 1 + 3 + GEN_SLOT);
// SAFETY: generated from `struct gen_pcap_frame` (bpf/abi.h): #[repr(C)], a u16 and byte
// arrays, no implicit padding (checked by the size assertion below).
unsafe impl MapValue for gen_pcap_frame {}
const _: () = assert!(std::mem::size_of::<gen_pcap_frame>() == 2 + 6 + GEN_PCAP_SLOT);

/// Which frame table (and program) an injector uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    /// `gen_frames` / `ackscope_gen`: one lap of the mix, shifted per lap.
    Mix,
    /// `gen_pcap_frames` / `ackscope_gen_pcap`: a capture's frames, each once, unchanged.
    Pcap,
}

impl Table {
    /// Size of the live frame `BPF_PROG_RUN` starts from (the program then sets the length).
    fn slot(self) -> usize {
        match self {
            Table::Mix => GEN_SLOT,
            Table::Pcap => GEN_PCAP_SLOT,
        }
    }
}

/// One frame of a capture as a `gen_pcap_frames` slot.
fn pcap_slot(data: &[u8]) -> Result<gen_pcap_frame, GenError> {
    if !(14..=GEN_PCAP_SLOT).contains(&data.len()) {
        return Err(GenError::Config(format!(
            "a frame of {} bytes cannot be sent: the generator sends Ethernet frames of 14..={GEN_PCAP_SLOT} bytes",
            data.len()
        )));
    }
    let mut s = gen_pcap_frame { len: data.len() as u16, ..gen_pcap_frame::default() };
    s.data[..data.len()].copy_from_slice(data);
    Ok(s)
}

/// Writes `n` values, `value(i)` at key `i`, into an array map, in batches.
fn fill_table<T: MapValue>(map: &impl MapCore, n: usize, value: impl Fn(usize) -> Result<T, GenError>) -> Result<(), GenError> {
    const CHUNK: usize = 4096;
    let mut keys = Vec::with_capacity(CHUNK * 4);
    let mut vals = Vec::with_capacity(CHUNK * std::mem::size_of::<T>());
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        keys.clear();
        vals.clear();
        for i in start..end {
            keys.extend_from_slice(&(i as u32).to_ne_bytes());
            vals.extend_from_slice(value_bytes(&value(i)?));
        }
        map.update_batch(&keys, &vals, (end - start) as u32, MapFlags::ANY, MapFlags::ANY)
            .map_err(bpf_err("fill the frame table"))?;
    }
    Ok(())
}

/// One frame of the mix as a `gen_frames` slot.
fn slot(f: &MixFrame) -> Result<gen_frame, GenError> {
    if f.data.len() > GEN_SLOT {
        return Err(GenError::Config(format!(
            "a frame of {} bytes does not fit the generator's {GEN_SLOT}-byte slots (use smaller payloads)",
            f.data.len()
        )));
    }
    let mut s = gen_frame { len: f.data.len() as u16, l4off: f.l4off, shift: 1 | (u8::from(f.flood) << 1), ..gen_frame::default() };
    s.data[..f.data.len()].copy_from_slice(&f.data);
    Ok(s)
}

/// How an [`Injector`] transmits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxPath {
    /// `BPF_PROG_RUN` with live frames: XDP_TX out of the interface.
    LiveFrames,
    /// An `AF_PACKET` socket (the kernel refuses live frames).
    Packet,
}

/// The `AF_PACKET` path's state: the socket, the cursor and the error count the program keeps
/// in `.bss` on the live path, one batch's buffer.
struct PacketPath {
    tx: PacketTx,
    cursor: u64,
    errors: u64,
    /// One batch of built frames: [`BATCH`] slots of the table's slot size.
    buf: Vec<u8>,
}

/// The loaded generator program with one lap of frames in its table.
pub struct Injector {
    skel: OwnedSkel<GenSkel<'static>>,
    ifindex: u32,
    queue: u32,
    batch: u32,
    lap_len: u32,
    table: Table,
    /// The tables' frames (for the `AF_PACKET` path's builder).
    frames: Frames,
    /// Whether the first send has found out which path the kernel allows.
    probed: bool,
    packet: Option<PacketPath>,
}

/// The frames of an injector's table, as the program reads them.
struct Frames {
    mix: Vec<gen_frame>,
    pcap: Vec<gen_pcap_frame>,
}

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injector").field("ifindex", &self.ifindex).field("queue", &self.queue).field("lap_len", &self.lap_len).finish()
    }
}

fn bpf_err(stage: &'static str) -> impl Fn(libbpf_rs::Error) -> GenError {
    move |source| GenError::Bpf { stage, source }
}

impl Injector {
    /// Load the program for interface index `ifindex` (rx queue `queue` in the context) with
    /// `lap` as its frame table; `batch` frames per kernel batch (1..=256).
    pub fn load(ifindex: u32, queue: u32, lap: &[MixFrame], batch: u32) -> Result<Injector, GenError> {
        if lap.is_empty() {
            return Err(GenError::Config("the mix has no frames".into()));
        }
        let lap_len = u32::try_from(lap.len()).map_err(|_| GenError::Config("the mix has more than 2³² frames".into()))?;
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(GenError::Config(format!("batch size must be 1..={MAX_BATCH}, got {batch}")));
        }
        let skel = OwnedSkel::load(|storage| open_and_load(storage, lap_len, Table::Mix))?;
        let mix = lap.iter().map(slot).collect::<Result<Vec<_>, _>>()?;
        fill_table(&skel.maps.gen_frames, mix.len(), |i| Ok(mix[i]))?;
        let frames = Frames { mix, pcap: Vec::new() };
        Ok(Injector { skel, ifindex, queue, batch, lap_len, table: Table::Mix, frames, probed: false, packet: None })
    }

    /// Load the program that sends `frames` (Ethernet frames of 14..=[`GEN_PCAP_SLOT`] bytes)
    /// each once, in order, unchanged, out of interface `ifindex`; `batch` as in [`Injector::load`].
    /// [`Injector::lap_len`] is the frame count; a cursor at or past it sends nothing (counted
    /// in [`Injector::errors`]).
    pub fn load_pcap(ifindex: u32, queue: u32, frames: &[Vec<u8>], batch: u32) -> Result<Injector, GenError> {
        if frames.is_empty() {
            return Err(GenError::Config("the capture has no frame to send".into()));
        }
        let n = u32::try_from(frames.len()).map_err(|_| GenError::Config("the capture has more than 2³² frames".into()))?;
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(GenError::Config(format!("batch size must be 1..={MAX_BATCH}, got {batch}")));
        }
        let skel = OwnedSkel::load(|storage| open_and_load(storage, n, Table::Pcap))?;
        let pcap = frames.iter().map(|f| pcap_slot(f)).collect::<Result<Vec<_>, _>>()?;
        fill_table(&skel.maps.gen_pcap_frames, pcap.len(), |i| Ok(pcap[i]))?;
        let frames = Frames { mix: Vec::new(), pcap };
        Ok(Injector { skel, ifindex, queue, batch, lap_len: n, table: Table::Pcap, frames, probed: false, packet: None })
    }

    fn prog_fd(&self) -> i32 {
        match self.table {
            Table::Mix => self.skel.progs.ackscope_gen.as_fd().as_raw_fd(),
            Table::Pcap => self.skel.progs.ackscope_gen_pcap.as_fd().as_raw_fd(),
        }
    }

    /// Whether the kernel runs the program with live frames here: one live run of the
    /// capture program past its last frame, which produces no frame (its error count and the
    /// cursor are put back). EPERM (a kernel that refuses live frames) is a no; any other
    /// error is reported as the live path's error would be.
    fn live_frames_allowed(&mut self) -> Result<bool, GenError> {
        let (cursor, errors) = (self.cursor(), self.errors());
        self.set_bss(u64::MAX >> 1, 0);
        let fd = self.skel.progs.ackscope_gen_pcap.as_fd().as_raw_fd();
        let rc = self.live_run(fd, GEN_PCAP_SLOT, 1, 1);
        self.set_bss(cursor, errors);
        match -rc {
            0 => Ok(true),
            libc::EPERM => {
                tracing::info!(
                    ifindex = self.ifindex,
                    "this kernel refuses BPF_PROG_RUN with live frames (EPERM): sending through an AF_PACKET socket"
                );
                Ok(false)
            }
            e => Err(GenError::Run { ifindex: self.ifindex, source: std::io::Error::from_raw_os_error(e) }),
        }
    }

    /// One `BPF_PROG_RUN` of program `fd` with live frames: `repeat` runs from a live frame of
    /// `slot` bytes, `batch` frames per kernel batch, this injector's interface and queue in the
    /// context. The kernel's return code (negative errno on failure).
    fn live_run(&self, fd: i32, slot: usize, repeat: u32, batch: u32) -> i32 {
        let data = vec![0u8; slot];
        let ctx = libbpf_sys::xdp_md {
            data: 0,
            data_end: data.len() as u32,
            data_meta: 0,
            ingress_ifindex: self.ifindex,
            rx_queue_index: self.queue,
            egress_ifindex: 0,
        };
        // SAFETY: zero is a valid bit pattern for this plain C options struct.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = data.as_ptr().cast();
        opts.data_size_in = data.len() as u32;
        opts.ctx_in = (&ctx as *const libbpf_sys::xdp_md).cast();
        opts.ctx_size_in = std::mem::size_of::<libbpf_sys::xdp_md>() as u32;
        opts.repeat = i32::try_from(repeat).unwrap_or(i32::MAX);
        opts.flags = libbpf_sys::BPF_F_TEST_XDP_LIVE_FRAMES;
        opts.batch_size = batch;
        // SAFETY: `fd` is a loaded XDP program of our skeleton; `opts` is a valid, sized
        // options struct whose pointers (`data`, `ctx`) outlive the call; live mode reads them
        // only and writes no output buffers (none are given).
        unsafe { libbpf_sys::bpf_prog_test_run_opts(fd, &mut opts) }
    }

    /// Writes the program's cursor and error count (`.bss`).
    fn set_bss(&mut self, cursor: u64, errors: u64) {
        if let Some(b) = self.skel.maps.bss_data.as_deref_mut() {
            // SAFETY: as in `cursor`; no BPF_PROG_RUN is in flight (we hold `&mut self`).
            unsafe {
                std::ptr::write_volatile(&mut b.gen_cursor, cursor);
                std::ptr::write_volatile(&mut b.gen_errors, errors);
            }
        }
    }

    /// Which path transmits (the live one until the first [`Injector::send`] found out).
    pub fn path(&self) -> TxPath {
        if self.packet.is_some() {
            TxPath::Packet
        } else {
            TxPath::LiveFrames
        }
    }

    /// Frame `cursor` as the program builds it (the `AF_PACKET` path's builder; tests compare
    /// it with [`Injector::build_one`]), or `None` where the program counts an error. Available
    /// on either path.
    pub fn frame_at(&self, cursor: u64) -> Option<Vec<u8>> {
        let mut out = vec![0u8; self.table.slot()];
        let n = self.frames.build(self.table, self.lap_len, cursor, &mut out)?;
        out.truncate(n);
        Some(out)
    }

    /// Frames in one lap.
    pub fn lap_len(&self) -> u32 {
        self.lap_len
    }

    /// Program runs so far: the number of frames produced (plus [`Injector::errors`]).
    pub fn cursor(&self) -> u64 {
        if let Some(p) = &self.packet {
            return p.cursor;
        }
        match self.skel.maps.bss_data.as_deref() {
            // SAFETY: `gen_cursor` lives in the mmap()ed .bss of the loaded object, valid and
            // aligned while the skeleton lives; the program only writes it during our own
            // (finished) BPF_PROG_RUN calls; a volatile read keeps the compiler from caching it.
            Some(b) => unsafe { std::ptr::read_volatile(&b.gen_cursor) },
            None => 0,
        }
    }

    /// Runs that produced no frame (a helper failed); they are not transmitted.
    pub fn errors(&self) -> u64 {
        if let Some(p) = &self.packet {
            return p.errors;
        }
        match self.skel.maps.bss_data.as_deref() {
            // SAFETY: as in `cursor`.
            Some(b) => unsafe { std::ptr::read_volatile(&b.gen_errors) },
            None => 0,
        }
    }

    /// Set the cursor (the index of the next frame: lap × lap length + position).
    pub fn set_cursor(&mut self, v: u64) {
        if let Some(p) = &mut self.packet {
            p.cursor = v;
        }
        if let Some(b) = self.skel.maps.bss_data.as_deref_mut() {
            // SAFETY: as in `cursor`; no BPF_PROG_RUN is in flight (we hold `&mut self`).
            unsafe { std::ptr::write_volatile(&mut b.gen_cursor, v) };
        }
    }

    /// Transmit the next `repeat` frames: one `BPF_PROG_RUN` with live frames. A signal during
    /// the call ends it early with [`GenError::Interrupted`]; [`Injector::cursor`] still counts
    /// exactly what was produced.
    pub fn send(&mut self, repeat: u32) -> Result<(), GenError> {
        if repeat == 0 {
            return Ok(());
        }
        if !self.probed {
            // Before the first frame: which path this kernel allows (the probe sends nothing).
            if !self.live_frames_allowed()? {
                let cursor = self.cursor();
                let mut p = PacketPath::open(self.ifindex, self.table.slot())?;
                p.cursor = cursor;
                self.packet = Some(p);
            }
            self.probed = true;
        }
        if let Some(p) = &mut self.packet {
            return p.send(&self.frames, self.table, self.lap_len, repeat, self.ifindex);
        }
        let rc = self.live_run(self.prog_fd(), self.table.slot(), repeat, self.batch);
        if rc < 0 {
            let e = std::io::Error::from_raw_os_error(-rc);
            if -rc == libc::EINTR {
                return Err(GenError::Interrupted);
            }
            return Err(GenError::Run { ifindex: self.ifindex, source: e });
        }
        Ok(())
    }

    /// Run the program once in test mode (not live) and return the frame it built: for tests
    /// of the in-kernel lap shift and of the capture table.
    pub fn build_one(&mut self, cursor: u64) -> Result<Vec<u8>, GenError> {
        self.set_cursor(cursor);
        let data = vec![0u8; self.table.slot()];
        let mut out = vec![0u8; self.table.slot() + 64];
        // SAFETY: zero is a valid bit pattern for this plain C options struct.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = data.as_ptr().cast();
        opts.data_size_in = data.len() as u32;
        opts.data_out = out.as_mut_ptr().cast();
        opts.data_size_out = out.len() as u32;
        opts.repeat = 1;
        let fd = self.prog_fd();
        // SAFETY: as in `live_run`; `out` is writable for `data_size_out` bytes, and the kernel
        // writes at most that many (it reports the full size in `data_size_out`).
        let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd, &mut opts) };
        if rc < 0 {
            return Err(GenError::Run { ifindex: 0, source: std::io::Error::from_raw_os_error(-rc) });
        }
        let n = (opts.data_size_out as usize).min(out.len());
        Ok(out[..n].to_vec())
    }
}

fn open_and_load(storage: &'static mut MaybeUninit<OpenObject>, lap_len: u32, table: Table) -> Result<GenSkel<'static>, GenError> {
    let mut open = GenSkelBuilder::default().open(storage).map_err(bpf_err("open"))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| GenError::Config("generator BPF object has no .rodata".into()))?;
    rodata.gen_nframes = lap_len;
    rodata.gen_lap_delta = LAP_DELTA;
    // The other program's table keeps its one entry.
    match table {
        Table::Mix => open.maps.gen_frames.set_max_entries(lap_len),
        Table::Pcap => open.maps.gen_pcap_frames.set_max_entries(lap_len),
    }
    .map_err(bpf_err("size the frame table"))?;
    open.load().map_err(bpf_err("load"))
}

impl PacketPath {
    fn open(ifindex: u32, slot: usize) -> Result<PacketPath, GenError> {
        let tx = PacketTx::open(ifindex).map_err(|source| GenError::Packet { ifindex, source })?;
        Ok(PacketPath { tx, cursor: 0, errors: 0, buf: vec![0u8; BATCH * slot] })
    }

    /// Builds and sends the next `repeat` frames, [`BATCH`] per `sendmmsg`. The cursor counts
    /// every frame built (sent, or counted in `errors`), as the program's does.
    fn send(&mut self, frames: &Frames, table: Table, lap_len: u32, repeat: u32, ifindex: u32) -> Result<(), GenError> {
        let slot = table.slot();
        let mut left = u64::from(repeat);
        let mut buf = std::mem::take(&mut self.buf);
        let res = (|| {
            while left > 0 {
                // Frame i of the batch: its length, and its place among the `built` (errors
                // take places too), so a batch cut short moves the cursor exactly.
                let mut lens = [0usize; BATCH];
                let mut place = [0u64; BATCH];
                let mut n = 0usize;
                let mut built = 0u64;
                let errors0 = self.errors;
                while n < BATCH && built < left {
                    let c = self.cursor + built;
                    match frames.build(table, lap_len, c, &mut buf[n * slot..(n + 1) * slot]) {
                        Some(len) => {
                            lens[n] = len;
                            place[n] = built;
                            n += 1;
                        }
                        None => self.errors += 1,
                    }
                    built += 1;
                }
                let mut out: [&[u8]; BATCH] = [&[]; BATCH];
                for (i, f) in out.iter_mut().enumerate().take(n) {
                    *f = &buf[i * slot..i * slot + lens[i]];
                }
                let mut sent = 0usize;
                while sent < n {
                    match self.tx.send(&out[sent..n]) {
                        Ok(k) => sent += k,
                        Err(e) => {
                            // Up to the first unsent frame: the frames sent and the errors
                            // among them; the rest is built again by the next call.
                            let cut = place[sent];
                            let errors_before = cut - sent as u64;
                            self.errors = errors0 + errors_before;
                            self.cursor += cut;
                            return Err(if e.kind() == std::io::ErrorKind::Interrupted {
                                GenError::Interrupted
                            } else {
                                GenError::Packet { ifindex, source: e }
                            });
                        }
                    }
                }
                self.cursor += built;
                left -= built;
            }
            Ok(())
        })();
        self.buf = buf;
        res
    }

}

impl Frames {
    /// Frame `c` into `out` (its table's slot size): its length, or `None` where the program
    /// counts an error. The program's transformation (bpf/gen.bpf.c), step for step.
    fn build(&self, table: Table, lap_len: u32, c: u64, out: &mut [u8]) -> Option<usize> {
        match table {
            Table::Pcap => {
                let f = self.pcap.get(usize::try_from(c).ok()?)?;
                let len = usize::from(f.len);
                if !(14..=GEN_PCAP_SLOT).contains(&len) {
                    return None;
                }
                out[..len].copy_from_slice(&f.data[..len]);
                Some(len)
            }
            Table::Mix => {
                let n = u64::from(lap_len.max(1));
                let (idx, lap) = ((c % n) as usize, (c / n) as u32);
                let f = self.mix.get(idx)?;
                let len = usize::from(f.len);
                if !(14..=GEN_SLOT).contains(&len) {
                    return None;
                }
                let o = &mut out[..len];
                o.copy_from_slice(&f.data[..len]);
                let off = usize::from(f.l4off & 0x7f);
                if lap != 0 && f.shift & GEN_VARY_TUPLE != 0 {
                    let mut h = lap.wrapping_mul(0x9E37_79B1);
                    h ^= h >> 15;
                    h = h.wrapping_mul(0x85EB_CA6B);
                    h ^= h >> 13;
                    if off < 34 || off + 20 > len {
                        return None;
                    }
                    let ip = off - 20;
                    let from = [word(o, ip + 12), word(o, off)];
                    let to = [from[0] ^ (h & 0x7fff), from[1] ^ (h & 0xffff_0000)];
                    // IPv4 header checksum: the source address; TCP: it and the ports.
                    csum_update(o, ip + 10, &from[..1], &to[..1]);
                    csum_update(o, off + 16, &from, &to);
                    o[ip + 12..ip + 16].copy_from_slice(&to[0].to_be_bytes());
                    o[off..off + 4].copy_from_slice(&to[1].to_be_bytes());
                }
                if lap != 0 && f.shift & GEN_SHIFT_SEQ != 0 {
                    if off + 20 > len {
                        return None;
                    }
                    let d = lap.wrapping_mul(LAP_DELTA);
                    let from = [word(o, off + 4), word(o, off + 8)];
                    let ack = o[off + 13] & 0x10 != 0;
                    let to = [from[0].wrapping_add(d), if ack { from[1].wrapping_add(d) } else { from[1] }];
                    csum_update(o, off + 16, &from, &to);
                    o[off + 4..off + 8].copy_from_slice(&to[0].to_be_bytes());
                    o[off + 8..off + 12].copy_from_slice(&to[1].to_be_bytes());
                }
                Some(len)
            }
        }
    }
}

/// `gen_frame.shift` bits (bpf/gen.bpf.c).
const GEN_SHIFT_SEQ: u8 = 1;
const GEN_VARY_TUPLE: u8 = 2;

/// The big-endian 32-bit word at `at`.
fn word(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// RFC 1624 (eqn. 3) incremental update of the checksum at `at` for words `from` → `to`:
/// HC' = ~(~HC + ~m + m'), in ones' complement arithmetic, as `bpf_csum_diff` and the
/// program's fold compute it.
fn csum_update(b: &mut [u8], at: usize, from: &[u32], to: &[u32]) {
    let hc = u16::from_be_bytes([b[at], b[at + 1]]);
    // The program adds in host order on little-endian x86 the checksum it read in network
    // order; in ones' complement arithmetic a byte swap commutes with the sum, so the sum in
    // network order gives the same bytes.
    let mut s: u64 = u64::from(!hc);
    for w in from {
        let w = !*w;
        s += u64::from(w >> 16) + u64::from(w & 0xffff);
    }
    for w in to {
        s += u64::from(*w >> 16) + u64::from(*w & 0xffff);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    let r = !(s as u16);
    b[at..at + 2].copy_from_slice(&r.to_be_bytes());
}
