//! Addresses, ports and the 4-tuple that names a connection.
//!
//! IPv4 addresses are `u32` in host byte order (`0x7f00_0001` is 127.0.0.1);
//! the wire codec converts to big-endian. The kernel keeps `__be32` and
//! converts at the boundary with `u32::from_be`.

use super::siphash::{siphash13_blocks, siphash24_blocks, SipKey};

/// The wildcard address `0.0.0.0` ("every local address").
pub const ADDR_ANY: u32 = 0;
/// The loopback address `127.0.0.1`.
pub const ADDR_LOOPBACK: u32 = 0x7f00_0001;

/// Domain-separation tags mixed into [`FourTuple::hash`] so that one secret
/// serves several purposes without one hash revealing another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HashPurpose {
    /// Initial sequence numbers (RFC 6528).
    Isn = 1,
    /// Reuseport shard tie-break.
    Reuseport = 2,
    /// Ephemeral port search offset (RFC 6056 algorithm 3).
    EphemeralPort = 3,
    /// Hash-table bucket selection.
    Table = 4,
    /// SYN cookie MAC ([`super::syncookie`]).
    Cookie = 5,
    /// SYN cookie mask ([`super::syncookie`]).
    CookieMask = 6,
}

impl HashPurpose {
    /// Whether the hash only spreads entries over a table's buckets or
    /// shards (unpredictable to a peer, so that it cannot aim at one
    /// bucket, but not a secret like an ISN, a port offset or a cookie).
    pub const fn spreads_a_table(self) -> bool {
        matches!(self, HashPurpose::Table | HashPurpose::Reuseport)
    }
}

/// An IPv4 address and a port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// IPv4 address in host byte order.
    pub addr: u32,
    /// Port number.
    pub port: u16,
}

impl Endpoint {
    /// Returns the endpoint with address `addr` and port `port`.
    pub const fn new(addr: u32, port: u16) -> Endpoint {
        Endpoint { addr, port }
    }
}

/// The local and remote endpoints that identify a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FourTuple {
    /// This end.
    pub local: Endpoint,
    /// The peer.
    pub remote: Endpoint,
}

impl FourTuple {
    /// Returns the tuple with the given local and remote endpoints.
    pub const fn new(local: Endpoint, remote: Endpoint) -> FourTuple {
        FourTuple { local, remote }
    }

    /// Returns the tuple as seen from the other end.
    pub const fn reversed(&self) -> FourTuple {
        FourTuple {
            local: self.remote,
            remote: self.local,
        }
    }

    /// Returns zero exactly when `other` is this tuple: the fields'
    /// differences or'ed together, so that a lookup can compare a tuple
    /// with one test where `==` compares field by field (a branch each).
    pub fn difference(&self, other: &FourTuple) -> u64 {
        u64::from(self.local.addr ^ other.local.addr)
            | u64::from(self.remote.addr ^ other.remote.addr)
            | u64::from(self.local.port ^ other.local.port)
            | u64::from(self.remote.port ^ other.remote.port)
    }

    /// Returns the 12 bytes hashed for this tuple (addresses, then ports, big-endian).
    pub fn to_bytes(self) -> [u8; 12] {
        let la = self.local.addr.to_be_bytes();
        let ra = self.remote.addr.to_be_bytes();
        let lp = self.local.port.to_be_bytes();
        let rp = self.remote.port.to_be_bytes();
        [
            la[0], la[1], la[2], la[3], ra[0], ra[1], ra[2], ra[3], lp[0], lp[1], rp[0], rp[1],
        ]
    }

    /// Returns the keyed hash of this tuple for `purpose`.
    ///
    /// SipHash of 13 bytes, `purpose` then [`FourTuple::to_bytes`], built
    /// here as its two little-endian blocks directly (the tests check it
    /// against [`super::siphash::siphash24`] and `siphash13` of those
    /// bytes): SipHash-1-3 where the hash only spreads a table
    /// ([`HashPurpose::spreads_a_table`], every frame's lookup), as the
    /// kernel's `hsiphash`; SipHash-2-4, a secure PRF, for the rest.
    pub fn hash(&self, key: &SipKey, purpose: HashPurpose) -> u64 {
        // A big-endian value read little-endian is its bytes swapped.
        let la = u64::from(self.local.addr.swap_bytes());
        let ra = u64::from(self.remote.addr.swap_bytes());
        let lp = u64::from(self.local.port.swap_bytes());
        let rp = u64::from(self.remote.port.swap_bytes());
        // Bytes 0-7: purpose, the local address, three bytes of the remote one.
        let m0 = u64::from(purpose as u8) | la << 8 | (ra & 0xff_ffff) << 40;
        // Bytes 8-12: the remote address's last byte, the ports; the length (13) on top.
        let m1 = ra >> 24 | lp << 8 | rp << 24 | 13 << 56;
        if purpose.spreads_a_table() {
            siphash13_blocks(key, [m0, m1])
        } else {
            siphash24_blocks(key, [m0, m1])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::{siphash13, siphash24};

    #[test]
    fn difference_is_zero_exactly_for_the_same_tuple() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let t = FourTuple::new(
                Endpoint::new((x >> 32) as u32, x as u16),
                Endpoint::new(x as u32 ^ 0x5a5a_5a5a, (x >> 48) as u16),
            );
            assert_eq!(t.difference(&t), 0);
            // Every single-bit change of every field is a different tuple.
            for bit in 0..32 {
                let mut u = t;
                u.local.addr ^= 1 << bit;
                assert_ne!(t.difference(&u), 0);
                let mut u = t;
                u.remote.addr ^= 1 << bit;
                assert_ne!(t.difference(&u), 0);
                if bit < 16 {
                    let mut u = t;
                    u.local.port ^= 1 << bit;
                    assert_ne!(t.difference(&u), 0);
                    let mut u = t;
                    u.remote.port ^= 1 << bit;
                    assert_ne!(t.difference(&u), 0);
                }
            }
            // And agrees with `==` on unrelated and swapped tuples.
            for u in [t.reversed(), FourTuple::new(t.local, t.local)] {
                assert_eq!(t.difference(&u) == 0, t == u);
            }
        }
    }

    #[test]
    fn hash_is_siphash_of_purpose_then_bytes() {
        let key = SipKey::from_bytes(core::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let t = FourTuple::new(
                Endpoint::new((x >> 32) as u32, x as u16),
                Endpoint::new(x as u32 ^ 0xdead_beef, (x >> 16) as u16),
            );
            for purpose in [
                HashPurpose::Isn,
                HashPurpose::Reuseport,
                HashPurpose::EphemeralPort,
                HashPurpose::Table,
                HashPurpose::Cookie,
                HashPurpose::CookieMask,
            ] {
                let mut buf = [0u8; 13];
                buf[0] = purpose as u8;
                buf[1..].copy_from_slice(&t.to_bytes());
                let want = if purpose.spreads_a_table() {
                    siphash13(&key, &buf)
                } else {
                    siphash24(&key, &buf)
                };
                assert_eq!(t.hash(&key, purpose), want, "{t:?} {purpose:?}");
            }
        }
    }
}
