//! Time as the core sees it: a plain microsecond count supplied by the caller.
//!
//! The core never reads a clock. Every entry point that needs the time takes
//! an [`Instant`], and every timer is returned as an [`Instant`] deadline that
//! the caller arms (the kernel converts `ktime_get()` nanoseconds or jiffies).
//! Durations are plain `u64` microsecond counts.

/// Microseconds in one millisecond.
pub const MS: u64 = 1_000;
/// Microseconds in one second.
pub const SEC: u64 = 1_000_000;

/// A point in time in microseconds since an origin chosen by the caller.
///
/// The origin must not change during the life of a connection; the kernel
/// uses boot time. A `u64` of microseconds lasts 584,000 years.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// Returns the instant `us` microseconds after the origin.
    #[inline]
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us)
    }

    /// Returns the number of microseconds since the origin.
    #[inline]
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// Returns the instant `us` microseconds later, saturating at the far future.
    #[inline]
    pub const fn after(self, us: u64) -> Instant {
        Instant(self.0.saturating_add(us))
    }

    /// Returns the microseconds elapsed from `earlier` to `self`, or zero.
    #[inline]
    pub const fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Returns the earlier of two optional deadlines.
///
/// Worked out as the minimum of two words, none counting as the end of
/// time (so a deadline at `u64::MAX` microseconds, half a million years
/// from boot, is none): chained over every timer after every event
/// (`poll_timeout`), it compiles to conditional moves, where a match on
/// the pair branched twice per timer (and under QEMU's TCG every branch
/// ends a translation block).
#[inline]
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    let m = a
        .map_or(u64::MAX, Instant::micros)
        .min(b.map_or(u64::MAX, Instant::micros));
    (m != u64::MAX).then_some(Instant(m))
}

/// How soon a timer armed earlier than its deadline may be moved to it
/// rather than fire for nothing ([`timer_keeps`]): a tick.
pub const PUSH_US: u64 = 1_000;

/// How long past its last use a timer may stay armed with nothing to do
/// ([`timer_keeps`]).
pub const IDLE_TIMER_SLACK_US: u64 = 1_000_000;

/// Whether a connection's one timer, armed for `armed`, is left as it is
/// when its next deadline is `deadline` (microseconds, `now` the clock).
///
/// It is left when it is already armed for that deadline, or when it may
/// stay: it fires no later than needed, and then the timer's run re-arms
/// it for whatever is due, rather than move on every segment. A
/// request-response exchange moves the deadline in and out every
/// transaction (the retransmission timeout set with a request and
/// cleared by its answer, the delayed ACK of the next); `mod_timer` for
/// each showed in profiles. A timer that would fire for nothing within
/// [`PUSH_US`] is moved to the deadline instead, as TCP pushes its
/// delayed-ACK timer out: one `mod_timer` every few milliseconds in place
/// of a timer run, its softirq and the socket lock (before, an exchange
/// ran each end's timer every ~6 ms). A timer with nothing left to do
/// stays only if it fires within [`IDLE_TIMER_SLACK_US`], so that a
/// socket's reference is not held long for nothing.
///
/// Worked out as one word and one test, not a branch per case: it runs
/// after every event, and under QEMU's TCG every branch ends a
/// translation block.
#[inline]
pub fn timer_keeps(armed: Option<u64>, deadline: Option<u64>, now: u64) -> bool {
    let (sa, a) = (armed.is_some(), armed.unwrap_or(0));
    let (sd, d) = (deadline.is_some(), deadline.unwrap_or(0));
    // Armed for exactly the deadline (or neither exists).
    let same = u8::from(sa == sd) & u8::from(a == d);
    // Armed earlier than a deadline, and not about to fire for nothing.
    let early =
        u8::from(sa) & u8::from(sd) & u8::from(a < d) & u8::from(a > now.saturating_add(PUSH_US));
    // Armed with no deadline left, firing soon enough.
    let idle =
        u8::from(sa) & u8::from(!sd) & u8::from(a <= now.saturating_add(IDLE_TIMER_SLACK_US));
    // Kept from being folded back into a branch per case.
    core::hint::black_box(same | early | idle) != 0
}

/// Returns whether an optional deadline has passed at `now`.
#[inline]
pub fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    matches!(deadline, Some(d) if d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_is_the_earlier_deadline_and_none_is_no_deadline() {
        let (a, b) = (Some(Instant(3)), Some(Instant(5)));
        assert_eq!(earliest(a, b), a);
        assert_eq!(earliest(b, a), a);
        assert_eq!(earliest(a, None), a);
        assert_eq!(earliest(None, b), b);
        assert_eq!(earliest(None, None), None);
        assert_eq!(earliest(Some(Instant(0)), b), Some(Instant(0)));
        // The end of time is no deadline.
        assert_eq!(earliest(Some(Instant(u64::MAX)), None), None);
        assert_eq!(earliest(Some(Instant(u64::MAX)), a), a);
    }

    /// `timer_keeps` is the rule as it reads case by case.
    #[test]
    fn timer_keeps_is_the_rule_case_by_case() {
        fn rule(armed: Option<u64>, deadline: Option<u64>, now: u64) -> bool {
            deadline == armed
                || match (armed, deadline) {
                    (Some(a), Some(d)) => a == d || (a < d && a > now.saturating_add(PUSH_US)),
                    (Some(a), None) => a <= now.saturating_add(IDLE_TIMER_SLACK_US),
                    _ => false,
                }
        }
        let now = 5_000_000u64;
        let mut points = [None; 33];
        points[1] = Some(0);
        points[2] = Some(u64::MAX);
        let mut k = 3;
        for base in [
            0,
            now,
            now + PUSH_US,
            now + IDLE_TIMER_SLACK_US,
            u64::MAX - 1,
        ] {
            for delta in [0u64, 1, 2] {
                points[k] = Some(base.saturating_add(delta));
                points[k + 1] = Some(base.saturating_sub(delta));
                k += 2;
            }
        }
        for &a in &points {
            for &d in &points {
                for n in [0, now, u64::MAX - 1, u64::MAX] {
                    assert_eq!(timer_keeps(a, d, n), rule(a, d, n), "{a:?} {d:?} {n}");
                }
            }
        }
    }
}
