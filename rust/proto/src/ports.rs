//! Ephemeral port allocation from a configurable range.
//!
//! The search follows RFC 6056 algorithm 3 ("simple hash-based"), as Linux's
//! `__inet_hash_connect` does: start at an offset given by a keyed hash of
//! (local address, remote address, remote port) plus a caller-kept counter,
//! and walk the range until a free port turns up. Different destinations
//! start at unrelated places, so an off-path observer learns little from one
//! connection's port about another's.

use super::siphash::SipKey;
use super::tuple::{Endpoint, FourTuple, HashPurpose};

/// An inclusive range of ports (`net.ipv4.ip_local_port_range`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// Linux's default range, 32768 to 60999.
    pub const LINUX_DEFAULT: PortRange = PortRange {
        lo: 32768,
        hi: 60999,
    };

    /// Returns the range `lo..=hi`, or `None` if `lo` is zero or above `hi`.
    pub const fn new(lo: u16, hi: u16) -> Option<PortRange> {
        if lo == 0 || lo > hi {
            None
        } else {
            Some(PortRange { lo, hi })
        }
    }

    /// Returns the lowest port.
    pub const fn lo(&self) -> u16 {
        self.lo
    }

    /// Returns the highest port.
    pub const fn hi(&self) -> u16 {
        self.hi
    }

    /// Returns the number of ports in the range.
    pub const fn len(&self) -> u32 {
        (self.hi as u32)
            .wrapping_sub(self.lo as u32)
            .wrapping_add(1)
    }

    /// Returns whether the range is empty (never, by construction).
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Returns whether `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        port >= self.lo && port <= self.hi
    }
}

/// Returns the search offset for a connection from `local_addr` to `remote`.
///
/// Add a per-call counter (`perturb`) so that repeated connections to one
/// destination do not retry the same ports first.
pub fn ephemeral_offset(secret: &SipKey, local_addr: u32, remote: Endpoint, perturb: u32) -> u64 {
    let t = FourTuple::new(Endpoint::new(local_addr, 0), remote);
    t.hash(secret, HashPurpose::EphemeralPort)
        .wrapping_add(u64::from(perturb))
}

/// Returns the first port, starting at `offset` in `range` and wrapping, for which `is_free` says yes.
///
/// `is_free` is the caller's table lookup: for `connect()` the 4-tuple must
/// be unused; for `bind()` to port 0 there must be no bind conflict
/// ([`super::bind::bind_conflict`]). Returns `None` when every port is taken
/// (`EADDRNOTAVAIL` for connect, `EADDRINUSE` for bind).
pub fn pick_ephemeral_port(
    range: PortRange,
    offset: u64,
    mut is_free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let n = u64::from(range.len());
    let start = offset.checked_rem(n).unwrap_or(0);
    let mut i = 0u64;
    while i < n {
        let step = start.wrapping_add(i).checked_rem(n).unwrap_or(0);
        let port = u64::from(range.lo).wrapping_add(step) as u16;
        if is_free(port) {
            return Some(port);
        }
        i = i.wrapping_add(1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_validation() {
        assert!(PortRange::new(0, 10).is_none());
        assert!(PortRange::new(11, 10).is_none());
        let r = PortRange::new(10, 10).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(PortRange::new(1, 65535).unwrap().len(), 65535);
        assert_eq!(PortRange::LINUX_DEFAULT.len(), 28232);
    }

    #[test]
    fn search_wraps_and_skips_busy_ports() {
        let r = PortRange::new(100, 104).unwrap();
        assert_eq!(pick_ephemeral_port(r, 3, |_| true), Some(103));
        assert_eq!(
            pick_ephemeral_port(r, 3, |p| p != 103 && p != 104),
            Some(100)
        );
        assert_eq!(pick_ephemeral_port(r, 3, |_| false), None);
        let mut seen = 0;
        let _ = pick_ephemeral_port(r, u64::MAX, |p| {
            assert!(r.contains(p));
            seen += 1;
            false
        });
        assert_eq!(seen, 5);
    }

    #[test]
    fn offset_depends_on_destination() {
        let k = SipKey::from_u64(7, 9);
        let a = ephemeral_offset(&k, 0x0a00_0001, Endpoint::new(0x0a00_0002, 80), 0);
        let b = ephemeral_offset(&k, 0x0a00_0001, Endpoint::new(0x0a00_0002, 81), 0);
        assert_ne!(a, b);
        assert_eq!(
            ephemeral_offset(&k, 0x0a00_0001, Endpoint::new(0x0a00_0002, 80), 1),
            a.wrapping_add(1)
        );
    }
}
