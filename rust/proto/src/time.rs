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
}
