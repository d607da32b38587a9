//! Initial sequence numbers that an off-path attacker cannot predict (RFC 6528).
//!
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)` where `M`
//! is a clock that ticks every 4 microseconds (RFC 793's clock) and `F` is
//! SipHash-2-4 keyed with a 128-bit secret the caller draws at module load
//! (`get_random_bytes`). Successive connections on the same 4-tuple get
//! increasing numbers, so old duplicates fall outside the new window, while a
//! sender who does not know the secret cannot guess another tuple's offset.

use super::seq::Seq;
use super::siphash::SipKey;
use super::time::Instant;
use super::tuple::{FourTuple, HashPurpose};

/// Microseconds per tick of the ISN clock.
pub const ISN_TICK_US: u64 = 4;

/// Returns the initial sequence number for a connection on `tuple` opened at `now`.
pub fn initial_seq(secret: &SipKey, tuple: &FourTuple, now: Instant) -> Seq {
    let offset = tuple.hash(secret, HashPurpose::Isn) as u32;
    let clock = (now.micros() / ISN_TICK_US) as u32;
    Seq(offset.wrapping_add(clock))
}

#[cfg(test)]
mod tests {
    use super::super::tuple::Endpoint;
    use super::*;

    #[test]
    fn isn_depends_on_tuple_secret_and_clock() {
        let k = SipKey::from_u64(1, 2);
        let t = FourTuple::new(
            Endpoint::new(0x0a00_0001, 1000),
            Endpoint::new(0x0a00_0002, 80),
        );
        let a = initial_seq(&k, &t, Instant(0));
        assert_eq!(initial_seq(&k, &t, Instant(400)), a.wrapping_add(100));
        assert_ne!(initial_seq(&k, &t.reversed(), Instant(0)), a);
        assert_ne!(initial_seq(&SipKey::from_u64(1, 3), &t, Instant(0)), a);
    }
}
