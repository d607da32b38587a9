// SPDX-License-Identifier: GPL-2.0

//! The receive path: every AF_CUSTOM frame arrives here from `netif_rx`
//! or NAPI, in softirq context, through the `packet_type` handler.

use crate::abi::{packet::FrameHandler, skb::NetDevice, skb::SkBuff};
use crate::netns;
use crate::proto::wire::{ChecksumPolicy, Header, WireError};
use crate::stats::Stat;

/// The frame handler of EtherType 0x88B5.
pub(crate) struct Rx;

impl FrameHandler for Rx {
    fn receive(mut skb: SkBuff, dev: &NetDevice) {
        let state = netns::of(dev.net());
        let len = skb.len();
        let Some(frame) = skb.pull_linear(len) else {
            state.stats.inc(Stat::InErrs);
            return;
        };
        // Loopback cannot corrupt a frame: its checksum is not checked.
        let policy = if dev.is_loopback() { ChecksumPolicy::Trust } else { ChecksumPolicy::Verify };
        match Header::parse(frame, policy) {
            Ok(_) => state.stats.inc(Stat::InSegs),
            Err(WireError::BadChecksum | WireError::ChecksumMissing) => state.stats.inc(Stat::InCsumErrors),
            Err(_) => state.stats.inc(Stat::InErrs),
        }
        skb.consume();
    }
}
