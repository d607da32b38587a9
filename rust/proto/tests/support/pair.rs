//! Two endpoints wired back to back, for tests that deliver frames by hand.

use super::endpoint::Endpoint;
use afc_proto::conn::{Config, Connection, Events};
use afc_proto::isn::initial_seq;
use afc_proto::seq::Seq;
use afc_proto::siphash::SipKey;
use afc_proto::state::State;
use afc_proto::time::{Instant, SEC};
use afc_proto::tuple::{Endpoint as Addr, FourTuple};
use afc_proto::wire::{ChecksumPolicy, Flags, Header};

/// The client's address.
pub const A: Addr = Addr::new(0x0a00_0001, 40000);
/// The server's address.
pub const B: Addr = Addr::new(0x0a00_0002, 7000);

/// Returns the settings the hand-driven tests use: immediate ACKs, an 8000-byte buffer.
pub fn cfg() -> Config {
    let mut c = Config::new(1000);
    c.ack_delay_us = 0;
    c.recv_buf = 8000;
    c
}

/// Returns the starting time of hand-driven tests.
pub fn t0() -> Instant {
    Instant(10 * SEC)
}

/// Drains and decodes everything `ep` wants to send.
pub fn out(ep: &mut Endpoint, now: Instant) -> Vec<(Header, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some(f) = ep.transmit(now) {
        let (h, p) = Header::parse(&f, ChecksumPolicy::Verify).expect("valid frame");
        v.push((h, p.to_vec()));
    }
    v
}

/// Delivers `frames` to `ep`; returns the union of events.
pub fn feed(ep: &mut Endpoint, frames: &[(Header, Vec<u8>)], now: Instant) -> Events {
    let mut ev = Events::NONE;
    for (h, p) in frames {
        ev.insert(ep.deliver(h, p, now));
    }
    ev
}

/// Exchanges frames between `a` and `b` until both are quiet.
pub fn pump(a: &mut Endpoint, b: &mut Endpoint, now: Instant) {
    for _ in 0..100 {
        let fa = out(a, now);
        let fb = out(b, now);
        if fa.is_empty() && fb.is_empty() {
            return;
        }
        feed(b, &fa, now);
        feed(a, &fb, now);
    }
    panic!("endpoints never went quiet");
}

/// Returns a client in SYN_SENT.
pub fn client() -> Endpoint {
    let t = FourTuple::new(A, B);
    Endpoint::connect(
        cfg(),
        t,
        initial_seq(&SipKey::from_u64(1, 2), &t, t0()),
        t0(),
    )
}

/// Returns the server side created from the client's SYN.
pub fn server_from(syn: &Header) -> Endpoint {
    let t = FourTuple::new(B, A);
    let iss = initial_seq(&SipKey::from_u64(3, 4), &t, t0());
    let c = Connection::accept(cfg(), t, iss, syn, t0()).expect("SYN accepted");
    Endpoint::new(c, 1 << 20, false)
}

/// Returns a client and server with the handshake done.
pub fn established() -> (Endpoint, Endpoint) {
    established_with(cfg(), cfg(), Seq(0x1000))
}

/// Returns an established pair with the given settings and client ISN.
pub fn established_with(ca: Config, cb: Config, iss: Seq) -> (Endpoint, Endpoint) {
    let mut a = Endpoint::new(
        Connection::connect(ca, FourTuple::new(A, B), iss, t0()),
        1 << 20,
        false,
    );
    let syn = out(&mut a, t0());
    let iss_b = initial_seq(&SipKey::from_u64(3, 4), &FourTuple::new(B, A), t0());
    let c = Connection::accept(cb, FourTuple::new(B, A), iss_b, &syn[0].0, t0()).expect("SYN");
    let mut b = Endpoint::new(c, 1 << 20, false);
    pump(&mut a, &mut b, t0());
    assert_eq!(a.state(), State::Established);
    assert_eq!(b.state(), State::Established);
    (a, b)
}

/// Returns a segment from `src` to `dst` with the given fields and a 1000-byte window.
pub fn seg(src: Addr, dst: Addr, flags: Flags, seq: Seq, ack: Seq) -> Header {
    Header {
        flags,
        src,
        dst,
        seq,
        ack,
        window: 1000,
        ..Header::default()
    }
}
