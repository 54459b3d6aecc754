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

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::mix::{MixFrame, LAP_DELTA};
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

/// The loaded generator program with one lap of frames in its table.
pub struct Injector {
    skel: OwnedSkel<GenSkel<'static>>,
    ifindex: u32,
    queue: u32,
    batch: u32,
    lap_len: u32,
    table: Table,
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
        let inj = Injector { skel, ifindex, queue, batch, lap_len, table: Table::Mix };
        fill_table(&inj.skel.maps.gen_frames, lap.len(), |i| slot(&lap[i]))?;
        Ok(inj)
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
        let inj = Injector { skel, ifindex, queue, batch, lap_len: n, table: Table::Pcap };
        fill_table(&inj.skel.maps.gen_pcap_frames, frames.len(), |i| pcap_slot(&frames[i]))?;
        Ok(inj)
    }

    fn prog_fd(&self) -> i32 {
        match self.table {
            Table::Mix => self.skel.progs.ackscope_gen.as_fd().as_raw_fd(),
            Table::Pcap => self.skel.progs.ackscope_gen_pcap.as_fd().as_raw_fd(),
        }
    }

    /// Frames in one lap.
    pub fn lap_len(&self) -> u32 {
        self.lap_len
    }

    /// Program runs so far: the number of frames produced (plus [`Injector::errors`]).
    pub fn cursor(&self) -> u64 {
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
        match self.skel.maps.bss_data.as_deref() {
            // SAFETY: as in `cursor`.
            Some(b) => unsafe { std::ptr::read_volatile(&b.gen_errors) },
            None => 0,
        }
    }

    /// Set the cursor (the index of the next frame: lap × lap length + position).
    pub fn set_cursor(&mut self, v: u64) {
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
        let data = vec![0u8; self.table.slot()];
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
        opts.batch_size = self.batch;
        let fd = self.prog_fd();
        // SAFETY: `fd` is the loaded XDP program of our skeleton; `opts` is a valid, sized
        // options struct whose pointers (`data`, `ctx`) outlive the call; live mode reads them
        // only and writes no output buffers (none are given).
        let rc = unsafe { libbpf_sys::bpf_prog_test_run_opts(fd, &mut opts) };
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
        // SAFETY: as in `send`; `out` is writable for `data_size_out` bytes, and the kernel
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

