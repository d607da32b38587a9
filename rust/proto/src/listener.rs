//! The listener's SYN queue and accept queue: bounds, verdicts and counters.
//!
//! A listening socket has two queues, as in Linux: the SYN queue of
//! half-open connections (SYN received, SYN-ACK sent, in SYN_RECV) and the
//! accept queue of established connections waiting for `accept()`. The
//! caller keeps the queued connections themselves; [`ListenQueues`] keeps the
//! lengths and bounds, decides what happens to each SYN and final ACK, and
//! counts the outcomes under the names of Linux's MIB counters.
//!
//! The rules, and what is counted:
//!
//! - A SYN when the accept queue already holds `backlog` connections is
//!   dropped: `ListenOverflows` and `ListenDrops` (a SYN the listener could
//!   not complete would only fill the SYN queue). The client retransmits.
//! - A SYN when the SYN queue holds `syn_backlog` entries is answered with a
//!   SYN cookie ([`super::syncookie`]) if `net.af_custom.syncookies` is 1
//!   (the default), and so is every SYN if it is 2: the listener sends a
//!   SYN-ACK whose ISN is the cookie and keeps nothing (`SyncookiesSent`).
//!   With 0 the SYN is dropped: `SynQueueDrops` (Linux `TCPReqQFullDrop`)
//!   and `ListenDrops`; the client retransmits.
//! - An ACK that matches no connection, at a listener that sent a cookie
//!   in the last [`MAX_COOKIE_AGE`] minutes, has its cookie checked
//!   (TCP's `tcp_synq_no_recent_overflow`): a valid one (`SyncookiesRecv`)
//!   rebuilds the half-open connection, which the ACK completes at once;
//!   an invalid one counts `SyncookiesFailed` and the ACK is answered as
//!   one for no socket (RST). If the accept queue is full the valid
//!   cookie's ACK is dropped: `ListenOverflows` and `ListenDrops`.
//! - The final ACK of a handshake when the accept queue is full is dropped:
//!   `ListenOverflows` and `ListenDrops`. The entry stays half-open, its
//!   SYN-ACK timer retransmits, the client's answer completes it later.
//! - A half-open entry whose SYN-ACK retransmissions run out (the
//!   connection's `synack_retries`) expires: `HalfOpenExpired`. One reset by
//!   the peer: `HalfOpenReset`.
//! - When the listener closes, each queued connection either moves to a
//!   sibling in its reuseport group ([`super::reuseport`]) or is reset.

use super::reuseport::ShardInfo;
use super::state::State;
use super::syncookie::{SyncookieMode, COOKIE_PERIOD_US, MAX_COOKIE_AGE};
use super::time::Instant;
use core::sync::atomic::{AtomicU64, Ordering};

/// What to do with a SYN that reached the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynVerdict {
    /// Create a SYN_RECV connection ([`super::conn::Connection::accept`]) and queue it.
    Admit,
    /// Drop the SYN: the accept queue is full.
    DropAcceptQueueFull,
    /// Drop the SYN: the SYN queue is full.
    DropSynQueueFull,
    /// Answer with a SYN cookie and keep nothing ([`super::syncookie`]).
    SendCookie,
    /// Drop the SYN: the listener is closed.
    DropClosed,
}

/// What to do with an ACK for a half-open connection, before the connection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckVerdict {
    /// Give the segment to the connection; if it reports `CONNECTED`, call [`ListenQueues::on_established`].
    Proceed,
    /// Drop the segment: the accept queue is full. The connection stays half-open.
    DropAcceptQueueFull,
}

/// What to do with an ACK that carries a SYN cookie, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieVerdict {
    /// Rebuild the half-open connection (counted in the SYN queue) and give it the ACK.
    Admit,
    /// Drop the ACK: the accept queue is full.
    DropAcceptQueueFull,
    /// The cookie is not valid: answer the ACK as one for no socket.
    Invalid,
}

/// Why a half-open connection left the SYN queue without completing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfOpenEnd {
    /// Its SYN-ACK retransmissions ran out.
    Expired,
    /// The peer reset it.
    Reset,
    /// The listener aborted it.
    Aborted,
}

/// Listener counters, named after Linux's `/proc/net/netstat` fields where one exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenStats {
    /// SYNs or final ACKs dropped because the accept queue was full (`ListenOverflows`).
    pub listen_overflows: u64,
    /// Every SYN or final ACK the listener dropped, for any reason (`ListenDrops`).
    pub listen_drops: u64,
    /// SYNs dropped because the SYN queue was full (`TCPReqQFullDrop`).
    pub syn_queue_drops: u64,
    /// SYNs admitted to the SYN queue.
    pub syns_admitted: u64,
    /// Handshakes completed into the accept queue.
    pub established: u64,
    /// Connections taken by `accept()`.
    pub accepted: u64,
    /// Half-open connections that expired.
    pub half_open_expired: u64,
    /// Half-open connections reset by the peer.
    pub half_open_reset: u64,
    /// Connections that arrived from a closing sibling.
    pub migrated_in: u64,
    /// Connections handed to a sibling when this listener closed.
    pub migrated_out: u64,
    /// Queued connections reset because the listener closed with nowhere to move them.
    pub reset_on_close: u64,
    /// Queued, not yet accepted, connections that died (reset by the peer).
    pub accept_queue_died: u64,
    /// SYN cookies sent (`SyncookiesSent`).
    pub syncookies_sent: u64,
    /// Valid SYN cookies received (`SyncookiesRecv`).
    pub syncookies_recv: u64,
    /// Invalid SYN cookies received (`SyncookiesFailed`).
    pub syncookies_failed: u64,
}

/// The queue bounds and lengths of one listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenQueues {
    state: State,
    backlog: u32,
    syn_backlog: u32,
    syn_len: u32,
    accept_len: u32,
    /// When the last SYN cookie was sent: cookies are checked until they expire.
    last_cookie: Option<Instant>,
    stats: ListenStats,
}

/// Whether a cookie sent at `sent` may still be valid at `now`.
fn cookie_recent(sent: Instant, now: Instant) -> bool {
    let window = COOKIE_PERIOD_US.saturating_mul(u64::from(MAX_COOKIE_AGE));
    now.micros().saturating_sub(sent.micros()) <= window
}

/// Slots of a [`GroupCookieTimes`] (a power of two).
pub const GROUP_COOKIE_SLOTS: usize = 64;

/// When each reuseport group last sent a SYN cookie (Linux's
/// `reuse->synq_overflow_ts`), for
/// [`ListenQueues::cookie_check_wanted_in_group`].
///
/// Bounded and lock-free: [`GROUP_COOKIE_SLOTS`] words, a group's slot
/// chosen by its number (groups are numbered in sequence, so the groups
/// alive at once rarely share one). Groups that share a slot share the
/// time: one may check cookies while it need not, which costs a check
/// (and a forger a try, at 2^-19), never a connection; no group ever
/// misses a time it set.
pub struct GroupCookieTimes {
    slots: [AtomicU64; GROUP_COOKIE_SLOTS],
}

impl GroupCookieTimes {
    /// No group has sent a cookie.
    pub const fn new() -> Self {
        Self {
            slots: [const { AtomicU64::new(0) }; GROUP_COOKIE_SLOTS],
        }
    }

    fn slot(&self, group: u64) -> Option<&AtomicU64> {
        self.slots.get((group as usize) & (GROUP_COOKIE_SLOTS - 1))
    }

    /// Group `group` sent a cookie at `now`.
    pub fn sent(&self, group: u64, now: Instant) {
        if let Some(s) = self.slot(group) {
            // Stored plus one: zero is "never". A later time only, so a
            // racing older store cannot hide a newer one for long.
            s.fetch_max(now.micros().saturating_add(1), Ordering::Relaxed);
        }
    }

    /// When group `group` (or one sharing its slot) last sent a cookie.
    pub fn last(&self, group: u64) -> Option<Instant> {
        let v = self.slot(group)?.load(Ordering::Relaxed);
        v.checked_sub(1).map(Instant)
    }
}

impl Default for GroupCookieTimes {
    fn default() -> Self {
        Self::new()
    }
}

fn inc(c: &mut u64) {
    *c = c.wrapping_add(1);
}

impl ListenQueues {
    /// Starts listening (`listen(backlog)`): the socket moves from CLOSED to LISTEN.
    ///
    /// The accept queue holds at most `backlog` connections (`listen(fd, 0)`
    /// still allows one, as on Linux; the caller caps `backlog` at
    /// `somaxconn`). The SYN queue holds at most `syn_backlog` half-open
    /// connections (at least 1; Linux without SYN cookies uses the backlog).
    pub fn new(backlog: u32, syn_backlog: u32) -> ListenQueues {
        ListenQueues {
            state: State::Listen,
            backlog: backlog.max(1),
            syn_backlog: syn_backlog.max(1),
            syn_len: 0,
            accept_len: 0,
            last_cookie: None,
            stats: ListenStats::default(),
        }
    }

    /// Changes the backlog (a second `listen()` call); queued connections stay.
    pub fn set_backlog(&mut self, backlog: u32, syn_backlog: u32) {
        self.backlog = backlog.max(1);
        self.syn_backlog = syn_backlog.max(1);
    }

    /// Returns LISTEN, or CLOSED after [`ListenQueues::close`].
    pub fn state(&self) -> State {
        self.state
    }

    /// Returns the accept queue bound.
    pub fn backlog(&self) -> u32 {
        self.backlog
    }

    /// Returns the SYN queue bound.
    pub fn syn_backlog(&self) -> u32 {
        self.syn_backlog
    }

    /// Returns the number of half-open connections.
    pub fn syn_len(&self) -> u32 {
        self.syn_len
    }

    /// Returns the number of connections waiting for `accept()`.
    pub fn accept_len(&self) -> u32 {
        self.accept_len
    }

    /// Returns whether the accept queue is at its bound.
    pub fn accept_queue_full(&self) -> bool {
        self.accept_len >= self.backlog
    }

    /// Returns whether the SYN queue is at its bound.
    pub fn syn_queue_full(&self) -> bool {
        self.syn_len >= self.syn_backlog
    }

    /// Returns the counters.
    pub fn stats(&self) -> &ListenStats {
        &self.stats
    }

    /// Returns this listener as a reuseport shard candidate.
    pub fn shard_info(&self) -> ShardInfo {
        ShardInfo {
            accept_len: self.accept_len,
            backlog: self.backlog,
            listening: self.state == State::Listen,
        }
    }

    /// Decides a SYN's fate under `net.af_custom.syncookies` = `mode` at `now`.
    ///
    /// [`SynVerdict::Admit`] counts a new half-open entry;
    /// [`SynVerdict::SendCookie`] counts a cookie sent and keeps nothing.
    pub fn on_syn(&mut self, mode: SyncookieMode, now: Instant) -> SynVerdict {
        if self.state != State::Listen {
            return SynVerdict::DropClosed;
        }
        if self.accept_queue_full() {
            inc(&mut self.stats.listen_overflows);
            inc(&mut self.stats.listen_drops);
            return SynVerdict::DropAcceptQueueFull;
        }
        let full = self.syn_queue_full();
        if mode == SyncookieMode::Always || (mode == SyncookieMode::OnOverflow && full) {
            self.last_cookie = Some(now);
            inc(&mut self.stats.syncookies_sent);
            return SynVerdict::SendCookie;
        }
        if full {
            inc(&mut self.stats.syn_queue_drops);
            inc(&mut self.stats.listen_drops);
            return SynVerdict::DropSynQueueFull;
        }
        self.syn_len = self.syn_len.saturating_add(1);
        inc(&mut self.stats.syns_admitted);
        SynVerdict::Admit
    }

    /// Whether an ACK for no connection should have its SYN cookie checked.
    ///
    /// Only while cookies this listener sent may still be valid (TCP's
    /// `tcp_synq_no_recent_overflow`), and never with cookies off.
    pub fn cookie_check_wanted(&self, mode: SyncookieMode, now: Instant) -> bool {
        mode != SyncookieMode::Never
            && self.state == State::Listen
            && self.last_cookie.is_some_and(|t| cookie_recent(t, now))
    }

    /// Whether an ACK for no connection should have its SYN cookie
    /// checked by this listener, a shard of a reuseport group that last
    /// sent a cookie at `group_last` ([`GroupCookieTimes::last`]).
    ///
    /// The ACK of a handshake may reach another shard than its SYN did
    /// (shards are chosen by accept queue length, which changes between
    /// SYN and ACK), so a shard checks cookies while any shard of its
    /// group may have sent a valid one (Linux keeps the time per group,
    /// `reuse->synq_overflow_ts`).
    pub fn cookie_check_wanted_in_group(
        &self,
        mode: SyncookieMode,
        now: Instant,
        group_last: Option<Instant>,
    ) -> bool {
        self.cookie_check_wanted(mode, now)
            || (mode != SyncookieMode::Never
                && self.state == State::Listen
                && group_last.is_some_and(|t| cookie_recent(t, now)))
    }

    /// Counts a checked SYN cookie (`valid` or not) and decides the ACK's fate.
    ///
    /// [`CookieVerdict::Admit`] counts the rebuilt connection in the SYN
    /// queue (whatever its bound: the ACK completes it at once, and
    /// [`ListenQueues::on_established`] or [`ListenQueues::on_half_open_gone`]
    /// takes it out).
    pub fn on_cookie(&mut self, valid: bool) -> CookieVerdict {
        if !valid || self.state != State::Listen {
            inc(&mut self.stats.syncookies_failed);
            return CookieVerdict::Invalid;
        }
        inc(&mut self.stats.syncookies_recv);
        if self.accept_queue_full() {
            inc(&mut self.stats.listen_overflows);
            inc(&mut self.stats.listen_drops);
            return CookieVerdict::DropAcceptQueueFull;
        }
        self.syn_len = self.syn_len.saturating_add(1);
        CookieVerdict::Admit
    }

    /// Decides whether a half-open connection may see an ACK that could complete it.
    ///
    /// Call it for segments with ACK (and without RST or SYN) addressed to a
    /// SYN_RECV connection of this listener.
    pub fn on_handshake_ack(&mut self) -> AckVerdict {
        if self.accept_queue_full() {
            inc(&mut self.stats.listen_overflows);
            inc(&mut self.stats.listen_drops);
            AckVerdict::DropAcceptQueueFull
        } else {
            AckVerdict::Proceed
        }
    }

    /// Moves one connection from the SYN queue to the accept queue (it reported `CONNECTED`).
    pub fn on_established(&mut self) {
        self.syn_len = self.syn_len.saturating_sub(1);
        self.accept_len = self.accept_len.saturating_add(1);
        inc(&mut self.stats.established);
    }

    /// Removes one half-open connection that ended without completing.
    pub fn on_half_open_gone(&mut self, why: HalfOpenEnd) {
        self.syn_len = self.syn_len.saturating_sub(1);
        match why {
            HalfOpenEnd::Expired => inc(&mut self.stats.half_open_expired),
            HalfOpenEnd::Reset => inc(&mut self.stats.half_open_reset),
            HalfOpenEnd::Aborted => inc(&mut self.stats.reset_on_close),
        }
    }

    /// Removes one connection from the accept queue: `accept()` took it.
    pub fn on_accept(&mut self) {
        self.accept_len = self.accept_len.saturating_sub(1);
        inc(&mut self.stats.accepted);
    }

    /// Removes one connection from the accept queue that died before `accept()`.
    ///
    /// Such a connection stays in the queue on Linux until `accept()` returns
    /// it; the caller may do that instead and call [`ListenQueues::on_accept`].
    pub fn on_accept_queue_died(&mut self) {
        self.accept_len = self.accept_len.saturating_sub(1);
        inc(&mut self.stats.accept_queue_died);
    }

    /// Takes in an established connection migrated from a closing sibling; `false` if full.
    pub fn adopt_established(&mut self) -> bool {
        if self.state != State::Listen || self.accept_queue_full() {
            return false;
        }
        self.accept_len = self.accept_len.saturating_add(1);
        inc(&mut self.stats.migrated_in);
        true
    }

    /// Takes in a half-open connection migrated from a closing sibling; `false` if full.
    pub fn adopt_half_open(&mut self) -> bool {
        if self.state != State::Listen || self.syn_queue_full() {
            return false;
        }
        self.syn_len = self.syn_len.saturating_add(1);
        inc(&mut self.stats.migrated_in);
        true
    }

    /// Closes the listener (LISTEN to CLOSED) and returns the queue lengths it had.
    ///
    /// The caller then offers each queued connection to a sibling
    /// ([`super::reuseport::migration_target`] and `adopt_*`), calling
    /// [`ListenQueues::on_migrated_out`] when one moves, and otherwise aborts
    /// it (RST) and calls [`ListenQueues::on_reset_on_close`].
    pub fn close(&mut self) -> (u32, u32) {
        self.state = State::Closed;
        (self.syn_len, self.accept_len)
    }

    /// Counts one queued connection moved away; `established` says which queue it left.
    pub fn on_migrated_out(&mut self, established: bool) {
        if established {
            self.accept_len = self.accept_len.saturating_sub(1);
        } else {
            self.syn_len = self.syn_len.saturating_sub(1);
        }
        inc(&mut self.stats.migrated_out);
    }

    /// Counts one queued connection reset because the listener closed.
    pub fn on_reset_on_close(&mut self, established: bool) {
        if established {
            self.accept_len = self.accept_len.saturating_sub(1);
        } else {
            self.syn_len = self.syn_len.saturating_sub(1);
        }
        inc(&mut self.stats.reset_on_close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN with SYN cookies off.
    fn syn(l: &mut ListenQueues) -> SynVerdict {
        l.on_syn(SyncookieMode::Never, Instant(0))
    }

    #[test]
    fn accept_queue_bound_and_counters() {
        let mut l = ListenQueues::new(2, 4);
        assert_eq!(l.state(), State::Listen);
        for _ in 0..2 {
            assert_eq!(syn(&mut l), SynVerdict::Admit);
            assert_eq!(l.on_handshake_ack(), AckVerdict::Proceed);
            l.on_established();
        }
        assert!(l.accept_queue_full());
        assert_eq!(syn(&mut l), SynVerdict::DropAcceptQueueFull);
        assert_eq!(l.stats().listen_overflows, 1);
        assert_eq!(l.stats().listen_drops, 1);
        l.on_accept();
        assert_eq!(syn(&mut l), SynVerdict::Admit);
        assert_eq!(l.accept_len(), 1);
        assert_eq!(l.syn_len(), 1);
    }

    #[test]
    fn syn_queue_bound() {
        let mut l = ListenQueues::new(10, 2);
        assert_eq!(syn(&mut l), SynVerdict::Admit);
        assert_eq!(syn(&mut l), SynVerdict::Admit);
        assert_eq!(syn(&mut l), SynVerdict::DropSynQueueFull);
        assert_eq!(l.stats().syn_queue_drops, 1);
        assert_eq!(l.stats().listen_drops, 1);
        l.on_half_open_gone(HalfOpenEnd::Expired);
        assert_eq!(l.stats().half_open_expired, 1);
        assert_eq!(syn(&mut l), SynVerdict::Admit);
    }

    #[test]
    fn backlog_zero_allows_one() {
        let mut l = ListenQueues::new(0, 0);
        assert_eq!(syn(&mut l), SynVerdict::Admit);
        l.on_established();
        assert_eq!(syn(&mut l), SynVerdict::DropAcceptQueueFull);
    }

    #[test]
    fn any_shard_of_a_group_checks_its_cookies() {
        // Shard a answers a SYN with a cookie; the ACK reaches shard b,
        // which sent none: b must check it while the group's cookie may
        // be valid, and not once it expired.
        let now = Instant(1000);
        let times = GroupCookieTimes::new();
        let (g, other) = (7, 8);
        let mut a = ListenQueues::new(4, 2);
        let b = ListenQueues::new(4, 2);
        assert_eq!(a.on_syn(SyncookieMode::Always, now), SynVerdict::SendCookie);
        times.sent(g, now);
        assert!(!b.cookie_check_wanted(SyncookieMode::Always, now));
        assert!(b.cookie_check_wanted_in_group(SyncookieMode::Always, now, times.last(g)));
        assert!(!b.cookie_check_wanted_in_group(SyncookieMode::Always, now, times.last(other)));
        assert!(!b.cookie_check_wanted_in_group(
            SyncookieMode::Always,
            Instant(1001 + 2 * COOKIE_PERIOD_US),
            times.last(g)
        ));
        assert!(!b.cookie_check_wanted_in_group(SyncookieMode::Never, now, times.last(g)));
        // An older time never hides a newer one.
        times.sent(g, Instant(10));
        assert_eq!(times.last(g), Some(now));
    }

    #[test]
    fn cookies_on_overflow() {
        let now = Instant(1000);
        let mut l = ListenQueues::new(4, 2);
        assert!(!l.cookie_check_wanted(SyncookieMode::OnOverflow, now));
        assert_eq!(l.on_syn(SyncookieMode::OnOverflow, now), SynVerdict::Admit);
        assert_eq!(l.on_syn(SyncookieMode::OnOverflow, now), SynVerdict::Admit);
        // The SYN queue is full: a cookie, and nothing queued.
        assert_eq!(
            l.on_syn(SyncookieMode::OnOverflow, now),
            SynVerdict::SendCookie
        );
        assert_eq!(l.syn_len(), 2);
        assert_eq!(l.stats().syncookies_sent, 1);
        assert_eq!(l.stats().syn_queue_drops, 0);
        assert_eq!(l.stats().listen_drops, 0);
        // Cookies are checked for two minutes, never with the switch at 0.
        assert!(l.cookie_check_wanted(SyncookieMode::OnOverflow, now));
        assert!(l.cookie_check_wanted(SyncookieMode::Always, Instant(1000 + 2 * COOKIE_PERIOD_US)));
        assert!(!l.cookie_check_wanted(
            SyncookieMode::OnOverflow,
            Instant(1001 + 2 * COOKIE_PERIOD_US)
        ));
        assert!(!l.cookie_check_wanted(SyncookieMode::Never, now));
        assert_eq!(l.on_cookie(false), CookieVerdict::Invalid);
        assert_eq!(l.stats().syncookies_failed, 1);
        assert_eq!(l.on_cookie(true), CookieVerdict::Admit);
        assert_eq!(l.syn_len(), 3);
        l.on_established();
        assert_eq!((l.syn_len(), l.accept_len()), (2, 1));
        assert_eq!(l.stats().syncookies_recv, 1);
        // With the switch at 0 the overflowing SYN is dropped.
        assert_eq!(
            l.on_syn(SyncookieMode::Never, now),
            SynVerdict::DropSynQueueFull
        );
    }

    #[test]
    fn cookies_always_and_accept_queue_full() {
        let now = Instant(0);
        let mut l = ListenQueues::new(1, 8);
        assert_eq!(l.on_syn(SyncookieMode::Always, now), SynVerdict::SendCookie);
        assert_eq!(l.syn_len(), 0);
        assert_eq!(l.on_cookie(true), CookieVerdict::Admit);
        l.on_established();
        // Accept queue full: SYNs are dropped even with cookies, and so is a valid cookie's ACK.
        assert_eq!(
            l.on_syn(SyncookieMode::Always, now),
            SynVerdict::DropAcceptQueueFull
        );
        assert_eq!(l.on_cookie(true), CookieVerdict::DropAcceptQueueFull);
        assert_eq!(l.stats().listen_overflows, 2);
        assert_eq!(l.stats().syncookies_recv, 2);
        assert_eq!(l.syn_len(), 0);
        l.close();
        assert_eq!(l.on_cookie(true), CookieVerdict::Invalid);
    }

    #[test]
    fn closed_listener_drops() {
        let mut l = ListenQueues::new(4, 4);
        assert_eq!(l.close(), (0, 0));
        assert_eq!(l.state(), State::Closed);
        assert_eq!(syn(&mut l), SynVerdict::DropClosed);
        assert!(!l.adopt_established());
    }
}
