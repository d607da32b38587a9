// SPDX-License-Identifier: GPL-2.0

//! The receive path: every AF_CUSTOM frame arrives here from `netif_rx`
//! or NAPI, in softirq context, through the `packet_type` handler.

use crate::abi::{packet::FrameHandler, skb::NetDevice, skb::SkBuff};
use crate::netns;
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
        let _ = dev.is_loopback();
        if frame.len() >= 40 {
            state.stats.inc(Stat::InSegs)
        } else {
            state.stats.inc(Stat::InErrs)
        }
        skb.consume();
    }
}
