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

use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsFd, AsRawFd};
use std::ptr::NonNull;

use libbpf_rs::libbpf_sys;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::mix::{MixFrame, LAP_DELTA};
use super::GenError;

#[allow(clippy::all, missing_docs, unsafe_op_in_unsafe_fn)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/gen.skel.rs"));
}
use skel::{GenSkel, GenSkelBuilder};

/// Largest frame the injector carries (`GEN_SLOT` in `bpf/gen.bpf.c`).
pub const GEN_SLOT: usize = 128;

/// Largest `batch_size` the kernel accepts (`TEST_XDP_MAX_BATCH`).
pub const MAX_BATCH: u32 = 256;

/// `struct gen_frame` of `bpf/gen.bpf.c`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    len: u16,
    l4off: u16,
    shift: u8,
    _pad: [u8; 3],
    data: [u8; GEN_SLOT],
}

const SLOT_LEN: usize = std::mem::size_of::<Slot>();
const _: () = assert!(SLOT_LEN == 8 + GEN_SLOT);

impl Slot {
    fn of(f: &MixFrame) -> Result<Slot, GenError> {
        if f.data.len() > GEN_SLOT {
            return Err(GenError::Config(format!(
                "a frame of {} bytes does not fit the generator's {GEN_SLOT}-byte slots (use smaller payloads)",
                f.data.len()
            )));
        }
        let mut s = Slot { len: f.data.len() as u16, l4off: f.l4off, shift: 1, _pad: [0; 3], data: [0; GEN_SLOT] };
        s.data[..f.data.len()].copy_from_slice(&f.data);
        Ok(s)
    }

    fn bytes(&self) -> [u8; SLOT_LEN] {
        let mut b = [0u8; SLOT_LEN];
        b[0..2].copy_from_slice(&self.len.to_ne_bytes());
        b[2..4].copy_from_slice(&self.l4off.to_ne_bytes());
        b[4] = self.shift;
        b[8..].copy_from_slice(&self.data);
        b
    }
}

/// The loaded generator program with one lap of frames in its table.
pub struct Injector {
    // Drop order: the skeleton, then the storage it borrows (freed by hand in `Drop`).
    skel: ManuallyDrop<GenSkel<'static>>,
    /// From `Box::leak`; freed in `Drop` after `skel`.
    storage: NonNull<MaybeUninit<OpenObject>>,
    ifindex: u32,
    queue: u32,
    batch: u32,
    lap_len: u32,
}

// SAFETY: the skeleton is `Send`; `storage` is a heap allocation owned by this value and only
// reached through `skel`. Nothing is tied to the creating thread.
unsafe impl Send for Injector {}

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
        let storage: NonNull<MaybeUninit<OpenObject>> = NonNull::from(Box::leak(Box::new(MaybeUninit::uninit())));
        // SAFETY: `storage` is a fresh, exclusively owned heap allocation that lives until
        // `Injector::drop` (or the error path below) frees it after the skeleton borrowing it is
        // dropped; it is never moved, so the `'static` borrow cannot dangle while the skeleton
        // exists.
        let storage_ref: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *storage.as_ptr() };
        let skel = match open_and_load(storage_ref, lap_len) {
            Ok(s) => s,
            Err(e) => {
                // SAFETY: the skeleton borrowing the storage was dropped inside `open_and_load`.
                drop(unsafe { Box::from_raw(storage.as_ptr()) });
                return Err(e);
            }
        };
        let inj = Injector { skel: ManuallyDrop::new(skel), storage, ifindex, queue, batch, lap_len };
        inj.fill(lap)?;
        Ok(inj)
    }

    fn fill(&self, lap: &[MixFrame]) -> Result<(), GenError> {
        const CHUNK: usize = 4096;
        let map = &self.skel.maps.gen_frames;
        let mut keys = Vec::with_capacity(CHUNK * 4);
        let mut vals = Vec::with_capacity(CHUNK * SLOT_LEN);
        for (start, part) in lap.chunks(CHUNK).enumerate().map(|(i, p)| (i * CHUNK, p)) {
            keys.clear();
            vals.clear();
            for (j, f) in part.iter().enumerate() {
                keys.extend_from_slice(&((start + j) as u32).to_ne_bytes());
                vals.extend_from_slice(&Slot::of(f)?.bytes());
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

impl Drop for Injector {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here, before the storage it borrows.
        unsafe { ManuallyDrop::drop(&mut self.skel) };
        // SAFETY: `storage` came from `Box::leak` in `load`; the skeleton is gone.
        drop(unsafe { Box::from_raw(self.storage.as_ptr()) });
    }
}
