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
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The lockdep class of a lock array (see `afc_bh_lock_init`).
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

/// One value and its lock, side by side: taking the lock and reading the
/// value touch one place in memory, not two arrays' (a lookup's every
/// page costs a page-table walk once the TLB is cold).
struct Slot<T> {
    lock: Opaque<bindings::spinlock_t>,
    value: UnsafeCell<T>,
}

/// `n` values, each behind its own bottom-half spinlock.
///
/// # Invariants
///
/// `slots.len() >= 1`; every slot's lock was initialised by
/// `afc_bh_lock_init` where it lies (the vector never grows after, so
/// no slot moves); a slot's value is only touched while its lock is held.
pub(crate) struct BhLockArray<T> {
    slots: KVVec<Slot<T>>,
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
        let mut slots = KVVec::with_capacity(n, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..n {
            let slot = Slot {
                lock: Opaque::uninit(),
                value: UnsafeCell::new(init()),
            };
            slots.push(slot, GFP_KERNEL_ACCOUNT)?;
        }
        // The vector is full and never grows: the locks are initialised
        // where they stay.
        for slot in slots.as_slice() {
            // SAFETY: `slot.lock` is valid memory for a spinlock that
            // nobody uses yet, and it does not move from here on.
            unsafe { bindings::afc_bh_lock_init(slot.lock.get(), class as u32) };
        }
        // INVARIANT: `n >= 1` slots, each lock initialised in place.
        Ok(Self { slots })
    }

    /// Runs `f` on the value a uniform 64-bit `hash` picks, with its lock
    /// held: the high half of `hash * len` (a multiplication where a
    /// remainder would divide on every lookup).
    pub(crate) fn with_hashed<R>(&self, hash: u64, f: impl FnOnce(&mut T) -> R) -> R {
        let len = self.slots.len() as u128;
        // Below `len` without a test: `hash < 2^64`, so
        // `hash * len < 2^64 * len` and its high half is below `len`.
        let i = ((u128::from(hash) * len) >> 64) as usize;
        // SAFETY: `i < len`, as above.
        unsafe { self.with_slot(i, f) }
    }

    /// Runs `f` on value `i % len` with its lock held (bottom halves off).
    pub(crate) fn with<R>(&self, i: usize, f: impl FnOnce(&mut T) -> R) -> R {
        let len = self.slots.len();
        let i = if i < len {
            i
        } else {
            i.checked_rem(len).unwrap_or(0)
        };
        // SAFETY: `len >= 1` (type invariant), so `i < len`.
        unsafe { self.with_slot(i, f) }
    }

    /// Runs `f` on value `i` with its lock held (bottom halves off).
    ///
    /// # Safety
    ///
    /// `i` is below the number of values.
    #[inline(always)]
    unsafe fn with_slot<R>(&self, i: usize, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: `i < len` (the caller's promise).
        let slot = unsafe { self.slots.as_slice().get_unchecked(i) };
        let lock = slot.lock.get();
        // SAFETY: `lock` is an initialised spinlock (type invariant).
        unsafe { bindings::afc_spin_lock_bh(lock) };
        // SAFETY: the slot's lock is held, so nobody else touches its
        // value; the `&mut` does not outlive `f`.
        let r = f(unsafe { &mut *slot.value.get() });
        // SAFETY: taken above.
        unsafe { bindings::afc_spin_unlock_bh(lock) };
        r
    }
}
