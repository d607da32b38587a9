// SPDX-License-Identifier: GPL-2.0

//! Network devices (`struct net_device`), as the frame handler and the
//! offload callbacks borrow them.

use crate::abstractions::bindings;
use kernel::types::Opaque;

/// A network device, borrowed for the duration of a callback.
///
/// # Invariants
///
/// Wraps a valid `struct net_device` that outlives the borrow.
#[repr(transparent)]
pub(crate) struct NetDevice(Opaque<bindings::net_device>);

impl NetDevice {
    /// Borrows a device from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a Self {
        // SAFETY: `NetDevice` is transparent over the C struct and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Returns the network namespace the device lives in.
    pub(crate) fn net(&self) -> &super::netns::Net {
        // SAFETY: the device is valid (type invariant); `dev_net` is its
        // `nd_net`, and a live device always has a live namespace, which
        // outlives the device borrow.
        unsafe { super::netns::Net::from_raw((*self.0.get()).nd_net.net) }
    }

    /// Whether this is a loopback device (frames cannot be corrupted).
    pub(crate) fn is_loopback(&self) -> bool {
        // `IFF_LOOPBACK` of `linux/if.h` (user ABI: never changes).
        const IFF_LOOPBACK: u32 = 1 << 3;
        // SAFETY: the device is valid (type invariant); `flags` is read as
        // the C helpers read it, plainly (the loopback bit never changes).
        unsafe { (*self.0.get()).flags & IFF_LOOPBACK != 0 }
    }

    /// The device's index (`ifindex`), what `SO_BINDTODEVICE` names.
    pub(crate) fn ifindex(&self) -> i32 {
        // SAFETY: the device is valid (type invariant); `ifindex` is set
        // at registration.
        unsafe { (*self.0.get()).ifindex }
    }
}
