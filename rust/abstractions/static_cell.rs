// SPDX-License-Identifier: GPL-2.0

//! Zero-initialised static storage for C structures the kernel keeps
//! pointers to and that the module must find without a pointer from the
//! kernel (`net_proto_family`, `proto`, `proto_ops`).

use core::cell::UnsafeCell;

/// A static C structure that is filled once at module init, before it is
/// handed to the kernel, and never written again while registered.
#[repr(transparent)]
pub(crate) struct StaticCell<T>(UnsafeCell<T>);

// SAFETY: the contents are written only during module init or exit, which
// the module loader serialises, and only while the kernel holds no
// pointer to them; at all other times they are only read.
unsafe impl<T> Sync for StaticCell<T> {}

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
///
/// Only for types made of integers, raw pointers, `Option<fn>` and arrays
/// or structs of those (bindgen's plain C structures).
pub(crate) unsafe trait AllZeroValid {}

// SAFETY: bindgen structures of integers, raw pointers and `Option<fn>`.
unsafe impl AllZeroValid for crate::abstractions::bindings::net_proto_family {}
// SAFETY: as above.
unsafe impl AllZeroValid for crate::abstractions::bindings::proto_ops {}
// SAFETY: as above.
unsafe impl AllZeroValid for crate::abstractions::bindings::proto {}

impl<T: AllZeroValid> StaticCell<T> {
    /// Makes an all-zero cell.
    pub(crate) const fn zeroed() -> Self {
        // SAFETY: all-zero bytes are a valid `T` (`AllZeroValid`).
        Self(UnsafeCell::new(unsafe {
            core::mem::MaybeUninit::zeroed().assume_init()
        }))
    }
}

impl<T> StaticCell<T> {
    /// Returns the raw pointer handed to C.
    pub(in crate::abstractions) fn get(&self) -> *mut T {
        self.0.get()
    }
}
