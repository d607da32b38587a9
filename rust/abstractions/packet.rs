// SPDX-License-Identifier: GPL-2.0

//! The frame handler for our EtherType (`struct packet_type`).

use super::{netdev::NetDevice, skb::SkBuff};
use crate::abstractions::bindings;
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::{ffi, prelude::*, types::Opaque};

/// Receives the frames of one EtherType, in softirq context.
pub(crate) trait FrameHandler {
    /// Handles one frame; `skb` is owned and freed when dropped.
    fn receive(skb: SkBuff, dev: &NetDevice);
    /// Counts `frames` frames that receive offload (GRO) merged into an
    /// earlier frame from `dev`, which goes up as one (`gro::GroCounter`).
    fn gro_merged(dev: &NetDevice, frames: u32);
}

struct Adapter<T>(PhantomData<T>);

impl<T: FrameHandler> Adapter<T> {
    /// # Safety
    ///
    /// Called by the stack as our `packet_type.func`, in softirq, with a valid
    /// skb (one reference, now ours) and the device it arrived on.
    unsafe extern "C" fn func(
        skb: *mut bindings::sk_buff,
        dev: *mut bindings::net_device,
        _pt: *mut bindings::packet_type,
        _orig_dev: *mut bindings::net_device,
    ) -> ffi::c_int {
        // SAFETY: the stack hands us a valid device for the call.
        let dev = unsafe { NetDevice::from_raw(dev) };
        // SAFETY: the stack passes a valid skb and one reference to it.
        if let Some(skb) = unsafe { SkBuff::from_raw_shared(skb) } {
            T::receive(skb, dev);
        }
        0
    }
}

/// Registration of the frame handler with `dev_add_pack`; removed on drop.
///
/// The registration owns the `struct packet_type` it registers: the
/// kernel links it into its handler list (so writes into it) and calls
/// `func` through it, so it lives in its own allocation, which never
/// moves, and is freed only after `dev_remove_pack` in `drop` has
/// unlinked it and waited for every CPU still in the handler.
pub(crate) struct PacketRegistration<T: FrameHandler> {
    pt: Pin<KBox<Opaque<bindings::packet_type>>>,
    _handler: PhantomData<T>,
}

// SAFETY: the registration only hands its `packet_type` to
// `dev_remove_pack` when dropped, which may run on any CPU in process
// context; the kernel's own use of the table is its own synchronisation.
unsafe impl<T: FrameHandler> Send for PacketRegistration<T> {}
// SAFETY: a shared reference gives no access to the table at all.
unsafe impl<T: FrameHandler> Sync for PacketRegistration<T> {}

impl<T: FrameHandler> PacketRegistration<T> {
    /// Registers `T` for frames of EtherType `ethertype` on every device.
    pub(crate) fn register(ethertype: u16) -> Result<Self> {
        let pt = bindings::packet_type {
            type_: ethertype.to_be(),
            func: Some(Adapter::<T>::func),
            // No device (every device), no list links yet: all zero.
            ..Default::default()
        };
        let pt = KBox::pin(Opaque::new(pt), GFP_KERNEL)?;
        // SAFETY: `pt` is a filled `packet_type` in its own allocation,
        // which stays where it is and alive until `drop` has unregistered
        // it; from here on only the kernel writes into it.
        unsafe { bindings::dev_add_pack(pt.get()) };
        Ok(Self {
            pt,
            _handler: PhantomData,
        })
    }
}

impl<T: FrameHandler> Drop for PacketRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; dev_remove_pack waits
        // (synchronize_net) until no CPU runs the handler any more, so
        // the `packet_type` is unused once it returns and `self.pt` is
        // freed after this.
        unsafe { bindings::dev_remove_pack(self.pt.get()) };
    }
}
