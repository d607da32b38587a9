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
#[inline]
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x <= y { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Returns whether an optional deadline has passed at `now`.
#[inline]
pub fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    matches!(deadline, Some(d) if d <= now)
}
