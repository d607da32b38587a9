//! Urgent data (`send(MSG_OOB)`), as TCP has it: the pointer on the
//! wire, the receiver's mark, reads that stop at it, superseding, and the
//! pointer reaching a receiver whose window is shut.

mod support;

use afc_proto::conn::Events;
use afc_proto::seq::Seq;
use afc_proto::time::MS;
use afc_proto::urgent::{ReadLimit, Urgent, UrgentRecvError};
use afc_proto::wire::{Flags, Header};
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
fn urgent_byte_is_read_out_of_band_and_skipped_by_reads() {
    let (mut a, mut b) = established();
    a.write(b"hello").unwrap();
    pump(&mut a, &mut b, t0());
    a.write_urgent(b"!").unwrap();
    let segs = out(&mut a, t0());
    assert_eq!(segs.len(), 1);
    let (h, p) = &segs[0];
    assert!(h.flags.urg());
    assert_eq!(p, b"!");
    // The pointer is one past the urgent byte.
    assert_eq!(h.urg, h.seq.wrapping_add(1));
    let ev = feed(&mut b, &segs, t0());
    assert!(ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
    assert_eq!(b.conn.urgent_offset(), 5);
    // The read stops at the mark; the byte is not counted as data to read.
    assert_eq!(b.conn.inq(), 5);
    assert!(!b.conn.at_mark());
    assert_eq!(b.read(100), b"hello");
    assert!(b.conn.at_mark());
    assert!(b.conn.at_mark_out_of_band());
    assert_eq!(b.conn.inq(), 0);
    assert_eq!(b.conn.recv_urgent(true), Ok(b'!'));
    assert_eq!(b.conn.recv_urgent(false), Ok(b'!'));
    assert_eq!(b.conn.recv_urgent(false), Err(UrgentRecvError::Invalid));
    assert_eq!(b.conn.urgent(), Urgent::Read);
    assert!(b.conn.at_mark(), "the mark stays until a read passes it");
    // A read at the mark skips the out-of-band byte.
    feed(&mut a, &out(&mut b, t0()), t0());
    a.write(b"world").unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.read(100), b"world");
    assert_eq!(b.conn.urgent(), Urgent::None);
    assert!(!b.conn.at_mark());
    // Acknowledged: the sender's urgent mode is over, no more URG.
    assert!(!a.conn.urgent_mode());
    a.write(b"more").unwrap();
    let segs = out(&mut a, t0());
    assert!(segs.iter().all(|(h, _)| !h.flags.urg()));
}

#[test]
fn inline_urgent_byte_is_data_and_the_read_stops_at_the_mark() {
    let (mut a, mut b) = established();
    b.conn.set_urgent_inline(true);
    a.write(b"hello").unwrap();
    a.write_urgent(b"!").unwrap();
    a.write(b"world").unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
    assert_eq!(b.conn.recv_urgent(false), Err(UrgentRecvError::Invalid));
    assert_eq!(b.conn.inq(), 11);
    assert_eq!(b.read(100), b"hello");
    assert!(b.conn.at_mark());
    assert!(!b.conn.at_mark_out_of_band());
    assert_eq!(b.read(100), b"!world");
    assert!(!b.conn.at_mark());
    assert_eq!(b.conn.urgent(), Urgent::None);
}

#[test]
fn read_limit_rules() {
    let (mut a, mut b) = established();
    a.write(b"ab").unwrap();
    a.write_urgent(b"c").unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.conn.read_limit(0, false), ReadLimit::Bytes(2));
    assert_eq!(b.conn.read_limit(1, true), ReadLimit::Bytes(1));
    assert_eq!(b.conn.read_limit(2, true), ReadLimit::Stop);
    assert_eq!(b.conn.read_limit(2, false), ReadLimit::Skip);
    assert_eq!(b.conn.read_limit(3, false), ReadLimit::Bytes(u64::MAX));
    b.conn.set_urgent_inline(true);
    assert_eq!(b.conn.read_limit(2, false), ReadLimit::Bytes(u64::MAX));
    assert_eq!(b.conn.read_limit(2, true), ReadLimit::Stop);
}

/// `reads_unbounded` (the module's plain read copies the queue without
/// asking `read_limit`) holds only where `read_limit` would let every
/// byte through: checked at each step of a stream with urgent bytes,
/// out of band and inline, and it does turn false while a mark is ahead.
#[test]
fn reads_unbounded_only_where_no_mark_limits_a_read() {
    fn check(b: &Endpoint, seen_false: &mut bool) {
        let c = &b.conn;
        let from = c.read_offset();
        if !c.reads_unbounded() {
            *seen_false = true;
            return;
        }
        for pos in from..from + u64::from(c.unread()) + 2 {
            for copied in [false, true] {
                assert_eq!(
                    c.read_limit(pos, copied),
                    ReadLimit::Bytes(u64::MAX),
                    "at {pos}"
                );
            }
        }
    }
    for inline in [false, true] {
        let (mut a, mut b) = established();
        b.conn.set_urgent_inline(inline);
        let mut seen_false = false;
        check(&b, &mut seen_false);
        a.write(b"hello").unwrap();
        pump(&mut a, &mut b, t0());
        check(&b, &mut seen_false);
        a.write_urgent(b"!").unwrap();
        a.write(b"world").unwrap();
        pump(&mut a, &mut b, t0());
        check(&b, &mut seen_false);
        assert!(seen_false, "a mark ahead of the reader limits reads");
        for _ in 0..4 {
            b.read(3);
            check(&b, &mut seen_false);
            if !inline && b.conn.at_mark() {
                let _ = b.conn.recv_urgent(false);
                check(&b, &mut seen_false);
            }
        }
        pump(&mut a, &mut b, t0());
        a.write(b"more").unwrap();
        pump(&mut a, &mut b, t0());
        b.read(100);
        check(&b, &mut seen_false);
        assert!(
            b.conn.reads_unbounded(),
            "past the mark, reads are plain again"
        );
    }
}

/// A later urgent byte supersedes an unread one, which then reads as
/// data; the mark is the last one.
#[test]
fn later_urgent_byte_supersedes_an_unread_one() {
    let (mut a, mut b) = established();
    a.write(b"a").unwrap();
    a.write_urgent(b"X").unwrap();
    a.write(b"b").unwrap();
    a.write_urgent(b"Y").unwrap();
    let mut urgents = 0;
    for _ in 0..10 {
        let f = out(&mut a, t0());
        if f.is_empty() {
            break;
        }
        for one in &f {
            if feed(&mut b, std::slice::from_ref(one), t0()).contains(Events::URGENT) {
                urgents += 1;
            }
        }
        feed(&mut a, &out(&mut b, t0()), t0());
    }
    assert!(urgents >= 1);
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'Y'));
    assert_eq!(b.conn.urgent_offset(), 3);
    assert_eq!(b.read(100), b"aXb");
    assert_eq!(b.conn.recv_urgent(false), Ok(b'Y'));
}

/// A new mark while the read position is at the old out-of-band byte:
/// that byte leaves the stream (Linux's `tcp_check_urg`).
#[test]
fn superseded_byte_at_the_read_position_leaves_the_stream() {
    let (mut a, mut b) = established();
    a.write(b"a").unwrap();
    a.write_urgent(b"X").unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.read(100), b"a");
    assert!(b.conn.at_mark());
    a.write(b"b").unwrap();
    a.write_urgent(b"Y").unwrap();
    let f = out(&mut a, t0());
    let ev = feed(&mut b, &f, t0());
    assert!(ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'Y'));
    assert_eq!(b.conn.unread(), 2, "X is gone");
    assert_eq!(b.conn.inq(), 1);
    assert_eq!(b.read(100), b"b");
    assert_eq!(b.conn.recv_urgent(false), Ok(b'Y'));
}

/// Every segment that starts before the urgent byte carries the
/// pointer, retransmissions too; a retransmitted pointer is no news.
#[test]
fn pointer_rides_every_segment_before_the_byte_and_is_not_replayed() {
    let mut c = cfg();
    c.rto_min_us = 20 * MS;
    c.rto_initial_us = 20 * MS;
    let (mut a, mut b) = established_with(c, cfg(), Seq(0x1000));
    let data = vec![5u8; 2500];
    a.write(&data).unwrap();
    a.write_urgent(b"!").unwrap();
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 3, "1000 + 1000 + 501 bytes");
    let up = segs[0].0.seq.wrapping_add(2501);
    for (h, _) in &segs {
        assert!(h.flags.urg());
        assert_eq!(h.urg, up);
    }
    // The first segment alone: the pointer is news, the byte not here yet.
    let ev = feed(&mut b, &segs[..1], t0());
    assert!(ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::NotYet);
    assert_eq!(b.conn.recv_urgent(false), Err(UrgentRecvError::NotYet));
    let ev = feed(&mut b, &segs[1..2], t0());
    assert!(!ev.contains(Events::URGENT), "the same pointer again");
    feed(&mut b, &segs[2..], t0());
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
    // A duplicate of an old segment changes nothing.
    let ev = feed(&mut b, &segs[..1], t0());
    assert!(!ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
    // A pointer to bytes already received is not replayed.
    assert_eq!(b.read(3000), vec![5u8; 2500]);
    assert_eq!(
        b.read(3000),
        Vec::<u8>::new(),
        "only the urgent byte is left"
    );
    assert_eq!(b.conn.urgent(), Urgent::None);
    let ev = feed(&mut b, &segs[2..], t0());
    assert!(!ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::None);
}

/// Urgent data leaves at once: Nagle and the cork do not hold it.
#[test]
fn urgent_data_is_not_held_by_nagle_or_the_cork() {
    let (mut a, mut b) = established();
    a.write(b"x").unwrap();
    assert_eq!(data_segs(&out(&mut a, t0())).len(), 1);
    // Data in flight: Nagle holds a small write...
    a.write(b"y").unwrap();
    assert!(data_segs(&out(&mut a, t0())).is_empty());
    // ...but not an urgent one, nor under the cork.
    a.conn.set_cork(true);
    a.write_urgent(b"!").unwrap();
    let segs = data_segs(&out(&mut a, t0()));
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].1, b"y!");
    feed(&mut b, &segs, t0());
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
}

/// Into a shut window the pointer still reaches the peer: the window
/// probe at `snd_una` carries it (`tcp_write_wakeup`), before the usual
/// probe below `snd_una`; the byte follows once the window opens.
#[test]
fn pointer_reaches_a_receiver_whose_window_is_shut() {
    let mut cb = cfg();
    cb.recv_buf = 2000;
    let (mut a, mut b) = established_with(cfg(), cb, Seq(0x1000));
    a.write(&[1u8; 2000]).unwrap();
    pump(&mut a, &mut b, t0());
    assert_eq!(b.conn.unread(), 2000);
    assert_eq!(a.conn.send_window(), 0);
    a.write_urgent(b"!").unwrap();
    assert!(data_segs(&out(&mut a, t0())).is_empty());
    // The persist timer fires: two probes, the first with the pointer.
    let t = a.conn.poll_timeout().unwrap();
    a.on_timeout(t);
    let probes = out(&mut a, t);
    assert_eq!(probes.len(), 2, "{probes:?}");
    assert!(probes[0].0.flags.urg());
    assert_eq!(probes[0].0.seq, a.conn.snd_una());
    assert_eq!(probes[0].0.urg, a.conn.snd_una().wrapping_add(1));
    assert_eq!(probes[1].0.seq, a.conn.snd_una().wrapping_sub(1));
    assert_eq!(probes[1].0.flags, Flags::ACK.with(Flags::URG));
    let ev = feed(&mut b, &probes[..1], t);
    assert!(ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::NotYet);
    assert_eq!(b.conn.recv_urgent(false), Err(UrgentRecvError::NotYet));
    assert!(!b.conn.at_mark());
    // The reader reads; the window opens and the byte arrives.
    assert_eq!(b.read(5000).len(), 2000);
    assert!(b.conn.at_mark());
    pump(&mut a, &mut b, t);
    assert_eq!(b.conn.urgent(), Urgent::Valid(b'!'));
    assert_eq!(b.conn.recv_urgent(false), Ok(b'!'));
}

/// A pointer far beyond anything a sender can have queued is ignored.
#[test]
fn absurd_pointer_is_ignored() {
    let (mut a, mut b) = established();
    a.write(b"x").unwrap();
    let mut f = out(&mut a, t0());
    let h = &mut f[0].0;
    h.flags = h.flags.with(Flags::URG);
    h.urg = h.seq.wrapping_add(0x7000_0000);
    let ev = feed(&mut b, &f, t0());
    assert!(!ev.contains(Events::URGENT));
    assert_eq!(b.conn.urgent(), Urgent::None);
    assert_eq!(b.read(10), b"x");
}
