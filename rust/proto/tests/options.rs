//! The protocol options that change a connection's behaviour: the cork
//! and `MSG_MORE` (`TCP_CORK`), the user timeout (`TCP_USER_TIMEOUT`),
//! quick ACKs (`TCP_QUICKACK`) and `TCP_INFO`'s numbers.

mod support;

use afc_proto::conn::ConnError;
use afc_proto::state::State;
use afc_proto::time::{Instant, MS, SEC};
use afc_proto::wire::Header;
use support::endpoint::Endpoint;
use support::pair::*;

fn data_segs(frames: &[(Header, Vec<u8>)]) -> Vec<(Header, Vec<u8>)> {
    frames
        .iter()
        .filter(|(h, _)| h.payload_len > 0)
        .cloned()
        .collect()
}

#[test]
fn cork_holds_partial_segments_until_uncorked() {
    let mut c = cfg();
    c.rto_min_us = 20 * MS;
    c.rto_initial_us = 20 * MS;
    let (mut a, mut b) = established_with(c, cfg(), afc_proto::seq::Seq(0x1000));
    // No-delay would send each write at once; the cork wins.
    a.conn.set_nodelay(true);
    a.conn.set_cork(true);
    for _ in 0..10 {
        a.write(&[7u8; 10]).unwrap();
        assert!(
            data_segs(&out(&mut a, t0())).is_empty(),
            "held under the cork"
        );
    }
    // Only the persist timer lets them go, after TCP's 200 ms ceiling
    // even when the RTO is shorter (20 ms on the link).
    assert_eq!(a.conn.poll_timeout().unwrap().since(t0()), 200 * MS);
    // A full segment goes at once, its tail stays.
    a.write(&[8u8; 1000]).unwrap();
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.payload_len, 1000);
    feed(&mut b, &segs, t0());
    feed(&mut a, &out(&mut b, t0()), t0());
    assert!(data_segs(&out(&mut a, t0())).is_empty(), "100 bytes held");
    a.conn.set_cork(false);
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 1, "uncorking flushes the tail in one segment");
    assert_eq!(segs[0].0.payload_len, 100);
}

#[test]
fn cork_lets_the_fin_carry_the_tail() {
    let (mut a, _b) = established();
    a.conn.set_cork(true);
    a.write(b"tail").unwrap();
    assert!(out(&mut a, t0()).is_empty());
    a.conn.shutdown_write();
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.payload_len, 4);
    assert!(segs[0].0.flags.fin());
}

#[test]
fn msg_more_holds_until_a_write_without_it() {
    let (mut a, _b) = established();
    a.conn.set_nodelay(true);
    a.conn.set_more(true);
    a.write(b"head ").unwrap();
    assert!(data_segs(&out(&mut a, t0())).is_empty());
    a.conn.set_more(false);
    a.write(b"body").unwrap();
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.payload_len, 9);
}

#[test]
fn user_timeout_aborts_unacknowledged_data_in_time() {
    let (mut a, _b) = established();
    a.conn.set_nodelay(true);
    a.conn.set_user_timeout(3 * SEC);
    a.write(b"lost").unwrap();
    let mut now = t0();
    assert_eq!(data_segs(&out(&mut a, now)).len(), 1);
    while a.state() != State::Closed {
        now = a.conn.poll_timeout().expect("timer");
        a.on_timeout(now);
        out(&mut a, now);
        assert!(now.since(t0()) <= 3 * SEC, "no later than the user timeout");
    }
    assert_eq!(a.conn.error(), Some(ConnError::TimedOut));
    // Exactly at the user timeout (the RTO is clamped to it), far before
    // the 15 retries' minutes.
    assert_eq!(now.since(t0()), 3 * SEC);
}

#[test]
fn user_timeout_bounds_connect() {
    let mut a = client();
    a.conn.set_user_timeout(2500 * MS);
    let mut now = t0();
    out(&mut a, now);
    while a.state() != State::Closed {
        now = a.conn.poll_timeout().expect("timer");
        a.on_timeout(now);
        out(&mut a, now);
    }
    assert_eq!(a.conn.error(), Some(ConnError::TimedOut));
    assert_eq!(now.since(t0()), 2500 * MS);
}

#[test]
fn user_timeout_restarts_when_data_is_acknowledged() {
    let (mut a, mut b) = established();
    a.conn.set_nodelay(true);
    a.conn.set_user_timeout(SEC);
    a.write(b"one").unwrap();
    let segs = out(&mut a, t0());
    // A timeout, then the peer answers the retransmission.
    let t1 = a.conn.poll_timeout().unwrap();
    a.on_timeout(t1);
    let re = out(&mut a, t1);
    assert_eq!(data_segs(&re).len(), 1);
    feed(&mut b, &segs, t1);
    feed(&mut a, &out(&mut b, t1), t1);
    assert_eq!(a.state(), State::Established);
    // New data later gets its own full second.
    let t2 = t1.after(10 * SEC);
    a.write(b"two").unwrap();
    out(&mut a, t2);
    let mut now = t2;
    while a.state() != State::Closed {
        now = a.conn.poll_timeout().unwrap();
        a.on_timeout(now);
        out(&mut a, now);
    }
    assert_eq!(now.since(t2), SEC);
}

#[test]
fn quickack_sends_an_owed_ack_now() {
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    let (mut a, mut b) = established_with(cfg(), c, afc_proto::seq::Seq(0x1000));
    a.conn.set_nodelay(true);
    a.write(b"x").unwrap();
    feed(&mut b, &out(&mut a, t0()), t0());
    // One segment: its ACK is delayed.
    assert!(out(&mut b, t0()).is_empty());
    assert!(b.conn.quickack());
    let acks = out(&mut b, t0());
    assert_eq!(acks.len(), 1);
    assert!(acks[0].0.flags.ack());
    // Nothing owed: nothing to send.
    assert!(!b.conn.quickack());
}

#[test]
fn info_reports_the_connection() {
    let (mut a, mut b) = established();
    a.conn.set_nodelay(true);
    a.write(&[1u8; 2500]).unwrap();
    let segs = out(&mut a, t0());
    let i = a.conn.info(t0());
    assert_eq!(i.state, State::Established.as_u8());
    assert_eq!(i.snd_mss, 1000);
    assert_eq!(i.unacked, 3);
    assert_eq!(i.notsent_bytes, 0);
    assert!(i.snd_cwnd >= 3);
    feed(&mut b, &segs, t0());
    feed(&mut a, &out(&mut b, t0()), t0());
    assert_eq!(a.conn.info(t0()).unacked, 0);
    assert!(a.conn.info(t0()).segs_out >= 4);
}

#[test]
fn proc_row_names_the_timer_as_tcp_does() {
    use afc_proto::conn::Keepalive;
    use afc_proto::opts::ProcRow;

    let (mut a, mut b) = established();
    let r = a.conn.proc_row();
    assert_eq!((r.timer, r.timer_at), (ProcRow::TIMER_NONE, None));
    assert_eq!((r.retransmits, r.probes), (0, 0));
    assert_eq!(r.cwnd(), 10, "the initial window, in segments");
    assert_eq!(r.ssthresh(), -1, "initial slow start");
    assert_eq!(r.rto_us, u64::from(a.conn.info(t0()).rto_us));
    // Data in flight: the retransmission timer, at the core's deadline.
    a.conn.set_nodelay(true);
    a.write(&[1u8; 100]).unwrap();
    let segs = out(&mut a, t0());
    let r = a.conn.proc_row();
    assert_eq!(r.timer, ProcRow::TIMER_RETRANS);
    assert_eq!(r.timer_at, a.conn.poll_timeout());
    // A timeout: one retransmission counted, the RTO backed off.
    let at = r.timer_at.unwrap();
    a.conn.on_timeout(at);
    let again = out(&mut a, at);
    let r2 = a.conn.proc_row();
    assert_eq!(r2.retransmits, 1);
    assert_eq!(r2.rto_us, 2 * r.rto_us);
    assert!(r2.ssthresh() >= 2, "a timeout ends the initial slow start");
    // Acknowledged, with keepalive on: the keepalive timer.
    a.conn.set_keepalive(Some(Keepalive::linux_default()));
    feed(&mut b, &segs, at);
    feed(&mut b, &again, at);
    feed(&mut a, &out(&mut b, at), at);
    let r = a.conn.proc_row();
    assert_eq!(r.timer, ProcRow::TIMER_KEEPALIVE);
    assert_eq!(r.retransmits, 0);
    // The side that closes first ends in TIME_WAIT.
    a.conn.set_keepalive(None);
    assert_eq!(b.read(1000).len(), 100);
    a.conn.close(at);
    pump(&mut a, &mut b, at);
    b.conn.close(at);
    pump(&mut a, &mut b, at);
    assert_eq!(a.state(), State::TimeWait);
    let r = a.conn.proc_row();
    assert_eq!(r.timer, ProcRow::TIMER_TIME_WAIT);
    assert_eq!(r.timer_at, a.conn.poll_timeout());
    let idle = ProcRow::idle(SEC, 10);
    assert_eq!(
        (idle.timer, idle.cwnd(), idle.ssthresh(), idle.rto_us),
        (0, 10, -1, SEC)
    );
}

/// The server side with delayed ACKs (40 ms) and a client with no-delay;
/// `b` has not answered anything yet.
fn delayed_pair() -> (Endpoint, Endpoint) {
    let mut c = cfg();
    c.ack_delay_us = 40 * MS;
    let (mut a, b) = established_with(cfg(), c, afc_proto::seq::Seq(0x1000));
    a.conn.set_nodelay(true);
    (a, b)
}

/// `a` sends one byte at `at`; returns what `b` sends at once.
fn request(a: &mut Endpoint, b: &mut Endpoint, at: Instant) -> Vec<(Header, Vec<u8>)> {
    a.write(b"q").unwrap();
    let q = out(a, at);
    assert_eq!(data_segs(&q).len(), 1);
    feed(b, &q, at);
    out(b, at)
}

/// As TCP's `tcp_event_data_recv`: data that comes after a silence
/// longer than the RTO is acknowledged at once, not after the
/// delayed-ACK time (a server of mostly idle connections would run a
/// timer for each request it does not answer at once); data within the
/// RTO of the last still waits.
#[test]
fn data_after_a_silence_is_acknowledged_at_once() {
    let (mut a, mut b) = delayed_pair();
    let t1 = t0().after(10 * MS);
    assert!(request(&mut a, &mut b, t1).is_empty(), "delayed");
    let at = b.conn.poll_timeout().expect("delayed-ACK timer");
    assert_eq!(at.since(t1), 40 * MS);
    b.on_timeout(at);
    assert_eq!(out(&mut b, at).len(), 1);
    // Well past the RTO (at most 1 s before an RTT sample).
    let t2 = at.after(2 * SEC);
    let ack = request(&mut a, &mut b, t2);
    assert_eq!(ack.len(), 1, "acknowledged at once");
    assert_eq!(ack[0].0.payload_len, 0);
    assert!(b.conn.poll_timeout().is_none_or(|t| t.since(t2) > 40 * MS));
    // The next request, soon after: delayed again... unless quick ACKs
    // are left, at most 16 of them.
    let mut t = t2;
    let mut quick = 0;
    loop {
        t = t.after(MS);
        if request(&mut a, &mut b, t).is_empty() {
            break;
        }
        quick += 1;
        assert!(quick < 16, "quick ACKs never run out");
    }
}

/// As TCP's ping-pong mode: a connection that answers within the
/// delayed-ACK time of what it received is interactive, and data after
/// a silence waits for the answer that carries its acknowledgement (one
/// frame, not two); once the delayed-ACK timer had to send one, it is
/// not interactive any more (`tcp_delack_timer_handler`).
#[test]
fn an_interactive_connection_leaves_the_ack_to_its_answer() {
    let (mut a, mut b) = delayed_pair();
    assert!(b.conn.quickack_mode());
    let t1 = t0().after(10 * MS);
    assert!(request(&mut a, &mut b, t1).is_empty());
    b.write(b"answer").unwrap();
    let ans = out(&mut b, t1.after(MS));
    assert_eq!(ans.len(), 1, "the answer carries the ACK");
    assert!(!b.conn.quickack_mode(), "interactive");
    feed(&mut a, &ans, t1.after(MS));
    feed(&mut b, &out(&mut a, t1.after(MS)), t1.after(MS));
    // After a silence: still left to the answer.
    let t2 = t1.after(2 * SEC);
    assert!(request(&mut a, &mut b, t2).is_empty());
    b.write(b"answer").unwrap();
    let ans = out(&mut b, t2.after(MS));
    assert_eq!(ans.len(), 1);
    assert_eq!(ans[0].0.payload_len, 6);
    feed(&mut a, &ans, t2.after(MS));
    feed(&mut b, &out(&mut a, t2.after(MS)), t2.after(MS));
    // No answer this time: the timer acknowledges, and the mode ends.
    let t3 = t2.after(2 * SEC);
    assert!(request(&mut a, &mut b, t3).is_empty());
    let at = b.conn.poll_timeout().expect("delayed-ACK timer");
    b.on_timeout(at);
    assert_eq!(out(&mut b, at).len(), 1);
    assert!(b.conn.quickack_mode());
    let t4 = at.after(2 * SEC);
    assert_eq!(request(&mut a, &mut b, t4).len(), 1, "at once again");
}

/// `TCP_QUICKACK` sets the mode as `__tcp_sock_set_quickack`: 0 enters
/// the interactive mode, 1 leaves it, and an even nonzero value sends the
/// ACK owed and goes back to it (only if one was owed).
#[test]
fn quickack_option_sets_the_interactive_mode() {
    let (mut a, mut b) = delayed_pair();
    assert!(!b.conn.set_quickack(0));
    assert!(!b.conn.quickack_mode());
    // Interactive: even after a silence, the ACK waits.
    let t1 = t0().after(2 * SEC);
    assert!(request(&mut a, &mut b, t1).is_empty());
    assert!(b.conn.set_quickack(2), "the owed ACK is due");
    assert_eq!(out(&mut b, t1).len(), 1);
    assert!(!b.conn.quickack_mode(), "back to interactive");
    assert!(!b.conn.set_quickack(2), "nothing owed");
    assert!(
        b.conn.quickack_mode(),
        "an even value with nothing owed leaves it"
    );
    assert!(!b.conn.set_quickack(0));
    assert!(!b.conn.set_quickack(1));
    assert!(b.conn.quickack_mode());
}
