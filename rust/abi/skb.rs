// SPDX-License-Identifier: GPL-2.0

//! Owned socket buffers and the network devices they arrive on.

use crate::bindings;
use core::ptr::NonNull;
use kernel::types::Opaque;

/// An owned `struct sk_buff`, freed when dropped.
///
/// # Invariants
///
/// `self.0` points to a valid, unshared `sk_buff` that this value owns
/// (holds the only reference the module has to it).
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: an owned, unshared skb may be moved to and freed on any CPU.
unsafe impl Send for SkBuff {}

impl SkBuff {
    /// Takes ownership of `skb`, cloning it first if someone else holds a
    /// reference (as `skb_share_check` does); `None` if that fails.
    ///
    /// # Safety
    ///
    /// `skb` must be a valid skb whose reference the caller passes on.
    pub(crate) unsafe fn from_raw_shared(skb: *mut bindings::sk_buff) -> Option<Self> {
        // SAFETY: the caller passes a valid skb and its reference;
        // `afc_skb_share_check` consumes it and returns an unshared one or
        // NULL.
        let skb = unsafe { bindings::afc_skb_share_check(skb) };
        // INVARIANT: non-NULL result of skb_share_check is unshared and ours.
        NonNull::new(skb).map(Self)
    }

    /// Returns the number of bytes in the buffer (linear and paged).
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `self.0` is valid by the type invariant.
        unsafe { bindings::afc_skb_len(self.0.as_ptr()) as usize }
    }

    /// Makes the first `n` bytes linear and returns them; `None` if the
    /// buffer is shorter than `n` or memory for the pull is lacking.
    pub(crate) fn pull_linear(&mut self, n: usize) -> Option<&[u8]> {
        let n32 = u32::try_from(n).ok()?;
        // SAFETY: `self.0` is valid and unshared, so it may be modified.
        if unsafe { bindings::afc_pskb_may_pull(self.0.as_ptr(), n32) } == 0 {
            return None;
        }
        // SAFETY: pskb_may_pull succeeded, so `n` bytes at `data` are
        // linear and readable for as long as the skb is not modified, which
        // the `&mut self` borrow in the returned lifetime prevents.
        Some(unsafe { core::slice::from_raw_parts(bindings::afc_skb_data(self.0.as_ptr()), n) })
    }

    /// Frees the buffer as consumed (not dropped), for drop monitors.
    pub(crate) fn consume(self) {
        let skb = self.0.as_ptr();
        core::mem::forget(self);
        // SAFETY: we own the skb (type invariant) and give it up here.
        unsafe { bindings::afc_consume_skb(skb) };
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the skb (type invariant); it is not used again.
        unsafe { bindings::afc_kfree_skb(self.0.as_ptr()) };
    }
}

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
        // SAFETY: a live device always has a live namespace, which outlives
        // the device borrow.
        unsafe { super::netns::Net::from_raw(bindings::afc_dev_net(self.0.get())) }
    }

    /// Whether this is a loopback device (frames cannot be corrupted).
    pub(crate) fn is_loopback(&self) -> bool {
        // SAFETY: the device is valid (type invariant).
        unsafe { bindings::afc_dev_is_loopback(self.0.get()) }
    }
}
