// SPDX-License-Identifier: GPL-2.0

//! Segmentation offload for our EtherType (`struct packet_offload`): the
//! C segmenter (`afc_gso_segment` in `rust/helpers/gso.c`) cuts a GSO
//! frame with `skb_segment`, then [`afc_gso_fix_pieces`] rewrites each
//! piece's header by the core's rule (`wire::gso_piece`); this also
//! registers the segmenter for as long as the module lives.

use crate::abstractions::bindings;
use crate::proto::wire::{self, Header, HEADER_LEN};
use kernel::{ffi, prelude::*};

// The header the C segmenter pulls before cutting is the core's.
const _: () = assert!(bindings::AFC_WIRE_HDR_LEN as usize == HEADER_LEN);

/// Rewrites the headers of the pieces `segs` (a list linked by `next`)
/// that `skb_segment` cut from one GSO frame: each carries the whole
/// frame's header, which becomes the piece's own (`wire::gso_piece`), with
/// its checksum computed over the piece.  0, or -EINVAL (the caller frees
/// the pieces) if a header is not one of ours.
///
/// # Safety
///
/// Called by `afc_gso_segment` with the non-empty list of pieces
/// `skb_segment` just made, which it owns: each is valid and unshared,
/// with our header linear at its network header.
#[no_mangle]
pub(crate) unsafe extern "C" fn afc_gso_fix_pieces(segs: *mut bindings::sk_buff) -> ffi::c_int {
    // SAFETY: per the contract: valid pieces, ours, headers linear.
    match unsafe { fix_pieces(segs) } {
        Some(()) => 0,
        None => EINVAL.to_errno(),
    }
}

/// # Safety
///
/// As [`afc_gso_fix_pieces`].
unsafe fn fix_pieces(segs: *mut bindings::sk_buff) -> Option<()> {
    // The payload of all pieces, so that the whole header parses.
    let mut total = 0usize;
    let mut seg = segs;
    while !seg.is_null() {
        // SAFETY: a valid piece (contract).
        let (len, noff) = unsafe {
            (
                bindings::afc_skb_len(seg) as usize,
                bindings::afc_skb_network_offset(seg),
            )
        };
        total += len
            .checked_sub(usize::try_from(noff).ok()?)?
            .checked_sub(HEADER_LEN)?;
        // SAFETY: as above.
        seg = unsafe { bindings::afc_skb_next(seg) };
    }
    // SAFETY: the first piece's header is linear, HEADER_LEN bytes at its
    // network header (contract); read before any is rewritten.
    let first =
        unsafe { core::slice::from_raw_parts(bindings::afc_skb_network_header(segs), HEADER_LEN) };
    let whole = Header::parse_prefix(first, HEADER_LEN + total).ok()?;
    let mut offset = 0u32;
    seg = segs;
    while !seg.is_null() {
        // SAFETY: a valid, unshared piece we own (contract).
        let (len, noff, next) = unsafe {
            (
                bindings::afc_skb_len(seg) as usize,
                bindings::afc_skb_network_offset(seg),
                bindings::afc_skb_next(seg),
            )
        };
        let plen = u16::try_from(
            len.checked_sub(usize::try_from(noff).ok()?)?
                .checked_sub(HEADER_LEN)?,
        )
        .ok()?;
        // SAFETY: the piece's header is linear and ours to write (contract);
        // nothing else refers to it while this slice lives.
        let hdr = unsafe {
            core::slice::from_raw_parts_mut(bindings::afc_skb_network_header(seg), HEADER_LEN)
        };
        wire::gso_piece(&whole, offset, plen, next.is_null())
            .emit(hdr)
            .ok()?;
        // SAFETY: a valid piece; sums its bytes from our header on (the
        // field is zero, as `emit` left it).
        let sum = unsafe { bindings::afc_skb_piece_sum(seg, noff) };
        wire::store_checksum(hdr, sum).ok()?;
        // SAFETY: a valid piece we own: its checksum is computed now.
        unsafe { bindings::afc_skb_csum_none(seg) };
        offset = offset.checked_add(u32::from(plen))?;
        seg = next;
    }
    Some(())
}

/// Registration of the segmenter with `dev_add_offload`; removed on drop.
///
/// The `struct packet_offload` is a static of the C helpers (gso.c), not
/// owned here: its callbacks (`afc_gso_segment`, `afc_gro_receive`,
/// `afc_gro_complete`) are C, since they use the GRO and segmentation
/// internals Rust cannot reach in 6.12, and the kernel links the table
/// into its offload list, so it is written while registered.
pub(crate) struct OffloadRegistration(());

impl OffloadRegistration {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: registers a static `packet_offload` of the C helpers once
        // (module init is serialised); removed in `drop`.
        kernel::error::to_result(unsafe { bindings::afc_offload_register() })?;
        Ok(Self(()))
    }
}

impl Drop for OffloadRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; dev_remove_offload waits until
        // no CPU runs the segmenter any more.
        unsafe { bindings::afc_offload_unregister() };
    }
}
