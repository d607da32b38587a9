// SPDX-License-Identifier: GPL-2.0

//! The receive path: every AF_CUSTOM frame arrives here from `netif_rx`
//! or NAPI, in softirq context, through the `packet_type` handler.
//!
//! A frame is checked (length, version, checksum unless it came over
//! loopback or is this host's own with its sum pending; off loopback, IPv4's martian rules: `proto::ingress`), then
//! matched: the established table by 4-tuple first, then for a SYN the
//! listener table (specific address, then wildcard), and for an ACK too,
//! in case it completes a handshake answered with a SYN cookie; a socket
//! bound to a device matches only frames that arrived on it (`tables`).
//! The socket's filter (and the LSM hook) may drop the frame
//! (`FilterDrops`), as `tcp_filter`, but not in TIME_WAIT (as TCP); else the socket gets it under
//! `bh_lock_sock`, or on its backlog while a process owns it.  A frame for
//! nobody is answered with an RST, never to a broadcast or multicast
//! address, rate-limited per destination.

use crate::abstractions::netdev::NetDevice;
use crate::abstractions::packet::FrameHandler;
use crate::abstractions::skb::{DropReason, SkBuff};
use crate::abstractions::sock::Sock;
use crate::netns::{self, NetState};
use crate::proto::conn_send::reset_reply;
use crate::proto::ingress::{martian, martian_source_type, may_answer_with_rst};
use crate::proto::state::State;
use crate::proto::tuple::FourTuple;
use crate::proto::wire::{
    frame_checksum_field, receive_checksum_policy, ChecksumPolicy, ChecksumState, Header,
    HEADER_LEN,
};
use crate::socket::{self, AfcSock};
use crate::stats::Stat;
use crate::tx;
use core::sync::atomic::{AtomicU64, Ordering};

/// The smallest payload the frame handler leaves on the backlog for a
/// reader asleep in `recvmsg` (a bulk frame); smaller ones run at once.
const FOR_READER_MIN: u16 = 2048;

/// The frame handler of EtherType 0x88B5.
pub(crate) struct Rx;

impl FrameHandler for Rx {
    fn gro_merged(dev: &NetDevice, frames: u32) {
        netns::of(dev.net())
            .stats
            .add(Stat::InGroMerged, frames.into());
    }

    fn receive(mut skb: SkBuff, dev: &NetDevice) {
        let net = dev.net();
        let state = netns::of(net);
        if skb.for_other_host() {
            // Addressed to another host's MAC (a promiscuous device, a
            // shared segment): not ours, counted as the device's
            // `rx_otherhost_dropped` counts them for IPv4.
            state.stats.inc(Stat::InOtherHost);
            skb.drop_because(DropReason::OtherHost);
            return;
        }
        let Some((h, checksum_field)) = read_header(&mut skb) else {
            state.stats.inc(Stat::InErrs);
            skb.drop_because(DropReason::Malformed);
            return;
        };
        // Drop padding beyond the frame (Ethernet minimum size).
        skb.trim(h.frame_len());
        // Loopback cannot corrupt a frame, and one whose own checksum is
        // still pending (this host's stack sent it through a veth) cannot
        // have been corrupted either: neither is checked.  Every other is,
        // whatever the device claims (wire::receive_checksum_policy).
        // Loopback traffic passes this and the next check with one test.
        let loopback = dev.is_loopback();
        if !loopback {
            let csum = match skb.pending_checksum() {
                Some((start, field)) => ChecksumState::Pending {
                    start: start.into(),
                    field: field.into(),
                },
                None => ChecksumState::Filled,
            };
            if receive_checksum_policy(loopback, csum) == ChecksumPolicy::Verify
                && (checksum_field == 0 || !skb.checksum_ok())
            {
                state.stats.inc(Stat::InCsumErrors);
                skb.drop_because(DropReason::Checksum);
                return;
            }
            // IPv4's ingress rules (`ip_route_input_slow`,
            // `fib_validate_source`): off loopback, no frame may come from
            // or go to 127.0.0.0/8 and the like (by its addresses alone,
            // before any lookup), nor come from one of this host's own
            // addresses (or a directed broadcast: the source's type, asked
            // once a connection is known, whose socket remembers the
            // answer).  Loopback traffic is never checked.
            if martian(h.src.addr, h.dst.addr).is_some() {
                state.stats.inc(Stat::InMartians);
                skb.drop_because(DropReason::Martian);
                return;
            }
        }
        let tuple = FourTuple::new(h.dst, h.src);
        let dif = dev.ifindex();
        let for_host = skb.for_host();
        let established = if for_host {
            state.tables.lookup_established(&tuple, dif)
        } else {
            None
        };
        if !loopback
            && martian_source(
                net,
                &h,
                established
                    .as_ref()
                    .map(|sk| sk.sock().data().rx_src_checked()),
            )
        {
            state.stats.inc(Stat::InMartians);
            skb.drop_because(DropReason::Martian);
            return;
        }
        state.stats.inc(Stat::InSegs);
        // Broadcast and multicast frames are counted, never answered
        // (TCP drops them with no reason more precise).
        if !for_host {
            skb.drop_because(DropReason::NotSpecified);
            return;
        }
        let syn = h.flags.syn() && !h.flags.ack() && !h.flags.rst() && !h.flags.fin();
        if let Some(sk) = established {
            let s = sk.sock();
            // TIME_WAIT is never filtered (TCP's timewait socket has no
            // filter): its answers, such as the ACK of a retransmitted
            // FIN, must go out.  A SYN that may reopen its tuple goes to
            // the listener (below) once the connection has seen it: its
            // listener's filter is asked first, as TCP's.
            let time_wait = s.state() == State::TimeWait.as_u8();
            if !time_wait {
                if !filter(state, &s, &mut skb) {
                    skb.drop_because(DropReason::Filter);
                    return;
                }
            } else if syn {
                if let Some(l) = state.tables.lookup_listener(h.dst, h.src, dif) {
                    if !filter(state, &l.sk.sock(), &mut skb) {
                        skb.drop_because(DropReason::Filter);
                        return;
                    }
                }
            }
            let mut g = s.bh_lock();
            // Data for a reader asleep in `recvmsg` waits on the backlog
            // for that reader, who runs it when it wakes, instead of in
            // this softirq: over a local link that is the sending task's,
            // which would otherwise do both ends' work (TCP's prequeue
            // before 4.14).  Frames behind those keep their order.
            // Small frames (a request, an ACK) are run at once: the trip
            // through the backlog would cost them more than it moves.
            // (One test: the terms kept from being split back into a
            // branch each; the backlog is read under its spinlock, which
            // we hold, owned or not.)
            let unowned = !g.is_owned();
            let for_reader = u8::from(unowned)
                & (u8::from(g.backlog_pending())
                    | (u8::from(h.payload_len >= FOR_READER_MIN)
                        & u8::from(s.data().reader_asleep())));
            let for_reader = core::hint::black_box(for_reader) != 0;
            if for_reader {
                let waiting = g.backlog_pending();
                match g.add_backlog(skb) {
                    Ok(()) => {
                        state.stats.inc(Stat::InBacklog);
                        // The first frame wakes the reader and sets the
                        // time by which the socket timer runs them if it
                        // has not come (`conn::arm_for_reader`).
                        if !waiting {
                            if let Some(st) = g.locked() {
                                socket::arm_for_reader(&s, st);
                            }
                            s.data_ready();
                        }
                        return;
                    }
                    Err(back) => {
                        // The reader left too much waiting: all of it runs
                        // here, in order, and this frame after it.
                        skb = back;
                        g.run_backlog();
                    }
                }
            }
            let reuse = match g.locked() {
                Some(st) => socket::segment_arrived(&s, st, &h, skb),
                None => {
                    match g.add_backlog(skb) {
                        Ok(()) => state.stats.inc(Stat::InBacklog),
                        Err(back) => {
                            state.stats.inc(Stat::BacklogDrops);
                            back.drop_because(DropReason::Backlog);
                        }
                    }
                    false
                }
            };
            drop(g);
            if !reuse {
                return;
            }
        } else {
            if syn && net.addr_is_local(h.dst.addr) {
                if let Some(l) = state.tables.lookup_listener(h.dst, h.src, dif) {
                    if !filter(state, &l.sk.sock(), &mut skb) {
                        skb.drop_because(DropReason::Filter);
                        return;
                    }
                    socket::listener_syn(l, &h, loopback);
                    return;
                }
            }
            // An ACK for no connection may complete a handshake answered
            // with a SYN cookie; if not, it gets its RST below.
            let ack = h.flags.ack() && !h.flags.syn() && !h.flags.rst();
            if ack && net.addr_is_local(h.dst.addr) {
                if let Some(l) = state.tables.lookup_listener(h.dst, h.src, dif) {
                    if !filter(state, &l.sk.sock(), &mut skb) {
                        skb.drop_because(DropReason::Filter);
                        return;
                    }
                    match socket::listener_ack(l, &h, skb, loopback) {
                        None => return,
                        Some(back) => skb = back,
                    }
                }
            }
            state.stats.inc(Stat::InNoSocket);
            send_reset(net, state, &h, loopback);
            skb.drop_because(DropReason::NoSocket);
            return;
        }
        // A SYN that reopened a TIME_WAIT tuple: the listener takes it.
        if let Some(l) = state.tables.lookup_listener(h.dst, h.src, dif) {
            socket::listener_syn(l, &h, loopback);
        }
    }
}

/// Runs `sk`'s socket filter on a frame it would take; `false` (counted)
/// to drop the frame.
fn filter(state: &NetState, sk: &Sock<'_, AfcSock>, skb: &mut SkBuff) -> bool {
    let ok = sk.filter_accepts(skb);
    if !ok {
        state.stats.inc(Stat::FilterDrops);
    }
    ok
}

/// Decodes the header of a frame (and returns its checksum field), making
/// only the header linear: the payload may stay in page fragments (a
/// sender's pages, over loopback) all the way to the reader.  `None` for
/// a malformed or truncated frame.  The backlog reads it again this way.
pub(crate) fn read_header(skb: &mut SkBuff) -> Option<(Header, u16)> {
    let len = skb.len();
    let hdr = skb.pull_linear(HEADER_LEN.min(len))?;
    let h = Header::parse_prefix(hdr, len).ok()?;
    Some((h, frame_checksum_field(hdr)))
}

/// Whether a frame that came from a device other than loopback, and whose
/// addresses alone are no martians, is one by the type of its source (one
/// FIB lookup in the local table).
///
/// For a frame of a known connection (`checked`: its socket's
/// [`AfcSock::rx_src_checked`]) the source is looked up once per routing
/// generation, as early demux keeps TCP's input route until the routes or
/// addresses change.
fn martian_source(
    net: &crate::abstractions::netns::Net,
    h: &Header,
    checked: Option<&AtomicU64>,
) -> bool {
    // Read before the lookup: a change after it is seen by the next frame.
    // The address is in the tag (never 0: `martian` refused 0.0.0.0/8), so
    // a socket that connects again elsewhere checks its new peer.
    let tag = u64::from(net.rt_genid()) << 32 | u64::from(h.src.addr);
    if checked.is_some_and(|c| c.load(Ordering::Relaxed) == tag) {
        return false;
    }
    let bad = martian_source_type(net.addr_type(h.src.addr));
    if let (false, Some(c)) = (bad, checked) {
        c.store(tag, Ordering::Relaxed);
    }
    bad
}

/// Answers a frame that matched nobody with an RST, unless it was one,
/// or came from or went to a broadcast or multicast address (or someone
/// else's: `tcp_v4_send_reset` answers only `RTN_LOCAL` routes).  RSTs
/// off loopback are limited per destination (`NetState::rst_allowed`).
fn send_reset(net: &crate::abstractions::netns::Net, state: &NetState, h: &Header, loopback: bool) {
    let Some(r) = reset_reply(h) else { return };
    if !may_answer_with_rst(
        h.src.addr,
        net.addr_type(h.src.addr),
        net.addr_type(h.dst.addr),
    ) {
        return;
    }
    if !loopback && !state.rst_allowed(h.src.addr, net.rst_ratelimit()) {
        state.stats.inc(Stat::RstsLimited);
        return;
    }
    let _ = tx::send(tx::Via::Route(net), &r, loopback, |_| Ok(()));
}
