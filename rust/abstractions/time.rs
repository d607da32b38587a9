// SPDX-License-Identifier: GPL-2.0

//! The clock the protocol core runs on: microseconds of `ktime_get`.

use crate::abstractions::bindings;

/// Microseconds since boot (monotonic).
pub(crate) fn now_us() -> u64 {
    // SAFETY: no preconditions (`ktime_get`, as the C helper did).
    let ns = unsafe { bindings::ktime_get() };
    // Never negative (the monotonic clock starts at boot); `max(0)` keeps
    // the conversion free of a branch.
    ns.max(0) as u64 / 1000
}
