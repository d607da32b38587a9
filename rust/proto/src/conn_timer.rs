//! Timers: retransmission, persist, delayed ACK, keepalive, FIN_WAIT_2 and TIME_WAIT.
//!
//! The connection keeps one optional deadline per timer and the caller arms
//! a single real timer for the earliest ([`Connection::poll_timeout`]). When
//! it fires, [`Connection::on_timeout`] handles every expired deadline; a
//! timer that fires early or late is harmless.

use super::conn::{ConnError, Connection, Events};
use super::state::State;
use super::time::{earliest, expired, Instant};

impl Connection {
    /// Returns when [`Connection::on_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = earliest(self.rto_deadline, self.persist_deadline);
        t = earliest(t, self.delack_deadline);
        t = earliest(t, self.ka_deadline);
        t = earliest(t, self.tw_deadline);
        earliest(t, self.fw2_deadline)
    }

    /// Handles every timer that has expired at `now`; then drain `poll_transmit`.
    pub fn on_timeout(&mut self, now: Instant) -> Events {
        let mut ev = Events::NONE;
        if expired(self.tw_deadline, now) || expired(self.fw2_deadline, now) {
            // TIME_WAIT over (2 MSL), or an orphan's FIN_WAIT_2 gave up on the peer.
            self.enter_closed();
            ev.insert(Events::CLOSED);
            return ev;
        }
        if expired(self.rto_deadline, now) {
            self.rto_deadline = None;
            self.on_rto(now, &mut ev);
        }
        if self.state != State::Closed && expired(self.persist_deadline, now) {
            self.persist_deadline = None;
            self.on_persist(now, &mut ev);
        }
        if self.state != State::Closed && expired(self.delack_deadline, now) {
            self.delack_deadline = None;
            self.ack_now = true;
        }
        if self.state != State::Closed && expired(self.ka_deadline, now) {
            self.ka_deadline = None;
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
        self.rst_pending = Some(self.reset_header());
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
        if self.syn_acked && self.snd_una == self.snd_max {
            return;
        }
        self.retries = self.retries.saturating_add(1);
        let limit = if self.syn_acked && self.orphaned {
            // Linux `tcp_write_timeout`: a dead socket's retries are
            // `tcp_orphan_retries`, not `tcp_retries2`.
            self.orphan_retries()
        } else if self.syn_acked {
            self.cfg.data_retries
        } else if self.passive {
            self.cfg.synack_retries
        } else {
            self.cfg.syn_retries
        };
        // Into a zero window the retransmission is a window probe: a peer
        // that keeps answering is alive however long its reader sleeps, so
        // count unanswered probes (reset by any acceptable segment) instead.
        let zero_window = self.syn_acked && self.snd_wnd == 0 && !self.orphaned;
        let give_up = if zero_window {
            self.probes_out = self.probes_out.saturating_add(1);
            self.probes_out > self.cfg.data_retries
        } else {
            self.retries > limit
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
        self.rtt_timing = None;
        if !self.syn_acked {
            self.syn_pending = true;
            self.snd_nxt = self.iss;
        } else {
            let flight = self.snd_max.since(self.snd_una);
            self.ssthresh = (flight / 2).max(self.send_mss.saturating_mul(2));
            self.cwnd = self.send_mss;
            self.snd_nxt = self.snd_una;
            self.dup_acks = 0;
            self.recover = None;
            // The head goes out even into a zero window: it doubles as a window probe.
            self.rexmit_head = true;
        }
        self.rto_deadline = Some(now.after(self.rtt.backed_off(u32::from(self.retries))));
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
        if self.orphaned && self.persist_backoff >= self.orphan_retries() {
            self.fail_orphan(ev);
            return;
        }
        self.probes_out = self.probes_out.saturating_add(1);
        if self.probes_out > self.cfg.data_retries {
            self.fail(ev);
            return;
        }
        let in_flight = self.snd_nxt.since(self.snd_una);
        if self.snd_wnd.min(self.cwnd) > in_flight {
            self.force_send = true;
        } else {
            self.probe_pending = true;
            self.stats.window_probes = self.stats.window_probes.wrapping_add(1);
        }
        self.persist_backoff = self.persist_backoff.saturating_add(1);
        self.persist_deadline =
            Some(now.after(self.rtt.backed_off(u32::from(self.persist_backoff))));
    }

    /// The keepalive timer expired: probe the idle peer, or give up after too many probes.
    fn on_keepalive(&mut self, now: Instant, ev: &mut Events) {
        let Some(ka) = self.cfg.keepalive else {
            return;
        };
        if now.since(self.last_recv) < ka.idle_us && self.probes_out == 0 {
            return;
        }
        if self.probes_out >= ka.probes {
            // Linux resets a connection whose keepalives went unanswered.
            self.rst_pending = Some(self.reset_header());
            self.fail(ev);
            return;
        }
        self.probes_out = self.probes_out.saturating_add(1);
        self.probe_pending = true;
        self.last_probe = now;
        self.stats.keepalive_probes = self.stats.keepalive_probes.wrapping_add(1);
    }

    /// Re-derives the persist and keepalive deadlines from the current state.
    pub(super) fn update_timers(&mut self, now: Instant) {
        let idle_sender = self.syn_acked && self.snd_una == self.snd_max;
        let plan = self.send_plan();
        let stuck = idle_sender && plan.unsent > 0 && !plan.allowed;
        if stuck {
            if self.persist_deadline.is_none() {
                let wait = self.rtt.backed_off(u32::from(self.persist_backoff));
                self.persist_deadline = Some(now.after(wait));
            }
        } else {
            self.persist_deadline = None;
            if self.snd_wnd > 0 {
                self.persist_backoff = 0;
            }
        }

        let ka_state = matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait2
        );
        self.ka_deadline = match self.cfg.keepalive {
            Some(ka) if ka_state && idle_sender && plan.unsent == 0 => {
                Some(if self.probes_out == 0 {
                    self.last_recv.after(ka.idle_us)
                } else {
                    self.last_probe.after(ka.interval_us)
                })
            }
            _ => None,
        };
    }
}
