// SPDX-License-Identifier: GPL-2.0

//! Segmentation offload for our EtherType (`struct packet_offload`): the
//! segmenter itself is C (`afc_gso_segment`, beside `skb_segment`, which
//! does the cutting); this registers it for as long as the module lives.

use crate::abi::bindings;
use crate::proto::wire;
use kernel::prelude::*;

// The header fields the C segmenter rewrites sit where the core puts them.
const _: () = {
    assert!(bindings::AFC_WIRE_HDR_LEN as usize == wire::HEADER_LEN);
    assert!(bindings::AFC_WIRE_CSUM_OFF as usize == wire::CHECKSUM_OFFSET);
    assert!(bindings::AFC_WIRE_FLAG_FIN as u8 == wire::Flags::FIN.bits());
    assert!(bindings::AFC_WIRE_LEN_OFF as usize == wire::PAYLOAD_LEN_OFFSET);
    assert!(bindings::AFC_WIRE_SEQ_OFF as usize == wire::SEQ_OFFSET);
    assert!(bindings::AFC_WIRE_FLAGS_OFF as usize == wire::FLAGS_OFFSET);
};

/// Registration of the segmenter with `dev_add_offload`; removed on drop.
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
