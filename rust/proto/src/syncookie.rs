//! SYN cookies: a listener's SYN-ACK whose initial sequence number carries
//! the handshake's state, so that a flood of spoofed SYNs fills no queue.
//!
//! When the SYN queue overflows (`net.af_custom.syncookies` = 1, the
//! default) or always (= 2) the listener answers a SYN with a SYN-ACK whose
//! ISN is a cookie and keeps nothing. The final ACK of the handshake
//! acknowledges `cookie + 1`; if it matches no half-open connection, the
//! listener checks the cookie and, if it is valid, builds the connection
//! from the ACK and the cookie alone. As in TCP (`net/ipv4/syncookies.c`),
//! the cookie carries what the handshake must remember of the SYN: the
//! peer's MSS (as an index into [`MSS_TABLE`], rounded down) and its window
//! scale (all 15 values, where TCP needs the timestamp option for it); and
//! what the SYN-ACK announced that the listener could not otherwise
//! remember: our own window scale (TCP recomputes it from the buffers at
//! ACK time, which disagrees with the SYN-ACK if they changed meanwhile).
//!
//! The 32-bit cookie, before masking (most significant bit first):
//!
//! | bits  | field                                                   |
//! |-------|---------------------------------------------------------|
//! | 31–30 | the low 2 bits of the counter `c` (minutes, [`COOKIE_PERIOD_US`]) |
//! | 29–27 | MSS index                                               |
//! | 26–23 | the peer's window scale (0–14)                          |
//! | 22–19 | our window scale (0–14), as the SYN-ACK announced it    |
//! | 18–0  | MAC: the low 19 bits of SipHash-2-4 over the tuple, the peer's ISN, the full counter `c`, the MSS index and both window scales |
//!
//! The word is then XORed with a second keyed hash of the tuple and the
//! peer's ISN (the mask), so the ISN shows no structure. Both hashes use
//! the namespace's secret (drawn with `get_random_bytes` when the
//! namespace is made) with purposes of their own ([`HashPurpose`]).
//!
//! A cookie is valid while the counter has advanced by less than
//! [`MAX_COOKIE_AGE`] since it was made (60 to 120 seconds, TCP's
//! `MAX_SYNCOOKIE_AGE` with its one-minute counter); an older one finds a
//! counter whose MAC does not match. A forger who does not know the secret
//! hits a valid cookie with probability 2^-19 per guess at best (about
//! 2^-20 counting the counter bits and scales a guess must also get right).

use super::seq::Seq;
use super::siphash::{siphash24, SipKey};
use super::time::Instant;
use super::tuple::{FourTuple, HashPurpose};
use super::wire::{Header, MAX_PAYLOAD, MAX_WSCALE, MIN_MSS};

/// Microseconds per tick of the cookie counter (one minute, as TCP's).
pub const COOKIE_PERIOD_US: u64 = 60 * 1_000_000;

/// A cookie is valid while the counter has advanced by less than this since it was made.
pub const MAX_COOKIE_AGE: u32 = 2;

/// The MSS values a cookie can carry; a peer's MSS is rounded down to one.
///
/// 1468 is a 1500-byte Ethernet MTU less our 32-byte header, 8968 a
/// 9000-byte jumbo frame's, the last the largest payload (loopback).
pub const MSS_TABLE: [u16; 8] = [
    MIN_MSS,
    536,
    1200,
    1400,
    1468,
    4064,
    8968,
    MAX_PAYLOAD as u16,
];

const MAC_BITS: u32 = 19;
const MAC_MASK: u32 = (1 << MAC_BITS) - 1;

/// `net.af_custom.syncookies`: when a listener answers with a cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncookieMode {
    /// 0: never; a SYN that finds the SYN queue full is dropped (or evicts).
    Never,
    /// 1 (default): only when the SYN queue is full.
    OnOverflow,
    /// 2: for every SYN.
    Always,
}

impl SyncookieMode {
    /// Returns the sysctl's value for the mode.
    pub const fn as_sysctl(self) -> i32 {
        match self {
            SyncookieMode::Never => 0,
            SyncookieMode::OnOverflow => 1,
            SyncookieMode::Always => 2,
        }
    }

    /// Returns the mode of the sysctl's value (anything above 2 is 2, below 0 is 0).
    pub fn from_sysctl(v: i32) -> SyncookieMode {
        match v {
            i32::MIN..=0 => SyncookieMode::Never,
            1 => SyncookieMode::OnOverflow,
            _ => SyncookieMode::Always,
        }
    }
}

/// What a valid cookie gives back of the SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieData {
    /// The peer's MSS, rounded down to a [`MSS_TABLE`] entry.
    pub mss: u16,
    /// The peer's window scale.
    pub wscale: u8,
    /// Our window scale, as the SYN-ACK announced it.
    pub our_wscale: u8,
}

/// Why a cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// The counter in it is too old (or from the future).
    Expired,
    /// A field is out of range, or the MAC does not match (wrong key,
    /// tuple, ISN, counter or field).
    Invalid,
}

fn counter(now: Instant) -> u32 {
    (now.micros() / COOKIE_PERIOD_US) as u32
}

fn mask(key: &SipKey, tuple: &FourTuple, peer_isn: Seq) -> u32 {
    let t = tuple.to_bytes();
    let s = peer_isn.0.to_be_bytes();
    let mut buf = [0u8; 17];
    buf[0] = HashPurpose::CookieMask as u8;
    for (dst, src) in buf.iter_mut().skip(1).zip(t.iter().chain(s.iter())) {
        *dst = *src;
    }
    siphash24(key, &buf) as u32
}

fn mac(key: &SipKey, tuple: &FourTuple, peer_isn: Seq, count: u32, fields: [u8; 3]) -> u32 {
    let t = tuple.to_bytes();
    let s = peer_isn.0.to_be_bytes();
    let c = count.to_be_bytes();
    let f = fields;
    let mut buf = [0u8; 24];
    buf[0] = HashPurpose::Cookie as u8;
    let fields = t.iter().chain(s.iter()).chain(c.iter()).chain(f.iter());
    for (dst, src) in buf.iter_mut().skip(1).zip(fields) {
        *dst = *src;
    }
    (siphash24(key, &buf) as u32) & MAC_MASK
}

/// Returns the index of the largest [`MSS_TABLE`] entry not above `mss` (0 below the first).
pub fn mss_index(mss: u16) -> u8 {
    let mut idx = 0u8;
    for (i, m) in MSS_TABLE.iter().enumerate() {
        if *m <= mss {
            idx = i as u8;
        }
    }
    idx
}

/// Returns the cookie (our ISN) answering `syn`, a SYN on `tuple` (local
/// = the listener's end), at `now`, with a SYN-ACK that announces window
/// scale `our_wscale`.
pub fn make_cookie(
    key: &SipKey,
    tuple: &FourTuple,
    syn: &Header,
    our_wscale: u8,
    now: Instant,
) -> Seq {
    let count = counter(now);
    let idx = mss_index(syn.mss);
    let ws = syn.wscale.min(MAX_WSCALE);
    let ours = our_wscale.min(MAX_WSCALE);
    let word = ((count & 3) << 30)
        | (u32::from(idx) << 27)
        | (u32::from(ws) << 23)
        | (u32::from(ours) << 19)
        | mac(key, tuple, syn.seq, count, [idx, ws, ours]);
    Seq(word ^ mask(key, tuple, syn.seq))
}

/// Checks the cookie of `ack`, the segment that would complete a handshake on `tuple` at `now`.
///
/// `ack` acknowledges `cookie + 1`, and its sequence number is the peer's
/// ISN + 1 (the handshake's final ACK carries no SYN; data it carries
/// starts there). Returns what the SYN said.
pub fn check_cookie(
    key: &SipKey,
    tuple: &FourTuple,
    ack: &Header,
    now: Instant,
) -> Result<CookieData, CookieError> {
    let peer_isn = ack.seq.wrapping_sub(1);
    let word = ack.ack.wrapping_sub(1).0 ^ mask(key, tuple, peer_isn);
    let now_count = counter(now);
    let age = now_count.wrapping_sub(word >> 30) & 3;
    if age >= MAX_COOKIE_AGE {
        return Err(CookieError::Expired);
    }
    let count = now_count.wrapping_sub(age);
    let idx = ((word >> 27) & 7) as u8;
    let ws = ((word >> 23) & 0xf) as u8;
    let ours = ((word >> 19) & 0xf) as u8;
    if ws > MAX_WSCALE || ours > MAX_WSCALE {
        return Err(CookieError::Invalid);
    }
    if word & MAC_MASK != mac(key, tuple, peer_isn, count, [idx, ws, ours]) {
        return Err(CookieError::Invalid);
    }
    let mss = *MSS_TABLE
        .get(usize::from(idx))
        .ok_or(CookieError::Invalid)?;
    Ok(CookieData {
        mss,
        wscale: ws,
        our_wscale: ours,
    })
}

/// Returns the SYN a valid cookie stands for: what [`super::conn::Connection::accept`] takes.
pub fn syn_of(ack: &Header, data: CookieData) -> Header {
    Header {
        flags: super::wire::Flags::SYN,
        src: ack.src,
        dst: ack.dst,
        seq: ack.seq.wrapping_sub(1),
        ack: Seq(0),
        // The window comes from the ACK, scaled, once the connection sees it.
        window: 0,
        wscale: data.wscale,
        mss: data.mss,
        payload_len: 0,
        urg: Seq(0),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tuple::Endpoint;
    use super::super::wire::Flags;
    use super::*;

    const MIN: u64 = COOKIE_PERIOD_US;

    fn tuple() -> FourTuple {
        FourTuple::new(
            Endpoint::new(0x0a4d_0001, 7000),
            Endpoint::new(0x0a4d_0002, 40000),
        )
    }

    fn syn(seq: u32, mss: u16, wscale: u8) -> Header {
        let t = tuple();
        Header {
            flags: Flags::SYN,
            src: t.remote,
            dst: t.local,
            seq: Seq(seq),
            window: 65535,
            wscale,
            mss,
            ..Header::default()
        }
    }

    /// The final ACK a peer sends for `syn` answered with `cookie`.
    fn ack_for(syn: &Header, cookie: Seq) -> Header {
        Header {
            flags: Flags::ACK,
            src: syn.src,
            dst: syn.dst,
            seq: syn.seq.wrapping_add(1),
            ack: cookie.wrapping_add(1),
            window: 100,
            ..Header::default()
        }
    }

    fn key() -> SipKey {
        SipKey::from_u64(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210)
    }

    #[test]
    fn round_trip_carries_mss_and_wscale() {
        let k = key();
        let now = Instant(5 * MIN + 17);
        for (mss, ws) in [
            (1468, 7),
            (65503, 14),
            (64, 0),
            (1460, 3),
            (9000, 9),
            (10, 1),
        ] {
            let s = syn(1000, mss, ws);
            let c = make_cookie(&k, &tuple(), &s, 5, now);
            let d = check_cookie(&k, &tuple(), &ack_for(&s, c), now).unwrap();
            assert_eq!(d.wscale, ws);
            assert_eq!(d.our_wscale, 5);
            let ours = make_cookie(&k, &tuple(), &s, ws, now);
            let d = check_cookie(&k, &tuple(), &ack_for(&s, ours), now).unwrap();
            assert_eq!(d.our_wscale, ws);
            assert_eq!(d.mss, MSS_TABLE[usize::from(mss_index(mss))]);
            assert!(d.mss <= mss.max(MIN_MSS));
        }
        assert_eq!(mss_index(1468), 4);
        assert_eq!(mss_index(1467), 3);
        assert_eq!(mss_index(0), 0);
        assert_eq!(mss_index(u16::MAX), 7);
    }

    #[test]
    fn wscale_above_max_is_clamped() {
        let k = key();
        let s = syn(5, 1468, 200);
        let c = make_cookie(&k, &tuple(), &s, 5, Instant(0));
        assert_eq!(
            check_cookie(&k, &tuple(), &ack_for(&s, c), Instant(0))
                .unwrap()
                .wscale,
            MAX_WSCALE
        );
    }

    #[test]
    fn wrong_key_tuple_or_isn_fails() {
        let k = key();
        let s = syn(1000, 1468, 7);
        let now = Instant(MIN);
        let c = make_cookie(&k, &tuple(), &s, 5, now);
        let a = ack_for(&s, c);
        assert!(check_cookie(&k, &tuple(), &a, now).is_ok());
        assert!(check_cookie(&SipKey::from_u64(1, 2), &tuple(), &a, now).is_err());
        let mut other = tuple();
        other.remote.port = 40001;
        assert!(check_cookie(&k, &other, &a, now).is_err());
        let mut b = a;
        b.seq = b.seq.wrapping_add(1);
        assert!(check_cookie(&k, &tuple(), &b, now).is_err());
        let mut b = a;
        b.ack = b.ack.wrapping_add(1);
        assert!(check_cookie(&k, &tuple(), &b, now).is_err());
    }

    #[test]
    fn validity_window() {
        let k = key();
        let s = syn(77, 1468, 7);
        let made = Instant(10 * MIN + MIN / 2);
        let c = make_cookie(&k, &tuple(), &s, 5, made);
        let a = ack_for(&s, c);
        // Same minute and the next: valid (at least 60 s, at most 120 s).
        assert!(check_cookie(&k, &tuple(), &a, made).is_ok());
        assert!(check_cookie(&k, &tuple(), &a, Instant(11 * MIN + MIN - 1)).is_ok());
        // Two minutes on: expired by the counter bits.
        assert_eq!(
            check_cookie(&k, &tuple(), &a, Instant(12 * MIN)),
            Err(CookieError::Expired)
        );
        assert_eq!(
            check_cookie(&k, &tuple(), &a, Instant(13 * MIN)),
            Err(CookieError::Expired)
        );
        // Four minutes on, the 2-bit counter looks current: the MAC covers the full counter.
        assert_eq!(
            check_cookie(&k, &tuple(), &a, Instant(14 * MIN)),
            Err(CookieError::Invalid)
        );
        assert_eq!(
            check_cookie(&k, &tuple(), &a, Instant(15 * MIN)),
            Err(CookieError::Invalid)
        );
        // From the future (clock went back a minute): 3 ticks "old" mod 4.
        assert_eq!(
            check_cookie(&k, &tuple(), &a, Instant(9 * MIN)),
            Err(CookieError::Expired)
        );
    }

    #[test]
    fn tampered_fields_fail() {
        let k = key();
        let s = syn(1000, 1468, 7);
        let now = Instant(3 * MIN);
        let c = make_cookie(&k, &tuple(), &s, 5, now);
        let m = mask(&k, &tuple(), s.seq);
        let word = c.0 ^ m;
        // Each MSS index, window scale and counter other than the real one.
        for bit in 19..32 {
            let forged = Seq((word ^ (1 << bit)) ^ m);
            assert!(
                check_cookie(&k, &tuple(), &ack_for(&s, forged), now).is_err(),
                "bit {bit}"
            );
        }
        for idx in 0..8u32 {
            let w = (word & !(7 << 27)) | (idx << 27);
            let r = check_cookie(&k, &tuple(), &ack_for(&s, Seq(w ^ m)), now);
            assert_eq!(r.is_ok(), idx == 4, "index {idx}");
        }
        // A window scale of 15, the peer's or ours, is refused before the MAC.
        for shift in [23, 19] {
            let w = word | (0xf << shift);
            assert_eq!(
                check_cookie(&k, &tuple(), &ack_for(&s, Seq(w ^ m)), now),
                Err(CookieError::Invalid)
            );
        }
        // Any MAC bit.
        for bit in 0..19 {
            let forged = Seq((word ^ (1 << bit)) ^ m);
            assert_eq!(
                check_cookie(&k, &tuple(), &ack_for(&s, forged), now),
                Err(CookieError::Invalid)
            );
        }
    }

    #[test]
    fn wrapped_sequence_numbers() {
        let k = key();
        let now = Instant(7 * MIN);
        // The peer's ISN at the top: its ACK's sequence number wraps to 0.
        let s = syn(u32::MAX, 1468, 7);
        let c = make_cookie(&k, &tuple(), &s, 5, now);
        let a = ack_for(&s, c);
        assert_eq!(a.seq, Seq(0));
        assert!(check_cookie(&k, &tuple(), &a, now).is_ok());
        // A cookie of 0xffffffff: the ACK acknowledges 0. Find a peer ISN
        // whose valid cookie is that (one in about 2^19), and a time whose
        // counter matches its counter bits.
        let mut found = false;
        for isn in 0..(1u32 << 24) {
            let word = !mask(&k, &tuple(), Seq(isn));
            let (idx, ws, ours) = (
                ((word >> 27) & 7) as u8,
                ((word >> 23) & 0xf) as u8,
                ((word >> 19) & 0xf) as u8,
            );
            let count = 100 + (word >> 30);
            if ws > MAX_WSCALE
                || ours > MAX_WSCALE
                || mac(&k, &tuple(), Seq(isn), count, [idx, ws, ours]) != word & MAC_MASK
            {
                continue;
            }
            let at = Instant(u64::from(count) * MIN + 5);
            let s = syn(isn, MSS_TABLE[usize::from(idx)], ws);
            assert_eq!(make_cookie(&k, &tuple(), &s, ours, at), Seq(u32::MAX));
            let a = ack_for(&s, Seq(u32::MAX));
            assert_eq!(a.ack, Seq(0));
            assert_eq!(
                check_cookie(&k, &tuple(), &a, at),
                Ok(CookieData {
                    mss: s.mss,
                    wscale: ws,
                    our_wscale: ours,
                })
            );
            found = true;
            break;
        }
        assert!(found);
        assert_eq!(
            syn_of(
                &a,
                CookieData {
                    mss: 1468,
                    wscale: 7,
                    our_wscale: 0,
                }
            )
            .seq,
            Seq(u32::MAX)
        );
    }

    #[test]
    fn random_acks_rarely_pass() {
        // 2^20 forged ACKs with random ack numbers for one tuple and ISN:
        // about 2^20 * 2/4 * (15/16)^2 * 2^-19 = 0.9 expected to pass;
        // allow a few.
        let k = key();
        let now = Instant(20 * MIN);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut passed = 0;
        for _ in 0..(1 << 20) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = Header {
                flags: Flags::ACK,
                src: tuple().remote,
                dst: tuple().local,
                seq: Seq(1001),
                ack: Seq(x as u32),
                ..Header::default()
            };
            if check_cookie(&k, &tuple(), &a, now).is_ok() {
                passed += 1;
            }
        }
        assert!(passed <= 3, "{passed} forged cookies passed");
    }

    #[test]
    fn cookie_connection_completes_on_the_ack() {
        use super::super::conn::{rcv_wscale_for, Config, Connection, Events};
        use super::super::state::State;
        let k = key();
        let now = Instant(2 * MIN);
        let cfg = Config::new(1468);
        let s = syn(1000, 1468, 7);
        let ws = rcv_wscale_for(&cfg);
        let c = make_cookie(&k, &tuple(), &s, ws, now);
        let synack = Connection::cookie_syn_ack(cfg, tuple(), c, &s, ws, now).unwrap();
        assert!(synack.flags.syn() && synack.flags.ack());
        assert_eq!((synack.seq, synack.ack), (c, Seq(1001)));
        assert_eq!((synack.src, synack.dst), (tuple().local, tuple().remote));
        // The ACK, a second later, with data.
        let later = Instant(now.micros() + 1_000_000);
        let mut ack = ack_for(&s, c);
        ack.payload_len = 10;
        let d = check_cookie(&k, &tuple(), &ack, later).unwrap();
        let mut conn =
            Connection::from_cookie(cfg, tuple(), c, &syn_of(&ack, d), d.our_wscale, later)
                .unwrap();
        assert_eq!(conn.state(), State::SynRecv);
        // Nothing to send: the SYN-ACK went out statelessly.
        assert!(conn.poll_transmit(later).is_none());
        let out = conn.on_segment(&ack, later);
        assert_eq!(conn.state(), State::Established);
        assert!(out.events.contains(Events::CONNECTED));
        assert_eq!(conn.send_mss(), u32::from(cfg.mss.min(1468)));
        assert_eq!(conn.send_window(), 100 << 7);
        assert_eq!(conn.rcv_nxt(), Seq(1011));
        assert_eq!(conn.snd_una(), c.wrapping_add(1));
        // No RTT sample from a handshake whose SYN-ACK time we did not keep.
        assert_eq!(conn.rtt().srtt(), None);
        // A connection that never sees its ACK retransmits its SYN-ACK, as any half-open one.
        let mut lone =
            Connection::from_cookie(cfg, tuple(), c, &syn_of(&ack, d), d.our_wscale, later)
                .unwrap();
        let t = lone.poll_timeout().unwrap();
        lone.on_timeout(t);
        let again = lone.poll_transmit(t).unwrap().header;
        assert!(again.flags.syn() && again.flags.ack() && again.seq == c);
    }

    #[test]
    fn cookie_connection_keeps_the_announced_window_scale() {
        // The listener's buffer grows between the SYN-ACK (1 MiB: scale
        // 5) and the ACK (8 MiB: scale 8): the connection must scale its
        // windows as the SYN-ACK announced, or the peer reads every window
        // field 8 times too small (or, the other way, too large).
        use super::super::conn::{rcv_wscale_for, Config, Connection};
        let k = key();
        let now = Instant(2 * MIN);
        let mut before = Config::new(1468);
        before.recv_buf = 1 << 20;
        let mut after = before;
        after.recv_buf = 8 << 20;
        let s = syn(1000, 1468, 7);
        let ws = rcv_wscale_for(&before);
        let c = make_cookie(&k, &tuple(), &s, ws, now);
        let synack = Connection::cookie_syn_ack(before, tuple(), c, &s, ws, now).unwrap();
        assert_eq!((synack.wscale, rcv_wscale_for(&after)), (5, 8));
        let ack = ack_for(&s, c);
        let d = check_cookie(&k, &tuple(), &ack, now).unwrap();
        let conn = Connection::from_cookie(after, tuple(), c, &syn_of(&ack, d), d.our_wscale, now)
            .unwrap();
        assert_eq!(conn.recv_wscale(), synack.wscale);
    }

    #[test]
    fn mode_from_sysctl() {
        assert_eq!(SyncookieMode::from_sysctl(0), SyncookieMode::Never);
        assert_eq!(SyncookieMode::from_sysctl(-3), SyncookieMode::Never);
        assert_eq!(SyncookieMode::from_sysctl(1), SyncookieMode::OnOverflow);
        assert_eq!(SyncookieMode::from_sysctl(2), SyncookieMode::Always);
    }
}
