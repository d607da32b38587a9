//! Ingress policy: the frames IPv4 would call martians, which frames may
//! be answered with an RST, and the per-destination limit of those RSTs.
//!
//! The address rules are IPv4's (`ip_route_input_slow`,
//! `fib_validate_source` in `net/ipv4/`); docs/PROTOCOL.md, "Ingress
//! rules", lists them.  What the routing tables know (is an address this
//! host's own, a directed broadcast?) the caller asks the kernel and
//! passes in as an [`AddrType`].

use super::siphash::{siphash24, SipKey};
use core::sync::atomic::{AtomicU64, Ordering};

/// Why a frame is a martian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Martian {
    /// Its source cannot send from off this host: 0.0.0.0/8, 127.0.0.0/8,
    /// multicast, a broadcast, or one of this host's own addresses.
    Source,
    /// Its destination cannot be reached from off this host: 0.0.0.0/8,
    /// 127.0.0.0/8, multicast or the limited broadcast.
    Destination,
}

/// What the routing tables make of an address (`inet_addr_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrType {
    /// Someone else's address (`RTN_UNICAST`).
    Unicast,
    /// One of this host's addresses (`RTN_LOCAL`).
    Local,
    /// A broadcast address, directed or limited, or 0.0.0.0/8 (`RTN_BROADCAST`).
    Broadcast,
    /// A multicast address (`RTN_MULTICAST`).
    Multicast,
    /// Anything else (unreachable, blackhole, ...).
    Other,
}

/// 0.0.0.0/8 ("this network"), host order.
pub fn is_zeronet(addr: u32) -> bool {
    addr >> 24 == 0
}

/// 127.0.0.0/8, host order.
pub fn is_loopback(addr: u32) -> bool {
    addr >> 24 == 127
}

/// 224.0.0.0/4, host order.
pub fn is_multicast(addr: u32) -> bool {
    addr >> 28 == 0xe
}

/// 255.255.255.255, the limited broadcast.
pub fn is_lbcast(addr: u32) -> bool {
    addr == u32::MAX
}

/// The checks of a frame from `src` to `dst` (host order) that arrived on
/// a device other than loopback, on the addresses alone: a source in
/// 0.0.0.0/8 or 127.0.0.0/8, multicast or 255.255.255.255; a destination
/// in 0.0.0.0/8 or 127.0.0.0/8, multicast or 255.255.255.255 (IPv4 takes
/// the last two as broadcast input, which no stream socket receives).
/// Loopback traffic is never checked, as IPv4 never routes it on input.
pub fn martian(src: u32, dst: u32) -> Option<Martian> {
    if is_zeronet(src) || is_loopback(src) || is_multicast(src) || is_lbcast(src) {
        return Some(Martian::Source);
    }
    if is_zeronet(dst) || is_loopback(dst) || is_multicast(dst) || is_lbcast(dst) {
        return Some(Martian::Destination);
    }
    None
}

/// The check of a source that needs the routing tables, for a frame off
/// a device other than loopback: one of this host's own addresses
/// (`fib_validate_source` without `accept_local`), or a directed
/// broadcast (its reverse route is not unicast).
pub fn martian_source_type(src_type: AddrType) -> bool {
    src_type != AddrType::Unicast
}

/// Whether a frame from `src` (of type `src_type`) to an address of type
/// `dst_type` that matched no socket may be answered with an RST: never
/// from a multicast, broadcast or 0.0.0.0/8 source, and only if it was
/// sent to one of this host's unicast addresses (as `tcp_v4_send_reset`
/// answers only `RTN_LOCAL` routes).  A `Local` source is loopback
/// traffic (off loopback it is a martian, dropped before).
pub fn may_answer_with_rst(src: u32, src_type: AddrType, dst_type: AddrType) -> bool {
    let src_ok = !(is_zeronet(src) || is_multicast(src) || is_lbcast(src))
        && matches!(src_type, AddrType::Unicast | AddrType::Local);
    src_ok && dst_type == AddrType::Local
}

/// Slots of an [`RstLimiter`] (a power of two).
pub const RST_LIMIT_SLOTS: usize = 256;

/// Most RSTs one destination gets per second (the counter's width).
const MAX_PER_SEC: u32 = (1 << COUNT_BITS) - 1;
const COUNT_BITS: u32 = 14;
const SEC_BITS: u32 = 18;

/// How many destinations at their full rate the namespace-wide ceiling
/// lets through in one second.
pub const GLOBAL_DESTINATIONS: u32 = 16;

/// The namespace-wide ceiling of RSTs per second for a per-destination
/// limit of `per_sec`: [`GLOBAL_DESTINATIONS`] times it, so that one
/// destination (one sender flooding closed ports) can never spend it.
pub fn global_ceiling(per_sec: u32) -> u32 {
    per_sec.min(MAX_PER_SEC).saturating_mul(GLOBAL_DESTINATIONS)
}

/// The count of packed word `cur` (second in the bits above
/// `count_bits`) in second `sec`: zero if it counts an earlier second.
fn count_in(cur: u64, sec: u64, count_bits: u32) -> u64 {
    let csec = (cur >> count_bits) & ((1 << SEC_BITS) - 1);
    if csec == sec {
        cur & 1u64
            .checked_shl(count_bits)
            .map_or(u64::MAX, |v| v.wrapping_sub(1))
    } else {
        0
    }
}

/// The limit of RSTs answering frames for nobody, per destination
/// address and per namespace: each destination may receive `per_sec` of
/// them in each second (a fixed one-second window), and all together at
/// most [`global_ceiling`]`(per_sec)`.
///
/// State is bounded: [`RST_LIMIT_SLOTS`] slots of one `u64` each (the
/// second and the count so far) and one `u64` for the namespace.  Each
/// destination has two slots, chosen by two parts of a keyed hash of it
/// (a count-min sketch): its count is the smaller of its slots' counts,
/// and an RST sent raises both to at least that plus one.  A slot's count
/// is never below that of any destination that uses it, and no frame,
/// from whatever source, lowers one within its second: so no destination
/// ever gets more than `per_sec`, and spoofed frames interleaved with a
/// victim's cannot buy the victim more RSTs.  A destination shares a
/// flooder's count only if both its slots are the flooder's (one in
/// 65,536 with two random slots out of 256; unpredictable from outside,
/// the key being secret), so one sender flooding closed ports starves
/// nobody else.  The ceiling is counted only for RSTs that pass their
/// destination's limit, so such a sender spends at most `per_sec` of it;
/// only a flood forged from at least [`GLOBAL_DESTINATIONS`] slots' worth
/// of sources reaches it (bounded state cannot tell those apart from
/// genuine destinations, and the ceiling is what bounds the RSTs such a
/// flood draws; ICMP's global limit does the same).  Lock-free: a race
/// between two CPUs on one word may miscount one RST.
pub struct RstLimiter {
    key: SipKey,
    slots: [AtomicU64; RST_LIMIT_SLOTS],
    global: AtomicU64,
}

/// Bits of the namespace-wide count.
const GLOBAL_COUNT_BITS: u32 = 32;

impl RstLimiter {
    /// An empty limiter whose slots are chosen by a hash keyed with `key`.
    pub const fn new(key: SipKey) -> Self {
        Self {
            key,
            slots: [const { AtomicU64::new(0) }; RST_LIMIT_SLOTS],
            global: AtomicU64::new(0),
        }
    }

    /// The two slots of destination `dst`: two parts of one keyed hash.
    fn slot_indices(&self, dst: u32) -> [usize; 2] {
        let h = siphash24(&self.key, &dst.to_be_bytes());
        [
            (h as usize) & (RST_LIMIT_SLOTS - 1),
            ((h >> 32) as usize) & (RST_LIMIT_SLOTS - 1),
        ]
    }

    /// Whether one more RST may go to `dst` (host order) in second
    /// `now_sec`, at most `per_sec` per second to it (capped at 16383)
    /// and [`global_ceiling`]`(per_sec)` in all; counts it if so.
    pub fn allow(&self, dst: u32, now_sec: u64, per_sec: u32) -> bool {
        let [i0, i1] = self.slot_indices(dst);
        let (Some(s0), Some(s1)) = (self.slots.get(i0), self.slots.get(i1)) else {
            return false;
        };
        let limit = u64::from(per_sec.min(MAX_PER_SEC));
        let sec = now_sec & ((1 << SEC_BITS) - 1);
        let c0 = count_in(s0.load(Ordering::Relaxed), sec, COUNT_BITS);
        let c1 = count_in(s1.load(Ordering::Relaxed), sec, COUNT_BITS);
        let used = c0.min(c1);
        if used >= limit {
            return false;
        }
        let all = count_in(self.global.load(Ordering::Relaxed), sec, GLOBAL_COUNT_BITS);
        if all >= u64::from(global_ceiling(per_sec)) {
            return false;
        }
        // Conservative update: each slot to at least the new count, none
        // lowered (a slot another destination counts higher keeps it).
        let next = used.saturating_add(1);
        s0.store((sec << COUNT_BITS) | c0.max(next), Ordering::Relaxed);
        s1.store((sec << COUNT_BITS) | c1.max(next), Ordering::Relaxed);
        self.global.store(
            (sec << GLOBAL_COUNT_BITS) | all.saturating_add(1),
            Ordering::Relaxed,
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u32 = 0x0a4d_0002;
    const B: u32 = 0x0a4d_0003;

    #[test]
    fn martian_addresses() {
        let host = 0x0a4d_0001;
        assert_eq!(martian(A, host), None);
        for src in [
            0,
            0x00ff_0001,
            0x7f00_0001,
            0x7f00_0002,
            0xe000_0001,
            0xefff_ffff,
            u32::MAX,
        ] {
            assert_eq!(martian(src, host), Some(Martian::Source), "{src:#x}");
        }
        for dst in [0, 0x7f00_0001, 0x7fff_ffff, 0xe000_0001, u32::MAX] {
            assert_eq!(martian(A, dst), Some(Martian::Destination), "{dst:#x}");
        }
        assert!(martian_source_type(AddrType::Local));
        assert!(martian_source_type(AddrType::Broadcast));
        assert!(!martian_source_type(AddrType::Unicast));
    }

    #[test]
    fn rst_only_between_unicast_addresses() {
        assert!(may_answer_with_rst(A, AddrType::Unicast, AddrType::Local));
        assert!(may_answer_with_rst(
            0x7f00_0001,
            AddrType::Local,
            AddrType::Local
        ));
        // A directed broadcast source, multicast, limited broadcast, zeronet.
        assert!(!may_answer_with_rst(
            0x0a58_00ff,
            AddrType::Broadcast,
            AddrType::Local
        ));
        assert!(!may_answer_with_rst(
            0xe000_0001,
            AddrType::Multicast,
            AddrType::Local
        ));
        assert!(!may_answer_with_rst(
            u32::MAX,
            AddrType::Broadcast,
            AddrType::Local
        ));
        assert!(!may_answer_with_rst(0, AddrType::Unicast, AddrType::Local));
        // Sent to a broadcast, multicast or someone else's address.
        for t in [
            AddrType::Broadcast,
            AddrType::Multicast,
            AddrType::Unicast,
            AddrType::Other,
        ] {
            assert!(!may_answer_with_rst(A, AddrType::Unicast, t));
        }
    }

    #[test]
    fn limit_is_per_destination() {
        let l = RstLimiter::new(SipKey::from_u64(1, 2));
        let ok = (0..1000).filter(|_| l.allow(A, 7, 100)).count();
        assert_eq!(ok, 100);
        // A is spent; B is not, whatever A sends.
        assert!(!l.allow(A, 7, 100));
        assert!(l.allow(B, 7, 100));
        // The next second brings A a new budget.
        assert!(l.allow(A, 8, 100));
        // The cap of the counter.
        let ok = (0..20_000).filter(|_| l.allow(B, 9, u32::MAX)).count();
        assert_eq!(ok, MAX_PER_SEC as usize);
    }

    #[test]
    fn colliding_destination_shares_the_count() {
        let l = RstLimiter::new(SipKey::from_u64(3, 4));
        // A destination whose two slots are both A's (one in 65,536).
        let other = (1u32..)
            .map(|i| A.wrapping_add(i))
            .find(|&a| l.slot_indices(a) == l.slot_indices(A))
            .unwrap();
        while l.allow(A, 1, 10) {}
        // A colliding destination shares the spent count: frames "from"
        // it cannot refresh A's budget.
        assert!(
            !l.allow(other, 1, 10),
            "a colliding destination got a fresh budget"
        );
        assert!(!l.allow(A, 1, 10), "A's budget was refreshed");
        // Spoofed frames from many sources interleaved with A's: A still
        // gets nothing more this second.
        for i in 0..10_000u32 {
            l.allow(0x0b00_0000 | i, 1, 10);
            assert!(!l.allow(A, 1, 10), "A's budget was refreshed by source {i}");
        }
    }

    #[test]
    fn a_destination_sharing_one_slot_is_not_starved() {
        // A floods; B shares one of A's two slots but not the other: B
        // still gets its RSTs (with one slot per destination, one in 256
        // destinations would be starved by any one flooder).
        let l = RstLimiter::new(SipKey::from_u64(9, 10));
        let [a0, a1] = l.slot_indices(A);
        let b = (1u32..)
            .map(|i| B.wrapping_add(i))
            .find(|&b| {
                let [b0, b1] = l.slot_indices(b);
                b0 == a0 && b1 != a1 && b1 != a0
            })
            .unwrap();
        while l.allow(A, 1, 10) {}
        assert!(
            l.allow(b, 1, 10),
            "a destination sharing one slot was starved"
        );
    }

    #[test]
    fn global_ceiling_bounds_all_destinations() {
        let l = RstLimiter::new(SipKey::from_u64(5, 6));
        // Every destination has budget of its own left, but the
        // namespace sends at most the ceiling per second.
        let ok = (0..1_000_000u32)
            .filter(|&i| l.allow(0x0c00_0000 | i, 3, 1000))
            .count();
        assert_eq!(ok, global_ceiling(1000) as usize);
        // The next second the ceiling is fresh.
        assert!(l.allow(A, 4, 1000));
    }

    #[test]
    fn one_flooder_starves_nobody() {
        // One sender flooding closed ports spends its own budget only:
        // it never reaches the ceiling, so a genuine RST still goes out.
        let l = RstLimiter::new(SipKey::from_u64(7, 8));
        let ok = (0..1_000_000).filter(|_| l.allow(A, 9, 1000)).count();
        assert_eq!(ok, 1000);
        let b = (1u32..)
            .map(|i| B.wrapping_add(i))
            .find(|&b| {
                let a = l.slot_indices(A);
                l.slot_indices(b).iter().all(|i| !a.contains(i))
            })
            .unwrap();
        assert!(
            l.allow(b, 9, 1000),
            "one flooder starved another destination"
        );
    }
}
