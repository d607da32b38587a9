// SPDX-License-Identifier: GPL-2.0

//! What 6.12's `KVec` lacks.

use kernel::prelude::*;

/// Removes and returns element `i`, moving the last element into its place
/// (`None` if `i` is out of range).
pub(crate) fn swap_remove<T>(v: &mut KVec<T>, i: usize) -> Option<T> {
    let len = v.len();
    if i >= len {
        return None;
    }
    let s = v.as_mut_slice();
    s.swap(i, len - 1);
    // SAFETY: `len - 1 < len` is initialised; after `set_len(len - 1)` the
    // vector no longer owns it, so reading it out moves it exactly once.
    unsafe {
        let last = core::ptr::read(v.as_ptr().add(len - 1));
        v.set_len(len - 1);
        Some(last)
    }
}

/// Removes and returns the last element (`None` if empty).
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    swap_remove(v, v.len().checked_sub(1)?)
}

/// Removes and returns element `i`, shifting the rest down (`None` if out
/// of range).
pub(crate) fn remove<T>(v: &mut KVec<T>, i: usize) -> Option<T> {
    let len = v.len();
    if i >= len {
        return None;
    }
    // SAFETY: `i < len`: the element is read out once, the tail moved down
    // over it (overlapping copy), and the length shortened so the moved-out
    // slot at the end is no longer owned.
    unsafe {
        let p = v.as_mut_ptr().add(i);
        let out = core::ptr::read(p);
        core::ptr::copy(p.add(1), p, len - i - 1);
        v.set_len(len - 1);
        Some(out)
    }
}

/// Inserts `x` at position `i` (`i <= len`), shifting the rest up.
pub(crate) fn insert<T>(v: &mut KVec<T>, i: usize, x: T, flags: kernel::alloc::Flags) -> Result {
    let len = v.len();
    if i > len {
        return Err(EINVAL);
    }
    v.reserve(1, flags)?;
    // SAFETY: capacity is at least `len + 1`; the tail moves up by one
    // (overlapping copy) and `x` is written into the gap before the length
    // grows, so every owned slot is initialised.
    unsafe {
        let p = v.as_mut_ptr().add(i);
        core::ptr::copy(p, p.add(1), len - i);
        core::ptr::write(p, x);
        v.set_len(len + 1);
    }
    Ok(())
}

/// Appends `x`, or gives it back when there is no memory for it, so that a
/// caller holding a lock can drop it after unlocking (a value whose drop
/// may put a last reference must not be dropped under a bucket lock).
pub(crate) fn try_push<T>(v: &mut KVec<T>, x: T, flags: kernel::alloc::Flags) -> core::result::Result<(), T> {
    if v.reserve(1, flags).is_err() {
        return Err(x);
    }
    let len = v.len();
    // SAFETY: capacity is at least `len + 1` (reserved above); `x` is
    // written into the first unused slot before the length covers it.
    unsafe {
        core::ptr::write(v.as_mut_ptr().add(len), x);
        v.set_len(len + 1);
    }
    Ok(())
}
