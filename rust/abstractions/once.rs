// SPDX-License-Identifier: GPL-2.0

//! A value made on first use and then read without locks from any
//! context: the lookup tables of a network namespace, made by its first
//! socket that binds, and read by the frame handler in softirq.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// A boxed `T`, absent until [`OnceBox::get_or_try_init`] makes it, then
/// fixed until the `OnceBox` is dropped.
///
/// # Invariants
///
/// `ptr` is null or comes from `KBox::into_raw` of a `KBox<T>` that only
/// `drop` frees; once non-null it never changes.
pub(crate) struct OnceBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: the `OnceBox` owns its `T` (freed in `drop`), like a `KBox<T>`.
unsafe impl<T: Send> Send for OnceBox<T> {}
// SAFETY: shared access hands out `&T` only (and makes a `T` on one
// thread, published with release ordering), so `T: Sync + Send` suffices.
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}

impl<T> OnceBox<T> {
    /// An empty `OnceBox` (nothing allocated).
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Self {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, if made; any context.
    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the release that published the value, so
        // its contents are seen initialised.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: non-null `p` is a live `KBox` allocation (type
        // invariant) that stays until `drop`, which `&self` excludes.
        unsafe { p.as_ref() }
    }

    /// The value, made with `init` if it is not yet.  Callers that race
    /// each make one; the first published wins and the others are dropped
    /// (callers that mind serialise themselves with a lock of their own).
    pub(crate) fn get_or_try_init(&self, init: impl FnOnce() -> Result<KBox<T>>) -> Result<&T> {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        let new = KBox::into_raw(init()?);
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `new` is ours, published now (INVARIANT: it came from
            // `KBox::into_raw` and stays until `drop`).
            Ok(_) => Ok(unsafe { &*new }),
            Err(cur) => {
                // SAFETY: `new` was never published: we still own it.
                drop(unsafe { KBox::from_raw(new) });
                // SAFETY: `cur` is non-null (the exchange failed), so it is
                // the published value (type invariant).
                Ok(unsafe { &*cur })
            }
        }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: made by `KBox::into_raw` (type invariant); `&mut
            // self` means no reader is left.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
