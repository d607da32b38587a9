//! Segments cut on their way (GSO frames out of a NIC, `Config::wire_mss`):
//! the congestion window counts wire frames, as TCP counts a GSO segment
//! as the segments it becomes.

mod support;

use afc_proto::conn::Config;
use afc_proto::seq::Seq;
use afc_proto::time::SEC;
use support::pair::*;

const MSS: u16 = 64_480;
const WIRE: u32 = 1_468;

fn gso_cfg(wire: u32) -> Config {
    let mut c = cfg();
    c.mss = MSS;
    c.wire_mss = wire;
    c.recv_buf = 4 << 20;
    c.recv_buf_max = 4 << 20;
    c
}

/// The first flight is ten wire frames, not ten 63 KiB segments; without
/// `wire_mss` it is ten whole segments (a veth's peer takes them whole).
#[test]
fn initial_window_counts_wire_frames() {
    let (mut a, _b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    assert_eq!(a.conn.cwnd(), 10 * WIRE);
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let sent: u32 = out(&mut a, t0())
        .iter()
        .map(|(h, _)| u32::from(h.payload_len))
        .sum();
    assert_eq!(sent, 10 * WIRE, "the first flight is the initial window");

    let (a, _b) = established_with(gso_cfg(0), gso_cfg(0), Seq(1));
    assert_eq!(a.conn.cwnd(), 10 * u32::from(MSS));
}

/// A send the window limits goes in whole wire frames (no runt frame at
/// the cut); the tail of the queue still goes whole when Nagle lets it.
#[test]
fn window_limited_sends_cut_at_wire_frames() {
    let (mut a, mut b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let first = out(&mut a, t0());
    assert!(first
        .iter()
        .all(|(h, _)| u32::from(h.payload_len) % WIRE == 0));
    // Acknowledge everything, a few times over: every send stays whole
    // wire frames while the queue is longer than the window.
    let mut now = t0();
    for _ in 0..6 {
        let segs = out(&mut a, now);
        feed(&mut b, &segs, now);
        b.read(usize::MAX);
        let acks = out(&mut b, now);
        feed(&mut a, &acks, now);
        for (h, _) in &out(&mut a, now) {
            assert_eq!(
                u32::from(h.payload_len) % WIRE,
                0,
                "a runt of {} bytes",
                h.payload_len
            );
        }
        now = now.after(1000);
    }
}

/// After a timeout the window is one wire frame and the retransmission
/// resends one wire frame, not a whole 63 KiB segment.
#[test]
fn timeout_resends_one_wire_frame() {
    let (mut a, _b) = established_with(gso_cfg(WIRE), gso_cfg(WIRE), Seq(1));
    a.write(&vec![7u8; 1 << 20]).unwrap();
    let _lost = out(&mut a, t0());
    let later = t0().after(2 * SEC);
    a.on_timeout(later);
    assert_eq!(a.conn.cwnd(), WIRE);
    let again = out(&mut a, later);
    assert_eq!(again.len(), 1);
    assert_eq!(u32::from(again[0].0.payload_len), WIRE);
}

/// A segment that arrived as several frames merged by receive offload
/// (GRO) counts as that many segments for the ACK rule, as two frames
/// would: a sender whose window is a few frames must not wait for the
/// delayed ACK once the reader has taken the data.
#[test]
fn merged_frames_are_acknowledged_at_once() {
    let mut c = cfg();
    c.ack_delay_us = 40_000;
    let (mut a, mut b) = established_with(c, c, Seq(1));
    a.write(&[1u8; 1000]).unwrap();
    let seg = out(&mut a, t0());
    assert_eq!(seg.len(), 1);
    // One frame, read at once: the ACK waits.
    let (mut a2, mut b2) = established_with(c, c, Seq(1));
    a2.write(&[1u8; 1000]).unwrap();
    let seg2 = out(&mut a2, t0());
    b2.conn.on_segment_frames(&seg2[0].0, 1, t0());
    b2.conn.consume(1000);
    assert!(
        b2.conn.poll_transmit(t0()).is_none(),
        "a lone frame's ACK is delayed"
    );
    // The same bytes as ten merged frames: acknowledged with the read.
    b.conn.on_segment_frames(&seg[0].0, 10, t0());
    assert!(
        b.conn.poll_transmit(t0()).is_none(),
        "unread, the window shrinks: held on arrival"
    );
    b.conn.consume(1000);
    let ack = b.conn.poll_transmit(t0()).expect("an ACK at once");
    assert_eq!(ack.header.ack, seg[0].0.seq.wrapping_add(1000));
}

/// On a link whose RTO floor is below the delayed-ACK time
/// (`Config::on_link`: 20 ms against 40 ms), a lone segment's ACK comes
/// within a quarter of the floor, so the sender does not retransmit a
/// request whose answer is slow.
#[test]
fn a_lone_segment_is_acknowledged_before_the_senders_rto() {
    let mut c = Config::on_link(1000);
    c.recv_buf = 8000;
    let (mut a, mut b) = established_with(c, c, Seq(1));
    a.write(&[1u8; 100]).unwrap();
    let seg = out(&mut a, t0());
    feed(&mut b, &seg, t0());
    assert!(out(&mut b, t0()).is_empty(), "the ACK is delayed");
    let due = b.conn.poll_timeout().expect("a delayed-ACK deadline");
    assert!(
        due <= t0().after(c.rto_min_us / 4),
        "ACK due {due:?}, after a quarter of the RTO floor"
    );
    b.on_timeout(due);
    let acks = out(&mut b, due);
    assert_eq!(acks.len(), 1);
    // The sender's retransmission timer has not fired by then.
    assert!(a.conn.poll_timeout().expect("RTO armed") > due);
}
