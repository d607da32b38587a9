//! Timers: retransmission, persist, delayed ACK, keepalive, FIN_WAIT_2 and TIME_WAIT.
//!
//! The connection keeps one optional deadline per timer and the caller arms
//! a single real timer for the earliest ([`Connection::poll_timeout`]). When
//! it fires, [`Connection::on_timeout`] handles every expired deadline; a
//! timer that fires early or late is harmless.

use super::conn::{ConnError, Connection, Events};
use super::state::State;
use super::time::{earliest, expired, Instant, MS};

/// The least time a corked partial segment is held (tcp(7): "a 200
/// millisecond ceiling on the time for which output is corked").
pub const CORK_CEILING_US: u64 = 200 * MS;

impl Connection {
    /// Returns when [`Connection::on_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = earliest(self.timers.rto_deadline, self.timers.persist_deadline);
        t = earliest(t, self.timers.delack_deadline);
        t = earliest(t, self.timers.ka_deadline);
        t = earliest(t, self.timers.tw_deadline);
        earliest(t, self.timers.fw2_deadline)
    }

    /// Handles every timer that has expired at `now`; then drain `poll_transmit`.
    pub fn on_timeout(&mut self, now: Instant) -> Events {
        let mut ev = Events::NONE;
        if expired(self.timers.tw_deadline, now) || expired(self.timers.fw2_deadline, now) {
            // TIME_WAIT over (2 MSL), or an orphan's FIN_WAIT_2 gave up on the peer.
            self.enter_closed();
            ev.insert(Events::CLOSED);
            return ev;
        }
        if expired(self.timers.rto_deadline, now) {
            self.timers.rto_deadline = None;
            self.on_rto(now, &mut ev);
        }
        if self.state != State::Closed && expired(self.timers.persist_deadline, now) {
            self.timers.persist_deadline = None;
            self.on_persist(now, &mut ev);
        }
        if self.state != State::Closed && expired(self.timers.delack_deadline, now) {
            self.timers.delack_deadline = None;
            if !self.rcv.ack_now {
                self.stats.delayed_acks = self.stats.delayed_acks.wrapping_add(1);
                // No answer came to carry it: not interactive after all
                // (`tcp_delack_timer_handler`).
                self.rcv.pingpong = false;
            }
            self.rcv.ack_now = true;
        }
        if self.state != State::Closed && expired(self.timers.ka_deadline, now) {
            self.timers.ka_deadline = None;
            self.on_keepalive(now, &mut ev);
        }
        if self.state != State::Closed {
            self.update_timers(now);
        }
        ev
    }

    /// Returns how many window probes or retransmissions an orphan may send
    /// (`tcp_orphan_retries`: the setting, or 8 when it is 0).
    pub(super) fn orphan_retries(&self) -> u8 {
        if self.cfg.orphan_retries == 0 {
            8
        } else {
            self.cfg.orphan_retries
        }
    }

    /// An orphan gives up: it resets the peer (which, answering probes, may
    /// be alive and would otherwise hold its end for ever) and fails.
    fn fail_orphan(&mut self, ev: &mut Events) {
        self.snd.rst_pending = Some(self.reset_header());
        self.fail(ev);
    }

    fn fail(&mut self, ev: &mut Events) {
        self.error = Some(ConnError::TimedOut);
        self.stats.abort_on_timeout = self.stats.abort_on_timeout.wrapping_add(1);
        ev.insert(Events::TIMED_OUT);
        ev.insert(Events::CLOSED);
        self.enter_closed();
    }

    /// The retransmission timer expired: back off and resend from `snd_una` (RFC 6298 section 5).
    fn on_rto(&mut self, now: Instant, ev: &mut Events) {
        if self.snd.syn_acked && self.snd.una == self.snd.max {
            return;
        }
        if self.timers.retrans_stamp.is_none() {
            // The head was sent one (unbacked) timeout ago, or SYN's
            // first try: the user timeout counts from there.
            let rto = self.snd.rtt.backed_off(u32::from(self.snd.retries));
            self.timers.retrans_stamp =
                Some(Instant::from_micros(now.micros().saturating_sub(rto)));
        }
        self.snd.retries = self.snd.retries.saturating_add(1);
        let limit = if self.snd.syn_acked && self.orphaned {
            // Linux `tcp_write_timeout`: a dead socket's retries are
            // `tcp_orphan_retries`, not `tcp_retries2`.
            self.orphan_retries()
        } else if self.snd.syn_acked {
            self.cfg.data_retries
        } else if self.passive {
            self.cfg.synack_retries
        } else {
            self.cfg.syn_retries
        };
        // Into a zero window the retransmission is a window probe: a peer
        // that keeps answering is alive however long its reader sleeps, so
        // count unanswered probes (reset by any acceptable segment) instead.
        let zero_window = self.snd.syn_acked && self.snd.wnd == 0 && !self.orphaned;
        let give_up = if let Some(left) = self.user_time_left(now) {
            // `TCP_USER_TIMEOUT` replaces the counts (`retransmits_timed_out`).
            left == 0
        } else if zero_window {
            self.snd.probes_out = self.snd.probes_out.saturating_add(1);
            self.snd.probes_out > self.cfg.data_retries
        } else {
            self.snd.retries > limit
        };
        if give_up && self.orphaned {
            self.fail_orphan(ev);
            return;
        }
        if give_up {
            self.fail(ev);
            return;
        }
        self.stats.timeouts = self.stats.timeouts.wrapping_add(1);
        self.snd.rtt_timing = None;
        if !self.snd.syn_acked {
            self.snd.syn_pending = true;
            self.snd.nxt = self.snd.iss;
        } else {
            let flight = self.snd.max.since(self.snd.una);
            self.snd.ssthresh = (flight / 2).max(self.cwnd_unit().saturating_mul(2));
            self.snd.cwnd = self.cwnd_unit();
            self.snd.nxt = self.snd.una;
            self.snd.dup_acks = 0;
            self.snd.recover = None;
            // The head goes out even into a zero window: it doubles as a window probe.
            self.snd.rexmit_head = true;
        }
        let mut rto = self.snd.rtt.backed_off(u32::from(self.snd.retries));
        if let Some(left) = self.user_time_left(now) {
            // Fire no later than the user timeout (`tcp_clamp_rto_to_user_timeout`).
            rto = rto.min(left).max(1);
        }
        self.timers.rto_deadline = Some(now.after(rto));
    }

    /// Returns what is left of the user timeout (`TCP_USER_TIMEOUT`) at
    /// `now`, counted from when the oldest unacknowledged segment was first
    /// sent; `None` when no user timeout is set or nothing timed out yet.
    pub(super) fn user_time_left(&self, now: Instant) -> Option<u64> {
        let limit = self.cfg.user_timeout_us;
        let stamp = self.timers.retrans_stamp?;
        (limit > 0).then(|| stamp.after(limit).since(now))
    }

    /// The persist timer expired: probe the zero window, or push what fits (RFC 1122 4.2.2.17).
    ///
    /// A peer that answers every probe keeps a connection alive for ever
    /// (the answers reset `probes_out`), unless it is an orphan: nobody
    /// will ever read what it holds, so after `orphan_retries` probes
    /// since the window last opened (`persist_backoff`, which answers do
    /// not reset) it is reset, as Linux's `tcp_probe_timer` kills a dead
    /// socket whose probe backoff reached `tcp_orphan_retries`.
    fn on_persist(&mut self, now: Instant, ev: &mut Events) {
        if self.orphaned && self.timers.persist_backoff >= self.orphan_retries() {
            self.fail_orphan(ev);
            return;
        }
        self.snd.probes_out = self.snd.probes_out.saturating_add(1);
        let timed_out = if self.cfg.user_timeout_us > 0 {
            // As `tcp_probe_timer`: the user timeout counts from the
            // last segment the peer sent.
            now.since(self.timers.last_recv) >= self.cfg.user_timeout_us
        } else {
            self.snd.probes_out > self.cfg.data_retries
        };
        if timed_out {
            self.fail(ev);
            return;
        }
        let in_flight = self.snd.nxt.since(self.snd.una);
        if self.snd.wnd.min(self.snd.cwnd) > in_flight {
            self.snd.force_send = true;
        } else {
            self.snd.probe_pending = true;
            self.stats.window_probes = self.stats.window_probes.wrapping_add(1);
        }
        self.timers.persist_backoff = self.timers.persist_backoff.saturating_add(1);
        self.timers.persist_deadline = Some(
            now.after(
                self.snd
                    .rtt
                    .backed_off(u32::from(self.timers.persist_backoff)),
            ),
        );
    }

    /// The keepalive timer expired: probe the idle peer, or give up after too many probes.
    fn on_keepalive(&mut self, now: Instant, ev: &mut Events) {
        let Some(ka) = self.cfg.keepalive else {
            return;
        };
        if now.since(self.timers.last_recv) < ka.idle_us && self.snd.probes_out == 0 {
            return;
        }
        // With a user timeout, it decides once a probe went unanswered
        // (`tcp_keepalive_timer`).
        let ut = self.cfg.user_timeout_us;
        let dead = if ut > 0 && self.snd.probes_out > 0 {
            now.since(self.timers.last_recv) >= ut
        } else {
            self.snd.probes_out >= ka.probes
        };
        if dead {
            // Linux resets a connection whose keepalives went unanswered.
            self.snd.rst_pending = Some(self.reset_header());
            self.fail(ev);
            return;
        }
        self.snd.probes_out = self.snd.probes_out.saturating_add(1);
        self.snd.probe_pending = true;
        self.timers.last_probe = now;
        self.stats.keepalive_probes = self.stats.keepalive_probes.wrapping_add(1);
    }

    /// Re-derives the persist and keepalive deadlines from the current state.
    pub(super) fn update_timers(&mut self, now: Instant) {
        let idle_sender = self.snd.syn_acked && self.snd.una == self.snd.max;
        // Both deadlines ask about unsent bytes only of an idle sender, and
        // one with nothing queued has none: the send plan (which runs after
        // every segment and every `poll_transmit`) is worked out only for
        // an idle sender with bytes queued.
        let (unsent, allowed) = if idle_sender && self.snd.queued > 0 {
            let plan = self.send_plan();
            (plan.unsent, plan.allowed)
        } else {
            (0, false)
        };
        let stuck = unsent > 0 && !allowed;
        if stuck {
            if self.timers.persist_deadline.is_none() {
                let mut wait = self
                    .snd
                    .rtt
                    .backed_off(u32::from(self.timers.persist_backoff));
                if self.cfg.cork || self.snd.more {
                    // Corked data goes after TCP's 200 ms ceiling (its
                    // probe timer, at least `TCP_RTO_MIN`), not sooner.
                    wait = wait.max(CORK_CEILING_US);
                }
                self.timers.persist_deadline = Some(now.after(wait));
            }
        } else {
            self.timers.persist_deadline = None;
            if self.snd.wnd > 0 {
                self.timers.persist_backoff = 0;
            }
        }

        let ka_state = matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        );
        self.timers.ka_deadline = match self.cfg.keepalive {
            Some(ka) if ka_state && idle_sender && unsent == 0 => {
                Some(if self.snd.probes_out == 0 {
                    self.timers.last_recv.after(ka.idle_us)
                } else {
                    self.timers.last_probe.after(ka.interval_us)
                })
            }
            _ => None,
        };
    }
}
