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
use skel::types::gen_frame;
use skel::{GenSkel, GenSkelBuilder};

/// Largest frame the injector carries (`GEN_SLOT` in `bpf/abi.h`, the size of the generated
/// `gen_frame`'s `data`).
pub const GEN_SLOT: usize = std::mem::size_of::<gen_frame>() - std::mem::offset_of!(gen_frame, data);

/// Largest `batch_size` the kernel accepts (`TEST_XDP_MAX_BATCH`).
pub const MAX_BATCH: u32 = 256;

// SAFETY: generated from `struct gen_frame` (bpf/abi.h): #[repr(C)], integer fields and byte
// arrays, no implicit padding (checked by the size assertion below).
unsafe impl MapValue for gen_frame {}
const _: () = assert!(std::mem::size_of::<gen_frame>() == 2 + 2 + 1 + 3 + GEN_SLOT);

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
        let skel = OwnedSkel::load(|storage| open_and_load(storage, lap_len))?;
        let inj = Injector { skel, ifindex, queue, batch, lap_len };
        inj.fill(lap)?;
        Ok(inj)
    }

    fn fill(&self, lap: &[MixFrame]) -> Result<(), GenError> {
        const CHUNK: usize = 4096;
        let map = &self.skel.maps.gen_frames;
        let mut keys = Vec::with_capacity(CHUNK * 4);
        let mut vals = Vec::with_capacity(CHUNK * std::mem::size_of::<gen_frame>());
        for (start, part) in lap.chunks(CHUNK).enumerate().map(|(i, p)| (i * CHUNK, p)) {
            keys.clear();
            vals.clear();
            for (j, f) in part.iter().enumerate() {
                keys.extend_from_slice(&((start + j) as u32).to_ne_bytes());
                vals.extend_from_slice(value_bytes(&slot(f)?));
            }
            map.update_batch(&keys, &vals, part.len() as u32, MapFlags::ANY, MapFlags::ANY)
                .map_err(bpf_err("fill the frame table"))?;
        }
        Ok(())
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
        let data = [0u8; GEN_SLOT];
        let ctx = libbpf_sys::xdp_md {
            data: 0,
            data_end: GEN_SLOT as u32,
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
        let fd = self.skel.progs.ackscope_gen.as_fd().as_raw_fd();
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
    /// of the in-kernel lap shift.
    pub fn build_one(&mut self, cursor: u64) -> Result<Vec<u8>, GenError> {
        self.set_cursor(cursor);
        let data = [0u8; GEN_SLOT];
        let mut out = [0u8; GEN_SLOT + 64];
        // SAFETY: zero is a valid bit pattern for this plain C options struct.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = data.as_ptr().cast();
        opts.data_size_in = data.len() as u32;
        opts.data_out = out.as_mut_ptr().cast();
        opts.data_size_out = out.len() as u32;
        opts.repeat = 1;
        let fd = self.skel.progs.ackscope_gen.as_fd().as_raw_fd();
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

fn open_and_load(storage: &'static mut MaybeUninit<OpenObject>, lap_len: u32) -> Result<GenSkel<'static>, GenError> {
    let mut open = GenSkelBuilder::default().open(storage).map_err(bpf_err("open"))?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .ok_or_else(|| GenError::Config("generator BPF object has no .rodata".into()))?;
    rodata.gen_nframes = lap_len;
    rodata.gen_lap_delta = LAP_DELTA;
    open.maps.gen_frames.set_max_entries(lap_len).map_err(bpf_err("size the frame table"))?;
    open.load().map_err(bpf_err("load"))
}

