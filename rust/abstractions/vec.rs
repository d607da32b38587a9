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
pub(crate) fn try_push<T>(
    v: &mut KVec<T>,
    x: T,
    flags: kernel::alloc::Flags,
) -> core::result::Result<(), T> {
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

/// A first-in first-out queue that takes from the front without moving
/// what is queued (6.12's `KVec` has no `VecDeque`): a vector and the
/// index of its front.  The slots taken are dropped once the queue
/// empties, or when they are half of it (the rest moved down once), so
/// each element is moved O(1) times however long the queue.
pub(crate) struct Fifo<T> {
    items: KVec<Option<T>>,
    head: usize,
}

impl<T> Fifo<T> {
    /// Slots taken before the queue is compacted.
    const COMPACT_MIN: usize = 32;

    /// An empty queue (no allocation).
    pub(crate) const fn new() -> Self {
        Self {
            items: KVec::new(),
            head: 0,
        }
    }

    /// How many are queued.
    pub(crate) fn len(&self) -> usize {
        self.items.len().saturating_sub(self.head)
    }

    /// Queues `x` at the back; gives it back if memory runs out.
    pub(crate) fn try_push(
        &mut self,
        x: T,
        flags: kernel::alloc::Flags,
    ) -> core::result::Result<(), T> {
        if self.items.reserve(1, flags).is_err() {
            return Err(x);
        }
        // Within the capacity just reserved: no allocation, cannot fail.
        let _ = self.items.push(Some(x), flags);
        Ok(())
    }

    /// Takes the oldest.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let x = self.items.as_mut_slice().get_mut(self.head)?.take();
        self.head += 1;
        if self.head >= self.items.len() {
            self.drop_taken();
        } else if self.head >= Self::COMPACT_MIN && self.head.saturating_mul(2) >= self.items.len()
        {
            let s = self.items.as_mut_slice();
            for i in self.head..s.len() {
                s.swap(i - self.head, i);
            }
            self.drop_taken();
        }
        x
    }

    /// Drops the taken (empty) slots, now at the back, from `len()` on.
    fn drop_taken(&mut self) {
        let keep = self.len();
        while self.items.len() > keep {
            drop(pop(&mut self.items));
        }
        self.head = 0;
    }
}
