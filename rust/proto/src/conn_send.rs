//! The transmit path: which segment to send next, and the window we advertise.
//!
//! [`Connection::poll_transmit`] returns at most one segment per call, in
//! this order of priority: a pending RST; the SYN or SYN-ACK; a fast
//! retransmission; data and FIN at `snd_nxt` (new data, or data again after
//! a timeout rewound `snd_nxt`); a window or keepalive probe; a pure ACK.
//! Data goes out only within the peer's window and the congestion window,
//! and small segments wait under Nagle's rule unless no-delay is set.

use super::conn::{Connection, Transmit};
use super::seq::Seq;
use super::state::State;
use super::time::Instant;
use super::wire::{Flags, Header};

/// Returns the RST to send in answer to a segment that matches no connection or listener.
///
/// Follows RFC 793: if the segment carries an ACK, the RST takes its
/// sequence number from that ACK; otherwise it has sequence number zero and
/// acknowledges everything the segment occupied. Never answers an RST.
pub fn reset_reply(h: &Header) -> Option<Header> {
    if h.flags.rst() {
        return None;
    }
    let mut r = Header {
        flags: Flags::RST,
        src: h.dst,
        dst: h.src,
        ..Header::default()
    };
    if h.flags.ack() {
        r.seq = h.ack;
    } else {
        r.flags = Flags::RST.with(Flags::ACK);
        r.ack = h.seq.wrapping_add(h.seq_len());
    }
    Some(r)
}

/// How much data `snd_nxt` may carry now and whether the rules allow sending it.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendPlan {
    /// Payload bytes the next segment would carry.
    pub(super) len: u32,
    /// Whether that segment may go now (window, Nagle and SWS rules).
    pub(super) allowed: bool,
    /// Whether the FIN rides on it (or goes alone when `len` is zero).
    pub(super) fin: bool,
    /// Queued bytes at or after `snd_nxt`.
    pub(super) unsent: u32,
}

impl Connection {
    /// Returns the next segment to send, or `None` when there is nothing to send now.
    ///
    /// Build the frame as [`Transmit::header`] followed by bytes
    /// `[offset, offset + header.payload_len)` of the send buffer, fill the
    /// checksum (unless the device is loopback), and send it. Call this until
    /// it returns `None` after every event, then re-arm the timer.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.nothing_to_send() {
            // Host builds check the shortcut against the whole path.
            debug_assert!(self.clone().poll_transmit_all(now).is_none());
            self.update_timers(now);
            return None;
        }
        self.poll_transmit_all(now)
    }

    /// Whether [`Self::poll_transmit`] has nothing to send whatever the
    /// state: no RST, SYN, retransmission, forced send, probe or ACK
    /// owed, every queued byte sent and no FIN to send.  The end of the
    /// drain after every segment sent, and every arrival of an exchange
    /// (four times a transaction), found this only at the end of the
    /// whole path, past a branch per case; here it is one word and one
    /// test (under QEMU's TCG every branch ends a translation block).
    #[inline(always)]
    fn nothing_to_send(&self) -> bool {
        let unsent = self.snd.nxt.since(self.snd.una) < self.snd.queued;
        let pending = u8::from(self.snd.rst_pending.is_some())
            | u8::from(self.snd.syn_pending)
            | u8::from(self.snd.rexmit_head)
            | u8::from(self.snd.force_send)
            | u8::from(self.snd.probe_pending)
            | u8::from(self.rcv.ack_now)
            | (u8::from(self.snd.fin_queued) & u8::from(!self.snd.fin_acked))
            | u8::from(unsent);
        // Kept from being folded back into one comparison per case.
        core::hint::black_box(pending) == 0
    }

    /// [`Self::poll_transmit`], every case in its order.
    fn poll_transmit_all(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(h) = self.snd.rst_pending.take() {
            self.stats.out_rsts = self.stats.out_rsts.wrapping_add(1);
            return Some(self.count_out(Transmit {
                header: h,
                offset: 0,
            }));
        }
        let t = match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.syn_segment(now),
            _ if !self.snd.syn_acked => self.syn_segment(now).or_else(|| self.ack_if_due()),
            State::TimeWait => self.ack_if_due(),
            _ => self.synchronized_segment(now),
        };
        if t.is_none() {
            self.update_timers(now);
        }
        t.map(|t| self.count_out(t))
    }

    fn count_out(&mut self, t: Transmit) -> Transmit {
        self.stats.out_segs = self.stats.out_segs.wrapping_add(1);
        t
    }

    /// Returns a header from us to the peer with ACK, our `rcv_nxt` and window.
    fn ack_header(&mut self, seq: Seq) -> Header {
        let window = self.select_window();
        self.rcv.ack_now = false;
        self.timers.delack_deadline = None;
        if self.rcv.unacked_segs > 0 {
            // One of the quick acknowledgements after a silence (`tcp_dec_quickack_mode`).
            self.rcv.quick = self.rcv.quick.saturating_sub(1);
        }
        self.rcv.unacked_segs = 0;
        self.rcv.left_to_reader = false;
        self.rcv.wup = self.rcv.nxt;
        let mut h = Header {
            flags: Flags::ACK,
            src: self.tuple.local,
            dst: self.tuple.remote,
            seq,
            ack: self.rcv.nxt,
            window,
            ..Header::default()
        };
        self.tx_urgent(&mut h);
        h
    }

    /// Returns the RST that aborts this connection: RST+ACK, its sequence
    /// number one the peer accepts (`tcp_send_active_reset` uses
    /// `tcp_acceptable_seq`): `snd_max`, or the right edge of the peer's
    /// window if that shrank below it (a peer that dropped data for want
    /// of memory ignores an RST past its window).
    pub(super) fn reset_header(&self) -> Header {
        let mut h = Header {
            flags: Flags::RST,
            src: self.tuple.local,
            dst: self.tuple.remote,
            seq: self.acceptable_seq(),
            ..Header::default()
        };
        if self.state != State::SynSent {
            h.flags = h.flags.with(Flags::ACK);
            h.ack = self.rcv.nxt;
        }
        h
    }

    /// Returns the SYN (or SYN-ACK once the peer's SYN is known) if one is due.
    pub(super) fn syn_segment(&mut self, now: Instant) -> Option<Transmit> {
        if !self.snd.syn_pending {
            return None;
        }
        self.snd.syn_pending = false;
        let peer_known = self.state != State::SynSent;
        let window = self.syn_window();
        let mut h = Header {
            flags: Flags::SYN,
            src: self.tuple.local,
            dst: self.tuple.remote,
            seq: self.snd.iss,
            window: window as u16,
            wscale: self.rcv.wscale,
            mss: self.cfg.mss,
            ..Header::default()
        };
        if peer_known {
            h.flags = h.flags.with(Flags::ACK);
            h.ack = self.rcv.nxt;
            let edge = self.rcv.nxt.wrapping_add(window);
            self.rcv.adv = self.rcv.adv.max(edge);
            self.rcv.ack_now = false;
            self.timers.delack_deadline = None;
        }
        let end = self.snd.iss.wrapping_add(1);
        if self.snd.max == self.snd.iss {
            self.snd.rtt_timing = Some((end, now));
        } else {
            self.stats.retrans_segs = self.stats.retrans_segs.wrapping_add(1);
            self.snd.rtt_timing = None;
        }
        self.snd.nxt = end;
        self.snd.max = self.snd.max.max(end);
        if self.timers.rto_deadline.is_none() {
            self.timers.rto_deadline =
                Some(now.after(self.snd.rtt.backed_off(u32::from(self.snd.retries))));
        }
        Some(Transmit {
            header: h,
            offset: 0,
        })
    }

    fn synchronized_segment(&mut self, now: Instant) -> Option<Transmit> {
        if self.snd.rexmit_head {
            self.snd.rexmit_head = false;
            if let Some(t) = self.retransmit_front(now) {
                return Some(t);
            }
        }
        let plan = self.send_plan();
        let forced = self.snd.force_send;
        self.snd.force_send = false;
        if plan.len > 0 && (plan.allowed || forced) {
            if forced && !plan.allowed {
                self.stats.window_probes = self.stats.window_probes.wrapping_add(1);
            }
            return Some(self.data_segment(self.snd.nxt, plan.len, plan.fin, now));
        }
        if plan.len == 0 && plan.fin {
            return Some(self.data_segment(self.snd.nxt, 0, true, now));
        }
        if self.snd.probe_pending {
            // In urgent mode a probe at `snd_una` first: it is acceptable
            // to the peer (the one below is not), so the pointer reaches
            // it even into a zero window (`tcp_write_wakeup`).
            if !self.snd.urg_probe_sent && self.snd.up.is_some_and(|u| u.gt(self.snd.una)) {
                self.snd.urg_probe_sent = true;
                let h = self.ack_header(self.snd.una);
                return Some(Transmit {
                    header: h,
                    offset: 0,
                });
            }
            self.snd.urg_probe_sent = false;
            self.snd.probe_pending = false;
            // An old sequence number: the peer must answer with an ACK and its window.
            let h = self.ack_header(self.snd.una.wrapping_sub(1));
            return Some(Transmit {
                header: h,
                offset: 0,
            });
        }
        self.ack_if_due()
    }

    /// Returns a pure ACK if one is owed.
    fn ack_if_due(&mut self) -> Option<Transmit> {
        if !self.rcv.ack_now {
            return None;
        }
        let h = self.ack_header(self.acceptable_seq());
        Some(Transmit {
            header: h,
            offset: 0,
        })
    }

    /// Returns the sequence number for a pure ACK.
    ///
    /// That is `snd_max`, the highest we sent, which the peer's `rcv_nxt`
    /// cannot be past (after a timeout `snd_nxt` falls back, and an ACK
    /// carrying it would look old and be ignored); but no further than the
    /// right edge of the peer's window (Linux `tcp_acceptable_seq`), so the
    /// ACK is never out of window on the right either.
    fn acceptable_seq(&self) -> Seq {
        let edge = self.snd.una.wrapping_add(self.snd.wnd);
        if self.snd.syn_acked && self.snd.max.gt(edge) {
            edge.max(self.snd.una)
        } else {
            self.snd.max
        }
    }

    /// Works out what may be sent at `snd_nxt` under the window, Nagle and SWS rules.
    pub(super) fn send_plan(&self) -> SendPlan {
        let none = SendPlan {
            len: 0,
            allowed: false,
            fin: false,
            unsent: 0,
        };
        if !self.snd.syn_acked
            || !matches!(
                self.state,
                State::Established
                    | State::CloseWait
                    | State::FinWait1
                    | State::Closing
                    | State::LastAck
            )
        {
            return none;
        }
        let offset = self.snd.nxt.since(self.snd.una);
        if offset > self.snd.queued {
            // Everything including the FIN is in flight.
            return none;
        }
        let unsent = self.snd.queued.saturating_sub(offset);
        let fin_pending = self.snd.fin_queued && !self.snd.fin_acked;
        if unsent == 0 && !fin_pending {
            // Everything queued is in flight: what `send_plan` finds after
            // most segments, and after every arrival of an exchange.
            return none;
        }
        let in_flight = offset;
        let wnd = self.snd.wnd.min(self.snd.cwnd);
        let usable = wnd.saturating_sub(in_flight);
        let mut len = unsent.min(usable).min(self.snd.mss);
        // Segments cut on their way (`wire_mss`): a send the window limits
        // goes in whole wire frames, and one of at least a wire frame
        // counts as full for Nagle, as TCP's MSS is the wire's.
        let unit = self.cwnd_unit();
        let cut = unit < self.snd.mss;
        if cut && len < unsent && len > unit {
            len = len.checked_div(unit).unwrap_or(0).saturating_mul(unit);
        }
        let full = len == self.snd.mss || (cut && len >= unit && len < unsent);
        let fin = fin_pending && len == unsent;
        let retransmitting = self.snd.nxt.lt(self.snd.max);
        let nothing_unacked = self.snd.una == self.snd.max;
        // Corked (`TCP_CORK`, or `MSG_MORE` on the last write): only full
        // segments go, and the tail when the FIN follows it.
        let corked = self.cfg.cork || self.snd.more;
        // Urgent mode sends at once, Nagle and the cork aside (`tcp_nagle_test`).
        let allowed = len > 0
            && (full
                || retransmitting
                || self.snd.up.is_some()
                || (corked && fin_pending && len == unsent)
                || (!corked && len == unsent && (self.cfg.nodelay || nothing_unacked || fin_pending))
                // Nothing in flight and the window is the limit: no ACK will
                // come to open it further, so send what fits (as Linux does;
                // the receiver's SWS avoidance keeps the window from being silly).
                || (nothing_unacked && len == usable && len < self.snd.mss && len < unsent)
                || (!corked && self.snd.max_wnd > 0 && len >= self.snd.max_wnd / 2));
        SendPlan {
            len,
            allowed,
            fin,
            unsent,
        }
    }

    /// Builds a segment of `len` bytes at `seq` (at or after `snd_una`) and records it as sent.
    fn data_segment(&mut self, seq: Seq, len: u32, fin: bool, now: Instant) -> Transmit {
        let offset = seq.since(self.snd.una);
        let mut h = self.ack_header(seq);
        h.payload_len = len as u16;
        if fin {
            h.flags = h.flags.with(Flags::FIN);
        }
        let end = seq.wrapping_add(len).wrapping_add(u32::from(fin));
        if len > 0 && now.since(self.rcv.last_data) < self.ack_delay() {
            // An answer within the delayed-ACK time of what came in: the
            // connection is interactive (`tcp_event_data_sent`).
            self.rcv.pingpong = true;
        }
        if seq.lt(self.snd.max) {
            self.stats.retrans_segs = self.stats.retrans_segs.wrapping_add(1);
            // Karn: a retransmitted segment's ACK says nothing about the RTT.
            self.snd.rtt_timing = None;
        } else if self.snd.rtt_timing.is_none() {
            self.snd.rtt_timing = Some((end, now));
        }
        self.snd.max = self.snd.max.max(end);
        self.snd.nxt = self.snd.nxt.max(end);
        if self.timers.rto_deadline.is_none() {
            self.timers.rto_deadline =
                Some(now.after(self.snd.rtt.backed_off(u32::from(self.snd.retries))));
        }
        Transmit { header: h, offset }
    }

    /// Resends the oldest unacknowledged segment (fast retransmit, or after a timeout).
    ///
    /// Like Linux's `tcp_retransmit_skb`, it carries no more than the peer's
    /// window allows: a receiver that shrank its buffer drops whatever lies
    /// past the window, and bytes counted in flight that the peer dropped
    /// would hold back every later send until the next timeout. Into a zero
    /// window the head goes out whole as a window probe, but its bytes do not
    /// count as in flight (`snd_nxt` stays put), so the first window update
    /// sends them again at once.
    fn retransmit_front(&mut self, now: Instant) -> Option<Transmit> {
        if self.snd.una == self.snd.max {
            return None;
        }
        let probe = self.snd.wnd == 0;
        // One wire frame's worth where segments are cut on their way: the
        // hole is most likely one lost frame, not the whole GSO segment.
        let mut len = self.snd.queued.min(self.cwnd_unit());
        if !probe {
            len = len.min(self.snd.wnd);
        }
        let fin =
            self.snd.fin_queued && !self.snd.fin_acked && len == self.snd.queued && self.fin_sent();
        if len == 0 && !fin {
            return None;
        }
        let nxt = self.snd.nxt;
        let t = self.data_segment(self.snd.una, len, fin, now);
        if probe && len > 0 {
            self.snd.nxt = nxt;
        }
        Some(t)
    }

    /// Returns the receive window the next segment advertises, and records its right edge.
    ///
    /// The window is the free receive buffer (`recv_buf - unread`), rounded
    /// up to the window scale. It never moves its right edge left (but
    /// for the zero window after data dropped for want of memory), and it
    /// grows only in steps of at least `min(recv_buf / 2, mss)` (receiver-side
    /// silly window avoidance, RFC 1122 section 4.2.3.3).
    pub(super) fn select_window(&mut self) -> u16 {
        if self.rcv.nomem {
            // Out of receive memory: a zero window, its right edge pulled
            // back to what was received (as Linux's `tcp_select_window`).
            self.rcv.nomem = false;
            self.rcv.adv = self.rcv.nxt;
            return 0;
        }
        let wnd = self.window_to_offer();
        let field = (wnd >> self.rcv.wscale).min(u32::from(u16::MAX));
        let edge = self
            .rcv
            .nxt
            .wrapping_add(field.checked_shl(u32::from(self.rcv.wscale)).unwrap_or(0));
        self.rcv.adv = self.rcv.adv.max(edge);
        field as u16
    }

    /// Returns whether the reader lags: the window we would offer now,
    /// rounded up to the window scale's unit, is smaller than the one last
    /// advertised (as Linux's `__tcp_ack_snd_check` compares
    /// `__tcp_select_window` with `rcv_wnd`). Unread data shrinks it by
    /// more than a unit only when the reader has fallen behind.
    pub(super) fn window_shrinking(&self) -> bool {
        self.window_available() < self.last_window()
    }

    /// The window last advertised (TCP's `rcv_wnd`): `rcv_adv - rcv_wup`,
    /// zero if the right edge is not past the last acknowledgement.
    pub(super) fn last_window(&self) -> u32 {
        if self.rcv.adv.gt(self.rcv.wup) {
            self.rcv.adv.since(self.rcv.wup)
        } else {
            0
        }
    }

    /// Returns the free buffer space rounded up to the window scale (as
    /// `__tcp_select_window` aligns it): a budget of a few segments
    /// (memory pressure) under one unit of a large scale must not round
    /// to a zero window. The peer may send up to one unit beyond the
    /// budget, as TCP's may.
    fn window_available(&self) -> u32 {
        let s = u32::from(self.rcv.wscale);
        let cap = u32::from(u16::MAX).checked_shl(s).unwrap_or(0);
        let free = self.cfg.recv_buf.saturating_sub(self.rcv.unread).min(cap);
        let unit = 1u32.checked_shl(s).unwrap_or(1);
        free.div_ceil(unit).checked_shl(s).unwrap_or(cap).min(cap)
    }

    fn window_to_offer(&self) -> u32 {
        let avail = self.window_available();
        let cur = self.recv_window();
        if avail > cur && avail.saturating_sub(cur) >= self.sws_threshold() {
            avail
        } else {
            cur
        }
    }

    fn sws_threshold(&self) -> u32 {
        (self.cfg.recv_buf / 2).min(u32::from(self.cfg.mss)).max(1)
    }

    /// Returns whether reading has freed enough space that the peer should hear of it now.
    ///
    /// As Linux's `__tcp_cleanup_rbuf`: the window must at least double, and
    /// grow by at least the silly-window threshold and a quarter of the
    /// receive budget (Linux reopens no window under a sixteenth of its
    /// buffer, whose windows are far larger than ours); smaller gains ride
    /// on the next segment we send anyway, or on the ACK of a window probe.
    /// On a loopback window of a few 64 KiB segments this halves the window
    /// updates a reader sends while it drains what the sender filled. The
    /// step is at most two segments under memory pressure: a window held
    /// to four segments beyond what is unread (`buffers::pressure_budget`)
    /// must still reopen on a read, not only on the peer's window probe.
    /// Without pressure it is at least an eighth of the budget (most of
    /// the buffer, at the share large segments measured; half before):
    /// `__tcp_select_window` offers no window under a
    /// sixteenth of its space, so a large window that filled reopens in
    /// steps of that size, not of two segments (each update wakes the
    /// sender for what it lets through).
    pub(super) fn window_update_due(&self) -> bool {
        let avail = self.window_available();
        let cur = self.recv_window();
        let large = if self.rcv.pressure {
            0
        } else {
            self.cfg.recv_buf / 8
        };
        let step = self
            .sws_threshold()
            .max(self.cfg.recv_buf / 4)
            .min(self.cfg.recv_buf / 2)
            .min(u32::from(self.cfg.mss).saturating_mul(2))
            .max(large)
            .max(1);
        avail > cur && avail.saturating_sub(cur) >= step && avail >= cur.saturating_mul(2)
    }
}
