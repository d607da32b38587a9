// SPDX-License-Identifier: GPL-2.0

//! The clock the protocol core runs on: microseconds of `ktime_get`.

use crate::abstractions::bindings;

/// Microseconds since boot (monotonic).
pub(crate) fn now_us() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_now_us() }
}
