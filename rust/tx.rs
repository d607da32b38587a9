// SPDX-License-Identifier: GPL-2.0

//! The send path's last step, shared by connections and by the RSTs the
//! frame handler answers with: build one frame (header, payload copied
//! in or referenced by page, or a send buffer's clone), fill its checksum
//! unless the peer is over loopback, count it, route it out.

use crate::abstractions::netns::Net;
use crate::abstractions::skb::SkBuff;
use crate::abstractions::sock::Sock;
use crate::netns;
use crate::proto::wire::{Header, CHECKSUM_OFFSET, HEADER_LEN};
use crate::socket::AfcSock;
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

/// How a frame finds its way out.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    /// A route lookup for this frame alone (RSTs: no socket).
    Route(&'a Net),
    /// The connection's cached route (the caller owns the socket), and
    /// the payload per wire frame if the device takes GSO frames (else 0).
    Sock(&'a Sock<'a, AfcSock>, u32),
}

/// Sends `h` followed by `h.payload_len` bytes that `payload` writes into
/// the frame.
pub(crate) fn send(
    to: Via<'_>,
    h: &Header,
    loopback: bool,
    payload: impl FnOnce(&mut [u8]) -> Result,
) -> Sent {
    let len = usize::from(h.payload_len);
    let Some(mut frame) = SkBuff::alloc_frame(HEADER_LEN + len) else {
        return Sent::Dropped;
    };
    let buf = frame.linear_mut();
    let Some(body) = buf.get_mut(HEADER_LEN..) else {
        return Sent::Dropped;
    };
    if len > 0 && payload(body).is_err() {
        return Sent::Dropped;
    }
    if h.emit(buf).is_err() {
        return Sent::Dropped;
    }
    out(to, h, loopback, frame)
}

/// Sends `h` followed by `h.payload_len` bytes that `attach` adds to the
/// frame as page references (`SkBuff::attach_pages`), without copying
/// them.  `None` when `attach` failed: nothing was sent and the caller
/// may send the segment by copy instead.
pub(crate) fn send_paged(
    to: Via<'_>,
    h: &Header,
    loopback: bool,
    attach: impl FnOnce(&mut SkBuff) -> Result,
) -> Option<Sent> {
    let Some(mut frame) = SkBuff::alloc_frame(HEADER_LEN) else {
        return Some(Sent::Dropped);
    };
    if h.emit(frame.linear_mut()).is_err() {
        return Some(Sent::Dropped);
    }
    if attach(&mut frame).is_err() || frame.len() != HEADER_LEN + usize::from(h.payload_len) {
        return None;
    }
    Some(out(to, h, loopback, frame))
}

/// Sends `frame`, whose data is `h` (already written) and its payload:
/// a send buffer's clone (`QueuedSkb::clone_for_send`).
pub(crate) fn send_frame(to: Via<'_>, h: &Header, loopback: bool, frame: SkBuff) -> Sent {
    out(to, h, loopback, frame)
}

/// Fills the checksum (none over loopback; a GSO frame's stays pending
/// until it is cut or reaches a veth peer: docs/PROTOCOL.md 1.3), marks a
/// large segment for GSO, counts and routes out a frame.
fn out(to: Via<'_>, h: &Header, loopback: bool, mut frame: SkBuff) -> Sent {
    let gso = match to {
        Via::Sock(_, gso) if gso > 0 && u32::from(h.payload_len) > gso => gso,
        _ => 0,
    };
    if gso > 0 {
        frame.offload_checksum(CHECKSUM_OFFSET);
        frame.set_gso(gso);
    } else if !loopback && frame.fill_checksum(CHECKSUM_OFFSET).is_err() {
        return Sent::Dropped;
    }
    let stats = match to {
        Via::Route(net) => &netns::of(net).stats,
        Via::Sock(sk, _) => &netns::of_sock(sk).stats,
    };
    stats.inc(Stat::OutSegs);
    if h.flags.rst() {
        stats.inc(Stat::OutRsts);
    } else if h.payload_len == 0 && !h.flags.syn() && !h.flags.fin() {
        stats.inc(Stat::OutPureAcks);
    }
    let r = match to {
        Via::Route(net) => net.xmit(frame, h.src.addr, h.dst.addr),
        Via::Sock(sk, _) => sk.xmit(frame, h.src.addr, h.dst.addr),
    };
    match r {
        Ok(()) => Sent::Out,
        Err(_) => Sent::NoRoute,
    }
}
