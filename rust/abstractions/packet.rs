// SPDX-License-Identifier: GPL-2.0

//! The frame handler for our EtherType (`struct packet_type`).

use super::{netdev::NetDevice, skb::SkBuff, static_cell::StaticCell};
use crate::abstractions::bindings;
use core::marker::PhantomData;
use kernel::{ffi, prelude::*};

/// Receives the frames of one EtherType, in softirq context.
pub(crate) trait FrameHandler {
    /// Handles one frame; `skb` is owned and freed when dropped.
    fn receive(skb: SkBuff, dev: &NetDevice);
    /// Counts `frames` frames that receive offload (GRO) merged into an
    /// earlier frame from `dev`, which goes up as one (`gro::GroCounter`).
    fn gro_merged(dev: &NetDevice, frames: u32);
}

static PACKET_TYPE: StaticCell<bindings::packet_type> = StaticCell::zeroed();

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
pub(crate) struct PacketRegistration<T: FrameHandler>(PhantomData<T>);

impl<T: FrameHandler> PacketRegistration<T> {
    /// Registers `T` for frames of EtherType `ethertype` on every device.
    pub(crate) fn register(ethertype: u16) -> Result<Self> {
        let pt = PACKET_TYPE.get();
        // SAFETY: module init is serialised and nothing is registered yet,
        // so nobody else reads `PACKET_TYPE` while it is filled.
        unsafe {
            (*pt).type_ = ethertype.to_be();
            (*pt).func = Some(Adapter::<T>::func);
            bindings::dev_add_pack(pt);
        }
        Ok(Self(PhantomData))
    }
}

impl<T: FrameHandler> Drop for PacketRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; dev_remove_pack waits
        // (synchronize_net) until no CPU runs the handler any more.
        unsafe { bindings::dev_remove_pack(PACKET_TYPE.get()) };
    }
}
