//! Sequence numbers compared modulo 2^32.
//!
//! Like TCP's, sequence numbers wrap around: `a` is "before" `b` when the
//! signed 32-bit difference `a - b` is negative (RFC 793 section 3.3,
//! RFC 1982). The comparison is meaningful only for numbers less than 2^31
//! apart, which the connection guarantees by bounding its send queue and
//! receive window to 2^30 bytes.

/// A 32-bit sequence number with wrapping arithmetic and comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq(pub u32);

impl Seq {
    /// Returns the sequence number `n` after `self`, wrapping around.
    #[inline]
    pub const fn wrapping_add(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// Returns the sequence number `n` before `self`, wrapping around.
    #[inline]
    pub const fn wrapping_sub(self, n: u32) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }

    /// Returns the signed distance from `other` to `self` (`self - other`).
    #[inline]
    pub const fn diff(self, other: Seq) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Returns `self - other` as an unsigned distance.
    ///
    /// Meaningful when `self` is known to be at or after `other`.
    #[inline]
    pub const fn since(self, other: Seq) -> u32 {
        self.0.wrapping_sub(other.0)
    }

    /// Returns whether `self` is strictly before `other`.
    #[inline]
    pub const fn lt(self, other: Seq) -> bool {
        self.diff(other) < 0
    }

    /// Returns whether `self` is before or equal to `other`.
    #[inline]
    pub const fn le(self, other: Seq) -> bool {
        self.diff(other) <= 0
    }

    /// Returns whether `self` is strictly after `other`.
    #[inline]
    pub const fn gt(self, other: Seq) -> bool {
        self.diff(other) > 0
    }

    /// Returns whether `self` is after or equal to `other`.
    #[inline]
    pub const fn ge(self, other: Seq) -> bool {
        self.diff(other) >= 0
    }

    /// Returns the later of `self` and `other`.
    #[inline]
    pub const fn max(self, other: Seq) -> Seq {
        if self.lt(other) {
            other
        } else {
            self
        }
    }

    /// Returns the earlier of `self` and `other`.
    #[inline]
    pub const fn min(self, other: Seq) -> Seq {
        if self.lt(other) {
            self
        } else {
            other
        }
    }

    /// Returns whether `self` lies in the half-open range `[start, start + len)`.
    #[inline]
    pub const fn in_window(self, start: Seq, len: u32) -> bool {
        self.since(start) < len
    }
}

#[cfg(test)]
mod tests {
    use super::Seq;

    #[test]
    fn ordering_across_wraparound() {
        let a = Seq(u32::MAX - 5);
        let b = a.wrapping_add(10);
        assert_eq!(b, Seq(4));
        assert!(a.lt(b) && a.le(b) && b.gt(a) && b.ge(a));
        assert!(!b.lt(a));
        assert_eq!(b.diff(a), 10);
        assert_eq!(a.diff(b), -10);
        assert_eq!(b.since(a), 10);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
        assert_eq!(b.wrapping_sub(10), a);
    }

    #[test]
    fn window_membership_across_wraparound() {
        let start = Seq(u32::MAX - 1);
        assert!(start.in_window(start, 1));
        assert!(Seq(0).in_window(start, 3));
        assert!(!Seq(1).in_window(start, 3));
        assert!(!start.wrapping_sub(1).in_window(start, 3));
        assert!(!start.in_window(start, 0));
    }

    #[test]
    fn half_space_boundary() {
        let a = Seq(0);
        assert!(Seq(0x7fff_ffff).gt(a));
        assert!(Seq(0x8000_0001).lt(a));
    }
}
