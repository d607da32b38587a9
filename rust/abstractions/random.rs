// SPDX-License-Identifier: GPL-2.0

//! Random numbers from the kernel's CRNG.

use crate::abstractions::bindings;

/// A random 64-bit number from the kernel's CRNG.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::afc_random_u64() }
}
