// SPDX-License-Identifier: GPL-2.0

//! Arrays of bottom-half spinlocks, each guarding one value: the buckets
//! of the lookup tables and the accept queue of a listener.
//!
//! A lock is taken with `spin_lock_bh`, so the same value may be used from
//! process context and from the softirq receive path.  Each array has a
//! lockdep class ([`LockClass`]); taking a lock of one class inside a lock
//! of another is fine, nesting two of one class is not done anywhere.

use crate::abstractions::bindings;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use kernel::alloc::KVVec;
use kernel::prelude::*;

/// The lockdep class of a lock array (see `afc_bh_locks_alloc`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum LockClass {
    /// A listener's accept queue.
    AcceptQueue = 0,
    /// A bucket of the established table.
    Established = 1,
    /// A bucket of the listener table.
    Listeners = 2,
}

/// `n` values, each behind its own bottom-half spinlock.
///
/// # Invariants
///
/// `values.len() >= 1`; `locks` points to `values.len()` initialised spinlocks, allocated by
/// `afc_bh_locks_alloc` and owned by this array; `values[i]` is only
/// touched while `locks[i]` is held.
pub(crate) struct BhLockArray<T> {
    locks: NonNull<bindings::spinlock_t>,
    values: KVVec<UnsafeCell<T>>,
}

// SAFETY: every access to a value happens under its spinlock, so sharing
// the array between CPUs is as safe as sending `T` across them.
unsafe impl<T: Send> Sync for BhLockArray<T> {}
// SAFETY: the array owns its values and locks.
unsafe impl<T: Send> Send for BhLockArray<T> {}

impl<T> BhLockArray<T> {
    /// Makes `n` (at least one) values with `init`, each with its own lock.
    ///
    /// Process context: the memory is charged to the caller's memory
    /// cgroup (`GFP_KERNEL_ACCOUNT`), as it is made for a socket call.
    pub(crate) fn new(n: usize, class: LockClass, mut init: impl FnMut() -> T) -> Result<Self> {
        let n = n.max(1);
        let mut values = KVVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..n {
            values.push(UnsafeCell::new(init()), GFP_KERNEL_ACCOUNT)?;
        }
        let count = u32::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: no preconditions; returns NULL on failure.
        let locks = unsafe { bindings::afc_bh_locks_alloc(count, class as u32) };
        let locks = NonNull::new(locks).ok_or(ENOMEM)?;
        // INVARIANT: `n` locks were initialised for the `n` values.
        Ok(Self { locks, values })
    }

    /// Runs `f` on the value a uniform 64-bit `hash` picks, with its lock
    /// held: the high half of `hash * len` (a multiplication where a
    /// remainder would divide on every lookup).
    pub(crate) fn with_hashed<R>(&self, hash: u64, f: impl FnOnce(&mut T) -> R) -> R {
        let len = self.values.len() as u128;
        let i = ((u128::from(hash) * len) >> 64) as usize;
        self.with(i, f)
    }

    /// Runs `f` on value `i % len` with its lock held (bottom halves off).
    pub(crate) fn with<R>(&self, i: usize, f: impl FnOnce(&mut T) -> R) -> R {
        let len = self.values.len();
        let i = if i < len {
            i
        } else {
            i.checked_rem(len).unwrap_or(0)
        };
        // SAFETY: `len >= 1` (type invariant), so `i < len`.
        let cell = unsafe { self.values.as_slice().get_unchecked(i) };
        // SAFETY: `i < len`, so `locks + i` is one of our initialised locks.
        let lock = unsafe { self.locks.as_ptr().add(i) };
        // SAFETY: `lock` is a valid spinlock (type invariant).
        unsafe { bindings::afc_spin_lock_bh(lock) };
        // SAFETY: the lock of value `i` is held, so nobody else touches it;
        // the `&mut` does not outlive `f`.
        let r = f(unsafe { &mut *cell.get() });
        // SAFETY: taken above.
        unsafe { bindings::afc_spin_unlock_bh(lock) };
        r
    }
}

impl<T> Drop for BhLockArray<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `afc_bh_locks_alloc` (type invariant); being
        // dropped, nobody holds a lock.
        unsafe { bindings::afc_bh_locks_free(self.locks.as_ptr()) };
    }
}
