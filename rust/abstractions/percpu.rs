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
    ///
    /// On x86-64 this is `this_cpu_add` itself, one `add` to the
    /// `%gs`-relative per-CPU address, inline: a call into C for it
    /// cost a call, a return and a split of the caller's block on every
    /// counted frame (docs/PERFORMANCE.md, session 26).
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        if i < N {
            #[cfg(all(target_arch = "x86_64", CONFIG_SMP))]
            // SAFETY: `ptr` is a per-CPU address (`__alloc_percpu`) of `N`
            // `u64`s and `i < N`, so `ptr + 8 i` is counter `i`'s per-CPU
            // address, which `%gs` (this CPU's per-CPU base on x86-64 SMP)
            // turns into this CPU's copy, as `this_cpu_add` does
            // (`percpu_add_op`).  One instruction: no preemption or
            // interrupt can come between its read and its write, so any
            // context may add.  It writes the flags and nothing else.
            unsafe {
                core::arch::asm!(
                    "add qword ptr gs:[{p}], {n}",
                    p = in(reg) self.ptr.as_ptr().cast::<u64>().wrapping_add(i),
                    n = in(reg) n,
                    options(nostack),
                );
            }
            #[cfg(not(all(target_arch = "x86_64", CONFIG_SMP)))]
            // SAFETY: `ptr` holds `N` counters per CPU and `i < N` (so it
            // fits a `u32`, as `new` checked `N` does).
            unsafe {
                bindings::afc_counters_add(self.ptr.as_ptr(), i as u32, n)
            }
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
