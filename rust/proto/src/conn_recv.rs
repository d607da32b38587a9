//! The receive path: what an arriving segment does to the connection.
//!
//! [`Connection::on_segment`] follows RFC 793's "SEGMENT ARRIVES" with the
//! RFC 5961 hardening: an RST is accepted only with exactly the expected
//! sequence number (an in-window one draws a challenge ACK), a SYN on a
//! synchronized connection draws a challenge ACK, and an ACK for data never
//! sent is answered, not believed. Payload is placed by sequence number:
//! in order it is appended, ahead of a gap it is stored (at most
//! [`super::assembler::ASSEMBLER_RANGES`] ranges, within the window), and
//! anything already received or outside the window is dropped.

use super::conn::{ConnError, Connection, DataAction, Events, SegmentOutcome};
use super::seq::Seq;
use super::state::State;
use super::time::Instant;
use super::wire::{Flags, Header};

impl Connection {
    /// Processes one received segment addressed to this connection.
    ///
    /// The caller has decoded the frame ([`Header::parse`]) and found this
    /// connection by 4-tuple; `h` is its header, and the returned
    /// [`SegmentOutcome`] says what to do with the payload and the send
    /// buffer. Afterwards drain [`Connection::poll_transmit`].
    pub fn on_segment(&mut self, h: &Header, now: Instant) -> SegmentOutcome {
        self.on_segment_frames(h, 1, now)
    }

    /// As [`Connection::on_segment`], for a segment that arrived as
    /// `frames` frames merged by receive offload (GRO): the
    /// acknowledgement rule counts the frames, as TCP's counts the
    /// merged segment's bytes in units of the frames' size, so a sender
    /// whose window is a few frames hears of them at once.
    pub fn on_segment_frames(&mut self, h: &Header, frames: u32, now: Instant) -> SegmentOutcome {
        self.rcv.arriving_frames = u8::try_from(frames.max(1)).unwrap_or(u8::MAX);
        let out = self.on_segment_once(h, now);
        self.rcv.arriving_frames = 1;
        out
    }

    fn on_segment_once(&mut self, h: &Header, now: Instant) -> SegmentOutcome {
        let mut out = SegmentOutcome::default();
        self.stats.in_segs = self.stats.in_segs.wrapping_add(1);
        if h.dst == self.tuple.local && h.src == self.tuple.remote {
            match self.state {
                State::Closed | State::Listen => {}
                State::SynSent => self.rx_syn_sent(h, now, &mut out),
                _ => self.rx_synchronized(h, now, &mut out),
            }
        }
        out.readable_end = self.rcv.offset;
        if self.state != State::Closed {
            self.update_timers(now);
        }
        out
    }

    /// Processes a segment whose payload the caller has no memory to keep
    /// (its receive buffer is full): the acknowledgement, the peer's window
    /// and an RST are taken as from a segment without data, the data and
    /// a FIN behind it are dropped, and an acknowledgement with a zero
    /// window goes out at once (the offered window shrinks, as Linux's
    /// `ICSK_ACK_NOMEM`): the peer stops and probes instead of
    /// retransmitting into a full buffer until it gives up, and the window
    /// update a read sends restarts it at once.
    pub fn on_segment_without_room(&mut self, h: &Header, now: Instant) -> SegmentOutcome {
        let mut bare = *h;
        if h.payload_len > 0 {
            bare.payload_len = 0;
            bare.flags = Flags(h.flags.0 & !Flags::FIN.0);
            self.stats.rcv_pruned = self.stats.rcv_pruned.wrapping_add(1);
        }
        let out = self.on_segment(&bare, now);
        if h.payload_len > 0 && self.state.receives_data() && !h.flags.rst() {
            self.rcv.ack_now = true;
            self.rcv.nomem = true;
        }
        out
    }

    /// Whether the caller, out of receive memory for `h`, should give up
    /// the out-of-order data it holds to make room, as
    /// `tcp_prune_ofo_queue`: only for a segment whose data starts at the
    /// next expected byte (it fills the gap in front of what is held, and
    /// nothing behind the gap can be read until it does; an out-of-order
    /// segment is dropped instead). Then the held ranges (and a FIN
    /// beyond them) are forgotten here and the caller frees their data:
    /// none of it was acknowledged (there is no SACK), so the peer sends
    /// it again. Without this, a receive buffer full of out-of-order data
    /// refuses the one segment that would empty it, for ever.
    ///
    /// Only a segment the core will take counts: an ACK within the range
    /// it believes (RFC 5961 section 5.2), no SYN or RST, so that a blind
    /// injector cannot flush what is held. The window, pulled back to a
    /// zero one when data was last refused for memory, is reopened over
    /// the segment, whose room the caller has just made.
    pub fn prune_out_of_order_for(&mut self, h: &Header) -> bool {
        let held = !self.rcv.assembler.is_empty()
            || self.rcv.fin_offset.is_some_and(|fo| fo > self.rcv.offset);
        let end = h.seq.wrapping_add(u32::from(h.payload_len));
        let fills = h.payload_len > 0 && h.seq.le(self.rcv.nxt) && end.gt(self.rcv.nxt);
        let f = h.flags;
        let believed = f.ack()
            && !f.rst()
            && !f.syn()
            && h.ack.le(self.snd.max)
            && h.ack.ge(self.snd.una.wrapping_sub(self.snd.max_wnd));
        if !held
            || !fills
            || !believed
            || !self.state.receives_data()
            || self.state == State::SynRecv
            || self.rcv.fin_received
        {
            return false;
        }
        self.rcv.assembler.clear();
        if self.rcv.fin_offset.is_some_and(|fo| fo > self.rcv.offset) {
            self.rcv.fin_offset = None;
        }
        if end.gt(self.rcv.adv) {
            self.rcv.adv = end;
        }
        self.stats.ofo_pruned = self.stats.ofo_pruned.wrapping_add(1);
        true
    }

    fn rx_syn_sent(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        let f = h.flags;
        if f.ack() && !(h.ack.gt(self.snd.iss) && h.ack.le(self.snd.max)) {
            // An ACK for something we never sent: an old duplicate. Reset it.
            if !f.rst() {
                self.snd.rst_pending = Some(self.reset_to_ack(h));
            }
            return;
        }
        if f.rst() {
            if f.ack() {
                self.stats.in_rsts = self.stats.in_rsts.wrapping_add(1);
                self.error = Some(ConnError::Refused);
                out.events.insert(Events::RESET);
                out.events.insert(Events::CLOSED);
                self.enter_closed();
            }
            return;
        }
        if !f.syn() {
            return;
        }
        self.take_peer_syn(h);
        self.timers.last_recv = now;
        if f.ack() {
            // SYN-ACK: our SYN is acknowledged.
            self.ack_new_data(h.ack, now, out);
            self.state = State::Established;
            self.rcv.ack_now = true;
            if self.snd.fin_queued {
                self.state = State::FinWait1;
            }
        } else {
            // Simultaneous open: answer with SYN-ACK (our SYN again, now acknowledging theirs).
            self.state = State::SynRecv;
            self.snd.syn_pending = true;
            self.snd.nxt = self.snd.iss;
        }
    }

    /// Returns an RST answering `h`, whose ACK field we do not accept.
    fn reset_to_ack(&self, h: &Header) -> Header {
        Header {
            flags: Flags::RST,
            src: self.tuple.local,
            dst: self.tuple.remote,
            seq: h.ack,
            ..Header::default()
        }
    }

    fn rx_synchronized(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        if self.plain_ack(h) {
            // Host builds check the shortcut against the whole path.
            #[cfg(debug_assertions)]
            let want = {
                let (mut c, mut o) = (self.clone(), *out);
                let on = c.rx_accept(h, now, &mut o);
                (on, c, o)
            };
            self.timers.last_recv = now;
            self.snd.probes_out = 0;
            #[cfg(debug_assertions)]
            debug_assert!(want.0 && want.1 == *self && want.2 == *out);
        } else if !self.rx_accept(h, now, out) {
            return;
        }
        self.rx_ack(h, now, out);
        match self.state {
            State::Closed => return,
            State::TimeWait => {
                if h.flags.fin() {
                    self.rcv.ack_now = true;
                    self.enter_time_wait(now);
                }
                return;
            }
            _ => {}
        }
        if self.state.receives_data() && !self.orphaned {
            self.rx_urgent(h, out);
        }
        self.rx_data(h, now, out);
    }

    /// Whether `h` is a segment of an established exchange that
    /// [`Self::rx_accept`] would pass on untouched: acceptable, an ACK
    /// without SYN or RST, acknowledging nothing unsent or too old.  One
    /// test, where [`Self::rx_accept`] has a branch per case.
    fn plain_ack(&self, h: &Header) -> bool {
        let f = h.flags;
        let odd = u8::from(self.state != State::Established)
            | u8::from(f.syn())
            | u8::from(f.rst())
            | u8::from(!f.ack())
            | u8::from(!self.acceptable(h))
            | u8::from(h.ack.gt(self.snd.max))
            | u8::from(h.ack.lt(self.snd.una.wrapping_sub(self.snd.max_wnd)));
        // Kept from being split back into a branch per term.
        core::hint::black_box(odd) == 0
    }

    /// The checks of a segment to a synchronized connection before its
    /// acknowledgement is taken (RFC 793's, with RFC 5961's): `false`
    /// when the segment ends here (answered, rejected or acted on).
    fn rx_accept(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) -> bool {
        let f = h.flags;
        // The peer did not see our SYN-ACK and sent its SYN again.
        if self.state == State::SynRecv && f.syn() && !f.ack() && h.seq == self.rcv.irs {
            self.snd.syn_pending = true;
            return false;
        }
        // A new incarnation of the connection (its ISN is past everything of the old one).
        if self.state == State::TimeWait && f.syn() && !f.ack() && h.seq.gt(self.rcv.nxt) {
            out.events.insert(Events::TIME_WAIT_REUSE);
            out.events.insert(Events::CLOSED);
            self.enter_closed();
            return false;
        }

        if !self.acceptable(h) {
            self.stats.seq_rejected = self.stats.seq_rejected.wrapping_add(1);
            if f.syn() && !f.rst() {
                // Any SYN on a synchronized connection, in the window or
                // not, goes through the rate-limited challenge ACK (RFC 5961
                // 4.2, Linux's `syn_challenge`): a blind flood of SYNs must
                // not draw one ACK each.
                self.challenge_ack(now);
            } else if !f.rst() {
                self.oow_ack(h, now);
                if self.state == State::TimeWait && f.fin() {
                    self.enter_time_wait(now);
                }
            }
            if h.seq.lt(self.rcv.nxt) {
                self.stats.dup_data = self.stats.dup_data.wrapping_add(1);
            } else {
                self.stats.out_of_window = self.stats.out_of_window.wrapping_add(1);
            }
            return false;
        }
        self.timers.last_recv = now;
        self.snd.probes_out = 0;

        if f.rst() {
            if h.seq == self.rcv.nxt {
                self.rx_reset(out);
            } else {
                self.challenge_ack(now);
            }
            return false;
        }
        if f.syn() {
            self.challenge_ack(now);
            return false;
        }
        if !f.ack() {
            return false;
        }

        if self.state == State::SynRecv {
            if h.ack.gt(self.snd.una) && h.ack.le(self.snd.max) {
                self.state = State::Established;
            } else {
                self.stats.ack_rejected = self.stats.ack_rejected.wrapping_add(1);
                self.snd.rst_pending = Some(self.reset_to_ack(h));
                return false;
            }
        }
        if h.ack.gt(self.snd.max) || h.ack.lt(self.snd.una.wrapping_sub(self.snd.max_wnd)) {
            // RFC 5961 section 5.2: acknowledges data never sent, or far too old.
            // Answer (rate-limited), do not believe.
            self.stats.ack_rejected = self.stats.ack_rejected.wrapping_add(1);
            self.oow_ack(h, now);
            return false;
        }
        true
    }

    /// Returns whether `h` falls in the receive window (RFC 793's test, as Linux applies it).
    ///
    /// Acceptable: the segment ends at or after `rcv_nxt` and starts no later
    /// than the right edge of the window. With a zero window only a segment
    /// at exactly `rcv_nxt` passes (its payload is then dropped, its ACK and
    /// RST still count).
    fn acceptable(&self, h: &Header) -> bool {
        let wnd = self.recv_window();
        let end = h.seq.wrapping_add(h.seq_len());
        end.ge(self.rcv.nxt) && h.seq.le(self.rcv.nxt.wrapping_add(wnd))
    }

    /// Answers an unacceptable segment with an ACK, rate-limiting answers to pure ACKs.
    ///
    /// Two ends that each find the other's ACKs out of window would otherwise
    /// answer each other forever; data segments and SYNs are always answered
    /// (as Linux's `tcp_oow_rate_limited`).
    fn oow_ack(&mut self, h: &Header, now: Instant) {
        let pure = h.payload_len == 0 && !h.flags.syn() && !h.flags.fin();
        if pure {
            if let Some(last) = self.rcv.last_oow_ack {
                if now.since(last) < self.cfg.oow_ack_interval_us {
                    self.stats.oow_acks_skipped = self.stats.oow_acks_skipped.wrapping_add(1);
                    return;
                }
            }
            self.rcv.last_oow_ack = Some(now);
        }
        self.rcv.ack_now = true;
    }

    /// Sends a challenge ACK (RFC 5961), at most `challenge_ack_limit` per second.
    fn challenge_ack(&mut self, now: Instant) {
        if now.since(self.rcv.challenge_start) >= super::time::SEC {
            self.rcv.challenge_start = now;
            self.rcv.challenge_count = 0;
        }
        if self.rcv.challenge_count < self.cfg.challenge_ack_limit {
            self.rcv.challenge_count = self.rcv.challenge_count.saturating_add(1);
            self.rcv.ack_now = true;
            self.stats.challenge_acks = self.stats.challenge_acks.wrapping_add(1);
        }
    }

    /// Acts on an accepted RST.
    fn rx_reset(&mut self, out: &mut SegmentOutcome) {
        match self.state {
            // RFC 1337: ignore RST in TIME_WAIT, so a stray RST cannot cut it short.
            State::TimeWait => return,
            State::SynRecv if !self.passive => self.error = Some(ConnError::Refused),
            _ => self.error = Some(ConnError::Reset),
        }
        self.stats.in_rsts = self.stats.in_rsts.wrapping_add(1);
        out.events.insert(Events::RESET);
        out.events.insert(Events::CLOSED);
        self.enter_closed();
    }

    /// Processes the acknowledgement and window fields of an acceptable segment.
    fn rx_ack(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        let ack = h.ack;
        let wnd = u32::from(h.window)
            .checked_shl(u32::from(self.snd.wscale))
            .unwrap_or(0);
        if ack.gt(self.snd.una) {
            self.ack_new_data(ack, now, out);
        } else if ack == self.snd.una
            && h.payload_len == 0
            && !h.flags.fin()
            && self.snd.max != self.snd.una
            && wnd == self.snd.wnd
        {
            self.dup_ack();
        }
        // RFC 793 window update rule: only from a segment no older than the last one used.
        if self.snd.wl1.lt(h.seq) || (self.snd.wl1 == h.seq && self.snd.wl2.le(ack)) {
            self.snd.wnd = wnd;
            self.snd.wl1 = h.seq;
            self.snd.wl2 = ack;
            self.snd.max_wnd = self.snd.max_wnd.max(wnd);
        }
    }

    /// Handles an ACK that acknowledges new sequence space up to `ack`.
    pub(super) fn ack_new_data(&mut self, ack: Seq, now: Instant, out: &mut SegmentOutcome) {
        let fin_seq = self.fin_seq();
        let fin_was_sent = self.fin_sent();
        let mut acked = ack.since(self.snd.una);
        if !self.snd.syn_acked {
            self.snd.syn_acked = true;
            acked = acked.saturating_sub(1);
            out.events.insert(Events::CONNECTED);
        }
        let fin_now_acked = fin_was_sent && !self.snd.fin_acked && ack == fin_seq.wrapping_add(1);
        if fin_now_acked {
            self.snd.fin_acked = true;
            acked = acked.saturating_sub(1);
        }
        let data = acked.min(self.snd.queued);
        self.snd.queued = self.snd.queued.saturating_sub(data);
        out.acked = out.acked.saturating_add(data);
        // A lingering close waits for its FIN's acknowledgement too.
        if data > 0 || fin_now_acked {
            out.events.insert(Events::WRITABLE);
        }
        self.snd.una = ack;
        self.urgent_acked();
        if self.snd.nxt.lt(ack) {
            self.snd.nxt = ack;
        }
        if let Some((end, sent)) = self.snd.rtt_timing {
            if ack.ge(end) {
                self.snd.rtt.sample(now.since(sent));
                self.snd.rtt_timing = None;
            }
        }
        self.snd.retries = 0;
        self.timers.retrans_stamp = None;
        self.snd.dup_acks = 0;
        self.grow_cwnd(data, ack);
        self.timers.rto_deadline = if self.snd.una == self.snd.max {
            None
        } else {
            Some(now.after(self.snd.rtt.rto()))
        };
        if fin_now_acked {
            match self.state {
                State::FinWait1 => {
                    self.state = State::FinWait2;
                    if self.orphaned {
                        self.timers.fw2_deadline = Some(now.after(self.fin_wait2_time()));
                    }
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    out.events.insert(Events::CLOSED);
                    self.enter_closed();
                }
                _ => {}
            }
        }
    }

    /// Opens the congestion window after `data` bytes were acknowledged (RFC 5681, NewReno exit).
    fn grow_cwnd(&mut self, data: u32, ack: Seq) {
        let mss = self.cwnd_unit();
        if let Some(recover) = self.snd.recover {
            if ack.ge(recover) {
                self.snd.recover = None;
                self.snd.cwnd = self.snd.ssthresh.max(mss);
            } else {
                // Partial ACK (RFC 6582): the next hole is lost too; resend it now.
                self.snd.rexmit_head = true;
            }
            return;
        }
        let inc = if self.snd.cwnd < self.snd.ssthresh {
            data.min(mss)
        } else {
            u64::from(mss)
                .saturating_mul(u64::from(mss))
                .checked_div(u64::from(self.snd.cwnd))
                .unwrap_or(1)
                .clamp(1, u64::from(mss)) as u32
        };
        self.snd.cwnd = self
            .snd
            .cwnd
            .saturating_add(inc)
            .min(super::conn::MAX_SEND_QUEUE);
    }

    /// Counts a duplicate ACK; the third starts a fast retransmit (RFC 5681 section 3.2).
    fn dup_ack(&mut self) {
        self.snd.dup_acks = self.snd.dup_acks.saturating_add(1);
        if self.snd.dup_acks == 3 && self.snd.recover.is_none() {
            let flight = self.snd.max.since(self.snd.una);
            self.snd.ssthresh = (flight / 2).max(self.cwnd_unit().saturating_mul(2));
            self.snd.cwnd = self.snd.ssthresh;
            self.snd.recover = Some(self.snd.max);
            self.snd.rexmit_head = true;
            self.snd.rtt_timing = None;
            self.stats.fast_retrans = self.stats.fast_retrans.wrapping_add(1);
        }
    }

    /// Places the payload and FIN of an acceptable segment.
    fn rx_data(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        if self.in_order_data(h) {
            // Host builds check the shortcut against the whole path.
            #[cfg(debug_assertions)]
            let want = {
                let (mut c, mut o) = (self.clone(), *out);
                c.rx_data_general(h, now, &mut o);
                (c, o)
            };
            self.rx_data_in_order(h, now, out);
            #[cfg(debug_assertions)]
            debug_assert!(want.0 == *self && want.1 == *out);
            return;
        }
        self.rx_data_general(h, now, out);
    }

    /// Whether `h` brings the exchange's data: the next bytes in order,
    /// all of them inside the window, without a FIN, to a connection
    /// that takes data, holds nothing out of order and is not orphaned.
    /// One test, where [`Self::rx_data_general`] has a branch per case.
    fn in_order_data(&self, h: &Header) -> bool {
        let payload = u32::from(h.payload_len);
        let odd = u8::from(!self.state.receives_data())
            | u8::from(self.rcv.fin_received)
            | u8::from(self.rcv.fin_offset.is_some())
            | u8::from(h.flags.fin())
            | u8::from(self.orphaned)
            | u8::from(!self.rcv.assembler.is_empty())
            | u8::from(h.seq != self.rcv.nxt)
            | u8::from(payload == 0)
            | u8::from(payload > self.recv_window());
        // Kept from being split back into a branch per term.
        core::hint::black_box(odd) == 0
    }

    /// [`Self::rx_data_general`] for a segment [`Self::in_order_data`]
    /// accepts: appended whole, acknowledged by the usual rule.
    fn rx_data_in_order(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        let len = u32::from(h.payload_len);
        // Data that came before this segment still waits unread: the
        // reader has been woken for it, and its read acknowledges.
        let reader_behind =
            self.rcv.unread > 0 && self.reader_may_ack(self.rcv.nxt.since(self.rcv.wup));
        out.data = DataAction::Append {
            offset: self.rcv.offset,
            skip: 0,
            len,
        };
        self.advance_in_order(u64::from(len));
        out.events.insert(Events::READABLE);
        self.data_arrived(now);
        self.schedule_ack(now, reader_behind);
    }

    /// Processes the data and FIN of an acceptable segment, every case.
    fn rx_data_general(&mut self, h: &Header, now: Instant, out: &mut SegmentOutcome) {
        if !self.state.receives_data() || self.rcv.fin_received {
            // Data or a FIN again after the FIN: our ACK was lost, and
            // the peer retransmits until it hears one (TCP: duplicate
            // data, acknowledged at once).
            if h.payload_len > 0 || h.flags.fin() {
                self.rcv.ack_now = true;
            }
            return;
        }
        // A FIN that came ahead of a gap: the segment that fills the gap
        // is acknowledged at once, as one that empties the out-of-order
        // queue (`tcp_data_queue`).
        let fin_was_pending = self.rcv.fin_offset.is_some();
        let payload = u32::from(h.payload_len);
        // Trim what is already received from the head.
        let (skip, start_rel) = if h.seq.lt(self.rcv.nxt) {
            (self.rcv.nxt.since(h.seq), 0u32)
        } else {
            (0u32, h.seq.since(self.rcv.nxt))
        };
        let fresh = payload.saturating_sub(skip);
        let start = self.rcv.offset.saturating_add(u64::from(start_rel));
        // Trim to the window, and to a FIN already seen.
        let mut limit = self.recv_window().saturating_sub(start_rel);
        if let Some(fo) = self.rcv.fin_offset {
            limit = limit.min(u32::try_from(fo.saturating_sub(start)).unwrap_or(u32::MAX));
        }
        let len = fresh.min(limit);

        if self.orphaned && fresh > 0 {
            // Nobody will read this: tell the peer (Linux `TCPAbortOnData`).
            self.stats.abort_on_data = self.stats.abort_on_data.wrapping_add(1);
            self.snd.rst_pending = Some(self.reset_header());
            out.events.insert(Events::CLOSED);
            self.enter_closed();
            return;
        }

        if h.flags.fin() && len == fresh && self.rcv.fin_offset.is_none() {
            let fin_seq = h.seq.wrapping_add(payload);
            if fin_seq.ge(self.rcv.nxt) {
                let fo = self
                    .rcv
                    .offset
                    .saturating_add(u64::from(fin_seq.since(self.rcv.nxt)));
                let beyond = self
                    .rcv
                    .assembler
                    .ranges()
                    .last()
                    .is_some_and(|&(_, e)| e > fo);
                if !beyond {
                    self.rcv.fin_offset = Some(fo);
                }
            }
        }

        if len > 0 && start_rel == 0 {
            let filled_hole = !self.rcv.assembler.is_empty() || fin_was_pending;
            // Data that came before this segment still waits unread: the
            // reader has been woken for it, and its read acknowledges.
            let reader_behind =
                self.rcv.unread > 0 && self.reader_may_ack(self.rcv.nxt.since(self.rcv.wup));
            out.data = DataAction::Append {
                offset: self.rcv.offset,
                skip,
                len,
            };
            self.advance_in_order(u64::from(len));
            let end = self.rcv.assembler.advance(self.rcv.offset);
            self.advance_in_order(end.saturating_sub(self.rcv.offset));
            out.events.insert(Events::READABLE);
            self.data_arrived(now);
            if filled_hole {
                self.rcv.ack_now = true;
            } else {
                self.schedule_ack(now, reader_behind);
            }
        } else if len > 0 {
            match self
                .rcv
                .assembler
                .first_gap(start, start.saturating_add(u64::from(len)))
            {
                None => self.stats.dup_data = self.stats.dup_data.wrapping_add(1),
                Some((g0, g1)) => {
                    if self.rcv.assembler.insert(g0, g1).is_ok() {
                        out.data = DataAction::Store {
                            offset: g0,
                            skip: skip.saturating_add(g0.saturating_sub(start) as u32),
                            len: g1.saturating_sub(g0) as u32,
                        };
                        self.stats.ofo_queued = self.stats.ofo_queued.wrapping_add(1);
                    } else {
                        self.stats.ofo_dropped = self.stats.ofo_dropped.wrapping_add(1);
                    }
                }
            }
            // A duplicate ACK tells the sender about the hole at once.
            self.rcv.ack_now = true;
        } else if payload > 0 {
            if fresh == 0 {
                self.stats.dup_data = self.stats.dup_data.wrapping_add(1);
            } else {
                self.stats.out_of_window = self.stats.out_of_window.wrapping_add(1);
            }
            self.rcv.ack_now = true;
        } else if h.flags.fin() && start_rel > 0 {
            // A bare FIN ahead of a gap: a duplicate ACK, as for data.
            self.rcv.ack_now = true;
        }

        if self.rcv.fin_offset == Some(self.rcv.offset) {
            self.rx_fin(now, out);
        }
    }

    /// Moves the in-order point forward by `n` bytes the caller now holds.
    fn advance_in_order(&mut self, n: u64) {
        let n32 = u32::try_from(n).unwrap_or(u32::MAX);
        self.rcv.nxt = self.rcv.nxt.wrapping_add(n32);
        self.rcv.offset = self.rcv.offset.saturating_add(n);
        self.rcv.unread = self.rcv.unread.saturating_add(n32);
    }

    /// Decides whether in-order data is acknowledged now or after the delayed-ACK timeout.
    ///
    /// Every second segment is acknowledged at once, unless the window we
    /// would offer is smaller than the one last advertised (the reader
    /// lags, as Linux's `__tcp_ack_snd_check`): that acknowledgement would
    /// tell the sender nothing it can use, so it goes out with the next
    /// read ([`Connection::consume`]) or after a quarter of the minimum
    /// RTO, early enough that the sender never retransmits for want of
    /// it. On a busy bulk transfer this saves most pure ACKs.
    ///
    /// It is held the same way while data that came before this segment
    /// is still unread (`reader_behind`), where TCP would send it: the
    /// reader, woken for the earlier data, acknowledges both with its read
    /// ([`Connection::consume`]; a departure from TCP, docs/PROTOCOL.md
    /// 5.1), as long as what is held stays under half the window last
    /// advertised ([`Self::reader_may_ack`]), so that the sender always
    /// has half a window to send while the reader is on its way. On one
    /// host this moves the acknowledgement, and the sender's work of
    /// freeing what it acknowledges, out of the softirq that runs in the
    /// sending task and into the reading one (docs/PERFORMANCE.md,
    /// session 19).
    ///
    /// A lone segment's acknowledgement waits at most a quarter of the
    /// minimum RTO as well: on a link whose RTO floor is below the
    /// delayed-ACK time (`Config::on_link`: 20 ms against 40 ms), a
    /// sender waiting for it would otherwise retransmit every request
    /// that does not get its answer at once.
    fn schedule_ack(&mut self, now: Instant, reader_behind: bool) {
        self.rcv.unacked_segs = self
            .rcv
            .unacked_segs
            .saturating_add(self.rcv.arriving_frames.max(1));
        if self.cfg.ack_delay_us == 0
            || (self.rcv.quick > 0 && !self.rcv.pingpong)
            || (self.rcv.unacked_segs >= 2 && !reader_behind && !self.window_shrinking())
        {
            self.rcv.ack_now = true;
            return;
        }
        self.rcv.left_to_reader |= reader_behind;
        if self.rcv.unacked_segs >= 2 {
            let at = now.after(self.ack_delay());
            self.timers.delack_deadline =
                Some(self.timers.delack_deadline.map_or(at, |x| x.min(at)));
        } else {
            self.delay_lone_ack(now);
        }
    }

    /// Notes in-order data's arrival, as TCP's `tcp_event_data_recv`: after
    /// a silence longer than the RTO the next few segments are each
    /// acknowledged at once ([`Self::schedule_ack`]; as many as half the
    /// window last advertised holds, 2 to [`MAX_QUICKACKS`]), unless the
    /// connection is interactive. A peer that comes back after a pause
    /// hears at once, rather than from a timer, that what it sent arrived:
    /// a server of many mostly idle connections would otherwise run one
    /// delayed-ACK expiry for each request it does not answer at once
    /// (docs/PERFORMANCE.md, session 23).
    fn data_arrived(&mut self, now: Instant) {
        if now.since(self.rcv.last_data) > self.snd.rtt.rto() {
            let per = u32::from(self.cfg.mss).saturating_mul(2).max(1);
            let n = self
                .last_window()
                .checked_div(per)
                .unwrap_or(0)
                .clamp(2, u32::from(MAX_QUICKACKS));
            self.rcv.quick = self.rcv.quick.max(u8::try_from(n).unwrap_or(MAX_QUICKACKS));
        }
        self.rcv.last_data = now;
    }

    /// Whether the reader's next read may carry the acknowledgement of
    /// in-order data, `held` bytes having arrived unacknowledged before
    /// this segment: while they are under half the window last
    /// advertised ([`Self::schedule_ack`]).
    fn reader_may_ack(&self, held: u32) -> bool {
        held < self.last_window() / 2
    }

    /// How long an acknowledgement may wait: `ack_delay`, and at most a
    /// quarter of the minimum RTO ([`Self::schedule_ack`]).
    pub fn ack_delay(&self) -> u64 {
        self.cfg.ack_delay_us.min(self.cfg.rto_min_us / 4).max(1)
    }

    /// Acknowledges something that came alone (a lone segment, a FIN):
    /// at once with delayed ACKs off, else when the delayed-ACK timer
    /// fires (armed now unless it already is).
    fn delay_lone_ack(&mut self, now: Instant) {
        if self.cfg.ack_delay_us == 0 {
            self.rcv.ack_now = true;
        } else if self.timers.delack_deadline.is_none() {
            self.timers.delack_deadline = Some(now.after(self.ack_delay()));
        }
    }

    /// Acts on the peer's FIN, now that all data before it has arrived.
    fn rx_fin(&mut self, now: Instant, out: &mut SegmentOutcome) {
        self.rcv.fin_received = true;
        self.rcv.fin_offset = None;
        self.rcv.nxt = self.rcv.nxt.wrapping_add(1);
        self.rcv.adv = self.rcv.adv.max(self.rcv.nxt);
        out.events.insert(Events::PEER_CLOSED);
        match self.state {
            State::Established => {
                // As TCP's `tcp_fin` (ping-pong mode): the application
                // usually answers a FIN with its own close, whose FIN
                // carries this acknowledgement, so it waits as a lone
                // segment's does (at most a quarter of the minimum RTO,
                // well before the peer would retransmit the FIN).
                self.state = State::CloseWait;
                self.delay_lone_ack(now);
            }
            State::FinWait1 => {
                self.state = State::Closing;
                self.rcv.ack_now = true;
            }
            State::FinWait2 => {
                self.enter_time_wait(now);
                self.rcv.ack_now = true;
            }
            _ => self.rcv.ack_now = true,
        }
    }
}

/// Most acknowledgements sent at once after a silence (TCP's `TCP_MAX_QUICKACKS`).
const MAX_QUICKACKS: u8 = 16;
