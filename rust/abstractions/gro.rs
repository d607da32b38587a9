// SPDX-License-Identifier: GPL-2.0

//! Receive offload for our EtherType: the core's GRO rule
//! (`proto::gro`) on the headers the C callbacks (`rust/helpers/gro.c`)
//! hand over, and the count of merged frames for the frame handler.

use super::netdev::NetDevice;
use super::packet::FrameHandler;
use crate::abstractions::bindings;
use crate::proto::gro::{self, GroVerdict};
use crate::proto::wire::{Header, CHECKSUM_OFFSET, HEADER_LEN};
use core::marker::PhantomData;
use kernel::{ffi, prelude::*};

// The C side's constants are the core's.
const _: () = assert!(bindings::AFC_WIRE_CSUM_OFFSET as usize == CHECKSUM_OFFSET);
const _: () = assert!(bindings::AFC_GRO_OTHER_FLOW == 0);
const _: () = assert!(bindings::AFC_GRO_MERGE == 1);
const _: () = assert!(bindings::AFC_GRO_MERGE_LAST == 2);
const _: () = assert!(bindings::AFC_GRO_FLUSH == 3);

/// The header at `hdr`, read as the first bytes of a frame `frame_len` long.
///
/// # Safety
///
/// `hdr` points to `HEADER_LEN` readable bytes.
unsafe fn header(hdr: *const u8, frame_len: usize) -> Option<Header> {
    // SAFETY: per the contract.
    let b = unsafe { core::slice::from_raw_parts(hdr, HEADER_LEN) };
    Header::parse_prefix(b, frame_len).ok()
}

/// Whether the frame whose header is at `hdr` (`frame_len` bytes from it
/// on) may start or join a merged segment: one of ours, exactly its
/// header and payload long, and [`gro::eligible`].
///
/// # Safety
///
/// Called by `afc_gro_receive` with `hdr` pointing to `HEADER_LEN`
/// readable bytes (`skb_gro_header`).
#[no_mangle]
pub(crate) unsafe extern "C" fn afc_gro_frame_eligible(
    hdr: *const u8,
    frame_len: ffi::c_uint,
) -> bool {
    let len = frame_len as usize;
    // SAFETY: per the contract.
    match unsafe { header(hdr, len) } {
        Some(h) => h.frame_len() == len && gro::eligible(&h),
        None => false,
    }
}

/// The core's verdict ([`gro::verdict`]) for the frame at `next` against
/// the held segment whose first header is at `held` and which holds
/// `held_payload` bytes: `AFC_GRO_*`.
///
/// # Safety
///
/// Called by `afc_gro_receive`: `held` and `next` each point to
/// `HEADER_LEN` readable bytes, `next` of a frame that
/// [`afc_gro_frame_eligible`] accepted.
#[no_mangle]
pub(crate) unsafe extern "C" fn afc_gro_verdict(
    held: *const u8,
    held_payload: ffi::c_uint,
    next: *const u8,
) -> ffi::c_int {
    // SAFETY: per the contract; a held frame's payload follows its header.
    let held = unsafe { header(held, usize::MAX) };
    // SAFETY: as above.
    let next = unsafe { header(next, usize::MAX) };
    let (Some(held), Some(next)) = (held, next) else {
        return bindings::AFC_GRO_FLUSH as ffi::c_int;
    };
    let v = match gro::verdict(&held, held_payload, &next) {
        GroVerdict::OtherFlow => bindings::AFC_GRO_OTHER_FLOW,
        GroVerdict::Merge => bindings::AFC_GRO_MERGE,
        GroVerdict::MergeLast => bindings::AFC_GRO_MERGE_LAST,
        GroVerdict::Flush => bindings::AFC_GRO_FLUSH,
    };
    v as ffi::c_int
}

/// Rewrites the header at `hdr` of a merged segment to carry `total`
/// payload bytes ([`gro::merged`]); its checksum field is left zero
/// (the segment goes up with its checksum pending). 0, or -EINVAL.
///
/// # Safety
///
/// Called by `afc_gro_complete` with `hdr` pointing to `HEADER_LEN`
/// writable bytes of the merged segment's linear header, nothing else
/// referring to them.
#[no_mangle]
pub(crate) unsafe extern "C" fn afc_gro_complete_header(
    hdr: *mut u8,
    total: ffi::c_uint,
) -> ffi::c_int {
    // SAFETY: per the contract.
    let Some(first) = (unsafe { header(hdr, usize::MAX) }) else {
        return EINVAL.to_errno();
    };
    if total as usize > crate::proto::wire::MAX_PAYLOAD {
        return EINVAL.to_errno();
    }
    // SAFETY: per the contract: ours to write for the call.
    let b = unsafe { core::slice::from_raw_parts_mut(hdr, HEADER_LEN) };
    match gro::merged(&first, total).emit(b) {
        Ok(()) => 0,
        Err(_) => EINVAL.to_errno(),
    }
}

/// # Safety
///
/// Called by `afc_gro_complete` in softirq with the valid device the
/// merged segment arrived on.
unsafe extern "C" fn gro_merged<T: FrameHandler>(
    dev: *mut bindings::net_device,
    frames: ffi::c_uint,
) {
    // SAFETY: per the contract.
    let dev = unsafe { NetDevice::from_raw(dev) };
    T::gro_merged(dev, frames);
}

/// The GRO callbacks' count of merged frames, pointed at `T`'s
/// [`FrameHandler::gro_merged`] while this lives: registered after the
/// state the count goes to (the pernet registration), dropped before it.
pub(crate) struct GroCounter<T: FrameHandler>(PhantomData<T>);

impl<T: FrameHandler> GroCounter<T> {
    pub(crate) fn register() -> Self {
        // SAFETY: stores a function pointer the C side calls from then on;
        // `gro_merged::<T>` meets its contract for as long as `T`'s state
        // lives, which outlives `self` (field order in the module).
        unsafe { bindings::afc_gro_set_counter(Some(gro_merged::<T>)) };
        Self(PhantomData)
    }
}

impl<T: FrameHandler> Drop for GroCounter<T> {
    fn drop(&mut self) {
        // SAFETY: clears the pointer, then waits (synchronize_net) until
        // no softirq still runs a call it read before.
        unsafe { bindings::afc_gro_clear_counter() };
    }
}
