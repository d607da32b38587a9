//! Orphans (connections whose socket was closed) give up on a peer that
//! keeps them alive: after `orphan_retries` window probes or retransmissions
//! whatever the answers, as Linux kills dead sockets after
//! `tcp_orphan_retries` (`tcp_probe_timer`, `tcp_write_timeout`); and in
//! FIN_WAIT_2 after `fin_timeout` (`tcp_fin_timeout`).

mod support;

use afc_proto::conn::{Config, ConnError, Events};
use afc_proto::seq::Seq;
use afc_proto::state::State;
use afc_proto::time::{Instant, SEC};
use support::endpoint::Endpoint;
use support::pair::*;

/// A server `a` with 20000 bytes queued toward a client `b` whose window
/// closed after 1000 bytes and which never reads.
fn zero_window_pair(orphan_retries: u8) -> (Endpoint, Endpoint) {
    let mut a_cfg = cfg();
    a_cfg.orphan_retries = orphan_retries;
    let mut b_cfg = cfg();
    b_cfg.recv_buf = 1000;
    let (mut a, mut b) = established_with(a_cfg, b_cfg, Seq(0x4242));
    a.write(&[7u8; 20000]).unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(a.conn.send_window(), 0);
    assert!(a.conn.unsent() > 0);
    (a, b)
}

/// Runs `a`'s timers, delivering everything between `a` and `b` (the
/// client answers every probe, reads nothing), until `a` is CLOSED or
/// `rounds` timer expiries passed. Returns the expiries that ran, the
/// time the last ran, and the events of `a`.
fn run(a: &mut Endpoint, b: &mut Endpoint, rounds: usize) -> (usize, Instant, Events) {
    let mut now = t0();
    let mut ev = Events::NONE;
    for i in 0..rounds {
        let Some(d) = a.conn.poll_timeout() else {
            return (i, now, ev);
        };
        now = d;
        ev.insert(a.on_timeout(now));
        let to_b = out(a, now);
        feed(b, &to_b, now);
        let to_a = out(b, now);
        ev.insert(feed(a, &to_a, now));
        if a.state() == State::Closed {
            return (i + 1, now, ev);
        }
    }
    (rounds, now, ev)
}

#[test]
fn zero_window_orphan_is_reset_after_orphan_retries_probes() {
    let (mut a, mut b) = zero_window_pair(3);
    let una = a.conn.snd_una();
    a.conn.close(t0());
    assert!(a.conn.is_orphaned());
    let (rounds, when, ev) = run(&mut a, &mut b, 200);
    assert_eq!(
        a.state(),
        State::Closed,
        "still {:?} after {rounds} expiries",
        a.state()
    );
    // Three probes go out; the fourth expiry gives up.
    assert_eq!(a.conn.stats().window_probes, 3);
    assert_eq!(rounds, 4);
    assert!(ev.contains(Events::CLOSED));
    assert_eq!(a.conn.error(), Some(ConnError::TimedOut));
    assert_eq!(a.conn.stats().abort_on_timeout, 1);
    // The client, alive, hears about it: RST, and it is reset.
    assert_eq!(b.state(), State::Closed);
    assert!(b.events.contains(Events::RESET));
    // Nothing was acknowledged past the first window.
    assert_eq!(a.conn.snd_una(), una);
    // Bounded in time: the persist backoff from a 1 s RTO, 1+2+4+8 s.
    assert!(when.since(t0()) <= 16 * SEC, "{} us", when.since(t0()));
}

#[test]
fn zero_orphan_retries_means_eight() {
    let (mut a, mut b) = zero_window_pair(0);
    a.conn.close(t0());
    let (rounds, _, _) = run(&mut a, &mut b, 200);
    assert_eq!(a.state(), State::Closed);
    assert_eq!(a.conn.stats().window_probes, 8);
    assert_eq!(rounds, 9);
}

#[test]
fn zero_window_non_orphan_keeps_probing() {
    let (mut a, mut b) = zero_window_pair(3);
    let (rounds, when, _) = run(&mut a, &mut b, 200);
    assert_eq!(rounds, 200);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.conn.stats().window_probes, 200);
    assert!(when.since(t0()) > 3600 * SEC);
}

#[test]
fn orphan_stops_retransmitting_after_orphan_retries() {
    // The peer vanished (nothing is delivered): an orphan gives up after
    // orphan_retries retransmissions, not after data_retries.
    let mut a_cfg = cfg();
    a_cfg.orphan_retries = 2;
    let (mut a, _b) = established_with(a_cfg, cfg(), Seq(0x77));
    a.write(&[1u8; 3000]).unwrap();
    let _lost = out(&mut a, t0());
    a.conn.close(t0());
    let _lost = out(&mut a, t0());
    assert_eq!(a.state(), State::FinWait1);
    let mut expiries = 0;
    while let Some(d) = a.conn.poll_timeout() {
        a.on_timeout(d);
        let _lost = out(&mut a, d);
        expiries += 1;
        assert!(expiries < 50, "never gave up");
    }
    assert_eq!(a.state(), State::Closed);
    assert_eq!(
        expiries, 3,
        "two retransmissions, then the third expiry gives up"
    );
    assert_eq!(a.conn.stats().timeouts, 2);
    assert_eq!(a.conn.error(), Some(ConnError::TimedOut));
}

#[test]
fn non_orphan_retransmits_data_retries_times() {
    let mut a_cfg = cfg();
    a_cfg.orphan_retries = 2;
    a_cfg.data_retries = 5;
    let (mut a, _b) = established_with(a_cfg, cfg(), Seq(0x78));
    a.write(&[1u8; 3000]).unwrap();
    let _lost = out(&mut a, t0());
    let mut expiries = 0;
    while let Some(d) = a.conn.poll_timeout() {
        a.on_timeout(d);
        let _lost = out(&mut a, d);
        expiries += 1;
        assert!(expiries < 50, "never gave up");
    }
    assert_eq!(expiries, 6);
    assert_eq!(a.conn.stats().timeouts, 5);
}

#[test]
fn config_default_orphan_retries_is_linux_default() {
    assert_eq!(Config::new(1000).orphan_retries, 0);
}

/// `net.af_custom.fin_timeout` (`tcp_fin_timeout`) sets the orphan's
/// wait, never below 3.5 RTOs (`tcp_fin_time`); both for an orphan made in
/// FIN_WAIT_2 and for one that gets there.
#[test]
fn fin_timeout_sets_the_orphan_wait_with_a_floor_of_three_and_a_half_rtos() {
    for (setting, shut_first) in [
        (2_000_000u64, true),
        (2_000_000, false),
        (1, true),
        (1, false),
    ] {
        let (mut a, mut b) = established();
        a.conn.set_fin_timeout(setting);
        if shut_first {
            // In FIN_WAIT_2 before close(): the timer starts at close().
            a.conn.shutdown_write();
            pump(&mut a, &mut b, t0());
            assert_eq!(a.state(), State::FinWait2);
            assert_eq!(
                a.conn.poll_timeout(),
                None,
                "no FIN_WAIT_2 timer before close()"
            );
            a.conn.close(t0());
        } else {
            a.conn.close(t0());
            pump(&mut a, &mut b, t0());
            assert_eq!(a.state(), State::FinWait2);
        }
        let rto = u64::from(a.conn.info(t0()).rto_us);
        assert!(rto > 0);
        let want = setting.max(rto * 4 - rto / 2);
        let d = a.conn.poll_timeout().expect("orphan FIN_WAIT_2 timer");
        assert_eq!(
            d.since(t0()),
            want,
            "setting {setting} us, shut first {shut_first}"
        );
        assert!(!a.on_timeout(t0().after(want - 1)).contains(Events::CLOSED));
        assert!(a.on_timeout(d).contains(Events::CLOSED));
        assert_eq!(a.state(), State::Closed);
    }
}

/// An abort's RST carries a sequence number the peer accepts, as TCP's
/// `tcp_acceptable_seq`: when the peer dropped data for want of memory
/// and shrank its window to zero, `snd_max` lies past its window and an
/// RST there would be ignored, leaving the peer's connection open for
/// ever (the orphan reset for want of memory, memory.c).
#[test]
fn abort_rst_lands_in_a_window_the_peer_shrank() {
    let mut small = cfg();
    small.recv_buf = 2000;
    let (mut a, mut b) = established_with(cfg(), small, Seq(1));
    a.write(&vec![5u8; 4000]).unwrap();
    let segs = out(&mut a, t0());
    assert!(segs.len() >= 2);
    // The first segment is taken; the next is dropped for want of memory.
    b.deliver(&segs[0].0, &segs[0].1, t0());
    b.conn.on_segment_without_room(&segs[1].0, t0());
    let acks = out(&mut b, t0());
    feed(&mut a, &acks, t0());
    a.conn.abort();
    let rst = out(&mut a, t0());
    assert!(rst.iter().any(|(h, _)| h.flags.rst()), "no RST");
    feed(&mut b, &rst, t0());
    assert_eq!(b.state(), State::Closed, "the RST was not accepted");
    assert_eq!(b.conn.error(), Some(ConnError::Reset));
}
