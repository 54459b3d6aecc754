//! `parse_frame` on arbitrary bytes; the first byte picks the link type.
//! Besides the harness's checks: parsing must not allocate (counted per thread).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use libfuzzer_sys::fuzz_target;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let link = ackscope_fuzz::harness::link_of(sel);
    let before = ALLOCS.with(|c| c.get());
    let r = ackscope::packet::parse_frame(link, frame, 1, 1);
    let after = ALLOCS.with(|c| c.get());
    assert_eq!(before, after, "parse_frame allocated");
    ackscope_fuzz::harness::check_parse(link, frame, &r);
});
