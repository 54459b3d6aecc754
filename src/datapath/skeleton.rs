//! A loaded libbpf-rs skeleton together with the object storage it borrows.
//!
//! A libbpf-cargo skeleton (`FooSkel<'obj>`) borrows a `MaybeUninit<OpenObject>` for as long
//! as it lives. To keep a skeleton in a struct (the XDP steering program, the tc clone program,
//! the generator), that storage must outlive it and never move: [`OwnedSkel`] puts it on the
//! heap, hands the skeleton a `'static` borrow of it, and frees it only after the skeleton is
//! dropped. This is the one place that does so; the XDP loader (`xdp.rs`), the tc loader
//! (`tc.rs`) and the generator (`gen/inject.rs`) all hold their skeleton through it.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use libbpf_rs::OpenObject;

/// A skeleton `S` (e.g. `AckscopeSkel<'static>`) and its heap storage. Derefs to `S`.
///
/// The `'static` in `S` is only as long as this value: do not move a borrow with the skeleton's
/// lifetime (a `Map<'static>`, `Program<'static>`) out of it.
pub(crate) struct OwnedSkel<S> {
    skel: ManuallyDrop<S>,
    /// From `Box::leak`; freed in `Drop`, after `skel`.
    storage: NonNull<MaybeUninit<OpenObject>>,
}

impl<S> OwnedSkel<S> {
    /// Runs `load` (open, configure, load) with fresh storage and keeps its skeleton. When
    /// `load` fails, the storage is freed and the error returned.
    pub(crate) fn load<E>(load: impl FnOnce(&'static mut MaybeUninit<OpenObject>) -> Result<S, E>) -> Result<Self, E> {
        let storage: NonNull<MaybeUninit<OpenObject>> = NonNull::from(Box::leak(Box::new(MaybeUninit::uninit())));
        // SAFETY: `storage` is a fresh, exclusively owned heap allocation. It is never moved
        // and is freed only after every skeleton borrowing it has been dropped: by `Drop`
        // below after `skel`, or right here when `load` failed (having dropped whatever it
        // built on the storage, since it returned no skeleton). No other reference to it is
        // ever created, so the `'static` borrow handed out cannot alias or dangle while used.
        let storage_ref: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *storage.as_ptr() };
        match load(storage_ref) {
            Ok(skel) => Ok(OwnedSkel { skel: ManuallyDrop::new(skel), storage }),
            Err(e) => {
                // SAFETY: see above: the only borrow of the storage is gone.
                drop(unsafe { Box::from_raw(storage.as_ptr()) });
                Err(e)
            }
        }
    }
}

impl<S> Drop for OwnedSkel<S> {
    fn drop(&mut self) {
        // SAFETY: the skeleton is dropped exactly once, here, before the storage it borrows;
        // then the storage (from `Box::leak` in `load`) is freed, its last use.
        unsafe {
            ManuallyDrop::drop(&mut self.skel);
            drop(Box::from_raw(self.storage.as_ptr()));
        }
    }
}

// SAFETY: the storage is a heap allocation owned exclusively by this value and reached only
// through the skeleton, which is `Send` itself; nothing is tied to the creating thread.
unsafe impl<S: Send> Send for OwnedSkel<S> {}

impl<S> Deref for OwnedSkel<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.skel
    }
}

impl<S> DerefMut for OwnedSkel<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.skel
    }
}
