// SPDX-License-Identifier: GPL-2.0

//! The send path's last step, shared by connections and by the RSTs the
//! frame handler answers with: build one frame (header, payload,
//! checksum unless the peer is over loopback), count it, route it out.

use crate::abi::netns::Net;
use crate::abi::skb::SkBuff;
use crate::netns;
use crate::proto::wire::{fill_checksum, Header, HEADER_LEN};
use crate::stats::Stat;
use kernel::prelude::*;

/// What became of a segment.
pub(crate) enum Sent {
    /// Handed to the device layer.
    Out,
    /// Not built (out of memory, or the payload could not be copied):
    /// lost as on the wire; the sender's timers repair it.
    Dropped,
    /// Built but not sent: no route or neighbour.
    NoRoute,
}

/// Sends `h` followed by `h.payload_len` bytes that `payload` writes into
/// the frame.
pub(crate) fn send(net: &Net, h: &Header, loopback: bool, payload: impl FnOnce(&mut [u8]) -> Result) -> Sent {
    let len = usize::from(h.payload_len);
    let Some(mut frame) = SkBuff::alloc_frame(HEADER_LEN + len) else { return Sent::Dropped };
    let buf = frame.linear_mut();
    let Some(body) = buf.get_mut(HEADER_LEN..) else { return Sent::Dropped };
    if len > 0 && payload(body).is_err() {
        return Sent::Dropped;
    }
    if h.emit(buf).is_err() || (!loopback && fill_checksum(buf).is_err()) {
        return Sent::Dropped;
    }
    let stats = &netns::of(net).stats;
    stats.inc(Stat::OutSegs);
    if h.flags.rst() {
        stats.inc(Stat::OutRsts);
    }
    match net.xmit(frame, h.src.addr, h.dst.addr) {
        Ok(()) => Sent::Out,
        Err(_) => Sent::NoRoute,
    }
}
