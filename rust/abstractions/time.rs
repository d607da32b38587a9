// SPDX-License-Identifier: GPL-2.0

//! The clock the protocol core runs on: microseconds of `ktime_get`.

use crate::abstractions::bindings;

/// Microseconds since boot (monotonic).
pub(crate) fn now_us() -> u64 {
    // SAFETY: no preconditions (`ktime_get`, as the C helper did).
    let ns = unsafe { bindings::ktime_get() };
    u64::try_from(ns).unwrap_or(0) / 1000
}
