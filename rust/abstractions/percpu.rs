// SPDX-License-Identifier: GPL-2.0

//! Counters with a copy per CPU (`alloc_percpu`), as TCP's SNMP MIBs: an
//! add touches only the running CPU's copy, without a locked instruction
//! or a cache line the other CPUs write; a read sums the copies.

use crate::abstractions::bindings;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;

/// `N` counters, each with a copy per possible CPU.
pub(crate) struct PerCpuCounters<const N: usize> {
    /// The per-CPU block of `N` `u64`s `afc_counters_alloc` made.
    ptr: NonNull<c_void>,
}

// SAFETY: the block is written only through `this_cpu_add` (each CPU its
// own copy, safe in any context) and read by summing, from any thread;
// it is freed once, by `drop`.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as for `Send`: `&self` methods only add to this CPU's copy or read.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// `N` counters at zero; `ENOMEM` if the per-CPU memory is not there.
    pub(crate) fn new() -> Result<Self> {
        let n = u32::try_from(N).map_err(|_| EINVAL)?;
        // SAFETY: no preconditions; the result is null or a block of `N`
        // zeroed counters per CPU.
        let ptr = unsafe { bindings::afc_counters_alloc(n) };
        NonNull::new(ptr).map(|ptr| Self { ptr }).ok_or(ENOMEM)
    }

    /// Adds `n` to counter `i` (ignored past the last).
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        if i < N {
            // SAFETY: `ptr` holds `N` counters per CPU and `i < N` (so it
            // fits a `u32`, as `new` checked `N` does).
            unsafe { bindings::afc_counters_add(self.ptr.as_ptr(), i as u32, n) }
        }
    }

    /// Counter `i` summed over the CPUs (0 past the last).
    pub(crate) fn sum(&self, i: usize) -> u64 {
        if i < N {
            // SAFETY: as in `add`.
            unsafe { bindings::afc_counters_sum(self.ptr.as_ptr(), i as u32) }
        } else {
            0
        }
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `afc_counters_alloc` and is freed only
        // here, once.
        unsafe { bindings::afc_counters_free(self.ptr.as_ptr()) }
    }
}
