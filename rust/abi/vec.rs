// SPDX-License-Identifier: GPL-2.0

//! What 6.12's `KVec` lacks.

use kernel::prelude::*;

/// Keeps only the elements for which `keep` is true, in order, in place.
pub(crate) fn retain_copy<T: Copy>(v: &mut KVec<T>, keep: impl Fn(&T) -> bool) {
    let mut kept = 0;
    let s = v.as_mut_slice();
    for i in 0..s.len() {
        if keep(&s[i]) {
            s[kept] = s[i];
            kept += 1;
        }
    }
    // SAFETY: `kept <= len`, the first `kept` elements are initialised,
    // and `T: Copy` has no destructor to run for the elements cut off.
    unsafe { v.set_len(kept) };
}
